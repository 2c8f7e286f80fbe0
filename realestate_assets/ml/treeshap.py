"""SHAP contributions of a trained model's rows: LightGBM's `pred_contrib`, bit for bit, with the
work a leaf does for many rows done once.

Why: the explained rows' SHAP was ≈80% of `scores`' CPU at 43k parcels (8.2 of ≈10.5 CPU s for
3,947 rows through the AVM's 300 trees of 54 leaves; docs/scale.md, twenty-second round (a)).
LightGBM's TreeSHAP (`Tree::TreeSHAP`) walks every node of every tree for each row and, at each
leaf, unwinds the path's weights: O(depth²) a leaf. What a leaf adds depends on the row only
through which side of each of its ancestors the row falls (the "hot" child or the "cold" one):
among the 43k run's explained rows a leaf sees ≈37 such patterns, not 3,947. So a leaf's
additions are computed once per pattern (the same operations as LightGBM's, in its order) and
every row adds them to its contributions in LightGBM's order (the tree's hot child first, tree
after tree from 0.0): the same numbers, the same sums, the same bits
(`tests/scoring/test_treeshap.py` against `Booster.predict(pred_contrib=True)`). The rows are
split between `PREDICT_THREADS` threads, each with its own memo (each row's sums are its own).

Anything this does not reproduce — linear trees, several trees an iteration (multiclass), paths
too deep for the pattern's key — is left to LightGBM (`contributions` falls back), and so is
everything when the kernel cannot be imported (logged once).

The kernel is numba code: compiling it costs ≈8 CPU s, once per machine, kept on disk beside the
module (numba's cache; the image compiles it when it is built: `warm`), then ≈0.4 s to load per
process.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from realestate_assets.ml.compiled import matrix
from realestate_assets.ml.tuning import PREDICT_THREADS

log = logging.getLogger(__name__)

# A leaf's pattern key: (the row's hot/cold bits along the leaf's path) << LEAF_BITS | the leaf's
# number in the forest; int64, so a path of at most 62 − LEAF_BITS nodes.
LEAF_BITS = 22
MAX_DEPTH = 62 - LEAF_BITS


@dataclass(frozen=True)
class _Forest:
    """A booster's trees as flat arrays (its model text's values: the doubles LightGBM parsed)."""

    n_features: int
    node_start: np.ndarray  # per tree: its first node in the node arrays
    leaf_start: np.ndarray  # per tree: its first leaf in the leaf arrays
    num_leaves: np.ndarray
    cat_start: np.ndarray  # per tree: its first entry of cat_boundaries
    split_feature: np.ndarray
    threshold: np.ndarray
    decision_type: np.ndarray
    left: np.ndarray
    right: np.ndarray
    internal_count: np.ndarray
    leaf_value: np.ndarray
    leaf_count: np.ndarray
    cat_boundaries: np.ndarray  # per tree, offsets into cat_threshold (global)
    cat_threshold: np.ndarray


_PARSED: weakref.WeakKeyDictionary[lgb.Booster, _Forest | None] = weakref.WeakKeyDictionary()
_PARSE_LOCK = threading.Lock()


def _parse(booster: lgb.Booster) -> _Forest | None:
    """The booster's trees, or None when `pred_contrib` here would not be LightGBM's."""
    text = booster.model_to_string()
    header, _, rest = text.partition("\nTree=")
    head = dict(line.split("=", 1) for line in header.splitlines() if "=" in line)
    if head.get("num_tree_per_iteration", "1") != "1" or "average_output" in header.splitlines():
        return None
    trees: list[dict[str, str]] = []
    for block in ("Tree=" + rest).split("\nend of trees")[0].split("\nTree=")[0:]:
        trees.append(dict(line.split("=", 1) for line in block.splitlines() if "=" in line))
    node_start, leaf_start, num_leaves, cat_start = [], [], [], []
    cols: dict[str, list[Any]] = {k: [] for k in ("split_feature", "threshold", "decision_type", "left_child",
                                                  "right_child", "internal_count", "leaf_value", "leaf_count",
                                                  "cat_boundaries", "cat_threshold")}
    nodes = leaves = cats = thresholds = 0
    for tree in trees:
        if tree.get("is_linear", "0") != "0":
            return None
        n = int(tree["num_leaves"])
        node_start.append(nodes)
        leaf_start.append(leaves)
        num_leaves.append(n)
        cat_start.append(cats)
        cols["leaf_value"] += [float(v) for v in tree["leaf_value"].split()]
        cols["leaf_count"] += [int(v) for v in tree.get("leaf_count", " ".join(["0"] * n)).split()]
        if n > 1:
            cols["split_feature"] += [int(v) for v in tree["split_feature"].split()]
            cols["threshold"] += [float(v) for v in tree["threshold"].split()]
            cols["decision_type"] += [int(v) for v in tree["decision_type"].split()]
            cols["left_child"] += [int(v) for v in tree["left_child"].split()]
            cols["right_child"] += [int(v) for v in tree["right_child"].split()]
            cols["internal_count"] += [int(v) for v in tree["internal_count"].split()]
            if int(tree.get("num_cat", "0")) > 0:
                bounds = [int(v) for v in tree["cat_boundaries"].split()]
                cols["cat_boundaries"] += [thresholds + b for b in bounds]
                values = [int(v) for v in tree["cat_threshold"].split()]
                cols["cat_threshold"] += values
                cats += len(bounds)
                thresholds += len(values)
        nodes += n - 1
        leaves += n
    if leaves >= 1 << LEAF_BITS:
        return None
    forest = _Forest(
        n_features=int(head["max_feature_idx"]) + 1, node_start=np.array(node_start, np.int64),
        leaf_start=np.array(leaf_start, np.int64), num_leaves=np.array(num_leaves, np.int64),
        cat_start=np.array(cat_start, np.int64), split_feature=np.array(cols["split_feature"], np.int64),
        threshold=np.array(cols["threshold"], np.float64), decision_type=np.array(cols["decision_type"], np.int64),
        left=np.array(cols["left_child"], np.int64), right=np.array(cols["right_child"], np.int64),
        internal_count=np.array(cols["internal_count"], np.int64),
        leaf_value=np.array(cols["leaf_value"], np.float64), leaf_count=np.array(cols["leaf_count"], np.int64),
        cat_boundaries=np.array(cols["cat_boundaries"], np.int64),
        cat_threshold=np.array(cols["cat_threshold"], np.uint32))
    return forest if _max_depth(forest) <= MAX_DEPTH else None


def _max_depth(forest: _Forest) -> int:
    deepest = 0
    for t in range(len(forest.num_leaves)):
        if forest.num_leaves[t] <= 1:
            continue
        base = forest.node_start[t]
        stack = [(0, 0)]
        while stack:
            node, depth = stack.pop()
            if node < 0:
                deepest = max(deepest, depth)
                continue
            stack += [(int(forest.left[base + node]), depth + 1), (int(forest.right[base + node]), depth + 1)]
    return deepest


def _forest(booster: lgb.Booster) -> _Forest | None:
    with _PARSE_LOCK:
        if booster not in _PARSED:
            _PARSED[booster] = _parse(booster)
        return _PARSED[booster]


def contributions(booster: lgb.Booster, encoded: pd.DataFrame) -> np.ndarray:
    """`booster.predict(encoded, pred_contrib=True)`, the same array to the bit: per row, each
    feature's SHAP contribution and the expected value last (`encoded`: the model's columns in its
    order, as the models' `encode` gives them)."""
    forest = _forest(booster)
    kernel = load_kernel() if forest is not None and encoded.shape[1] == forest.n_features else None
    if kernel is None or forest is None:
        return booster.predict(encoded, pred_contrib=True, num_threads=PREDICT_THREADS)
    x = np.ascontiguousarray(matrix(encoded))
    out = np.zeros((len(x), forest.n_features + 1), dtype=np.float64)
    if not len(x):
        return out

    def rows(start: int, stop: int) -> None:  # the kernel releases the GIL; each row's sums are its own
        kernel.contributions(x[start:stop], out[start:stop], forest.node_start, forest.leaf_start,
                             forest.num_leaves, forest.cat_start, forest.split_feature, forest.threshold,
                             forest.decision_type, forest.left, forest.right, forest.internal_count,
                             forest.leaf_value, forest.leaf_count, forest.cat_boundaries, forest.cat_threshold,
                             LEAF_BITS)

    # The rows split between PREDICT_THREADS threads, each with its own memo (a pattern two halves
    # meet is computed twice): the same values, in less wall time on both cores.
    step = -(-len(x) // max(1, PREDICT_THREADS))
    workers = [threading.Thread(target=rows, args=(s, min(s + step, len(x)))) for s in range(step, len(x), step)]
    for worker in workers:
        worker.start()
    rows(0, min(step, len(x)))
    for worker in workers:
        worker.join()
    return out


_KERNEL: list[Any] = []  # the kernel module, or None when it cannot be had (then LightGBM's)


def load_kernel() -> Any:
    """The numba kernel, imported once per process (numba's import ≈0.5 CPU s, the cached code's
    load ≈0.4): at the first explained row, or earlier by `scores` in a thread while the server
    sorts the county's rows and the client has nothing else to do (docs/scale.md, twenty-third
    round (a))."""
    with _PARSE_LOCK:
        if not _KERNEL:
            try:
                from realestate_assets.ml import _treeshap_kernel
                _KERNEL.append(_treeshap_kernel)
            except Exception as exc:  # no numba, no cache locator (numba refuses at import): LightGBM's SHAP
                log.warning("SHAP contributions left to LightGBM: the kernel is unavailable (%s)", exc)
                _KERNEL.append(None)
        return _KERNEL[0]


def warm() -> None:
    """Compile the kernel into numba's cache (the image does it once when built: deploy/docker)."""
    rows = np.random.default_rng(0).normal(size=(64, 2))
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_leaves": 4, "min_data_in_leaf": 2,
                         "num_threads": 1}, lgb.Dataset(pd.DataFrame(rows), rows[:, 0]), num_boost_round=2)
    frame = pd.DataFrame(rows)
    if not np.array_equal(contributions(booster, frame), booster.predict(frame, pred_contrib=True)):
        raise RuntimeError("the SHAP kernel does not reproduce LightGBM's contributions")
