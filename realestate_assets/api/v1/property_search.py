"""`POST /properties/search`: the list's filters in a body, plus "similar to" a property via Qdrant.

Without `similar_to` it is the list (`property_page`: the same filters, sort and cursor). With it,
the `property_vectors` asset's points (ml/vectors.py: one per scored property, a standardized
features vector) are asked for the nearest neighbours of the property's point in its county
(the payload filters narrow what maps exactly: minimum score, one use type); the neighbours are
then read through the list's own query with every filter applied, so a similar property obeys the
same filters and row-level security as the list, and keeps Qdrant's order.

`scope: "followed"` searches every county the tenant follows instead. The county vectors are
county-relative (ml/vectors.py), so that search asks the shared collection: the features every
county measures alike, on one fixed scale, by Euclidean distance. The payload filter names the
followed counties (as authentication read them, the list's own source); row-level security still
confines the rows read back.

The store: a Qdrant server (`QDRANT_URL`), else the pipeline's local-mode storage, which allows
ONE process at a time (DESIGN §8). The API takes its file lock without waiting long: while a run
writes the vectors, or when nothing is configured or built yet, the answer is 503 problem+json
with Retry-After, never a hang and never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.properties import property_page
from realestate_assets.api.v1.property_query import PropertyFilters, list_query
from realestate_assets.api.v1.schemas import PropertyItem
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.db.warehouse import dict_rows

router = APIRouter(tags=["properties"])
LOCK_WAIT_S = 1.0  # how long a request waits for the local store before answering 503
RETRY_AFTER_S = "30"
OVERFETCH = 5  # neighbours asked per result wanted: SQL filters may drop some


class SearchRequest(PropertyFilters):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"similar_to": 1842, "min_score": 60, "max_price": 900000, "limit": 10},
        {"county": ["king_wa"], "status": ["scored"], "q": "main st", "sort": "-bird_dog_score", "limit": 50}]})

    similar_to: int | None = Field(None, ge=1, le=2**63 - 1,
                                   description="A property id: its most similar properties, most similar first "
                                               "(sort and cursor are ignored)")
    scope: Literal["county", "followed"] = Field(
        "county", description="With similar_to: search the property's own county (`county`: its features "
                              "compared with its county's, location included, cosine) or every county the "
                              "tenant follows (`followed`: the features all counties measure alike on one "
                              "fixed scale, location and building grade left out, similarity 1 / (1 + "
                              "Euclidean distance)); a `county` filter narrows the followed counties")
    limit: int = Field(10, ge=1, le=50, description="Rows wanted (at most 50)")
    cursor: str | None = Field(None, max_length=2000, description="Without similar_to: the list's next_cursor")


class SimilarItem(PropertyItem):
    similarity: float | None = Field(description="scope county: cosine similarity of the county's features "
                                                 "vectors; scope followed: 1 / (1 + distance) on the shared "
                                                 "scale (1 = identical features); null without similar_to")


class SearchResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "similar_to": 1842, "limit": 10, "next_cursor": None,
        "items": [{"id": 1907, "county": "king_wa", "prospect_key": "kc-0007600057", "address": "131 N MAIN ST",
                   "bird_dog_score": 81.2, "similarity": 0.973}]}]})
    similar_to: int | None
    limit: int
    next_cursor: str | None
    items: list[SimilarItem]


def unavailable(detail: str) -> Problem:
    return Problem(503, detail, headers={"Retry-After": RETRY_AFTER_S})


@contextmanager
def vector_store(settings: Any) -> Iterator[Any]:
    """A QdrantClient for this request; 503 when the store is not configured, not built or busy."""
    path = Path(settings.qdrant_path) if settings.qdrant_path else None
    if not settings.qdrant_url and (path is None or not path.is_dir()):  # before a slow import
        raise unavailable("similar properties are not available: no vector store is configured (QDRANT_URL) "
                          "and the property_vectors asset has not written the local store yet")
    try:
        from qdrant_client import QdrantClient
    except ImportError:
        raise unavailable("similar properties need qdrant-client, which this API process does not have") from None
    if settings.qdrant_url:
        client = QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key)
        try:
            yield client
        finally:
            client.close()
        return
    from realestate_assets.ml.vectors import open_store

    try:
        with open_store(None, path, lock_timeout_s=LOCK_WAIT_S) as client:
            yield client
    except TimeoutError:
        raise unavailable("the local vector store is busy (a pipeline run is writing it; local mode allows one "
                          "process at a time): try again shortly") from None
    except RuntimeError as exc:  # another process holds the storage without the lock
        if "already accessed" not in str(exc):
            raise
        raise unavailable("the local vector store is in use by another process: try again shortly") from None


def neighbours(client: Any, county: str, prospect_key: str, filters: PropertyFilters,
               limit: int, across: list[str] | None = None) -> list[tuple[tuple[str, str], float]]:
    """((county, prospect_key), similarity) of the nearest points, nearest first: in the property's
    county, or in the counties `across` (the shared collection)."""
    from realestate_assets.ml.vectors import (
        SHARED_COLLECTION,
        collection_name,
        similar_across_counties,
        similar_properties,
    )

    if not client.collection_exists(collection_name()):
        raise unavailable(f"no property vectors for {county} yet: the property_vectors asset has not run")
    if across is not None and not client.collection_exists(SHARED_COLLECTION):
        raise unavailable("no vectors for a search across counties yet: the property_vectors asset writes "
                          "them on its next run")
    exact: dict[str, Any] = {}
    if filters.min_score is not None:
        exact["min_score"] = filters.min_score
    if filters.property_type and len(filters.property_type) == 1:
        exact["use_type"] = filters.property_type[0]
    try:
        found = similar_properties(client, county, prospect_key, limit=limit, **exact) if across is None else \
            similar_across_counties(client, county, prospect_key, across, limit=limit, **exact)
    except (ValueError, KeyError) as exc:  # qdrant: "No point with id ... found" (local mode: ValueError)
        raise Problem(404, f"the property has no vector yet (it is vectorized once scored): {exc}") from None
    except Exception as exc:  # server mode: UnexpectedResponse 404 for a missing point id
        if "not found" not in str(exc).lower():
            raise
        raise Problem(404, "the property has no vector yet (it is vectorized once scored)") from None
    return [((p["county"], p["prospect_key"]), p["similarity"]) for p in found]


@router.post("/properties/search", response_model=SearchResult, responses=responses(401, 403, 404, 422, 503),
             summary="Search properties: the list's filters, optionally the properties most similar to one")
def search_properties(body: SearchRequest, request: Request, ctx: Context = needs("read")) -> dict[str, Any]:
    filters = PropertyFilters(**body.model_dump(exclude={"similar_to", "scope", "limit", "cursor"}))
    if body.similar_to is None:
        page = property_page(ctx, filters, body.cursor, body.limit)
        return {"similar_to": None, "limit": body.limit, "next_cursor": page["next_cursor"],
                "items": [{**item, "similarity": None} for item in page["items"]]}
    ctx.cur.execute("SELECT county, prospect_key FROM prospects WHERE id = %s", (body.similar_to,))
    found = ctx.cur.fetchone()
    if found is None:
        raise Problem(404, f"no property {body.similar_to} in the counties this tenant follows")
    county, prospect_key = found
    counties = [county]
    if body.scope == "followed":
        followed = set(ctx.standing.counties)
        counties = sorted(followed & set(filters.county)) if filters.county else sorted(followed)
        if not counties:
            return {"similar_to": body.similar_to, "limit": body.limit, "next_cursor": None, "items": []}
    with vector_store(request.app.state.reos.settings) as client:
        near = neighbours(client, county, prospect_key, filters, body.limit * OVERFETCH,
                          across=counties if body.scope == "followed" else None)
    similarity = dict(near)
    # The list's query with every filter, confined to the neighbours (and their counties).
    sql, params = list_query(filters.model_copy(update={"county": counties}))
    ctx.cur.execute(f"SELECT * FROM ({sql}) listed WHERE (county, prospect_key) IN "
                    "(SELECT * FROM unnest(%s::text[], %s::text[]))",
                    [*params, [c for c, _ in similarity], [k for _, k in similarity]])
    rows = sorted(dict_rows(ctx.cur), key=lambda r: -similarity[(r["county"], r["prospect_key"])])[:body.limit]
    return {"similar_to": body.similar_to, "limit": body.limit, "next_cursor": None,
            "items": [{**r, "similarity": round(similarity[(r["county"], r["prospect_key"])], 4)} for r in rows]}
