"""`enrichment`'s source statuses stored once per distinct document (migration 0061).

A county's prospects share a handful of status documents (which source answered, which was
skipped and why), so the rows hold the id of their document in `enrichment_source_statuses`
instead of ≈355 bytes of JSON each (a million `jsonb_in` parses in the step's COPY at a million
parcels, issue 17). This module is the one place that maps documents to ids (the writer) and ids
back to documents (`SOURCE_STATUS_SQL`, for every reader of the column); the table's writer is
`documents.CountyDocuments`, as provenance's (migration 0063).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from realestate_assets.enrich.documents import CountyDocuments
from realestate_assets.enrich.stored_provenance import provenance_sql

# The row's statuses as the jsonb document `enrichment.source_status` held (NULL id: `{}`, that
# column's default). A scalar subquery: `{alias}` is the enrichment row's (or its stage's) alias.
SOURCE_STATUS_SQL = ("coalesce((SELECT d.source_status FROM enrichment_source_statuses d "
                     "WHERE d.id = {alias}.source_status_id), '{{}}'::jsonb)")


def source_status_sql(alias: str) -> str:
    """`SOURCE_STATUS_SQL` for the enrichment row aliased `alias`."""
    return SOURCE_STATUS_SQL.format(alias=alias)


def columns_sql(columns: Iterable[str], alias: str) -> str:
    """A select list of enrichment columns from the row aliased `alias`, `source_status` and
    `provenance` as their documents (for readers that want the rows as they were before
    migrations 0061 and 0063)."""
    documents = {"source_status": source_status_sql(alias), "provenance": provenance_sql(alias)}
    return ", ".join(f"{documents[c]} AS {c}" if c in documents else f"{alias}.{c}" for c in columns)


class SourceStatusIds(CountyDocuments):
    """A county's status documents as ids (`documents.CountyDocuments`)."""

    TABLE = "enrichment_source_statuses"
    COLUMN = "source_status"

    def store(self, frame: pd.DataFrame) -> pd.DataFrame:
        """An enriched chunk (`pipeline.ENRICHMENT_COLUMNS`, statuses as JSON text) as the table
        stores it (`pipeline.STORED_COLUMNS`: the statuses' ids in their place), in place."""
        frame["source_status"] = self.ids(frame["source_status"])
        frame.rename(columns={"source_status": "source_status_id"}, inplace=True)
        return frame
