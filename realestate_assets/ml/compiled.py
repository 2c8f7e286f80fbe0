"""How a trained model predicts: LightGBM's `Booster.predict`, or the same trees compiled to
native code (lleaves' parser and tree code generation, llvmlite's LLVM), bit for bit LightGBM's.

Why: `scores` predicts every parcel of a county; at a million parcels LightGBM's prediction of
the AVM (300 trees of ≈54 leaves) took ≈15.8 CPU s and the compiled trees ≈5 (docs/scale.md,
twentieth round (a)). The SHAP contributions (`pred_contrib`) stay LightGBM's.

Exactly LightGBM's, because (each checked against LightGBM on a million rows and in
tests/test_compiled.py):

* the inputs are the matrix LightGBM's pandas path builds — a category's code, NaN for a missing
  one; floats as float64 — with LightGBM's dense-row rule that a value within `ZERO` of zero is 0;
* the decisions are lleaves' (LightGBM 4's: `<=` on the double threshold, a missing value by the
  node's missing type and default side, a NaN or negative category to the right);
* the trees are summed in LightGBM's order, one after the other from 0.0, for each row: the rows
  go in blocks of `BLOCK_ROWS`, and within a block tree by tree, each tree's value added into
  its rows' outputs (`_forest_root`), so a tree's code serves a block of rows before the next
  tree's is read (the AVM's ≈1.6 MB of trees, read once per row, overflowed the CPU's caches);
  lleaves' default cache blocking instead adds each block of 34 trees apart and then the blocks,
  which changed the last bits of 84% of the sale-propensity margins. Each tree is inlined into
  its own row loop, a function of its own: all inlined into one function, the AVM took ≈300 CPU s
  to compile instead of ≈7 (one function per tree, called) or ≈13 (now);
* the output is the raw score, used only where LightGBM's output is the raw score too (a
  `raw_score=True` call, or an objective whose output transform is the identity).

Compiling costs CPU seconds (≈13 for the AVM), so the object code is compiled once per model
artifact and machine and kept in the object store beside the artifacts (`forest_key`: the
artifact's sha256, the model's name and the target — CPU, its features, the compiler's
versions), where a fresh pod (K8s) finds it as a local run does. `ml_model` compiles a big
county's active models when it registers them (`registry.compile_active_models`); otherwise
(another kind of node, a county that grew) only when the model first predicts (`on_first_use`:
a deal model without asking prices to judge is never compiled), or in a thread of its own from
when the caller knows it will predict (`ahead`).
Anything failing — the compiler, the store, a model lleaves cannot compile — leaves the model
on LightGBM, and says so (`Forest.engine`, logged and in the `scores` step's metadata).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from realestate_assets.ml.tuning import PREDICT_THREADS

log = logging.getLogger(__name__)

# LightGBM's kZeroThreshold (meta.h: `const double kZeroThreshold = 1e-35f;`, a float literal):
# a dense row's value at most this far from zero is stored as 0 before the trees see it.
ZERO = float(np.float32(1e-35))
# Objectives whose output LightGBM does not transform (without `sqrt`): there the raw score is
# what `Booster.predict()` returns.
IDENTITY_OBJECTIVES = ("regression", "regression_l1", "huber", "fair", "quantile", "mape")
# Bumped when the generated code changes: part of the cache key, so old objects are not reused.
CODEGEN_VERSION = "reos-forest-2"
HEADER = b"reos-forest-1\n"  # then the object code's sha256 (32 bytes), then the object code
_ENTRY = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
                          ctypes.c_int32, ctypes.c_int32)
# Rows per block of `forest_root` (`_forest_root`): measured, docs/scale.md thirty-third round (a).
BLOCK_ROWS = 128
_LLVM_LOCK = threading.Lock()  # LLVM's compiler state is process-wide
_FIRST_USE_LOCK = threading.Lock()  # one thread compiles a deferred forest (`Forest.ready`)
# `Forest.engine` of a deferred forest whose model predicted nothing (`on_first_use`).
NOT_USED = "not compiled: predicted no rows"


@dataclass
class Forest:
    """A trained booster's compiled raw score (`entry`), or LightGBM's when `entry` is None;
    `engine` says which, and why not compiled when not (the same for the same model and
    machine, run after run: the step's metadata); `compiled_now`: not read from the store."""

    booster: lgb.Booster
    engine: str = "lightgbm"
    entry: Callable[..., None] | None = None
    n_features: int = 0
    compiled_now: bool = False
    _keep: Any = None  # the LLVM execution engine that owns `entry`'s code
    _pending: Callable[[], Forest] | None = None  # `on_first_use`: made by the first prediction

    def ready(self) -> Forest:
        """This forest, made now (compiled, or read from the store) if it waited for its first use."""
        if self._pending is not None:
            with _FIRST_USE_LOCK:
                if (make := self._pending) is not None:
                    made = make()
                    self.engine, self.entry, self.n_features = made.engine, made.entry, made.n_features
                    self.compiled_now, self._keep, self._pending = made.compiled_now, made._keep, None
        return self


def predict(booster: lgb.Booster, encoded: pd.DataFrame, raw: bool, forest: Forest | None = None) -> np.ndarray:
    """The one place a trained model's rows are predicted (`ml/avm._value`, `TrainedClassifier.margin`):
    `forest`'s compiled code when it is `booster`'s, else LightGBM's `Booster.predict` (the raw
    score when `raw`). `encoded`: the model's columns in its order (the models' `encode`)."""
    if forest is not None and forest.booster is booster and forest.ready().entry is not None:
        x = matrix(encoded)
        if x.shape[1] != forest.n_features:
            raise ValueError(f"{x.shape[1]} columns for a model of {forest.n_features} features")
        return run(forest.entry, x, PREDICT_THREADS)
    # LightGBM splits the rows between its threads and computes each row alone.
    return booster.predict(encoded, raw_score=raw, num_threads=PREDICT_THREADS)


def matrix(encoded: pd.DataFrame) -> np.ndarray:
    """The float64 rows LightGBM's trees see for `encoded` (`ml/avm.encode`, `ml/classifier.encode`):
    a category's code (NaN when missing), every other column as float64, a value within `ZERO`
    of zero as 0 (LightGBM's dense rows)."""
    out = np.empty((len(encoded), encoded.shape[1]), dtype=np.float64)
    for i, column in enumerate(encoded.columns):
        values = encoded[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy()
            out[:, i] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, i] = values.to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out[np.abs(out) <= ZERO] = 0.0
    return out


def run(entry: Callable[..., None], x: np.ndarray, threads: int) -> np.ndarray:
    """The compiled forest over the rows of `x`, split between `threads` (ctypes releases the GIL)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.zeros(len(x), dtype=np.float64)
    if not len(x):
        return out
    data = x.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
    result = out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
    step = -(-len(x) // max(1, threads))
    starts = list(range(0, len(x), step))
    workers = [threading.Thread(target=entry, args=(data, result, s, min(s + step, len(x)))) for s in starts[1:]]
    for worker in workers:
        worker.start()
    entry(data, result, 0, min(step, len(x)))
    for worker in workers:
        worker.join()
    return out


def _target_machine() -> Any:
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    # "large": the AVM's code is ≈1.6 MB; lleaves' choice for forests of this size.
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=_host_features(),
                                        reloc="pic", codemodel="large")


def _host_features() -> str:
    import llvmlite.binding as llvm

    try:
        return llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # LLVM raises where it cannot detect them
        return ""


def target() -> str:
    """What compiled code depends on besides the model: the CPU it is compiled for (name and
    features: code for one CPU may not run on another), and the compiler's versions."""
    from importlib.metadata import version

    import llvmlite.binding as llvm

    parts = [CODEGEN_VERSION, version("lleaves"), version("llvmlite"), llvm.get_process_triple(),
             llvm.get_host_cpu_name(), _host_features()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def compile_object(model_text: str, block: int = BLOCK_ROWS) -> bytes:
    """Object code of `model_text`'s forest: entry `forest_root(rows, out, start, end)`, raw scores
    (`block`: rows per block, see `_forest_root`)."""
    import llvmlite.binding as llvm
    import llvmlite.ir
    from lleaves.compiler.ast import parse_to_ast

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.txt"
        path.write_text(model_text)
        forest = parse_to_ast(str(path))
    if forest.n_classes != 1:
        raise ValueError("only single-output models are compiled")
    module = llvmlite.ir.Module(name="forest")
    trees = [_tree_function(module, tree) for tree in forest.trees]
    _forest_root(module, forest, trees, block)
    module.triple = llvm.get_process_triple()
    with _LLVM_LOCK:
        parsed = llvm.parse_assembly(str(module))
        parsed.verify()
        machine = _target_machine()
        # lleaves 1.3.0's own `compile` uses LLVM's legacy pass manager, gone from llvmlite since
        # 0.45: the same optimization level through the new one.
        builder = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=3))
        builder.getModulePassManager().run(parsed, builder)
        return machine.emit_object(parsed)


def _tree_function(module: Any, tree: Any) -> Any:
    """lleaves' function for one tree (its decisions: LightGBM 4's), the row's features as its
    arguments (a category's as an int); inlined into its own row loop only (`_tree_rows`)."""
    from lleaves.compiler.codegen.codegen import DOUBLE, INT_CAT, gen_tree
    from llvmlite import ir

    kinds = [INT_CAT if feature.is_categorical else DOUBLE for feature in tree.features]
    function = ir.Function(module, ir.FunctionType(DOUBLE, kinds), name=str(tree))
    function.linkage = "private"  # unused arguments are dropped by the optimizer
    function.attributes.add("alwaysinline")  # into its own row loop only (`_tree_rows`)
    gen_tree(tree, function, True)
    return function


def _forest_root(module: Any, forest: Any, trees: list[Any], block: int) -> None:
    """`forest_root(rows, out, start, end)`: `out[r]`, the raw score of row `r`, for `start <= r < end`.

    The rows go in blocks of `block`; within a block tree by tree, each tree over the block's rows
    (`out[r] = 0.0 + tree_0(r)`, then `out[r] += tree_t(r)` for t = 1…N−1): the same additions in
    the same order for each row as LightGBM's (`output[k] += tree` from 0.0, tree after tree), so
    the same bits, while a tree's code serves the block's rows before the next tree's is read
    (the AVM's 300 trees are ≈1.6 MB of code, more than the CPU's instruction caches: row by row,
    every row streamed the whole forest through them). lleaves' own blocking is the other way
    round — blocks of trees, each summed apart — and changed the last bits."""
    from lleaves.compiler.codegen.codegen import DOUBLE_PTR, INT, LONG, lconst
    from llvmlite import ir

    root = ir.Function(module, ir.FunctionType(ir.VoidType(), (DOUBLE_PTR, DOUBLE_PTR, INT, INT)), name="forest_root")
    data, out, start, end = root.args
    entry, blocks, done = (root.append_basic_block(name) for name in ("entry", "blocks", "done"))
    b = ir.IRBuilder(entry)
    first, last = b.zext(start, LONG), b.zext(end, LONG)
    b.cbranch(b.icmp_signed("<", first, last), blocks, done)
    b = ir.IRBuilder(blocks)
    low = b.phi(LONG, "low")  # the block's first row
    low.add_incoming(first, entry)
    beyond = b.add(low, lconst(block))
    high = b.select(b.icmp_signed("<", beyond, last), beyond, last)  # past the block's last row
    for t, tree in enumerate(trees):
        b.call(_tree_rows(module, forest, tree, t, len(trees)), (data, out, low, high))
    low.add_incoming(high, blocks)
    b.cbranch(b.icmp_signed("<", high, last), blocks, done)
    ir.IRBuilder(done).ret_void()


def _tree_rows(module: Any, forest: Any, tree: Any, t: int, trees: int) -> Any:
    """`tree_rows_<t>(rows, out, low, high)`: tree `t` (of `trees`) added into `out[r]` for
    `low <= r < high` (at least one row), the tree's code inlined into the loop (no call per row
    and tree). One tree per function: the 300 AVM trees inlined into one function took ≈300 CPU s
    to compile, and their 300 loops in `forest_root` made LLVM's loop passes several times slower
    (the deal model's optimization ≈0.5 → ≈4 CPU s)."""
    from lleaves.compiler.codegen.codegen import DOUBLE_PTR, INT_CAT, LONG, dconst, iconst, lconst
    from llvmlite import ir

    function = ir.Function(module, ir.FunctionType(ir.VoidType(), (DOUBLE_PTR, DOUBLE_PTR, LONG, LONG)),
                           name=f"tree_rows_{t}")
    function.linkage = "private"
    function.attributes.add("noinline")
    data, out, low, high = function.args
    for pointer in (data, out):  # distinct arrays (`run`): no store to `out` changes a row's input
        pointer.add_attribute("noalias")
    entry, loop, done = (function.append_basic_block(name) for name in ("entry", "loop", "done"))
    ir.IRBuilder(entry).branch(loop)
    b = ir.IRBuilder(loop)
    row = b.phi(LONG, "row")
    row.add_incoming(low, entry)
    offset = b.mul(row, lconst(forest.n_args))
    args = []
    for i, feature in enumerate(forest.features):
        value = b.load(b.gep(data, (b.add(offset, lconst(i)),)))
        if feature.is_categorical:  # lleaves' rule: a NaN category is the smallest int (right)
            missing = b.fcmp_unordered("uno", value, dconst(0.0))
            value = b.select(missing, iconst(-(2**31)), b.fptosi(value, INT_CAT))
        args.append(value)
    slot = b.gep(out, (row,))
    total = b.fadd(b.call(tree, args), dconst(0.0) if t == 0 else b.load(slot))
    if forest.average_output and t == trees - 1:  # lleaves' (a random forest's) mean
        total = b.fdiv(total, dconst(trees))
    b.store(total, slot)
    following = b.add(row, lconst(1))
    row.add_incoming(following, loop)
    b.cbranch(b.icmp_signed("<", following, high), loop, done)
    ir.IRBuilder(done).ret_void()
    return function


def load_object(code: bytes, booster: lgb.Booster) -> Forest:
    import llvmlite.binding as llvm

    with _LLVM_LOCK:
        machine = _target_machine()
        execution = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
        execution.add_object_file(llvm.ObjectFileRef.from_data(code))
        execution.finalize_object()
        address = execution.get_function_address("forest_root")
    if not address:
        raise ValueError("the object code has no forest_root")
    return Forest(booster, "compiled", _ENTRY(address), booster.num_feature(), _keep=execution)


def packed(code: bytes) -> bytes:
    return HEADER + hashlib.sha256(code).digest() + code


def unpacked(data: bytes) -> bytes:
    """The object code of `packed(code)`; ValueError when it is not intact (a torn or foreign
    object would run as machine code)."""
    head = len(HEADER)
    code = data[head + 32:]
    if not data.startswith(HEADER) or hashlib.sha256(code).digest() != data[head:head + 32]:
        raise ValueError("not an intact compiled forest")
    return code


def forest_key(artifact_sha256: str, name: str) -> str:
    from realestate_assets.objects import public_key

    return public_key("models", "compiled", f"{artifact_sha256}-{name}-{target()}.forest")


def compilable(model_text: str, raw: bool) -> str | None:
    """Why this model's predictions cannot be the compiled raw score (None: they can). `raw`:
    the caller wants the raw score (else `Booster.predict()`'s output, the raw score only for
    `IDENTITY_OBJECTIVES`)."""
    head = model_text[: model_text.find("\nTree=")].splitlines()
    objective = next((line.split("=", 1)[1].split() for line in head if line.startswith("objective=")), [""])
    if not raw and (objective[0] not in IDENTITY_OBJECTIVES or "sqrt" in objective[1:]):
        return f"objective {' '.join(objective)} transforms the raw score"
    if "num_class=1" not in head:
        return "more than one output"
    if "\nis_linear=1" in model_text:
        return "linear trees"
    return None


def on_first_use(booster: lgb.Booster, raw: bool, store: Any, artifact_sha256: str, name: str) -> Forest:
    """`compiled(...)` when the model first predicts (`predict`), not before: a model that a run
    never predicts with costs nothing — at a million parcels without asking prices the deal
    model's trees took ≈2 CPU s to compile, for no row. Its `engine` then says so (`NOT_USED`)."""
    return Forest(booster, NOT_USED, _pending=lambda: compiled(booster, raw, store, artifact_sha256, name))


def ahead(*forests: Forest | None) -> threading.Thread | None:
    """Make these waiting forests (`on_first_use`) now, one after the other in a thread of their
    own, rather than at their first prediction; None when none waits. For models the caller
    knows will predict: `scores` starts its AVM and sale-propensity forests as it sends the
    county's query, whose sort on the server gave no row for 2–6 s at a million parcels while the
    client idled (docs/scale.md, twenty-second round (e)); compiling then used that idle core.
    LLVM's work releases the GIL (llvmlite calls it through ctypes), lleaves' code generation
    does not. The same forests as at first use: `ready` makes each once, under its lock; a
    prediction that comes first waits for it, or makes it itself."""
    waiting = [forest for forest in forests if forest is not None and forest._pending is not None]
    if not waiting:
        return None
    thread = threading.Thread(target=lambda: [forest.ready() for forest in waiting], name="forests", daemon=True)
    thread.start()
    return thread


def compiled(booster: lgb.Booster, raw: bool, store: Any, artifact_sha256: str, name: str) -> Forest:
    """`booster` compiled — from the store's copy, or compiled now and kept there — or on
    LightGBM with the reason when that fails (logged; `Forest.engine`)."""
    try:
        text = booster.model_to_string()  # the iterations `Booster.predict` uses by default
        if (reason := compilable(text, raw)) is not None:
            return Forest(booster, f"lightgbm ({reason})")
        key = forest_key(artifact_sha256, name)
        if store.exists(key):
            try:
                return load_object(unpacked(store.get(key)), booster)
            except ValueError as exc:  # torn or foreign: compiled again and written over
                log.warning("compiled forest %s unusable (%s): compiling again", key, exc)
        started = time.perf_counter()
        forest = load_object(code := compile_object(text), booster)
        forest.compiled_now = True
        log.info("%s: trees compiled in %.1f s", name, time.perf_counter() - started)
    except Exception as exc:  # any failure leaves the model on LightGBM, recorded
        log.warning("%s predicts with LightGBM: compiling its trees failed: %s", name, exc)
        return Forest(booster, f"lightgbm (compile failed: {type(exc).__name__}: {exc})"[:300])
    try:
        store.put(key, packed(code), "application/octet-stream")
    except Exception as exc:  # this run keeps the compiled code; the next compiles again
        log.warning("compiled forest %s not stored: %s", key, exc)
    return forest
