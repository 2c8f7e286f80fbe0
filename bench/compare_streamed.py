"""Issue 17: features and scores of a kept bench database (`bench_scale.py --keep`), whole or
streamed in chunks, with whichever code is on PYTHONPATH; the frames pickled, to compare two
versions row by row (`pd.testing.assert_frame_equal`).

    PYTHONPATH=OLD python bench/compare_streamed.py DIR old.pkl         # one frame, as before
    PYTHONPATH=NEW python bench/compare_streamed.py DIR new.pkl 1000    # chunks of 1,000 rows
"""
import json
import pickle
import sys
from pathlib import Path

import pandas as pd

from realestate_assets.assets import features as fa
from realestate_assets.assets import scoring as sa
from realestate_assets.assets.common import county_sales
from realestate_assets.config_models import load_scoring
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.ml.features import build_features
from realestate_assets.ml.market_index import HedonicIndex
from realestate_assets.ml.registry import load_active_models
from realestate_assets.objects import LocalObjectStore

setup = json.loads((Path(sys.argv[1]) / "bench.json").read_text())
wh = Warehouse(setup["DATABASE_URL"])
params = {"county": "king_wa"}
scoring = load_scoring(Path(setup["REOS_CONFIG_DIR"]))
store = LocalObjectStore(Path(setup["REOS_STATE_DIR"]) / "objects")
avm, deal, prop, versions = load_active_models(wh, store, params)
locations = wh.frame(fa.LOCATIONS_SQL, params)
index = HedonicIndex.from_sales(county_sales(wh, params))
if len(sys.argv) > 3:  # the streamed paths, small chunks
    from realestate_assets.assets.common import frames, snapshot
    from realestate_assets.ml.pipeline import score_chunks
    n = int(sys.argv[3])
    from realestate_assets.ml.features import locations_by_key
    n = int(sys.argv[3])
    indexed = locations_by_key(locations)
    with snapshot(wh) as conn:
        feats = pd.concat([build_features(e, indexed, index)
                           for e in frames(wh, conn, fa.ENRICHED_SQL, params, n)], ignore_index=True)
    with snapshot(wh) as conn:
        scored = score_chunks(frames(wh, conn, sa.SCORE_INPUT_SQL, params, n), avm, deal, prop, versions, scoring,
                              rows_for=lambda c: sa.rows_of(wh, conn, params, c["prospect_key"].tolist()))
        frame = pd.concat(list(scored.parts(n)))  # the output a part at a time, as the asset writes it
else:
    from realestate_assets.ml.pipeline import score_features
    feats = build_features(wh.frame(fa.ENRICHED_SQL, params), locations, index)
    scored = score_features(wh.frame(sa.SCORE_INPUT_SQL, params), avm, deal, prop, versions, scoring)
    frame = scored.frame
Path(sys.argv[2]).write_bytes(pickle.dumps({"features": feats, "scores": frame, "explained": scored.explained,
                                           "suspect": scored.suspect_sales, "method": scored.method}))
print("rows", len(feats), len(frame), "explained", scored.explained)
