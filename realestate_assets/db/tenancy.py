"""Tenancy in the database: which tables belong to a tenant, and how a connection acts for one.

Public county data (DESIGN §9) is computed once per county and shared (no tenant_id, 0016); every
other table with a `tenant_id` (but the logs, LOG_TABLES) belongs to a tenant and is guarded by
row-level security (migration 0007): the API runs each transaction as the role `API_ROLE` (owns
nothing) with `app.tenant_id` set locally, so a query can only see and write that tenant's rows,
whatever SQL it runs. `tenants` and `users` are guarded too: a tenant sees itself and its members'
accounts (and the caller its own).

The settings guard against a query that forgets its tenant, not against SQL injection: any SQL
running as the API role could call set_config itself. Queries stay parameterized.
"""

from __future__ import annotations

import re
from typing import Any

API_ROLE = "reos_api"
# What a tenant id may be: also one safe segment of an object key (`tenants/<id>/…`, objects.py).
TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
# Public-record derived, one set of rows per county whoever computed it: no tenant_id (migration 0016);
# and the run history of the assets computing them (0029).
PUBLIC_TABLES = frozenset({"sales", "listings", "assessor_roll", "prospects", "prospect_sources", "enrichment",
                           "features", "ml_models", "scores", "score_model_versions", "pipeline_runs",
                           "market_indexes", "enrichment_source_statuses",  # 0061: enrichment's statuses
                           "enrichment_provenances"})  # 0063: enrichment's provenance documents
# Logs every stage writes: tenant_id NULL for the public stages, the tenant's for its own (the
# webhook's `email_events` rejects). Not under tenant RLS: the API reads neither, and may only
# insert a reject of its own tenant (0016, policy `tenant_insert`).
LOG_TABLES = frozenset({"rejects", "source_calls"})

# Public tables the API reads: row-level security (migration 0008, policy `county_subscribed`)
# admits a row when its county is one the current tenant subscribes to, whoever wrote it.
COUNTY_SCOPED_TABLES = frozenset({"prospects", "enrichment", "scores", "ml_models", "sales",  # 0008, 0014, 0021
                                  "pipeline_runs",  # 0029
                                  "features",  # 0041: reasons on demand
                                  "market_indexes",  # 0045: the API's market panel
                                  "score_model_versions",  # 0060: the scores' versions, once per county
                                  "enrichment_provenances"})  # 0063: the detail's provenance documents

# Shared by every tenant but guarded too: a tenant sees its own row and its members' accounts.
ACCOUNT_TABLES = frozenset({"tenants", "users"})

# The installation's own settings, no tenant: every tenant reads them, the API role writes them only
# for a platform admin (`app.platform_admin`, policies platform_insert/update): the counties'
# run-time overrides (0034) and the code-location reloads their changes asked for (0053).
PLATFORM_TABLES = frozenset({"county_overrides", "county_reloads"})

_TENANT_COLUMN_TABLES = """
SELECT c.table_name FROM information_schema.columns c
JOIN information_schema.tables t USING (table_schema, table_name)
WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.column_name = 'tenant_id'
ORDER BY 1
"""


def tenant_column_tables(cur: Any) -> list[str]:
    """Every table with a tenant_id column, read from the catalog."""
    cur.execute(_TENANT_COLUMN_TABLES)
    return [r[0] for r in cur.fetchall()]


def tenant_owned_tables(cur: Any) -> list[str]:
    """Every table with a tenant_id that is not a log (LOG_TABLES), read from the catalog."""
    return [t for t in tenant_column_tables(cur) if t not in PUBLIC_TABLES | LOG_TABLES]


# The settings row-level security reads, each set for the current transaction only.
_TENANT = "set_config('app.tenant_id', %s, true)"
_USER = "set_config('app.user_id', %s, true), set_config('app.platform_admin', %s, true)"


def act_as_api(cur: Any, tenant_id: str | None, then: str | None = None, params: tuple[Any, ...] = ()) -> None:
    """For the rest of the current transaction: run as the API role, scoped to `tenant_id`
    (None: no tenant, so no tenant-owned row is visible). Both settings end with the transaction,
    so a pooled connection never carries them into the next request. One round trip: every API
    request starts here; `then` (with `params`) is a statement run right after it in the same one.
    On a connection in autocommit mode (a transaction begun by its first statement,
    Warehouse.transaction) it opens the transaction: SET LOCAL outside one would not hold."""
    cur.execute(_as_api(cur) + (f"; {then}" if then else ""), (tenant_id or "", "", "", *params))


def act_as_api_text(cur: Any, tenant_id: str | None = None) -> str:
    """`act_as_api(cur, tenant_id)` as text without parameters, for a statement sent ahead of
    another in its round trip (prepared statements: db/prepared.PerConnection's `before`); with
    no tenant, for one that scopes the tenant itself (`tenant_setting`)."""
    return cur.mogrify(_as_api(cur), (tenant_id or "", "", "")).decode()


def set_user_text(cur: Any, user_id: int | None, platform_admin: bool = False) -> str:
    """`set_user`'s statement as text without parameters (as act_as_api_text)."""
    return cur.mogrify(f"SELECT {_USER}", _user_values(user_id, platform_admin)).decode()


def _as_api(cur: Any) -> str:
    begin = "BEGIN; " if cur.connection.autocommit else ""
    return f"{begin}SET LOCAL ROLE {API_ROLE}; SELECT {_TENANT}, {_USER}"


def tenant_setting(expression: str) -> str:
    """The SQL expression that scopes the transaction to the tenant `expression` names (as
    set_tenant does), and whose value is that tenant: for a statement that finds its tenant itself."""
    return _TENANT.replace("%s", expression)


def set_tenant(cur: Any, tenant_id: str | None) -> None:
    """Scope the transaction to `tenant_id`."""
    cur.execute(f"SELECT {_TENANT}", (tenant_id or "",))


def set_user(cur: Any, user_id: int | None, platform_admin: bool = False) -> None:
    """The account acting (it may read its own `users` row) and whether it operates the whole
    installation (every tenant and account visible). Only set from a row the API has read."""
    cur.execute(f"SELECT {_USER}", _user_values(user_id, platform_admin))


def _user_values(user_id: int | None, platform_admin: bool) -> tuple[str, str]:
    return ("" if user_id is None else str(user_id), "on" if platform_admin else "")


def partition_slice(params: Any) -> str:
    """The WHERE clause (psycopg2 `%(name)s` style) of a partition's rows: of a public table the
    county's, of a tenant-owned one the tenant's in the county (`params` names a tenant)."""
    return "tenant_id = %(tenant)s AND county = %(county)s" if "tenant" in params else "county = %(county)s"
