"""Issue 17: the compiled forests' predictions (ml/compiled.py) bare, on a county's rows.

    PYTHONPATH=. python bench/forest_blocks.py capture DIR OUT     # once: the matrices, the models
    PYTHONPATH=TREE python bench/forest_blocks.py run OUT [--block B] [--repeat N]

`capture`: DIR is a `bench_scale.py --keep` directory after `scores`' inputs exist. The county's
feature rows are read as `scores` reads them and predicted chunk by chunk as it predicts them
(`ml/pipeline._predict_chunk`), every row given a test asking price (the last sale's indexed
price × 0.8–1.3, seeded) so that the deal model predicts every row too; the float64 matrix each
model's trees see (`compiled.matrix`) is saved per model (`OUT/<model>.npy`) with the model's
text and LightGBM's raw scores (`Booster.predict(raw_score=True)`, 2 threads).

`run`: each model compiled by TREE's `compile_object` (with `--block B` when given: the rows per
block), then the three models' rows predicted as `scores` predicts them (chunks of 25,000 rows,
`compiled.run` on 2 threads), `--repeat` times; printed per model and pass: the process's CPU
seconds (every thread), the wall, and whether the outputs equal LightGBM's bit for bit; and
once per model the same on 1 thread over all rows. Compiled objects are kept in OUT/objects by
the code's sha256 and the block, so a tree compiles each model once.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import time
from pathlib import Path

import numpy as np

MODELS = ("avm", "sale_propensity", "deal")
CHUNK = 25_000  # assets/scoring.SCORE_CHUNK_ROWS


def capture(kept: Path, out: Path) -> None:
    import lightgbm as lgb
    import pandas as pd

    from realestate_assets.assets.scoring import SCORE_CHUNK_ROWS, SCORE_FEATURES_SQL
    from realestate_assets.config_models import load_scoring
    from realestate_assets.db.warehouse import Warehouse
    from realestate_assets.ml import avm as avm_module
    from realestate_assets.ml import classifier as classifier_module
    from realestate_assets.ml.compiled import matrix
    from realestate_assets.ml.pipeline import _predict_chunk
    from realestate_assets.ml.registry import load_active_models
    from realestate_assets.objects import LocalObjectStore

    setup = json.loads((kept / "bench.json").read_text())
    wh = Warehouse(setup["DATABASE_URL"])
    store = LocalObjectStore(Path(setup["REOS_STATE_DIR"]) / "objects")
    params = {"county": "king_wa"}
    avm, deal, propensity, _ = load_active_models(wh, store, params)
    names = {id(avm.booster): "avm", id(deal.booster): "deal", id(propensity.booster): "sale_propensity"}
    seen: dict[str, list[np.ndarray]] = {name: [] for name in MODELS}
    originals = avm_module.predict, classifier_module.predict

    def recording(booster: lgb.Booster, encoded: pd.DataFrame, raw: bool, forest: object = None) -> np.ndarray:
        seen[names[id(booster)]].append(matrix(encoded))
        return originals[0](booster, encoded, raw, forest)

    avm_module.predict = classifier_module.predict = recording  # type: ignore[assignment]
    scoring = load_scoring(Path(setup["REOS_CONFIG_DIR"]))
    features = wh.frame(SCORE_FEATURES_SQL, params)
    rng = np.random.default_rng(0)
    features["list_price"] = features["last_sale_price_indexed"].astype(float) * rng.uniform(0.8, 1.3, len(features))
    for start in range(0, len(features), SCORE_CHUNK_ROWS):
        _predict_chunk(features.iloc[start:start + SCORE_CHUNK_ROWS], avm, deal, propensity, scoring)
    out.mkdir(parents=True, exist_ok=True)
    for name, model in (("avm", avm), ("deal", deal), ("sale_propensity", propensity)):
        x = np.concatenate(seen[name])
        np.save(out / f"{name}.npy", x)
        (out / f"{name}.txt").write_text(model.booster.model_to_string())
        expected = lgb.Booster(model_str=model.booster.model_to_string()).predict(x, raw_score=True, num_threads=2)
        np.save(out / f"{name}.lightgbm.npy", expected)
        print(f"{name}: {x.shape[0]:,} rows × {x.shape[1]} features, {model.booster.num_trees()} trees")


def run(out: Path, block: int | None, repeat: int) -> None:
    import lightgbm as lgb

    from realestate_assets.ml import compiled

    took = {}
    for name in MODELS:
        text = (out / f"{name}.txt").read_text()
        kind = f"b{block}" if block else "default"
        source = inspect.getsource(compiled)
        key = hashlib.sha256((source + text + kind).encode()).hexdigest()[:16]
        path = out / "objects" / f"{name}-{key}.o"
        if not path.exists():
            c0 = time.process_time()
            code = compiled.compile_object(text, block=block) if block else compiled.compile_object(text)
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(code)
            print(f"{name}: compiled in {time.process_time() - c0:.1f} CPU s ({kind})")
        booster = lgb.Booster(model_str=text)
        took[name] = (compiled.load_object(path.read_bytes(), booster),
                      np.load(out / f"{name}.npy"), np.load(out / f"{name}.lightgbm.npy"))
    print(f"block {block or 'default'}, load {os.getloadavg()[0]:.2f}")
    for name, (forest, x, expected) in took.items():
        assert forest.entry is not None
        c0, w0 = time.process_time(), time.perf_counter()
        got = compiled.run(forest.entry, x, 1)
        print(f"  {name:16s} 1 thread, all rows : {time.process_time() - c0:6.2f} CPU s "
              f"{time.perf_counter() - w0:6.2f} s  equal={np.array_equal(got, expected)}")
    for r in range(repeat):
        total = 0.0
        for name, (forest, x, expected) in took.items():
            assert forest.entry is not None
            c0, w0 = time.process_time(), time.perf_counter()
            got = np.concatenate([compiled.run(forest.entry, x[s:s + CHUNK], 2) for s in range(0, len(x), CHUNK)])
            cpu = time.process_time() - c0
            total += cpu
            print(f"  {name:16s} 2 threads, chunks: {cpu:6.2f} CPU s {time.perf_counter() - w0:6.2f} s  "
                  f"equal={np.array_equal(got, expected)}")
        print(f"  pass {r + 1}: {total:.2f} CPU s, load {os.getloadavg()[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("capture")
    c.add_argument("kept", type=Path)
    c.add_argument("out", type=Path)
    r = sub.add_parser("run")
    r.add_argument("out", type=Path)
    r.add_argument("--block", type=int)
    r.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if args.command == "capture":
        capture(args.kept, args.out)
    else:
        run(args.out, args.block, args.repeat)


if __name__ == "__main__":
    main()
