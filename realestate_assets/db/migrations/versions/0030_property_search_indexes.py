"""Indexes for the property list's text search and its price order (issue #11, list/search p95).

* `q` (words in the address, city or zip, `ILIKE '%word%'`) read every prospect of the county: a
  trigram GIN index (pg_trgm) on the same text expression as the query
  (`property_query.SEARCH_TEXT`: the two must stay equal, or the planner cannot use the index)
  finds the matching rows for a selective word instead. pg_trgm is a contrib extension,
  "trusted" since PostgreSQL 13 (a database owner may create it). When the server does not ship
  it (the pgserver wheel does not) or the migrating role may not create it, the index is skipped
  with a warning and `q` keeps its sequential scan: same answers, slower on large counties.
* Row-level security keeps the index out of the API's own query: `ILIKE` is not leakproof, so
  PostgreSQL evaluates it only after the `county_subscribed` policy and never as an index
  condition (measured: a parallel sequential scan, 250 ms at 100,000 properties, with the index
  in place). `reos_search_prospects(counties, pattern, cap)`, SECURITY DEFINER like 0007's
  authentication functions, runs the pattern as the tables' owner, whom the policy does not
  confine, and applies the same confinement itself (the caller's subscribed counties, read from
  `app.tenant_id`). It answers the matching ids when there are at most `cap` of them, else NULL:
  a selective word (a house number, a zip) then reads its few rows by id; a common one (a street
  name matching thousands) is better served by the list's own plan (an index in the sort order,
  filtered), which the API keeps. The list keeps every word's `ILIKE` and its row-level security
  either way: the function only narrows which rows it reads.
* The list's other common orders had no index: every page joined and sorted the county's
  matching prospects (350–500 ms at 100,000). `(county, list_price, id)` serves `sort=list_price`
  (ascending, nulls last: a btree's own order), its id tie-breaker and the price filters;
  `(county, list_price DESC NULLS LAST, id DESC NULLS LAST)` the most expensive first (a
  backward scan of the ascending index is DESC NULLS FIRST, not the list's NULLS LAST).

The extension is left in place on downgrade (another object may use it).

Revision ID: 0030
Revises: 0025
Create Date: 2026-12-03
"""

import logging

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision = "0030"
down_revision = "0031"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# property_query.SEARCH_TEXT without the table alias (a migration does not import the app).
SEARCH_TEXT = "(coalesce(address, '') || ' ' || coalesce(city, '') || ' ' || coalesce(zip, ''))"


def _trigrams_available() -> bool:
    bind = op.get_bind()
    if not bind.execute(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar():
        log.warning("pg_trgm is not available on this server: no trigram index for the property search")
        return False
    try:
        with bind.begin_nested():  # a savepoint: a refusal must not abort the migration's transaction
            bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError as exc:
        log.warning("cannot create pg_trgm (%s): no trigram index for the property search",
                    str(exc.orig).strip().splitlines()[0])
        return False
    return True


def upgrade() -> None:
    if _trigrams_available():
        op.execute(f"CREATE INDEX ix_prospects_search_trgm ON prospects USING gin ({SEARCH_TEXT} gin_trgm_ops)")
    op.execute("CREATE INDEX ix_prospects_county_price ON prospects (county, list_price, id)")
    op.execute("CREATE INDEX ix_prospects_county_price_desc ON prospects "
               "(county, list_price DESC NULLS LAST, id DESC NULLS LAST)")
    op.execute(f"""
        CREATE FUNCTION reos_search_prospects(p_counties text[], p_pattern text, p_cap integer) RETURNS bigint[]
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
            SELECT CASE WHEN count(*) > p_cap THEN NULL ELSE coalesce(array_agg(id), '{{}}') END
            FROM (SELECT id FROM prospects
                  WHERE county = ANY (ARRAY(SELECT county FROM subscriptions
                                            WHERE tenant_id = current_setting('app.tenant_id', true)))
                    AND (p_counties IS NULL OR county = ANY (p_counties))
                    AND {SEARCH_TEXT} ILIKE p_pattern
                  LIMIT p_cap + 1) matches
        $$
    """)
    op.execute("REVOKE ALL ON FUNCTION reos_search_prospects(text[], text, integer) FROM PUBLIC")
    op.execute("GRANT EXECUTE ON FUNCTION reos_search_prospects(text[], text, integer) TO reos_api")


def downgrade() -> None:
    op.execute("DROP FUNCTION reos_search_prospects(text[], text, integer)")
    op.execute("DROP INDEX ix_prospects_county_price_desc")
    op.execute("DROP INDEX ix_prospects_county_price")
    op.execute("DROP INDEX IF EXISTS ix_prospects_search_trgm")
