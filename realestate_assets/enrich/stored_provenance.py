"""`enrichment`'s provenance stored once per distinct document per county (migration 0063).

A county's rows repeat a handful of provenance documents (which source filled which fields,
fetched when, with what confidence: one set of groups per chunk and pattern of present fields);
what is a row's own is the county record its county facts come from (`provenance.RECORD`). So
the rows hold the id of their document in `enrichment_provenances` and that record in
`enrichment.provenance_record` instead of ≈600 bytes of JSON each (a million `jsonb_in` parses
in the step's COPY at a million parcels, issue 17). This module is the one place that maps the
documents to ids (`ProvenanceIds`, a `documents.CountyDocuments`) and, with the record, back to
the document the column held (`PROVENANCE_SQL`, for every reader in SQL: the property detail,
the previous rows an outage keeps values from, the tests; `provenance.expand` is its Python
form for the frames the enricher gives its callers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from realestate_assets.enrich.documents import CountyDocuments

# The row's provenance as the jsonb document `enrichment.provenance` held: its document, the
# row's record put back into the entries of the groups marked `"record": true` (in their order:
# jsonb keeps an array's order and sorts an object's keys, so the document is the one the column
# held, byte for byte in its text); NULL id: `{}`, that column's default. A scalar subquery:
# `{alias}` is the enrichment row's (or its stage's) alias.
PROVENANCE_SQL = (
    "coalesce((SELECT CASE WHEN {alias}.provenance_record IS NULL THEN d.provenance ELSE d.provenance || "
    "jsonb_build_object('groups', (SELECT jsonb_agg(CASE WHEN g.g ? 'record' THEN jsonb_build_object('entry', "
    "(g.g -> 'entry') || jsonb_build_object('record', {alias}.provenance_record), 'fields', g.g -> 'fields') "
    "ELSE g.g END ORDER BY g.at) FROM jsonb_array_elements(d.provenance -> 'groups') WITH ORDINALITY AS g(g, at))) "
    "END FROM enrichment_provenances d WHERE d.id = {alias}.provenance_id), '{{}}'::jsonb)"
)


def provenance_sql(alias: str) -> str:
    """`PROVENANCE_SQL` for the enrichment row aliased `alias`."""
    return PROVENANCE_SQL.format(alias=alias)


class ProvenanceIds(CountyDocuments):
    """A county's provenance documents as ids (`documents.CountyDocuments`)."""

    TABLE = "enrichment_provenances"
    COLUMN = "provenance"

    def store(self, frame: pd.DataFrame) -> pd.DataFrame:
        """An enriched chunk (`pipeline.FRAME_COLUMNS`: the stored document as JSON text, the
        record beside it) as the table stores it (the documents' ids in their place), in place."""
        frame["provenance"] = self.ids(frame["provenance"])
        frame.rename(columns={"provenance": "provenance_id"}, inplace=True)
        return frame


class StoredDocuments:
    """A county's provenance documents by id (`(id, provenance)` rows, its JSON text), prepared
    once for `stored_previous`: the ids sorted, the texts as the categories every chunk shares."""

    def __init__(self, documents: pd.DataFrame) -> None:
        ids = np.asarray(documents["id"], dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        self.ids = ids[order]
        self.texts = pd.Index(documents["provenance"].to_numpy(dtype=object)[order], dtype=object)

    def codes(self, given: pd.Series) -> np.ndarray:
        """Each id's position in `texts`; -1 for NULL or an id the county lacks."""
        codes = np.full(len(given), -1, dtype=np.int64)
        known = given.notna().to_numpy()
        if len(self.ids) and known.any():
            wanted = given[known].to_numpy(dtype=np.int64)
            at = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
            codes[known] = np.where(self.ids[at] == wanted, at, -1)
        return codes


def stored_previous(previous: pd.DataFrame, documents: StoredDocuments) -> pd.DataFrame:
    """Previous `enrichment` rows read with their `provenance_id` and `provenance_record`, the id
    replaced by its document's JSON text (`provenance`, categorical: the county's documents once
    each, a code a row) beside the record, in place: the stored form `pipeline._Previous` reads,
    whose `expand(text, record)` is the document `PROVENANCE_SQL` gives (NULL or an unknown id: no
    document, `{}` as there)."""
    codes = documents.codes(previous.pop("provenance_id"))
    previous["provenance"] = pd.Categorical.from_codes(codes, categories=documents.texts, validate=False) \
        if len(documents.texts) else pd.Series(None, index=previous.index, dtype=object)
    return previous
