"""`enrichment` and `features`: facts about each prospect, then the model's inputs."""


import os

import dagster as dg
import numpy as np

from realestate_assets.assets.common import OWNERS, check, county_of, partition_params, table_metadata, tenant
from realestate_assets.config_models import load_scoring
from realestate_assets.db.warehouse import Warehouse, sync_partition
from realestate_assets.enrich.county_data import enrich_from_county_sales
from realestate_assets.enrich.market import CompsSettings, PriceIndex
from realestate_assets.ml.features import FEATURES, build_features
from resources import WarehouseResource

# Features every scored row must have: without them there is no valuation at all.
REQUIRED_FEATURES = ["living_sqft", "age_years", "bldg_grade", "latitude", "longitude",
                     "last_sale_price", "years_since_last_sale"]


def county_sales(wh: Warehouse, params: dict[str, str]):  # -> pd.DataFrame
    return wh.frame(
        "SELECT source, sale_id, parcel_id, sale_price::float8 AS sale_price, sale_date, use_type, "
        "neighborhood, lot_sqft, waterfront, bldg_grade, living_sqft, beds, baths, age_at_sale, "
        "eff_age_at_sale, latitude, longitude FROM sales "
        "WHERE tenant_id = :tenant AND county = :county ORDER BY sale_date, sale_id", params)


def comps_settings() -> CompsSettings:
    scoring = load_scoring()
    return CompsSettings(radius_m=scoring.comps_radius_m, max_comps=scoring.comps_max,
                         window_months=scoring.comps_window_months,
                         sqft_tolerance=scoring.comps_sqft_tolerance)


def build(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=partitions,
        group_name="enrichment",
        kinds={"postgres", "pandas"},
        owners=OWNERS,
        deps=["prospects", "sales"],
        automation_condition=dg.AutomationCondition.eager(),
        description="Per prospect: building facts and sale history from the county's records, and "
                    "market comparables (nearest similar recent sales, time-adjusted). Each field "
                    "records its source in `provenance`; no value is filled in without one.",
        check_specs=[
            dg.AssetCheckSpec("enrichment_coverage_above_floor", asset="enrichment", blocking=True,
                              description="share of prospects enriched ≥ the county's floor"),
            dg.AssetCheckSpec("comps_coverage", asset="enrichment",
                              description="share of enriched prospects with a comparable-sales value"),
        ],
        tags={"stage": "enrichment"},
    )
    def enrichment(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        county = county_of(context)
        wh = warehouse.get()
        params = partition_params(context)
        prospects = wh.frame("SELECT prospect_key, parcel_id FROM prospects "
                             "WHERE tenant_id = :tenant AND county = :county", params)
        frame = enrich_from_county_sales(prospects, county_sales(wh, params), comps_settings())
        with wh.transaction() as conn:
            stats = sync_partition(conn, "enrichment", frame, tenant_id=tenant(), county=county.key,
                                   keys=["prospect_key"])
        enriched = frame["status"] == "enriched"
        coverage = float(enriched.mean()) if len(frame) else 0.0
        comps_coverage = float(frame.loc[enriched, "comps_estimated_value"].notna().mean()) \
            if enriched.any() else 0.0
        floor = county.quality.min_enrichment_coverage
        failures = frame.loc[~enriched, "failure_reason"].value_counts().to_dict()
        return dg.MaterializeResult(
            metadata=table_metadata(
                wh, "enrichment", stats.rows,
                lineage={c: [("sales", c)] for c in ("living_sqft", "lot_sqft", "beds", "baths",
                                                      "bldg_grade", "use_type", "neighborhood")}
                | {"last_sale_price": [("sales", "sale_price")], "last_sale_date": [("sales", "sale_date")],
                   "year_built": [("sales", "sale_date"), ("sales", "age_at_sale")],
                   "comps_estimated_value": [("sales", "sale_price"), ("sales", "living_sqft"),
                                             ("sales", "latitude"), ("sales", "longitude")]},
                enriched=int(enriched.sum()), failed=int((~enriched).sum()),
                coverage=round(coverage, 4), comps_coverage=round(comps_coverage, 4),
                as_of_date=str(frame["as_of_date"].iloc[0]) if len(frame) else "none",
                failure_reasons=dg.MetadataValue.json(failures),
                sources_used=dg.MetadataValue.json(
                    {"county_sales": "used", "attom": "not configured (issue #4)",
                     "census_acs": "not configured (issue #4)"})),
            check_results=[
                check("enrichment_coverage_above_floor", coverage >= floor,
                      f"{coverage:.1%} of prospects enriched (floor {floor:.0%})",
                      coverage=coverage, floor=floor),
                check("comps_coverage", comps_coverage >= 0.5,
                      f"{comps_coverage:.1%} of enriched prospects have a comparable-sales value",
                      severity="WARN", comps_coverage=comps_coverage),
            ],
        )

    @dg.asset(
        partitions_def=partitions,
        group_name="scoring",
        kinds={"postgres", "pandas"},
        owners=OWNERS,
        deps=[enrichment, "prospects", "sales"],
        automation_condition=dg.AutomationCondition.eager(),
        description="Model inputs per enriched prospect, from facts known at the as-of date. Missing "
                    "values stay missing (never imputed). Registry: " + "; ".join(
                        f"`{k}` {v}" for k, v in FEATURES.items()),
        check_specs=[
            dg.AssetCheckSpec("required_features_complete", asset="features",
                              description="no null/NaN/inf in the required features (Great Expectations)"),
            dg.AssetCheckSpec("every_enriched_prospect_has_features", asset="features"),
        ],
        tags={"stage": "features"},
    )
    def features(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        wh = warehouse.get()
        params = partition_params(context)
        enriched = wh.frame("SELECT * FROM enrichment WHERE tenant_id = :tenant AND county = :county",
                            params)
        locations = wh.frame("SELECT prospect_key, latitude, longitude FROM prospects "
                             "WHERE tenant_id = :tenant AND county = :county", params)
        index = PriceIndex.from_sales(county_sales(wh, params))
        frame = build_features(enriched, locations, index)
        with wh.transaction() as conn:
            stats = sync_partition(conn, "features", frame, tenant_id=tenant(),
                                   county=context.partition_key, keys=["prospect_key"])
        expectations = expect_required(frame, REQUIRED_FEATURES)
        expected_rows = int((enriched["status"] == "enriched").sum())
        missing_share = {c: round(float(frame[c].isna().mean()), 4) for c in FEATURES if c in frame}
        return dg.MaterializeResult(
            metadata=table_metadata(
                wh, "features", stats.rows,
                lineage={"age_years": [("enrichment", "year_built"), ("enrichment", "as_of_date")],
                         "last_sale_price_indexed": [("enrichment", "last_sale_price"),
                                                     ("enrichment", "last_sale_date"),
                                                     ("sales", "sale_price")],
                         "last_price_to_comps_value": [("enrichment", "last_sale_price"),
                                                       ("enrichment", "comps_estimated_value")]},
                missing_share_by_feature=dg.MetadataValue.json(missing_share),
                feature_registry=dg.MetadataValue.json(FEATURES)),
            check_results=[
                check("required_features_complete", expectations["success"],
                      f"required features: {expectations['failed'] or 'all complete'}",
                      failed=dg.MetadataValue.json(expectations["failed"])),
                check("every_enriched_prospect_has_features", len(frame) == expected_rows,
                      f"{len(frame)} feature rows for {expected_rows} enriched prospects"),
            ],
        )

    return [enrichment, features]


def expect_required(frame, columns: list[str]) -> dict[str, object]:  # frame: pd.DataFrame
    """Great Expectations: each required column non-null and finite. Imported lazily (≈2.5 s)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no phoning home from a pipeline
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    batch = (context.data_sources.add_pandas("features")
             .add_dataframe_asset("partition")
             .add_batch_definition_whole_dataframe("all")
             .get_batch(batch_parameters={"dataframe": frame.replace([np.inf, -np.inf], np.nan)}))
    failed: dict[str, int] = {}
    for column in columns:
        result = batch.validate(gx.expectations.ExpectColumnValuesToNotBeNull(column=column))
        if not result.success:
            failed[column] = int(result.result.get("unexpected_count", 0))
    return {"success": not failed, "failed": failed}
