"""The pipeline's text key columns compare bytes: `COLLATE "C"` (issue 17, docs/scale.md
"Twenty-first round (a)").

PostgreSQL 15 compares text with the database's collation, which for any libc locale but C/POSIX
(C.UTF-8 included, before PostgreSQL 17) means a `strcoll` call per comparison (each value copied
into a NUL-terminated buffer first) and no abbreviated keys in sorts. The "C" collation compares
with `memcmp` and lets sorts use abbreviated keys, for every index build, sort, merge join and
unique check on these columns. At a million parcels `sales`' three key indexes build in 1.3–2.4
fewer server CPU s of ≈12 on a C.UTF-8 server (glibc ≥ 2.35 collates C.UTF-8 by code point,
nearly a `strcmp`); an en_US server (libc or ICU, the official `postgres` image's default)
compares for real and gains more.

Which columns: the identifiers the pipeline indexes, sorts and joins on — `county` (every table
that has it), `prospect_key`, `parcel_id`, `sale_id`, `source_id`, and `source` where it names a
data source (the county tables, `rejects`, `source_calls`). Not free text users read sorted
(addresses, names) and not `tenant_id` (no pipeline stage writes it; it is compared only with
`current_setting(...)`, whose default collation combines with either). `suppressions.source`
is a suppression's provenance (webhook, unsubscribe, operator), never compared with these.

* Every column compared with one of these (joins, `= ANY (ARRAY(SELECT …))`, the foreign key
  `county_reloads.county → county_overrides.county`, the `county_subscribed` RLS policies on
  `subscriptions.county`) is in the list, so both sides of each comparison carry "C" and the
  B-tree indexes stay usable for it (an index serves a comparison only in its own collation).
  Comparisons with parameters, VALUES lists and `current_setting` are fine either way: the
  database's default collation yields to the column's.
* Order: byte order. For UTF-8 text that is code-point order, C.UTF-8's order too, so nothing
  changes on a C.UTF-8 database. On an en_US (ICU-like) one, lists sorted by county (county names
  match `^[a-z0-9_]{2,64}$`) now put `_` before letters (`san_diego` < `sanborn`) where en_US
  skipped it; ids are ids. Python compares str by code point too, so a database order and a
  Python order of these keys now agree on every server locale.
* `ALTER COLUMN … TYPE text COLLATE "C"` does not rewrite the table (same type), but rebuilds
  every index on the column, under an ACCESS EXCLUSIVE lock on the table: a one-time cost that
  grows with the tables (measured at a million parcels in docs/scale.md). The RLS policies that
  name a changed column block the ALTER, so they are dropped first and created again after, as
  they were (read back from `pg_policies`), in the same transaction.

Downgrade: the same columns back to the database's default collation, policies likewise.

Revision ID: 0054
Revises: 0053
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0054"
down_revision = "0053"
branch_labels = None
depends_on = None

# table -> its key columns given the "C" collation. The one list: the test reads it from here.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "sales": ("county", "source", "sale_id", "parcel_id"),
    "assessor_roll": ("county", "source", "parcel_id"),
    "listings": ("county", "source", "source_id"),
    "prospects": ("county", "prospect_key", "parcel_id"),
    "prospect_sources": ("county", "prospect_key", "source", "source_id"),
    "enrichment": ("county", "prospect_key"),
    "features": ("county", "prospect_key"),
    "scores": ("county", "prospect_key"),
    "ml_models": ("county",),
    "market_indexes": ("county",),
    "rejects": ("county", "source"),
    "source_calls": ("county", "source"),
    "pipeline_runs": ("county",),
    "county_overrides": ("county",),
    "county_reloads": ("county",),
    "subscriptions": ("county",),
    "packets": ("county", "prospect_key"),
    "packet_requests": ("county", "prospect_key"),
    "emails": ("county",),
    "email_events": ("county",),
    "notes": ("county", "prospect_key"),
    "property_reviews": ("county", "prospect_key"),
    "property_receipts": ("county", "prospect_key"),
    "campaign_properties": ("county", "prospect_key"),
    "search_alert_emails": ("county", "prospect_key"),
}

# The RLS policies depending on one of the columns, as `CREATE POLICY` statements.
_POLICIES_SQL = """
SELECT DISTINCT p.tablename, p.policyname,
       format('CREATE POLICY %I ON %I AS %s FOR %s TO %s', p.policyname, p.tablename, p.permissive, p.cmd,
              (SELECT string_agg(CASE WHEN r = 'public' THEN 'PUBLIC' ELSE quote_ident(r) END, ', ')
               FROM unnest(p.roles) AS r))
       || coalesce(' USING (' || p.qual || ')', '') || coalesce(' WITH CHECK (' || p.with_check || ')', '')
FROM pg_catalog.pg_policy pol
JOIN pg_catalog.pg_class c ON c.oid = pol.polrelid
JOIN pg_catalog.pg_policies p ON p.schemaname = current_schema() AND p.tablename = c.relname
     AND p.policyname = pol.polname
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_policy'::regclass AND d.objid = pol.oid
     AND d.refclassid = 'pg_catalog.pg_class'::regclass
JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE c.relnamespace = current_schema()::regnamespace
  AND (a.attrelid::regclass::text, a.attname::text) IN (SELECT t, col FROM unnest(:tables, :columns) AS k (t, col))
ORDER BY 1, 2
"""


def _collate(collation: str) -> None:
    bind = op.get_bind()
    pairs = [(table, column) for table, columns in KEY_COLUMNS.items() for column in columns]
    policies = bind.execute(text(_POLICIES_SQL), {"tables": [t for t, _ in pairs],
                                                  "columns": [c for _, c in pairs]}).all()
    for table, name, _ in policies:
        op.execute(f'DROP POLICY "{name}" ON "{table}"')
    for table, columns in KEY_COLUMNS.items():
        # One statement per table: its indexes are rebuilt once, not once per column.
        op.execute(f'ALTER TABLE "{table}" '
                   + ", ".join(f'ALTER COLUMN "{column}" TYPE text COLLATE "{collation}"' for column in columns))
    for _, _, create in policies:
        op.execute(create)


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
