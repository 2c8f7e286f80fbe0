"""`features`: the model's inputs per enriched prospect, from facts known at the as-of date."""

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pandas as pd
from psycopg2.extensions import connection as PgConnection

from realestate_assets import gx_worker
from realestate_assets.assets.common import (
    Reported,
    check,
    county_asset,
    county_sales,
    frames,
    partition_params,
    snapshot,
    table_metadata,
)
from realestate_assets.assets.unchanged import input_fingerprint, remember, unchanged, written_slice
from realestate_assets.db.warehouse import sync_partition
from realestate_assets.market.index import INDEX_SALE_COLUMNS
from realestate_assets.market.stored import fitted_index, store_index
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
from resources import GreatExpectationsResource, PlatformResource, WarehouseResource

LOCATIONS_SQL = ("SELECT prospect_key, latitude, longitude, list_price, list_date FROM prospects "
                 "WHERE county = :county")

# Features every scored row must have: without them there is no valuation at all.
REQUIRED_FEATURES = ["living_sqft", "age_years", "bldg_grade", "latitude", "longitude",
                     "last_sale_price", "years_since_last_sale"]

# Only the columns the features read (never the JSONB provenance and source status: decoding
# them was a third of this step at 47k prospects, issue 17).
ENRICHED_SQL = f"SELECT {', '.join(ENRICHMENT_INPUTS)} FROM enrichment WHERE county = :county"
# `market_index_fitted`: the index fitted by this run, or the stored fit of the same sales taken.
FITTED_HERE, FIT_TAKEN = "here", "taken as stored: fitted on these sales by this code"
FEATURE_CHUNK_ROWS = 25_000  # enrichment rows turned into features (and staged) at a time
VALIDATE_ROWS = 250_000  # feature rows Great Expectations validates at once (`RequiredFeatures`)


@county_asset(
    deps=["enrichment", "prospects", "sales"],
    description="Model inputs per enriched prospect, from facts known at the as-of date, priced along "
                "the county's hedonic market index (enrichment's fit on the same sales, or fitted here; kept "
                "in `market_indexes` for the API). Missing values "
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
def features(context: dg.AssetExecutionContext, platform: PlatformResource, warehouse: WarehouseResource,
             great_expectations: GreatExpectationsResource) -> Reported:
    # `great_expectations` is not called: required here, Dagster initializes it for a run that
    # executes this step, and its set-up has the run's first computing step start GE's worker
    # process (`gx_worker.prefetch`; `RequiredFeatures` takes it, or starts it).
    wh = warehouse.get()
    params = partition_params(context, platform)
    # Inputs: the partition's enrichment and sales (all read), the prospects' locations and
    # listing fields (other columns change with the lifecycle), the code: features are a pure
    # function of them.
    inputs = input_fingerprint(context, wh, "features", params, tables=["enrichment", "sales"],
                               queries={LOCATIONS_SQL: ["prospects"]}, upstream="enrichment")
    if (same := unchanged(context, wh, params, inputs)) is not None:
        yield from same
        return
    # The county-wide inputs every chunk needs, made side by side (issue 17: one after the other
    # they were a third of the step at 1M, with one of the two cores idle): the sales' read and
    # the index fit in a thread while this one reads the locations (the COPY's parse, the
    # server's side and NumPy run without the GIL). Great Expectations runs in a worker process
    # (`RequiredFeatures`), started by the run's first computing step (`great_expectations`): at
    # 43k its import was most of the step.
    tally = FeatureTally(REQUIRED_FEATURES)
    with wh.transaction() as conn, conn.cursor() as cur:
        # The county's market index as `enrichment` fitted it, when fitted on the sales as they are
        # now: the same fit, not made again from every sale (issue 17: ≈2 s of this step at 1M).
        index, fitted_on = fitted_index(cur, context.partition_key)
    with tally.required:  # the worker kept for the next check once answered, ended on the step's error
        with ThreadPoolExecutor(1, thread_name_prefix="features-index") as pool:
            fitted = None if index is not None else pool.submit(lambda: HedonicIndex.from_sales(
                county_sales(wh, params, INDEX_SALE_COLUMNS)))  # only the sales columns it reads
            locations = locations_by_key(wh.frame(LOCATIONS_SQL, params))  # indexed once for every chunk
            index = index if fitted is None else fitted.result()
        # Features are per row: each chunk of enrichment rows (the stage's widest input) is turned
        # into feature rows, counted for the checks and the metadata, and staged by the write before
        # the next is read: the county's feature rows are never in memory at once (issue 17).

        def feature_chunks(read: PgConnection) -> Iterator[pd.DataFrame]:
            # Text and dates as Arrow read them (`arrow`): computed on as arrays and written as
            # they are, never a Python object a value made and then encoded back (issue 17).
            for enriched in frames(wh, read, ENRICHED_SQL, params, FEATURE_CHUNK_ROWS, arrow=True):
                built = build_features(enriched, locations, index)
                tally.add(enriched, built)
                yield built
            if not tally.chunks:  # no enrichment yet: one typed, empty frame names the columns
                yield build_features(wh.frame(ENRICHED_SQL, params), locations, index)

        with snapshot(wh) as read, wh.transaction() as conn:
            stats = sync_partition(conn, "features", feature_chunks(read),
                                   county=context.partition_key, keys=["prospect_key"])
            if fitted is not None:  # the index fitted here, for the API's market panel (market/stored.py)
                with conn.cursor() as cur:
                    store_index(cur, context.partition_key, index, fitted_on)
        expectations = tally.required.result()
    available = availability_of(tally.present, tally.rows)
    missing_share = missing_shares(tally.present, tally.rows)
    yield from remember(context, wh, params, inputs, dg.MaterializeResult(
        metadata=table_metadata(
            "features", stats.rows,
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
            market_index=dg.MetadataValue.json(index.to_dict()),
            market_index_fitted=FITTED_HERE if fitted is not None else FIT_TAKEN),
        check_results=[
            check("required_features_complete", expectations["success"],
                  f"required features: {expectations['failed'] or 'all complete'}",
                  failed=dg.MetadataValue.json(expectations["failed"])),
            check("every_enriched_prospect_has_features", tally.rows == tally.enriched,
                  f"{tally.rows} feature rows for {tally.enriched} enriched prospects"),
        ],
    ), published=stats.published, written=written_slice(wh, "features", params, writes=[stats]))



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
    (`gx_worker`: GE's set-up and the blocks are its `BlockCheck`; the unexpected counts of the
    blocks add up to those of the whole). Only the required columns of each chunk are sent to it.

    The check takes the process's worker (`gx_worker.take`), which a run that executes `features`
    in this process started with its first computing step (`GreatExpectationsResource`,
    `gx_worker.prefetch`), else which is started now: GE's import (≈1.9 CPU s after the
    definitions, ≈3.4 in the worker's fresh interpreter) runs on the other core, beside the run's
    earlier steps or this step's own reads, chunks and write, never holding their GIL (issue 17).
    A failed set-up, a worker that ended, or a validation's error is raised where the step first
    waits for the worker: once `block_rows` rows were given, or by `result`.

    The process's worker serves the next check after `result`; on `close` before it (a `with`
    block: the step's error) it is ended, and the next check starts another."""

    def __init__(self, columns: list[str], block_rows: int = VALIDATE_ROWS) -> None:
        self.columns, self.block_rows = columns, block_rows
        self._rows = 0  # rows given: the worker is first waited for once they reach `block_rows`
        self._result: dict[str, object] | None = None
        self._worker, self._shared = gx_worker.take()
        self._worker.send(("columns", (columns, block_rows)))

    def __enter__(self) -> "RequiredFeatures":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Let the worker go: kept for the next check once `result` answered, ended if not (a
        check left half-way: the worker may be validating rows no one will ask about)."""
        if self._worker is None:
            return
        worker, self._worker = self._worker, None
        if self._result is None or not self._shared:
            worker.close()
        if self._shared:
            worker.busy.release()

    def validate(self, frame: pd.DataFrame) -> None:
        """Count `frame`'s rows in (validated by the worker once a block is full, or by `result`)."""
        if frame.empty:
            return
        self._live().send(("rows", frame[self.columns]))  # a copy: the step's frame goes on to the write
        self._rows += len(frame)
        if self._rows >= self.block_rows:
            self._wait_ready()

    def result(self) -> dict[str, object]:
        if self._result is None:
            worker = self._live()
            worker.send(("result", None))
            try:
                worker.wait_ready()
                _, failed = worker.receive()
            except BaseException:
                self.close()
                raise
            self._result = {"success": not failed, "failed": failed}
            self.close()
        return self._result

    def _live(self) -> gx_worker.Worker:
        if self._worker is None:
            raise RuntimeError("the required-features check was closed before its result")
        return self._worker

    def _wait_ready(self) -> None:
        try:
            self._live().wait_ready()
        except BaseException:
            self.close()
            raise


def expect_required(frame: pd.DataFrame, columns: list[str]) -> dict[str, object]:
    """`RequiredFeatures` over one frame: {"success": bool, "failed": {column: rows failing}}."""
    with RequiredFeatures(columns) as check:
        check.validate(frame)
        return check.result()
