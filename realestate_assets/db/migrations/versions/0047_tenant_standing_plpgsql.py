"""The tenant's standing and an API key's use as PL/pgSQL functions: their plans kept per session.

Every API request reads its tenant's standing — suspension, plan, followed counties and, for the
routes answered from the response cache, the cache's generation (accounts/store.py,
`TenantStanding`). As a plain statement it was parsed and planned on every request, row-level
security on `tenants` and `subscriptions` included: most of the PostgreSQL CPU of an API key's
authentication (bench/bench_api.py's detail, docs/api.md "Not done yet" item 1). PL/pgSQL
prepares its queries once per session and keeps the plans (as 0042 and 0044 did for the cache
generation and the key lookup).

`SECURITY INVOKER`: it runs as the API role with the request's `app.tenant_id`, so row-level
security confines it exactly as it confined the statement (a tenant reads only its own row and
subscriptions). The columns keep the names the statement gave them (`standing_…`). The query is
the one accounts/store.py ran; that module now only calls this function.

`reos_note_api_key_use(key, at, before)`: the same for the UPDATE recording an API key's use (at
most once a minute, skipped while another request holds the row: accounts/store.key_principal),
planned on every API-key request too. Invoker as well: row-level security admits only the key of
the tenant the request is scoped to.

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-04
"""

from alembic import op

revision = "0047"
down_revision = "0046"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"

# OUT names are PL/pgSQL variables too: the query qualifies every column it reads.
STANDING = """
    CREATE FUNCTION reos_tenant_standing(p_tenant text, p_generation boolean DEFAULT false)
    RETURNS TABLE (standing_suspended_at timestamptz, standing_suspended_reason text, standing_plan text,
                   standing_counties text[], standing_generation bigint)
    LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path FROM CURRENT AS $$
    BEGIN
        -- One row even for an unknown tenant (NULLs: the default plan, nothing followed).
        RETURN QUERY
            SELECT t.suspended_at, t.suspended_reason, t.plan,
                   ARRAY(SELECT s.county FROM subscriptions s WHERE s.tenant_id = t.id ORDER BY s.county),
                   CASE WHEN p_generation THEN reos_cache_generation() END
            FROM (SELECT p_tenant AS id) k LEFT JOIN tenants t ON t.id = k.id;
    END $$
"""

KEY_USE = """
    CREATE FUNCTION reos_note_api_key_use(p_key bigint, p_at timestamptz, p_before timestamptz) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path FROM CURRENT AS $$
    BEGIN
        UPDATE api_keys SET last_used_at = p_at
        WHERE id = (SELECT k.id FROM api_keys k WHERE k.id = p_key
                    AND (k.last_used_at IS NULL OR k.last_used_at < p_before) FOR UPDATE SKIP LOCKED);
    END $$
"""
FUNCTIONS = ("reos_tenant_standing(text, boolean)", "reos_note_api_key_use(bigint, timestamptz, timestamptz)")


def upgrade() -> None:
    op.execute(STANDING)
    op.execute(KEY_USE)
    for function in FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {API_ROLE}")


def downgrade() -> None:
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
