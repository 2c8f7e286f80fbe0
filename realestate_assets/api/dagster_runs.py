"""Starting and reading pipeline runs through Dagster's GraphQL API (the `dagster-graphql` client,
pinned with Dagster in requirements.lock). The API never runs pipeline work in a request (DESIGN
§10): it asks the Dagster webserver to launch a run and answers 202 with the run id.

The webserver's address is `REOS_DAGSTER_URL` (e.g. http://127.0.0.1:3000, what `make dev`
serves); without it every launch raises `DagsterUnavailable`, answered 503 — the API never
pretends a run started. The client (and with it Dagster) is imported only when a run is launched
or read, so the API process starts without Dagster.

Which run sends a tenant's emails is decided here, once (`emails_run`): the `emails` asset of
the implicit asset job on the (county, tenant) partition (partitions/tenants.py), tagged with the
campaign. The tenant is the partition key's. `launch` adds the tenant's key to the `tenant`
dynamic partitions first (the `addDynamicPartition` mutation; an existing key is fine), so a
brand-new tenant's first send does not wait for `sensors.tenants` (every 30 s), which stays the
reconciler: it adds keys for tenants created outside the API and removes deleted ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

ASSET_JOB = "__ASSET_JOB"  # Dagster's implicit job over all assets; asset_selection narrows it
PARTITION_TAG = "dagster/partition"
TENANT_DIMENSION = "tenant"  # partitions/tenants.TENANT, written here so the API imports no Dagster (tested equal)
TERMINAL_RUN_STATES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})  # a run in one of these has ended


def partition_tags(county: str, tenant_id: str) -> dict[str, str]:
    """The tags Dagster gives a run of the (county, tenant) partition: its key "county|tenant" (the
    dimensions in name order, as `MultiPartitionKey` writes it; tests/test_tenant_partitions.py
    holds the two together) and one tag per dimension. Written here so the API imports no Dagster."""
    return {PARTITION_TAG: f"{county}|{tenant_id}", f"{PARTITION_TAG}/county": county,
            f"{PARTITION_TAG}/{TENANT_DIMENSION}": tenant_id}


class DagsterUnavailable(RuntimeError):
    """Dagster is not configured, not reachable, or refused the launch (the message says which)."""


@dataclass(frozen=True)
class DagsterTarget:
    """Where the webserver is, and optionally which code location and repository hold the assets
    (otherwise the client asks the webserver which one has the job)."""

    url: str
    location: str | None = None
    repository: str | None = None
    timeout_s: int = 30

    def client(self) -> Any:
        from dagster_graphql import DagsterGraphQLClient

        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DagsterUnavailable(f"REOS_DAGSTER_URL {self.url!r} is not an http(s) URL")
        return DagsterGraphQLClient(parts.hostname, port_number=parts.port, use_https=parts.scheme == "https",
                                    path_prefix=parts.path.rstrip("/"), timeout=self.timeout_s)


@dataclass(frozen=True)
class RunRequest:
    job: str
    assets: list[str]
    tags: dict[str, str] = field(default_factory=dict)


def emails_run(county: str, tenant_id: str, campaign_key: str, request_id: str) -> RunRequest:
    """The run that sends a tenant's campaign emails for one county (the one place this is decided)."""
    return RunRequest(job=ASSET_JOB, assets=["emails"],
                      tags={**partition_tags(county, tenant_id), "reos/tenant": tenant_id,
                            "reos/campaign": campaign_key, "reos/request_id": request_id, "reos/launched_by": "api"})


def model_run(county: str, tenant_id: str, request_id: str) -> RunRequest:
    """The run that trains (and judges) a county's models: `ml_model` for one county partition.
    Models are public county data: the tenant tag records who asked, not whose model it is."""
    return RunRequest(job=ASSET_JOB, assets=["ml_model"],
                      tags={PARTITION_TAG: county, "reos/requested_by_tenant": tenant_id,
                            "reos/request_id": request_id, "reos/launched_by": "api"})


REPOSITORIES_QUERY = """
query ReosRepositories {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } pipelines { name } } }
    ... on PythonError { message }
  }
}
"""
ADD_PARTITION_KEY = """
mutation ReosAddPartitionKey($repositorySelector: RepositorySelector!, $partitionsDefName: String!,
                             $partitionKey: String!) {
  addDynamicPartition(repositorySelector: $repositorySelector, partitionsDefName: $partitionsDefName,
                      partitionKey: $partitionKey) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionKey }
    ... on DuplicateDynamicPartitionError { partitionName }
    ... on UnauthorizedError { message }
    ... on PythonError { message }
  }
}
"""


def execute(target: DagsterTarget | None, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """One GraphQL document sent through the client's transport (it has no public method for
    documents of our own); DagsterUnavailable when Dagster is not configured or did not answer."""
    if target is None:
        raise DagsterUnavailable("Dagster is not configured for the API (REOS_DAGSTER_URL)")
    from dagster_graphql import DagsterGraphQLClientError

    try:
        return target.client()._execute(query, variables)
    except DagsterGraphQLClientError as exc:
        raise DagsterUnavailable(f"Dagster did not answer: {one_line(exc)}") from exc


def repository_of(target: DagsterTarget, job: str) -> dict[str, str]:
    """The repository selector of the code location that has `job` (the target's, when it names one)."""
    if target.location and target.repository:
        return {"repositoryLocationName": target.location, "repositoryName": target.repository}
    answer = execute(target, REPOSITORIES_QUERY)["repositoriesOrError"]
    if answer["__typename"] != "RepositoryConnection":
        raise DagsterUnavailable(f"Dagster did not list the repositories: {answer.get('message', answer)}")
    for repo in answer["nodes"]:
        if target.location in (None, repo["location"]["name"]) and any(p["name"] == job for p in repo["pipelines"]):
            return {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"]}
    raise DagsterUnavailable(f"no Dagster code location has the job {job!r}")


def add_tenant_key(target: DagsterTarget, tenant_id: str, job: str = ASSET_JOB) -> None:
    """Make `tenant_id` a key of the `tenant` dynamic partitions (already there is fine)."""
    answer = execute(target, ADD_PARTITION_KEY, {
        "repositorySelector": repository_of(target, job), "partitionsDefName": TENANT_DIMENSION,
        "partitionKey": tenant_id})["addDynamicPartition"]
    if answer["__typename"] not in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"):
        raise DagsterUnavailable(f"Dagster did not add the tenant key {tenant_id!r}: "
                                 f"{answer.get('message') or answer['__typename']}")


def launch(target: DagsterTarget | None, run: RunRequest) -> str:
    """Launch the run; its Dagster run id. DagsterUnavailable when it could not be launched. A run
    of a (county, tenant) partition adds the tenant's key first: Dagster refuses a run of a key it
    does not have."""
    if target is None:
        raise DagsterUnavailable("Dagster is not configured for the API (REOS_DAGSTER_URL): no run can be launched")
    from dagster_graphql import DagsterGraphQLClientError

    tenant_id = run.tags.get(f"{PARTITION_TAG}/{TENANT_DIMENSION}")
    if tenant_id:
        add_tenant_key(target, tenant_id, run.job)
    try:
        return target.client().submit_job_execution(
            run.job, repository_location_name=target.location, repository_name=target.repository,
            run_config={}, tags=run.tags, asset_selection=[[name] for name in run.assets])
    except DagsterGraphQLClientError as exc:
        raise DagsterUnavailable(f"Dagster did not launch the run: {one_line(exc)}") from exc


@dataclass(frozen=True)
class Reload:
    """What became of asking Dagster to reload the code location: `requested` (False: not needed,
    or Dagster not configured), `ok` (the webserver answered with the location loaded), `detail`."""

    requested: bool
    ok: bool
    detail: str


def reload_location(target: DagsterTarget | None) -> Reload:
    """Reload the code location that has the assets (the target's, else the one with the asset
    job), through the client's own `reloadRepositoryLocation` mutation: the webserver asks the
    code server to re-import the project (`dagster code-server start`; a `dagster api grpc`
    server answers without re-importing) and the daemon picks the new definitions up at its next
    workspace refresh. Takes 11–30 s: the API calls it in the background (api/code_reloads.py).
    Never raises: a failure is in the answer."""
    if target is None:
        return Reload(False, False, "Dagster is not configured for the API (REOS_DAGSTER_URL): "
                                    "the code location was not reloaded")
    from dagster_graphql import DagsterGraphQLClientError, ReloadRepositoryLocationStatus

    location = target.location
    try:
        location = location or repository_of(target, ASSET_JOB)["repositoryLocationName"]
        answer = target.client().reload_repository_location(location)
    except (DagsterGraphQLClientError, DagsterUnavailable) as exc:
        return Reload(True, False, f"the reload of code location {location or '(unknown)'} did not complete: "
                                   f"{one_line(exc)} (it may still complete in Dagster)")
    if answer.status == ReloadRepositoryLocationStatus.SUCCESS:
        return Reload(True, True, f"code location {location} reloaded")
    lines = (answer.message or "").strip().splitlines()
    return Reload(True, False, f"code location {location} did not reload: {answer.failure_type}"
                               + (f": {lines[0][:300]}" if lines else ""))


def run_status(target: DagsterTarget | None, run_id: str) -> str | None:
    """The run's status (QUEUED, STARTED, SUCCESS, FAILURE, ...), None when it cannot be read."""
    if target is None:
        return None
    from dagster_graphql import DagsterGraphQLClientError

    try:
        return target.client().get_run_status(run_id).value
    except (DagsterGraphQLClientError, DagsterUnavailable, ValueError):
        return None


def one_line(exc: Exception) -> str:
    text = " ".join(str(a) for a in exc.args if a) or type(exc).__name__
    return text.splitlines()[0][:300]
