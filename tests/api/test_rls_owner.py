"""Production shape: the tables are owned by a plain (non-superuser) role, as with a managed
PostgreSQL. FORCE ROW LEVEL SECURITY then applies to the owner too: its `owner_access` policy keeps
the pipeline unscoped (it writes for every tenant), and the API role stays confined."""

from __future__ import annotations

import uuid

import psycopg2
import pytest
from psycopg2 import sql
from sqlalchemy.engine import make_url

from realestate_assets.db.migrate import upgrade
from realestate_assets.db.tenancy import act_as_api, set_tenant
from realestate_assets.outreach.events import unsubscribe


@pytest.fixture
def owned_database(database_url: str):
    """A database migrated by its own non-superuser owner, that the DBA has granted reos_api."""
    base = make_url(database_url)
    admin = psycopg2.connect(host=base.host or base.query.get("host"), port=base.port, user="postgres",
                             dbname="postgres")
    admin.autocommit = True
    suffix = uuid.uuid4().hex[:8]
    owner, name = f"reos_owner_{suffix}", f"reos_owned_{suffix}"
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(owner)))
        cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
    url = base.set(database=name, username=owner).render_as_string(hide_password=False)
    try:
        upgrade(url)  # creates reos_api if missing; the self-grant may only log a notice
        with admin.cursor() as cur:
            cur.execute(sql.SQL("GRANT reos_api TO {}").format(sql.Identifier(owner)))
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(owner)))
        admin.close()


def test_plain_owner_stays_unscoped_and_the_api_role_confined(owned_database: str) -> None:
    conn = psycopg2.connect(owned_database.replace("postgresql+psycopg2", "postgresql"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            assert cur.fetchone() == (False, False)
            cur.execute("INSERT INTO tenants (id, name) VALUES ('ta', 'A'), ('tb', 'B')")
        # The pipeline's own code path, as the owner, writing for two tenants in one session.
        for tenant in ("ta", "tb"):
            with conn:
                assert unsubscribe(conn, tenant, f"gone@{tenant}.example", "test")
        with conn, conn.cursor() as cur:
            cur.execute("SELECT tenant_id, count(*) FROM suppressions GROUP BY 1 ORDER BY 1")
            assert cur.fetchall() == [("ta", 1), ("tb", 1)]
            cur.execute("SELECT count(*) FROM audit_log")
            assert cur.fetchone()[0] == 2
            set_tenant(cur, "ta")  # the owner may scope itself too
            cur.execute("SELECT count(*) FROM suppressions")
            assert cur.fetchone()[0] == 1
        with conn, conn.cursor() as cur:
            act_as_api(cur, "tb")
            cur.execute("SELECT tenant_id FROM suppressions")
            assert cur.fetchall() == [("tb",)]
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("INSERT INTO suppressions (tenant_id, email, reason, source) "
                            "VALUES ('ta', 'x@example.com', 'manual', 'test')")
    finally:
        conn.close()
