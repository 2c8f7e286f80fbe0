"""`features`: the model's inputs per enriched prospect, from facts known at the as-of date."""

import os

import dagster as dg
import numpy as np
import pandas as pd

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
from realestate_assets.enrich.pipeline import ENRICHMENT_COLUMNS
from realestate_assets.ml.features import FEATURES, availability, build_features, registry_table
from realestate_assets.ml.market_index import HedonicIndex
from resources import PlatformResource, WarehouseResource

# Features every scored row must have: without them there is no valuation at all.
LOCATIONS_SQL = ("SELECT prospect_key, latitude, longitude, list_price, list_date FROM prospects "
                 "WHERE county = :county")

REQUIRED_FEATURES = ["living_sqft", "age_years", "bldg_grade", "latitude", "longitude",
                     "last_sale_price", "years_since_last_sale"]

FEATURE_INPUTS = [c for c in ENRICHMENT_COLUMNS if c not in ("provenance", "source_status")]
# Every column but the JSONB provenance and source status, which the features never read
# (decoding them was a third of this step at 47k prospects: issue 17).
ENRICHED_SQL = f"SELECT {', '.join(FEATURE_INPUTS)} FROM enrichment WHERE county = :county"
FEATURE_CHUNK_ROWS = 100_000  # enrichment rows turned into features at a time


@county_asset(
    deps=["enrichment", "prospects", "sales"],
    description="Model inputs per enriched prospect, from facts known at the as-of date, priced along "
                "the county's hedonic market index. Missing values stay missing (never imputed); features "
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
    locations = wh.frame(LOCATIONS_SQL, params)
    index = HedonicIndex.from_sales(county_sales(wh, params))
    # Features are per row: the enrichment rows (the stage's widest input) are read and turned
    # into features a chunk at a time; only the feature rows are held for the write (issue 17).
    parts, expected_rows = [], 0
    with snapshot(wh) as conn:
        for enriched in frames(wh, conn, ENRICHED_SQL, params, FEATURE_CHUNK_ROWS):
            expected_rows += int((enriched["status"] == "enriched").sum())
            parts.append(build_features(enriched, locations, index))
    kept = [p for p in parts if len(p)] or parts[:1]  # an empty chunk's object columns would upcast
    frame = pd.concat(kept, ignore_index=True, copy=False) if len(kept) > 1 else kept[0] if kept else \
        build_features(wh.frame(ENRICHED_SQL, params), locations, index)  # no enrichment yet: typed, empty
    del parts, kept
    with wh.transaction() as conn:
        stats = sync_partition(conn, "features", frame,
                               county=context.partition_key, keys=["prospect_key"])
    expectations = expect_required(frame, REQUIRED_FEATURES)
    available = availability(frame)
    missing_share = {c: round(float(frame[c].isna().mean()), 4) for c in FEATURES if c in frame}
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
            check("every_enriched_prospect_has_features", len(frame) == expected_rows,
                  f"{len(frame)} feature rows for {expected_rows} enriched prospects"),
        ],
    ), published=stats.published)



def expect_required(frame: pd.DataFrame, columns: list[str]) -> dict[str, object]:
    """Great Expectations: each required column non-null and finite (the data-quality engine the
    platform standardizes on). Imported lazily: its import (≈2.5 s quiet) is paid once per
    process, so once per run under the in-process executor (docs/scale.md). Only `columns` are
    handed to it: it copies what it is given."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no phoning home from a pipeline
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in run logs
    batch = (context.data_sources.add_pandas("features")
             .add_dataframe_asset("partition")
             .add_batch_definition_whole_dataframe("all")
             .get_batch(batch_parameters={"dataframe": frame[columns].replace([np.inf, -np.inf], np.nan)}))
    failed: dict[str, int] = {}
    for column in columns:
        result = batch.validate(gx.expectations.ExpectColumnValuesToNotBeNull(column=column))
        if not result.success:
            failed[column] = int(result.result.get("unexpected_count", 0))
    return {"success": not failed, "failed": failed}
