"""`ANALYZE` skips `sales`' payload columns: `SET STATISTICS 0`, migration 0055's rule applied to
`sales` (issue 17, docs/scale.md "Stop 54 on this session's host").

Every first load of a `sales` slice ends with `ANALYZE sales` on the step's critical path, at the
default target: a 30,000-row sample, and for each of the table's 29 columns the sampled values
sorted for its common values and histogram. At 43k the whole `ANALYZE` took 224–264 ms, 18 ms of it
the sample. Each column ANALYZEd alone took 25–39 ms, so its own share is ≈7–20 ms, whatever its type.

Which columns: those of `sales` that no WHERE, JOIN, GROUP BY or ORDER BY of the pipeline, the API
or the dashboard reads, so no plan is estimated from their statistics. They are the house's
attributes (`lot_sqft`, `waterfront`, `bldg_grade`, `beds`, `baths`, `age_at_sale`,
`eff_age_at_sale`), which the comps and models read with the row; the address (`address`, `city`,
`state`, `zip`) and `source_ref`, which `prospects` reads with the row; and the row's timestamps.

Columns that are filtered, joined or sorted keep their statistics:
- the keys, `sale_date`, `parcel_id`, `latitude`, `longitude`, `living_sqft`, `use_type`: the
  comps' pool (market/stored.py) and the last sale per parcel (ml/scoring.py);
- the last sale's flags (`sale_instrument`, `sale_reason`, `sale_warnings`), tested with `IS NOT NULL`.

Two columns are read with the row in none of those clauses, and still keep their statistics:
`sale_price` (numeric) and `neighborhood` (text). The comps' candidate query selects both, and
without statistics the planner takes their width from the type (numeric(14,2) and text: wider than
they are). That width (140 → 169 bytes a row) turned one of the candidate queries from a serial
bitmap scan and sort into a parallel one.

How the plans were checked (at 1M, 1,133,776 sales): `EXPLAIN` of the 31 statements that read
`sales`, covering
- the county's reads (`county_sales`, `prospects`' read);
- the last sales' flags and the explained rows' inputs for 1, 50 and 5,000 keys;
- the comps' candidates for 18 combinations of window, box and use type, and the reference
  latitude;
- a parcel's sales and the slice's state;
- `sync_partition`'s delete and upsert shapes.

Each was explained with the table analyzed as before, then with these columns at target 0 and
their `pg_statistic` rows deleted (a fresh database) and the table analyzed again. Four runs; the
one plan that differed also flips between two plans across plain re-ANALYZEs at the default target
(2 plans in 15). The only width that changed is `prospects`' read, a plain scan with no other plan.

On a database migrated from before, the columns' old statistics stay (ANALYZE no longer updates
them; removing them needs a superuser) and plans keep reading their widths from them.

A column that a query starts to filter, join, group or sort on must leave the list (its target
back to -1, the default); tests/test_payload_statistics.py reads the list from here.

Downgrade: the same columns back to -1. Neither direction changes a row.

Revision ID: 0068
Revises: 0067
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0068"
down_revision = "0067"
branch_labels = None
depends_on = None

# The payload columns this migration adds to 0055's list (read by tests/test_payload_statistics.py).
PAYLOAD_COLUMNS: dict[str, tuple[str, ...]] = {
    "sales": ("lot_sqft", "waterfront", "bldg_grade", "beds", "baths", "age_at_sale", "eff_age_at_sale",
              "address", "city", "state", "zip", "source_ref", "created_at", "updated_at"),
}
DROPPED_COLUMNS: dict[str, tuple[str, ...]] = {}


def _statistics(target: int) -> None:
    for table, columns in PAYLOAD_COLUMNS.items():
        # SET STATISTICS takes a SHARE UPDATE EXCLUSIVE lock and rewrites nothing.
        op.execute(f'ALTER TABLE "{table}" '
                   + ", ".join(f'ALTER COLUMN "{column}" SET STATISTICS {target}' for column in columns))


def upgrade() -> None:
    _statistics(0)


def downgrade() -> None:
    _statistics(-1)
