"""A county's distinct JSON documents stored once each, the rows naming them by id (issue 17).

`enrichment`'s source statuses (migration 0061, `source_statuses.py`) and its provenance
(migration 0063, `stored_provenance.py`) repeat a handful of documents across a county's rows:
each is written once into its own table `(id, county, <column> jsonb)`, keyed by
`(county, md5(<column>::text))`, and the rows hold its id. `CountyDocuments` is the one writer
of such a table: the ids of a chunk's documents (the county's new ones added, on the connection
it is given for them), and `prune`, in the transaction that writes the rows, once the slice is
this run's rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Each text's document id, the county's new documents added: one statement for a chunk's texts
# not yet known (a county whose documents vary per row, e.g. a failing source's reasons, is not one
# round trip per document). The key is the document's md5 (the table's unique index), not the
# jsonb itself, whose B-tree entry would refuse a document past ≈2.7 kB (a long failure reason)
# and fail the step. `known` reads the statement's snapshot (without the rows `added` inserts):
# each text gets exactly one of the two answers, or none if another transaction added the
# document meanwhile (the caller asks again).
_IDS_SQL = """
WITH input AS (SELECT t.at, md5(t.doc::jsonb::text) AS key, t.doc::jsonb AS doc
               FROM unnest(%(docs)s::text[]) WITH ORDINALITY AS t(doc, at)),
added AS (INSERT INTO {table} (county, {column})
          SELECT DISTINCT ON (key) %(county)s, doc FROM input ORDER BY key
          ON CONFLICT (county, md5({column}::text)) DO NOTHING RETURNING id, md5({column}::text) AS key),
known AS (SELECT d.id, md5(d.{column}::text) AS key FROM {table} d
          WHERE d.county = %(county)s AND md5(d.{column}::text) IN (SELECT key FROM input))
SELECT i.at, coalesce(a.id, k.id) FROM input i LEFT JOIN added a USING (key) LEFT JOIN known k USING (key)
"""


def arrow_text(texts: Iterable[str] | pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """`texts` as an Arrow array (an Arrow-backed column's own array, dictionary-encoded or not)."""
    if isinstance(texts, pd.Series):
        texts = texts.array
    if isinstance(texts, pd.arrays.ArrowExtensionArray):
        return texts.__arrow_array__()
    if isinstance(texts, pd.api.extensions.ExtensionArray):
        return pa.array(texts, type=pa.large_string(), from_pandas=True)
    if isinstance(texts, pa.Array | pa.ChunkedArray):
        return texts
    return pa.array(list(texts), type=pa.large_string())


class CountyDocuments:
    """A county's documents in `TABLE` as ids: each distinct JSON text is looked up (or added)
    once, and `prune`, in the transaction that writes the rows, then deletes the county's
    documents that no row of the slice names.

    `adding`: the connection the documents are looked up and added on, `conn` (the rows'
    transaction) by default. A streamed write needs another, in autocommit: its COPY holds the
    rows' connection from the first chunk to the last, so a later chunk's new documents (the
    provenance's: a fetch time per chunk) could not be added on it — the step waited for itself.
    Documents a failed run added are harmless (no row names them) and the next `prune` deletes
    them."""

    TABLE: ClassVar[str]
    COLUMN: ClassVar[str]

    def __init__(self, conn: Any, county: str, adding: Any | None = None) -> None:
        self._conn, self._county = conn, county
        self._adding = conn if adding is None else adding
        self._ids: dict[str, int] = {}  # JSON text → its document's id
        self._sql = _IDS_SQL.format(table=self.TABLE, column=self.COLUMN)

    def _look_up(self, texts: list[str]) -> None:
        """Each of `texts`' document ids into `_ids`, the ones the county lacks added."""
        with self._adding.cursor() as cur:
            while texts:  # left: the texts another transaction added meanwhile, read again
                cur.execute(self._sql, {"county": self._county, "docs": texts})
                found = {at: id_ for at, id_ in cur.fetchall() if id_ is not None}
                self._ids.update((texts[at - 1], int(id_)) for at, id_ in found.items())
                texts = [text for at, text in enumerate(texts, 1) if at not in found]

    def ids(self, texts: Iterable[str] | pd.Series | pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The id of each row's document (JSON text, none NULL), in row order; the documents
        looked up once per distinct text (Arrow's kernels: no Python string per row; a
        dictionary-encoded column's dictionary is its distinct texts already)."""
        texts = arrow_text(texts)
        if texts.null_count:
            raise ValueError(f"a row without its {self.COLUMN} document")
        if isinstance(texts, pa.ChunkedArray) and pa.types.is_dictionary(texts.type):
            texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
        if isinstance(texts, pa.DictionaryArray):
            distinct, at_of = texts.dictionary, texts.indices
        else:
            distinct = pc.unique(texts)
            at_of = pc.index_in(texts, value_set=distinct)
        distinct_texts = distinct.to_pylist()
        self._look_up([text for text in dict.fromkeys(distinct_texts) if text not in self._ids])
        at = np.array([self._ids[text] for text in distinct_texts], dtype=np.int64)
        return at[at_of.to_numpy(zero_copy_only=False)]

    def prune(self) -> int:
        """Delete the county's documents no row names now, given the slice holds only the rows
        this writer's ids were given to (`sync_partition` published with `delete_missing`)."""
        with self._conn.cursor() as cur:
            cur.execute(
                f"DELETE FROM {self.TABLE} WHERE county = %s AND NOT id = ANY(%s)",
                (self._county, sorted(set(self._ids.values()))),
            )
            return cur.rowcount
