"""Row-level security proven with direct SQL: the API role, scoped to tenant A, sees none of
tenant B's rows in any tenant-owned table — the tables are read from the catalog, not listed."""

from __future__ import annotations

import uuid

import psycopg2
import pytest
from psycopg2 import sql

from realestate_assets.accounts import store
from realestate_assets.db.tenancy import (
    ACCOUNT_TABLES,
    API_ROLE,
    COUNTY_SCOPED_TABLES,
    PLATFORM_TABLES,
    PUBLIC_TABLES,
    act_as_api,
    set_user,
    tenant_owned_tables,
)
from tests.api.helpers_api import dsn, make_tenant, owner_cursor, seed_county


@pytest.fixture(scope="module")
def tenants(database_url: str):
    return make_tenant(database_url, "rls-a"), make_tenant(database_url, "rls-b")


def _count(cur, table: str, tenant_id: str | None = None) -> int:
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
    if tenant_id is None:
        cur.execute(query)
    else:
        cur.execute(query + sql.SQL(" WHERE tenant_id = %s"), (tenant_id,))
    return cur.fetchone()[0]


def test_every_tenant_owned_table_is_forced_under_rls(database_url: str) -> None:
    with owner_cursor(database_url) as cur:
        tables = tenant_owned_tables(cur)
        cur.execute("SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
                    "AND c.relrowsecurity AND c.relforcerowsecurity")
        forced = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = %s", (API_ROLE,))
        assert cur.fetchone() == (False, False, False)
        cur.execute("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)",
                    (API_ROLE,))
        assert cur.fetchone()[0] == 0, "the API role must own nothing"
        cur.execute("SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
                    "AND has_table_privilege(%s, c.oid, 'SELECT')", (API_ROLE,))
        readable = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "JOIN pg_policy p ON p.polrelid = c.oid WHERE n.nspname = current_schema() "
                    "AND c.relrowsecurity AND p.polname = 'county_subscribed'")
        county_scoped = {r[0] for r in cur.fetchall()}
    assert {"memberships", "api_keys", "refresh_tokens", "subscriptions", "audit_log", "packets", "emails",
            "email_events", "suppressions"} <= set(tables)
    assert forced == set(tables) | ACCOUNT_TABLES, "RLS must be forced on the tenant-owned and account tables"
    # Public tables the API reads are admitted per subscribed county (not forced: the pipeline owns them).
    assert county_scoped == COUNTY_SCOPED_TABLES <= PUBLIC_TABLES
    # Platform tables: enabled, not forced (the pipeline, their owner, reads them unaffected).
    assert readable == forced | county_scoped | PLATFORM_TABLES, "every table the API role can read is under RLS"
    assert not forced & PUBLIC_TABLES


def test_api_role_scoped_to_tenant_a_sees_no_row_of_tenant_b(database_url: str, tenants) -> None:
    a, b = tenants
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn.cursor() as cur:
            tables = tenant_owned_tables(cur)
            for table in tables:  # seeds cover every table, so the zero below is not vacuous
                assert _count(cur, table, b.id) >= 1, f"no seed row of tenant B in {table}"
            conn.rollback()
            act_as_api(cur, a.id)
            for table in tables:
                assert _count(cur, table, b.id) == 0, f"{table}: tenant B visible to tenant A"
                assert _count(cur, table) == _count(cur, table, a.id) >= 1, table
            conn.rollback()
            act_as_api(cur, None)  # no tenant set: nothing at all
            assert all(_count(cur, table) == 0 for table in tables)
        conn.rollback()
    finally:
        conn.close()


def test_api_role_cannot_write_into_or_move_rows_to_another_tenant(database_url: str, tenants) -> None:
    a, b = tenants
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn.cursor() as cur:
            act_as_api(cur, a.id)
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("INSERT INTO subscriptions (tenant_id, county) VALUES (%s, 'pierce_wa')", (b.id,))
            conn.rollback()
            act_as_api(cur, a.id)
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("UPDATE suppressions SET tenant_id = %s", (b.id,))
            conn.rollback()
            act_as_api(cur, a.id)
            cur.execute("DELETE FROM suppressions WHERE tenant_id = %s", (b.id,))
            assert cur.rowcount == 0
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT count(*) FROM listings")  # public tables the API does not read: not granted
        conn.rollback()
    finally:
        conn.close()


def test_county_overrides_and_reloads_are_read_by_every_tenant_and_written_by_platform_admins_only(
        database_url: str, tenants) -> None:
    a, _ = tenants
    county = f"rls_{uuid.uuid4().hex[:8]}"
    insert = "INSERT INTO county_overrides (county, patch, reason) VALUES (%s, '{}', 'rls test')"
    reload = "INSERT INTO county_reloads (county, version) VALUES (%s, 1)"
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn.cursor() as cur:
            act_as_api(cur, a.id)
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):  # a tenant's admin: refused
                cur.execute(insert, (county,))
            conn.rollback()
            act_as_api(cur, a.id)
            set_user(cur, None, platform_admin=True)
            cur.execute(insert, (county,))
            conn.commit()
            act_as_api(cur, a.id)
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):  # its reload (0053): the same rule
                cur.execute(reload, (county,))
            conn.rollback()
            act_as_api(cur, a.id)
            set_user(cur, None, platform_admin=True)
            cur.execute(reload, (county,))
            conn.commit()
            act_as_api(cur, a.id)
            for table in ("county_overrides", "county_reloads"):
                cur.execute(f"SELECT count(*) FROM {table} WHERE county = %s", (county,))
                assert cur.fetchone()[0] == 1  # readable by every tenant
            cur.execute("UPDATE county_overrides SET reason = 'changed' WHERE county = %s", (county,))
            assert cur.rowcount == 0  # not a platform admin: the row is not writable
            cur.execute("UPDATE county_reloads SET state = 'loaded' WHERE county = %s", (county,))
            assert cur.rowcount == 0
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("DELETE FROM county_overrides WHERE county = %s", (county,))
        conn.rollback()
    finally:
        conn.close()
    with owner_cursor(database_url) as cur:
        cur.execute("DELETE FROM county_overrides WHERE county = %s", (county,))


def test_the_owner_sees_every_tenant_until_it_scopes_itself(database_url: str, tenants) -> None:
    a, b = tenants
    with owner_cursor(database_url) as cur:
        assert _count(cur, "memberships", a.id) == 4 and _count(cur, "memberships", b.id) == 4
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (a.id,))
        cur.execute("SELECT count(*) FROM memberships WHERE tenant_id IN (%s, %s)", (a.id, b.id))
        count = cur.fetchone()[0]
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        # A superuser skips RLS altogether; a plain owner is scoped by the owner_access policy.
        assert count == (8 if cur.fetchone()[0] else 4)


def test_tenants_and_accounts_of_another_tenant_are_invisible(database_url: str, tenants) -> None:
    a, b = tenants
    a_users = {u["id"] for u in a.users.values()}
    b_users = {u["id"] for u in b.users.values()}
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn.cursor() as cur:
            act_as_api(cur, a.id)
            cur.execute("SELECT id FROM tenants")
            assert {r[0] for r in cur.fetchall()} == {a.id}
            cur.execute("SELECT id FROM users")
            assert {r[0] for r in cur.fetchall()} == a_users  # members of A only, hashes of B unreachable
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("INSERT INTO users (email) VALUES ('sneaky@example.com')")
            conn.rollback()
            act_as_api(cur, None)
            set_user(cur, a.users["viewer"]["id"])  # no tenant: only one's own account
            cur.execute("SELECT id FROM users")
            assert [r[0] for r in cur.fetchall()] == [a.users["viewer"]["id"]]
            cur.execute("SELECT count(*) FROM tenants")
            assert cur.fetchone()[0] == 0
            set_user(cur, a.users["viewer"]["id"], platform_admin=True)
            cur.execute("SELECT id FROM users WHERE id = ANY(%s)", (list(a_users | b_users),))
            assert {r[0] for r in cur.fetchall()} == a_users | b_users
        conn.rollback()
    finally:
        conn.close()


def test_public_county_rows_are_one_set_per_county_read_only_where_subscribed(database_url: str) -> None:
    """Public county tables carry no tenant (migration 0016); the API role reads their rows only for
    the counties its tenant follows, and may not write them."""
    a, b = make_tenant(database_url, "pub-a"), make_tenant(database_url, "pub-b")
    ca, cb = (f"{x}_{uuid.uuid4().hex[:6]}" for x in ("pa", "pb"))
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND column_name = 'tenant_id'")
        assert not {r[0] for r in cur.fetchall()} & PUBLIC_TABLES, "public county tables must not have tenant_id"
        for county in (ca, cb):
            seed_county(cur, county, 3)
            cur.execute("INSERT INTO ml_models (county, model_name, version, kind, artifact_path, artifact_sha256) "
                        "VALUES (%s, 'avm', 'v1', 'lightgbm', 'public/models/x.json', 's')", (county,))
            cur.execute("INSERT INTO sales (county, source, sale_id, parcel_id, sale_price, sale_date) "
                        "VALUES (%s, 'test', 's1', 'p1', 500000, '2015-01-02')", (county,))
            cur.execute("INSERT INTO features (county, prospect_key, as_of_date) VALUES (%s, 'p1', '2015-01-02')",
                        (county,))
            cur.execute("INSERT INTO market_indexes (county, method, levels) VALUES (%s, 'empty', '{}')", (county,))
            cur.execute("INSERT INTO pipeline_runs (run_id, asset, county, job_name, run_status, status, "
                        "started_at, ended_at, duration_s) VALUES (%s, 'prospects', %s, 'j', 'success', 'success', "
                        "now(), now(), 0)", (f"run-{county}", county))
        store.subscribe(cur, a.id, ca)
        store.subscribe(cur, b.id, cb)
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn.cursor() as cur:
            for tenant, mine in ((a, ca), (b, cb)):
                act_as_api(cur, tenant.id)
                for table in sorted(COUNTY_SCOPED_TABLES):
                    cur.execute(sql.SQL("SELECT DISTINCT county FROM {} WHERE county IN (%s, %s)")
                                .format(sql.Identifier(table)), (ca, cb))
                    assert [r[0] for r in cur.fetchall()] == [mine], f"{table} as {tenant.id}"
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute("UPDATE scores SET bird_dog_score = 0 WHERE county = %s", (mine,))
                conn.rollback()
    finally:
        conn.close()
