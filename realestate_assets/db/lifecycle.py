"""A prospect's public lifecycle status, derived where it is read from the county's own rows.

new → enriched → scored is what the public stages have produced for the prospect: `scored` when
`scores` holds a row for it, else `enriched` when its `enrichment` row says so, else `new`.
`packeted` / `emailed` are each tenant's own progress (api/v1/property_query.TENANT_STATUS).

Nothing is stored (issue #17): moving a million prospects `new` → `enriched` → `scored` in the
column `prospects.status` cost a non-HOT update of every row, with an entry in each of the ten
prospects indexes (55 s at 1M for each stage). The facts are in the rows the stages write anyway,
so the status is read from them, and it says what the tables hold now (a prospect whose
enrichment later fails, and that has no score, is `new` again). The column was left unmaintained
by migration 0046 and dropped by 0050 (no reader was left).

The expression reads the prospect's enrichment and scores rows joined as `e` and `s` on
(county, prospect_key), as PUBLIC_STATUS_JOINS (and the API's list and detail) join them.
"""

from __future__ import annotations

LIFECYCLE = ("new", "enriched", "scored", "packeted", "emailed")

# The one definition of the public status: each status as a condition on the joined rows (`e` and
# `s` LEFT JOINed to `p`, PUBLIC_STATUS_JOINS), and the expression built from them. A filter on one
# status uses its condition rather than `PUBLIC_STATUS = …`: the planner turns `s.prospect_key IS
# NULL` into an anti-join and `e.status = 'enriched'` into an inner join, where a CASE would be
# evaluated on every row after joining it (14 s instead of ≈1 s for a status no row has, at 1M).
PUBLIC_CONDITIONS = {
    "scored": "s.prospect_key IS NOT NULL",
    "enriched": "s.prospect_key IS NULL AND e.status = 'enriched'",
    "new": "s.prospect_key IS NULL AND e.status IS DISTINCT FROM 'enriched'",
}
PUBLIC_STATUS = (f"CASE WHEN {PUBLIC_CONDITIONS['scored']} THEN 'scored' "
                 f"WHEN {PUBLIC_CONDITIONS['enriched']} THEN 'enriched' ELSE 'new' END")

PUBLIC_STATUS_JOINS = (
    "LEFT JOIN enrichment e ON e.county = p.county AND e.prospect_key = p.prospect_key "
    "LEFT JOIN scores s ON s.county = p.county AND s.prospect_key = p.prospect_key")
