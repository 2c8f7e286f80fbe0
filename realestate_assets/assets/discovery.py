"""`sales` and `prospects`: what the county's sources say, validated; one prospect per property."""


import dagster as dg

from realestate_assets.assets.common import OWNERS, check, county_of, partition_params, table_metadata, tenant
from realestate_assets.db.warehouse import replace_rejects, sync_partition
from realestate_assets.discovery.collect import collect_sales, prospects_from_sales
from resources import WarehouseResource

SALE_COLUMNS = [
    "source", "sale_id", "parcel_id", "sale_price", "sale_date", "use_type", "neighborhood",
    "lot_sqft", "waterfront", "bldg_grade", "living_sqft", "beds", "baths", "age_at_sale",
    "eff_age_at_sale", "latitude", "longitude", "address", "city", "state", "zip", "source_ref",
]


def build(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=partitions,
        group_name="discovery",
        kinds={"postgres", "pandas"},
        owners=OWNERS,
        description="Recorded sales from the county's `provides: sales` sources, validated and "
                    "mapped to canonical fields. Invalid rows go to `rejects` with the reason.",
        check_specs=[
            dg.AssetCheckSpec("sale_keys_present_and_unique", asset="sales",
                              description="every sale has a parcel id and a sale id unique per source"),
            dg.AssetCheckSpec("reject_rate_below_ceiling", asset="sales", blocking=True,
                              description="share of source rows rejected ≤ the county's max_reject_rate"),
        ],
        tags={"stage": "discovery"},
    )
    def sales(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        county = county_of(context)
        collected = collect_sales(county)
        rows = collected.rows.reindex(columns=SALE_COLUMNS)
        rows["waterfront"] = rows["waterfront"].map({1.0: True, 0.0: False})
        wh = warehouse.get()
        with wh.transaction() as conn:
            stats = sync_partition(conn, "sales", rows, tenant_id=tenant(), county=county.key,
                                   keys=["source", "sale_id"])
            replace_rejects(conn, tenant_id=tenant(), county=county.key, asset="sales",
                            rejects=collected.rejects, run_id=context.run_id)
        integrity = wh.frame(
            "SELECT count(*) AS n, count(DISTINCT (source, sale_id)) AS distinct_keys, "
            "count(*) FILTER (WHERE parcel_id IS NULL OR parcel_id = '') AS missing_parcel "
            "FROM sales WHERE tenant_id = :tenant AND county = :county", partition_params(context)).iloc[0]
        ceiling = county.quality.max_reject_rate
        return dg.MaterializeResult(
            metadata=table_metadata(
                wh, "sales", stats.rows,
                inserted=stats.inserted, updated=stats.updated, deleted=stats.deleted,
                rejects=len(collected.rejects), reject_rate=round(collected.reject_rate, 5),
                rows_read_by_source=dg.MetadataValue.json(dict(collected.source_rows)),
                newest_sale=str(rows["sale_date"].max()) if len(rows) else "none"),
            check_results=[
                check("sale_keys_present_and_unique",
                      integrity.n == integrity.distinct_keys and integrity.missing_parcel == 0,
                      f"{integrity.n} sales, {integrity.distinct_keys} distinct keys, "
                      f"{integrity.missing_parcel} without parcel id",
                      rows=int(integrity.n), missing_parcel=int(integrity.missing_parcel)),
                check("reject_rate_below_ceiling", collected.reject_rate <= ceiling,
                      f"{len(collected.rejects)} rejects, rate {collected.reject_rate:.2%} "
                      f"(ceiling {ceiling:.2%})", reject_rate=collected.reject_rate, ceiling=ceiling),
            ],
        )

    @dg.asset(
        partitions_def=partitions,
        group_name="discovery",
        kinds={"postgres", "pandas"},
        owners=OWNERS,
        deps=[sales],
        automation_condition=dg.AutomationCondition.eager(),
        description="One prospect per property in the county (keyed by parcel id where known), "
                    "located and typed, linked to every source record that describes it.",
        check_specs=[
            dg.AssetCheckSpec("prospect_keys_present_and_unique", asset="prospects"),
            dg.AssetCheckSpec("coordinates_inside_county", asset="prospects",
                              description="every located prospect lies in the county's bounding box"),
        ],
        tags={"stage": "discovery"},
    )
    def prospects(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        county = county_of(context)
        wh = warehouse.get()
        params = partition_params(context)
        sold = wh.frame("SELECT parcel_id, sale_id, sale_date, source, source_ref, latitude, longitude, "
                        "use_type, address, city, state, zip FROM sales "
                        "WHERE tenant_id = :tenant AND county = :county", params)
        frame, links = prospects_from_sales(sold)
        with wh.transaction() as conn:
            stats = sync_partition(conn, "prospects", frame, tenant_id=tenant(), county=county.key,
                                   keys=["prospect_key"], preserve=["status"])
            sync_partition(conn, "prospect_sources", links, tenant_id=tenant(), county=county.key,
                           keys=["source", "source_id"])
        box = county.bounding_box
        located = frame.dropna(subset=["latitude", "longitude"])
        outside = int((~(located["latitude"].between(box.min_latitude, box.max_latitude)
                         & located["longitude"].between(box.min_longitude, box.max_longitude))).sum())
        missing_key = int(frame["prospect_key"].isna().sum())
        return dg.MaterializeResult(
            metadata=table_metadata(
                wh, "prospects", stats.rows,
                lineage={"parcel_id": [("sales", "parcel_id")], "latitude": [("sales", "latitude")],
                         "longitude": [("sales", "longitude")], "use_type": [("sales", "use_type")]},
                inserted=stats.inserted, updated=stats.updated, deleted=stats.deleted,
                source_links=len(links)),
            check_results=[
                check("prospect_keys_present_and_unique",
                      missing_key == 0 and not frame["prospect_key"].duplicated().any(),
                      f"{len(frame)} prospects, {missing_key} without a key"),
                check("coordinates_inside_county", outside == 0,
                      f"{outside} of {len(located)} located prospects outside the bounding box",
                      outside=outside),
            ],
        )

    return [sales, prospects]
