"""`enrichment`: facts about each prospect, each with its source."""

import dagster as dg

from realestate_assets.assets.common import (
    OWNERS,
    check,
    county_of,
    county_sales,
    partition_params,
    table_metadata,
    tenant,
)
from realestate_assets.config_models import load_scoring
from realestate_assets.db.warehouse import advance_status, sync_partition
from realestate_assets.enrich.county_data import enrich_from_county_sales
from realestate_assets.enrich.market import CompsSettings
from resources import WarehouseResource


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
            advance_status(conn, tenant_id=tenant(), county=county.key, status="enriched",
                           keys=frame.loc[frame["status"] == "enriched", "prospect_key"].tolist())
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

    return [enrichment]
