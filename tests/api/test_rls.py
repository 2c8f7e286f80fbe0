"""Row-level security proven with direct SQL: the API role, scoped to tenant A, sees none of
tenant B's rows in any tenant-owned table — the tables are read from the catalog, not listed."""

from __future__ import annotations

import psycopg2
import pytest
from psycopg2 import sql

from realestate_assets.db.tenancy import API_ROLE, PUBLIC_TABLES, act_as_api, tenant_owned_tables
from tests.api.helpers_api import dsn, make_tenant, owner_cursor


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
                    "WHERE n.nspname = current_schema() AND c.relkind = 'r' "
                    "AND c.relrowsecurity AND c.relforcerowsecurity")
        forced = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = %s", (API_ROLE,))
        assert cur.fetchone() == (False, False, False)
        cur.execute("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)",
                    (API_ROLE,))
        assert cur.fetchone()[0] == 0, "the API role must own nothing"
    assert {"memberships", "api_keys", "refresh_tokens", "subscriptions", "audit_log", "packets", "emails",
            "email_events", "suppressions"} <= set(tables)
    assert forced == set(tables), "RLS must be forced on exactly the tenant-owned tables"
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
                cur.execute("SELECT count(*) FROM sales")  # public tables: not granted yet (next step)
        conn.rollback()
    finally:
        conn.close()


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
