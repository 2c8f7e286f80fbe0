"""`features`: the model's inputs per enriched prospect, from facts known at the as-of date."""

import functools
import os
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
from psycopg2.extensions import connection as PgConnection

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
from realestate_assets.db.input_fingerprints import loaded_slice_state
from realestate_assets.db.warehouse import sync_partition
from realestate_assets.gc_pause import frozen_once_made
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
    # server's side and NumPy run without the GIL). Great Expectations is set up in a third
    # (`RequiredFeatures`), started first: at 43k its import is most of the step.
    tally = FeatureTally(REQUIRED_FEATURES)
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
    ), published=stats.published, state=loaded_slice_state(stats))  # a first load's: no scan (else None: scanned)



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
    platform standardizes on), over a county's feature rows a block at a time: the unexpected
    counts of the blocks add up to those of the whole. Only the required columns are handed to
    it: it copies what it is given.

    GE is set up in the background (`gx_batches`: its import, ≈1.4 CPU s with compiled modules
    after the definitions, and an ephemeral context, once per process): at 43k parcels the import
    was ≈90% of the step's samples and the chunks are only validated by `result` (fewer rows
    than a block), so the step's reads, chunks and write run while it imports (issue 17). A
    failed set-up is raised where the first block is validated.

    The chunks given to `validate` are gathered into blocks of at least `block_rows` rows and
    each block is validated as one suite: GE's cost is mostly per validation (≈50 ms for the
    seven expectations, nearly the same at 25k rows as at 250k), which per 25k-row chunk was
    2.3 CPU s of the step at a million rows (issue 17). A block of the seven float columns is
    ≈14 MB. `result` validates what is left."""

    def __init__(self, columns: list[str], block_rows: int = VALIDATE_ROWS) -> None:
        setup = ThreadPoolExecutor(1, thread_name_prefix="gx-setup")
        self._gx = setup.submit(gx_batches)  # its error, if any, is raised by `result()` below
        setup.shutdown(wait=False)  # the thread ends with the set-up
        self._suite: Any = None  # made with the first block, once GE is imported
        self.columns, self.block_rows = columns, block_rows
        self.unexpected: Counter[str] = Counter()
        self._pending: list[pd.DataFrame] = []  # chunks not validated yet (their required columns)
        self._pending_rows = 0

    def validate(self, frame: pd.DataFrame) -> None:
        """Count `frame`'s rows in (validated once a block is full, or by `result`)."""
        if frame.empty:
            return
        self._pending.append(frame[self.columns])
        self._pending_rows += len(frame)
        if self._pending_rows >= self.block_rows:
            self._validate_pending()

    def _validate_pending(self) -> None:
        if not self._pending:
            return
        block = self._pending[0] if len(self._pending) == 1 else pd.concat(self._pending, ignore_index=True)
        self._pending, self._pending_rows = [], 0
        gx, batches = self._gx.result()
        if self._suite is None:
            self._suite = gx.ExpectationSuite(name="required_features", expectations=[
                gx.expectations.ExpectColumnValuesToNotBeNull(column=c) for c in self.columns])
        with _GX_LOCK:  # one context per process: its batch definition used by one caller at a time
            batch = batches.get_batch(batch_parameters={"dataframe": block.replace([np.inf, -np.inf], np.nan)})
            results = batch.validate(self._suite).results
        for outcome in results:
            if not outcome.success:
                column = outcome.expectation_config.kwargs["column"]
                self.unexpected[column] += int(outcome.result.get("unexpected_count", 0))

    def result(self) -> dict[str, object]:
        self._validate_pending()
        failed = {c: self.unexpected[c] for c in self.columns if c in self.unexpected}  # in column order
        return {"success": not failed, "failed": failed}


_GX_LOCK = threading.Lock()


@functools.cache
def _gx_batches() -> tuple[ModuleType, Any]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no phoning home from a pipeline
    # The import and the context make ≈280k container objects that live as long as the process
    # (pydantic's model classes, ≈1,200 modules). With the collector on, they set off ≈300 young
    # and one full collection (≈0.18 CPU s in the step at 43k, all of it holding the GIL the step's
    # own thread waits for: issue 17), and every later full collection would walk them again. So
    # the collector is paused while they are made, and what is live then is frozen (as the code
    # location's imports are, definitions.py; `frozen_once_made`): later collections skip it. The price: a cycle among
    # the objects live at that moment that becomes garbage later is never collected; once per
    # process, and a step's frames are freed by reference counting, not by the collector.
    with frozen_once_made():
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in run logs
        batches = (context.data_sources.add_pandas("features").add_dataframe_asset("partition")
                   .add_batch_definition_whole_dataframe("all"))
    return gx, batches


def gx_batches() -> tuple[ModuleType, Any]:
    """Great Expectations and a whole-dataframe batch definition of its pandas datasource, in an
    ephemeral context made once per process (a second context would replace the first as GE's
    project context). Imported lazily: a process that never validates features never pays it."""
    with _GX_LOCK:  # one set-up, whichever thread asks first
        return _gx_batches()


def expect_required(frame: pd.DataFrame, columns: list[str]) -> dict[str, object]:
    """`RequiredFeatures` over one frame: {"success": bool, "failed": {column: rows failing}}."""
    check = RequiredFeatures(columns)
    check.validate(frame)
    return check.result()
