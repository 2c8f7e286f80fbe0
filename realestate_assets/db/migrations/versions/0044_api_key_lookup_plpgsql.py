"""The API key lookup as PL/pgSQL: its plan kept per session (issue #11, property detail speed).

Every request with an API key calls `reos_auth_api_key(prefix)` (accounts/store.key_principal).
A `SECURITY DEFINER` SQL function with `SET search_path` is never inlined, so its body was parsed
and planned on every call; PL/pgSQL prepares its query once per session and keeps the plan
(the same change 0042 made to `reos_cache_generation()`). Same columns, same rows, same owner
and grants: CREATE OR REPLACE keeps the function's ACL (EXECUTE to the API role only, 0007).

The other `SECURITY DEFINER` SQL functions stay SQL: none runs on every request (login, refresh,
invitations, webhooks), and `reos_search_prospects` (a search's `q`) wants a plan for its pattern,
which a cached generic plan would not be.

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-04
"""

from alembic import op

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None

# The RETURNS TABLE names are PL/pgSQL variables too: the query names every column by its alias.
PLPGSQL = """
    CREATE OR REPLACE FUNCTION reos_auth_api_key(p_prefix text)
    RETURNS TABLE (id bigint, tenant_id text, user_id bigint, secret_hash text, scopes text[],
                   expires_at timestamptz, revoked_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    BEGIN
        RETURN QUERY
            SELECT k.id, k.tenant_id, k.user_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at
            FROM api_keys k WHERE k.prefix = p_prefix;
    END $$
"""

SQL = """
    CREATE OR REPLACE FUNCTION reos_auth_api_key(p_prefix text)
    RETURNS TABLE (id bigint, tenant_id text, user_id bigint, secret_hash text, scopes text[],
                   expires_at timestamptz, revoked_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
        SELECT k.id, k.tenant_id, k.user_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at
        FROM api_keys k WHERE k.prefix = p_prefix
    $$
"""


def upgrade() -> None:
    op.execute(PLPGSQL)


def downgrade() -> None:
    op.execute(SQL)
