"""Every GraphQL document the API sends to Dagster is valid against Dagster's own schema (the
installed dagster-graphql's), so the fake in tests/fake_dagster.py can only answer documents the
real webserver would accept: a renamed field or argument fails here, not in production."""

from __future__ import annotations

import graphql
import pytest
from dagster_graphql.client.client_queries import RELOAD_REPOSITORY_LOCATION_MUTATION
from dagster_graphql.schema import create_schema

from partitions.tenants import TENANT
from realestate_assets.api import dagster_runs, dagster_schedules

DOCUMENTS = {
    "repositories": dagster_runs.REPOSITORIES_QUERY,
    "add partition key": dagster_runs.ADD_PARTITION_KEY,
    "instigators": dagster_schedules.LIST_QUERY,
    "start schedule": dagster_schedules.START_SCHEDULE,
    "stop schedule": dagster_schedules.STOP_SCHEDULE,
    "start sensor": dagster_schedules.START_SENSOR,
    "stop sensor": dagster_schedules.STOP_SENSOR,
    # The client's own document (DagsterGraphQLClient.reload_repository_location): the fake answers it.
    "reload location": RELOAD_REPOSITORY_LOCATION_MUTATION,
}


@pytest.fixture(scope="module")
def schema() -> graphql.GraphQLSchema:
    return create_schema().graphql_schema


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_valid_for_dagsters_schema(schema: graphql.GraphQLSchema, name: str) -> None:
    errors = graphql.validate(schema, graphql.parse(DOCUMENTS[name]))
    assert not errors, [e.message for e in errors]


def test_the_api_names_the_tenant_dimension_as_the_definitions_do() -> None:
    assert dagster_runs.TENANT_DIMENSION == TENANT
