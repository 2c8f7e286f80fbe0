"""`ANALYZE` skips the pipeline's payload columns: `SET STATISTICS 0` (issue 17, docs/scale.md
"Twenty-second round (f)").

Every first load of a partition ends with the server's `ANALYZE` of the table it wrote
(`warehouse.refresh_statistics`), on the step's critical path. For each column ANALYZE detoasts
the ≈30,000 sampled values and sorts them for the most common values and the histogram; for the
wide jsonb documents below that is nearly half of the table's `ANALYZE` (at 43k, in the load's
own transaction: `enrichment` 0.41–0.48 → 0.24–0.29 server CPU s, `scores` 0.18–0.21 → 0.10–0.12).
A column at statistics target 0 is skipped by ANALYZE; every other column keeps its full statistics.

Which columns: payload only — documents written with the row and read back whole, by key,
that appear in no WHERE, JOIN, GROUP BY or ORDER BY of any query of the pipeline, the API or the
dashboard (which reads through the API), so no plan ever looked at their statistics:

* `enrichment.provenance`, `enrichment.source_status`, `enrichment.owner_names` (jsonb): read with
  their row (`PREVIOUS_SQL`, the property detail); `source_status` appears only inside the
  coverage audit's `count(*) FILTER (…)` over the whole staged slice, which has one plan whatever
  the statistics.
* `scores.score_components`, `scores.model_versions` (jsonb): read with their row
  (`ml/on_demand.SCORE_SQL`, the API).
* `prospect_sources.source_ref` (text, the source row's reference): written and shown, never
  compared.

Not `scores.score_breakdown`, payload too: on-demand reasons' `STORE_SQL` filters on
`score_breakdown IS NULL`, whose estimate comes from the column's null fraction (without it, the
update of 100,000 keys at 1M was estimated at 2 rows instead of 498 and lost its JIT: a plan
change).

No query of the project uses a jsonb operator the planner estimates from a column's statistics
(`@>`, `?`, `?|`, `?&`, jsonpath). A column added later that is payload too can join the list;
a column that a query starts to filter, join, group or sort on must leave it (its target back
to -1, the default).

Downgrade: the same columns back to -1 (the database's `default_statistics_target`). Neither
direction changes a row; the statistics change at the table's next `ANALYZE`.

Revision ID: 0055
Revises: 0054
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0055"
down_revision = "0054"
branch_labels = None
depends_on = None

# table -> its payload columns ANALYZE skips. The one list: the test reads it from here.
PAYLOAD_COLUMNS: dict[str, tuple[str, ...]] = {
    "enrichment": ("provenance", "source_status", "owner_names"),
    "scores": ("score_components", "model_versions"),
    "prospect_sources": ("source_ref",),
}


def _statistics(target: int) -> None:
    for table, columns in PAYLOAD_COLUMNS.items():
        # One statement per table; SET STATISTICS takes a SHARE UPDATE EXCLUSIVE lock and rewrites nothing.
        op.execute(f'ALTER TABLE "{table}" '
                   + ", ".join(f'ALTER COLUMN "{column}" SET STATISTICS {target}' for column in columns))


def upgrade() -> None:
    _statistics(0)


def downgrade() -> None:
    _statistics(-1)
