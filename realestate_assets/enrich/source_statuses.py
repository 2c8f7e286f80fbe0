"""`enrichment`'s source statuses stored once per distinct document (migration 0061).

A county's prospects share a handful of status documents (which source answered, which was
skipped and why), so the rows hold the id of their document in `enrichment_source_statuses`
instead of ≈355 bytes of JSON each (a million `jsonb_in` parses in the step's COPY at a million
parcels, issue 17). This module is the one place that maps documents to ids (the writer) and ids
back to documents (`SOURCE_STATUS_SQL`, for every reader of the column).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# The row's statuses as the jsonb document `enrichment.source_status` held (NULL id: `{}`, that
# column's default). A scalar subquery: `{alias}` is the enrichment row's (or its stage's) alias.
SOURCE_STATUS_SQL = ("coalesce((SELECT d.source_status FROM enrichment_source_statuses d "
                     "WHERE d.id = {alias}.source_status_id), '{{}}'::jsonb)")

# Each text's document id, the county's new documents added: one statement for a chunk's texts
# not yet known (a county whose statuses vary per row, e.g. a failing source's reasons, is not one
# round trip per document). The key is the document's md5 (`ix_enrichment_source_statuses_md5`),
# not the jsonb itself, whose B-tree entry would refuse a document past ≈2.7 kB (a long failure
# reason) and fail the step. `known` reads the statement's snapshot (without the rows `added`
# inserts): each text gets exactly one of the two answers, or none if another transaction added
# the document meanwhile (the caller asks again).
_IDS_SQL = """
WITH input AS (SELECT t.at, md5(t.doc::jsonb::text) AS key, t.doc::jsonb AS doc
               FROM unnest(%(docs)s::text[]) WITH ORDINALITY AS t(doc, at)),
added AS (INSERT INTO enrichment_source_statuses (county, source_status)
          SELECT DISTINCT ON (key) %(county)s, doc FROM input ORDER BY key
          ON CONFLICT (county, md5(source_status::text)) DO NOTHING RETURNING id, md5(source_status::text) AS key),
known AS (SELECT d.id, md5(d.source_status::text) AS key FROM enrichment_source_statuses d
          WHERE d.county = %(county)s AND md5(d.source_status::text) IN (SELECT key FROM input))
SELECT i.at, coalesce(a.id, k.id) FROM input i LEFT JOIN added a USING (key) LEFT JOIN known k USING (key)
"""


def source_status_sql(alias: str) -> str:
    """`SOURCE_STATUS_SQL` for the enrichment row aliased `alias`."""
    return SOURCE_STATUS_SQL.format(alias=alias)


def columns_sql(columns: Iterable[str], alias: str) -> str:
    """A select list of enrichment columns from the row aliased `alias`, `source_status` as its
    document (for readers that want the rows as they were before migration 0061)."""
    return ", ".join(f"{source_status_sql(alias)} AS source_status" if c == "source_status" else f"{alias}.{c}"
                     for c in columns)


class SourceStatusIds:
    """A county's status documents as ids, within the transaction that writes its rows: each
    distinct JSON text is looked up (or added) once, and `prune` then deletes the county's
    documents that no row of the slice names."""

    def __init__(self, conn: Any, county: str) -> None:
        self._conn, self._county = conn, county
        self._ids: dict[str, int] = {}  # JSON text → its document's id

    def _look_up(self, texts: list[str]) -> None:
        """Each of `texts`' document ids into `_ids`, the ones the county lacks added."""
        with self._conn.cursor() as cur:
            while texts:  # left: the texts another transaction added meanwhile, read again
                cur.execute(_IDS_SQL, {"county": self._county, "docs": texts})
                found = {at: id_ for at, id_ in cur.fetchall() if id_ is not None}
                self._ids.update((texts[at - 1], int(id_)) for at, id_ in found.items())
                texts = [text for at, text in enumerate(texts, 1) if at not in found]

    def ids(self, texts: Iterable[str] | pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The id of each row's document (JSON text, none NULL), in row order; the documents
        looked up once per distinct text (Arrow's kernels: no Python string per row)."""
        if isinstance(texts, pd.Series | pd.api.extensions.ExtensionArray):
            texts = pa.array(texts, type=pa.large_string(), from_pandas=True)
        elif not isinstance(texts, pa.Array | pa.ChunkedArray):
            texts = pa.array(list(texts), type=pa.large_string())
        if texts.null_count:
            raise ValueError("a row without source statuses")
        distinct = pc.unique(texts)
        distinct_texts = distinct.to_pylist()
        self._look_up([text for text in distinct_texts if text not in self._ids])
        at = np.array([self._ids[text] for text in distinct_texts], dtype=np.int64)
        return at[pc.index_in(texts, value_set=distinct).to_numpy(zero_copy_only=False)]

    def store(self, frame: pd.DataFrame) -> pd.DataFrame:
        """An enriched chunk (`pipeline.ENRICHMENT_COLUMNS`, statuses as JSON text) as the table
        stores it (`pipeline.STORED_COLUMNS`: the statuses' ids in their place), in place."""
        frame["source_status"] = self.ids(frame["source_status"])
        frame.rename(columns={"source_status": "source_status_id"}, inplace=True)
        return frame

    def prune(self) -> int:
        """Delete the county's documents no row names now, given the slice holds only the rows
        this writer's ids were given to (`sync_partition` published with `delete_missing`)."""
        with self._conn.cursor() as cur:
            cur.execute("DELETE FROM enrichment_source_statuses WHERE county = %s AND NOT id = ANY(%s)",
                        (self._county, sorted(set(self._ids.values()))))
            return cur.rowcount
