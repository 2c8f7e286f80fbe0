"""`features`: the model's inputs per enriched prospect, from facts known at the as-of date."""

import contextlib
import fcntl
import os
import queue
import subprocess
import sys
import threading
import weakref
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from psycopg2.extensions import connection as PgConnection

from realestate_assets import gx_worker
from realestate_assets.assets.common import (
    check,
    county_asset,
    county_sales,
    frames,
    partition_params,
    snapshot,
    table_metadata,
)
from realestate_assets.assets.unchanged import input_fingerprint, remember, unchanged
from realestate_assets.db.warehouse import sync_partition
from realestate_assets.market.index import INDEX_SALE_COLUMNS
from realestate_assets.market.stored import store_index
from realestate_assets.ml.features import (
    ENRICHMENT_INPUTS,
    FEATURES,
    availability_of,
    build_features,
    locations_by_key,
    missing_shares,
    present_counts,
    registry_table,
)
from realestate_assets.ml.market_index import HedonicIndex
from resources import PlatformResource, WarehouseResource

LOCATIONS_SQL = ("SELECT prospect_key, latitude, longitude, list_price, list_date FROM prospects "
                 "WHERE county = :county")

# Features every scored row must have: without them there is no valuation at all.
REQUIRED_FEATURES = ["living_sqft", "age_years", "bldg_grade", "latitude", "longitude",
                     "last_sale_price", "years_since_last_sale"]

# Only the columns the features read (never the JSONB provenance and source status: decoding
# them was a third of this step at 47k prospects, issue 17).
ENRICHED_SQL = f"SELECT {', '.join(ENRICHMENT_INPUTS)} FROM enrichment WHERE county = :county"
FEATURE_CHUNK_ROWS = 25_000  # enrichment rows turned into features (and staged) at a time
VALIDATE_ROWS = 250_000  # feature rows Great Expectations validates at once (`RequiredFeatures`)


@county_asset(
    deps=["enrichment", "prospects", "sales"],
    description="Model inputs per enriched prospect, from facts known at the as-of date, priced along "
                "the county's hedonic market index (kept in `market_indexes` for the API). Missing values "
                "stay missing (never imputed); features "
                "no row supports are listed as unavailable. Registry: " + "; ".join(
                    f"`{k}` {v}" for k, v in FEATURES.items()),
    check_specs=[
        dg.AssetCheckSpec("required_features_complete", asset="features",
                          description="no null/NaN/inf in the required features (Great Expectations)"),
        dg.AssetCheckSpec("every_enriched_prospect_has_features", asset="features",
                          description="one feature row per enriched prospect of the county"),
    ],
)
def features(context: dg.AssetExecutionContext, platform: PlatformResource,
             warehouse: WarehouseResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    params = partition_params(context, platform)
    # Inputs: the partition's enrichment and sales (all read), the prospects' locations and
    # listing fields (other columns change with the lifecycle), the code: features are a pure
    # function of them.
    digest = input_fingerprint(wh, params, tables=["enrichment", "sales"], queries=[LOCATIONS_SQL])
    if (same := unchanged(context, wh, "features", params, digest)) is not None:
        return same
    # The county-wide inputs every chunk needs, made side by side (issue 17: one after the other
    # they were a third of the step at 1M, with one of the two cores idle): the sales' read and
    # the index fit in a thread while this one reads the locations (the COPY's parse, the
    # server's side and NumPy run without the GIL). Great Expectations is set up in a worker
    # process (`RequiredFeatures`), started first: at 43k its import is longer than the step.
    tally = FeatureTally(REQUIRED_FEATURES)
    with tally.required:  # its worker process ends with the step, on error too
        with ThreadPoolExecutor(1, thread_name_prefix="features-index") as pool:
            fitted = pool.submit(lambda: HedonicIndex.from_sales(  # only the sales columns it reads
                county_sales(wh, params, INDEX_SALE_COLUMNS)))
            locations = locations_by_key(wh.frame(LOCATIONS_SQL, params))  # indexed once for every chunk
            index = fitted.result()
        # Features are per row: each chunk of enrichment rows (the stage's widest input) is turned
        # into feature rows, counted for the checks and the metadata, and staged by the write before
        # the next is read: the county's feature rows are never in memory at once (issue 17).

        def feature_chunks(read: PgConnection) -> Iterator[pd.DataFrame]:
            for enriched in frames(wh, read, ENRICHED_SQL, params, FEATURE_CHUNK_ROWS):
                built = build_features(enriched, locations, index)
                tally.add(enriched, built)
                yield built
            if not tally.chunks:  # no enrichment yet: one typed, empty frame names the columns
                yield build_features(wh.frame(ENRICHED_SQL, params), locations, index)

        with snapshot(wh) as read, wh.transaction() as conn:
            stats = sync_partition(conn, "features", feature_chunks(read),
                                   county=context.partition_key, keys=["prospect_key"])
            with conn.cursor() as cur:  # the index fitted here, for the API's market panel (market/stored.py)
                store_index(cur, context.partition_key, index)
        expectations = tally.required.result()
    available = availability_of(tally.present, tally.rows)
    missing_share = missing_shares(tally.present, tally.rows)
    return remember(context, wh, "features", params, digest, dg.MaterializeResult(
        metadata=table_metadata(
            wh, "features", stats.rows,
            lineage={"age_years": [("enrichment", "year_built"), ("enrichment", "as_of_date")],
                     "last_sale_price_indexed": [("enrichment", "last_sale_price"),
                                                 ("enrichment", "last_sale_date"),
                                                 ("sales", "sale_price")],
                     "last_price_to_comps_value": [("enrichment", "last_sale_price"),
                                                   ("enrichment", "comps_estimated_value")]},
            missing_share_by_feature=dg.MetadataValue.json(missing_share),
            unavailable_features=dg.MetadataValue.json(
                {k: v.get("reason") for k, v in available.items() if not v["available"]}),
            feature_availability=dg.MetadataValue.json(available),
            feature_registry=dg.MetadataValue.json(registry_table()),
            market_index=dg.MetadataValue.json(index.to_dict())),
        check_results=[
            check("required_features_complete", expectations["success"],
                  f"required features: {expectations['failed'] or 'all complete'}",
                  failed=dg.MetadataValue.json(expectations["failed"])),
            check("every_enriched_prospect_has_features", tally.rows == tally.enriched,
                  f"{tally.rows} feature rows for {tally.enriched} enriched prospects"),
        ],
    ), published=stats.published)



class FeatureTally:
    """What the checks and the metadata read of a county's feature rows, added up a chunk at a
    time as the chunks go to the write: the rows, the enriched prospects they come from, the
    values present per feature and the required-features check."""

    def __init__(self, required: list[str]) -> None:
        self.chunks = self.rows = self.enriched = 0
        self.present: Counter[str] = Counter()
        self.required = RequiredFeatures(required)

    def add(self, enriched: pd.DataFrame, built: pd.DataFrame) -> None:
        self.chunks += 1
        self.enriched += int((enriched["status"] == "enriched").sum())
        self.rows += len(built)
        self.present.update(present_counts(built))
        self.required.validate(built)


class RequiredFeatures:
    """Great Expectations: each required column non-null and finite (the data-quality engine the
    platform standardizes on), over a county's feature rows a block at a time, in a worker process
    (`gx_worker`: the blocks and GE's set-up are its `BlockCheck`). Only the required columns of
    each chunk are sent to it.

    The worker is started when the check is made (first thing after the step's unchanged check),
    so GE's import (≈1.6–2.1 CPU s, ≈1,000 modules, holding the GIL of the process it runs in)
    runs on the other core while the step reads, builds and writes its chunks; in a thread of the
    step it took turns with them for the GIL (issue 17, twenty-fifth round (a)). A thread here
    feeds the chunks to the worker's pipe, so the step never waits for a worker still importing.
    A failed set-up is raised where the first block is validated (once `block_rows` rows were
    given, or by `result`), as when GE was set up in the step's process.

    The worker ends with the check: after `result`, on `close` (a `with` block: on the step's
    error it is killed), when the check is collected, or when this process ends (its stdin
    closes and it exits on EOF)."""

    def __init__(self, columns: list[str], block_rows: int = VALIDATE_ROWS) -> None:
        self.columns, self.block_rows = columns, block_rows
        self._rows = 0  # rows given: the first block is validated once they reach `block_rows`
        self._ready = False
        self._result: dict[str, object] | None = None
        self._worker = start_gx_worker()
        self._feed: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        feeder = threading.Thread(target=_feed, args=(self._feed, self._worker.stdin), name="gx-feed",
                                  daemon=True)
        feeder.start()
        self._feed.put(("columns", (columns, block_rows)))
        # Its arguments, not a method: the worker also ends when the check is collected unclosed.
        self._stop = weakref.finalize(self, _stop_worker, self._worker, self._feed, feeder)

    def __enter__(self) -> "RequiredFeatures":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """End the worker (at once if it has not answered `result`); `result` stays readable."""
        self._stop()

    def validate(self, frame: pd.DataFrame) -> None:
        """Count `frame`'s rows in (validated by the worker once a block is full, or by `result`)."""
        if frame.empty:
            return
        self._feed.put(("rows", frame[self.columns]))  # a copy: the step's frame goes on to the write
        self._rows += len(frame)
        if not self._ready and self._rows >= self.block_rows:
            self._wait_ready()

    def result(self) -> dict[str, object]:
        if self._result is None:
            self._feed.put(("result", None))
            if not self._ready:
                self._wait_ready()
            kind, payload = self._receive()
            self.close()
            if kind == "error":
                raise payload
            self._result = {"success": not payload, "failed": payload}
        return self._result

    def _wait_ready(self) -> None:
        kind, payload = self._receive()
        if kind == "error":
            self.close()
            raise payload
        self._ready = True

    def _receive(self) -> tuple[str, Any]:
        try:
            return gx_worker.receive(self._worker.stdout)
        except EOFError:
            self.close()
            raise RuntimeError(f"Great Expectations' worker ended (exit {self._worker.returncode})") from None


def start_gx_worker() -> "subprocess.Popen[bytes]":
    """`gx_worker` in a new interpreter, importing this process's tree.

    A plain subprocess rather than `multiprocessing`: `fork` from this threaded process (Dagster's
    executor, the step's own threads) can leave the child a lock another thread held, and `spawn`
    / `forkserver` re-import the parent's `__main__` in the child (the Dagster or pytest CLI, or a
    script that does work at import). `Popen` execs at once (no Python runs in the forked child)
    and `-m` imports only this package's empty `__init__`, the worker's module and then GE."""
    root = str(Path(gx_worker.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    env.setdefault("GX_ANALYTICS_ENABLED", "False")  # no phoning home from a pipeline
    worker = subprocess.Popen([sys.executable, "-m", "realestate_assets.gx_worker"], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    with contextlib.suppress(OSError, AttributeError):  # Linux: fewer, larger writes of a chunk
        fcntl.fcntl(worker.stdin.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)  # type: ignore[union-attr]
    return worker


def _feed(feed: "queue.SimpleQueue[tuple[str, Any] | None]", stream: Any) -> None:
    """Write the check's messages to the worker until None, then close its stdin (its EOF)."""
    try:
        while (message := feed.get()) is not None:
            gx_worker.send(stream, message)
    except OSError:  # the worker ended (its error, if it sent one, is read from its stdout)
        pass
    finally:
        with contextlib.suppress(OSError):
            stream.close()


def _stop_worker(worker: "subprocess.Popen[bytes]", feed: "queue.SimpleQueue[Any]",
                 feeder: threading.Thread) -> None:
    """The worker's end, at once: one that answered `result` has nothing left to do, and one still
    importing or validating (the step failed) is no longer wanted."""
    feed.put(None)
    if worker.poll() is None:
        worker.kill()
    worker.wait()
    feeder.join()
    if worker.stdout is not None:
        worker.stdout.close()


def expect_required(frame: pd.DataFrame, columns: list[str]) -> dict[str, object]:
    """`RequiredFeatures` over one frame: {"success": bool, "failed": {column: rows failing}}."""
    with RequiredFeatures(columns) as check:
        check.validate(frame)
        return check.result()
