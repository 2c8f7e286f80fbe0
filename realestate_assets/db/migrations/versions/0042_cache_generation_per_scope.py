"""The response cache's generation can no longer come back to an earlier value (issue #11).

Migration 0037's `reos_cache_generation()` summed the bumps of the tenant's scope and of each
county it follows. Dropping a subscription adds one to the tenant's scope but takes the county's
bumps out of the sum: with a county bumped once, the sum after the drop equalled the sum before
it, and a detail of that county cached before the drop was served after it (seen in
tests/api/test_response_cache.py, which depends on how many writes the county had). Now the
generation is a 64-bit hash of each scope's own total (`scope=total`, in order): the tenant's
total only grows, and every change of the followed counties bumps it, so the text differs from
every earlier one and the hash with it (a collision: 2⁻⁶⁴ per pair of generations). The cache
compares generations for equality only (api/v1/response_cache.py).

PL/pgSQL, not SQL: a `SECURITY DEFINER` SQL function with `SET search_path` is never inlined and
is parsed and planned on every call; PL/pgSQL keeps its plan per session (0.17 → 0.05 ms of
PostgreSQL CPU a call, measured for the detail route, docs/api.md).

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-04
"""

from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"

PER_SCOPE = """
    CREATE OR REPLACE FUNCTION reos_cache_generation() RETURNS bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    DECLARE
        tenant text := current_setting('app.tenant_id', true);
    BEGIN
        RETURN (SELECT hashtextextended(coalesce(string_agg(t.scope || '=' || t.total, ',' ORDER BY t.scope), ''), 0)
                FROM (SELECT b.scope, sum(b.weight) AS total FROM cache_bumps b
                      WHERE b.scope = ANY (ARRAY['*', 't:' || tenant]
                                           || ARRAY(SELECT 'c:' || s.county FROM subscriptions s
                                                    WHERE s.tenant_id = tenant))
                      GROUP BY b.scope) t);
    END $$
"""

SUMMED = """
    CREATE OR REPLACE FUNCTION reos_cache_generation() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
        SELECT coalesce(sum(b.weight), 0)::bigint FROM cache_bumps b
        WHERE b.scope = ANY (ARRAY['*', 't:' || current_setting('app.tenant_id', true)]
                             || ARRAY(SELECT 'c:' || s.county FROM subscriptions s
                                      WHERE s.tenant_id = current_setting('app.tenant_id', true)))
    $$
"""


def upgrade() -> None:
    # CREATE OR REPLACE keeps the function's grants (EXECUTE to the API role only, 0037).
    op.execute(PER_SCOPE)


def downgrade() -> None:
    op.execute(SUMMED)
