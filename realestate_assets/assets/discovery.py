"""`sales`, `listings` and `prospects`: what the county's sources say, validated, then one
prospect per property across all of them."""

from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial

import dagster as dg
import pandas as pd

from realestate_assets.assets.common import check, county_of, partition_params, table_metadata, tenant
from realestate_assets.config_models import CountyConfig, ListingSiteSource, SourceBase
from realestate_assets.db.warehouse import Warehouse, replace_rejects, sync_partition
from realestate_assets.discovery.collect import Collected, build_prospects, collect_listings, collect_sales
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.discovery.sources import iter_source
from resources import PlatformResource, ScraperResource, SourceCredentialsResource, WarehouseResource

SALE_COLUMNS = [
    "source", "sale_id", "parcel_id", "sale_price", "sale_date", "use_type", "neighborhood",
    "lot_sqft", "waterfront", "bldg_grade", "living_sqft", "beds", "baths", "age_at_sale",
    "eff_age_at_sale", "latitude", "longitude", "address", "city", "state", "zip", "source_ref",
]
LISTING_COLUMNS = [
    "source", "source_id", "listing_url", "address", "unit", "city", "state", "zip", "latitude", "longitude",
    "list_price", "beds", "baths", "living_sqft", "lot_sqft", "year_built", "property_type", "listing_status",
    "list_date", "description", "photos", "owner_name", "owner_mailing_address", "source_ref",
]
PROSPECT_COLUMNS = [
    "prospect_key", "parcel_id", "address", "unit", "address_key", "city", "state", "zip", "latitude",
    "longitude", "use_type", "property_type", "beds", "baths", "living_sqft", "lot_sqft", "year_built",
    "list_price", "listing_status", "list_date", "listing_url", "description", "photos", "owner_name",
    "owner_mailing_address", "sources",
]
# The seed's bar for duplicates left after cross-source matching.
MAX_DUPLICATE_RATE = 0.005


def write_source_rows(context: dg.AssetExecutionContext, wh: Warehouse, tenant_id: str, table: str,
                      keys: list[str], rows: pd.DataFrame, collected: Collected) -> dict[str, object]:
    """Sync the partition's rows and replace its rejects in one transaction; return metadata."""
    with wh.transaction() as conn:
        stats = sync_partition(conn, table, rows.reset_index(drop=True), tenant_id=tenant_id,
                               county=context.partition_key, keys=keys)
        replace_rejects(conn, tenant_id=tenant_id, county=context.partition_key, asset=table,
                        rejects=collected.rejects, run_id=context.run_id)
    return {"inserted": stats.inserted, "updated": stats.updated, "deleted": stats.deleted,
            "rows": stats.rows, "rejects": len(collected.rejects),
            "reject_rate": round(collected.reject_rate, 5),
            "rows_read_by_source": dg.MetadataValue.json(dict(collected.source_rows)),
            "reject_reasons": dg.MetadataValue.json(_reason_counts(collected.rejects))}


def _reason_counts(rejects: list[Reject]) -> dict[str, int]:
    """The 20 commonest reject reasons, by field ("sale_price: not a number" counts as sale_price)."""
    counts = Counter(reason.split(":")[0] if ":" in reason else reason[:60]
                     for reject in rejects for reason in reject.reason.split("; "))
    return dict(counts.most_common(20))


def reader(credentials: SourceCredentialsResource) -> Callable[[SourceBase], Iterator[Page | Reject]]:
    """The discovery adapters, with the secrets the county files name (e.g. a Socrata app token)."""
    return partial(iter_source, credentials=credentials.by_name())


def reject_rate_check(collected: Collected, county: CountyConfig) -> dg.AssetCheckResult:
    ceiling = county.quality.max_reject_rate
    return check("reject_rate_below_ceiling", collected.reject_rate <= ceiling,
                 f"{len(collected.rejects)} rejects, rate {collected.reject_rate:.2%} (ceiling {ceiling:.2%})",
                 reject_rate=collected.reject_rate, ceiling=ceiling)


@dg.asset(
    description="Recorded sales from the county's `provides: sales` sources (bulk files, Socrata, "
                "ArcGIS), validated and mapped to canonical fields. Invalid rows go to `rejects` "
                "with the reason.",
    check_specs=[
        dg.AssetCheckSpec("sale_keys_present_and_unique", asset="sales",
                          description="every sale has a parcel id and a sale id unique per source"),
        dg.AssetCheckSpec("reject_rate_below_ceiling", asset="sales", blocking=True,
                          description="share of source rows rejected ≤ the county's max_reject_rate"),
    ],
)
def sales(context: dg.AssetExecutionContext, platform: PlatformResource, warehouse: WarehouseResource,
          credentials: SourceCredentialsResource) -> dg.MaterializeResult:
    county = county_of(context, platform)
    collected = collect_sales(county, reader(credentials))
    rows = collected.rows.reindex(columns=SALE_COLUMNS)
    rows["waterfront"] = rows["waterfront"].map({1.0: True, 0.0: False})
    wh = warehouse.get()
    written = write_source_rows(context, wh, tenant(platform), "sales", ["source", "sale_id"], rows, collected)
    integrity = wh.frame(
        "SELECT count(*) AS n, count(DISTINCT (source, sale_id)) AS distinct_keys, "
        "count(*) FILTER (WHERE parcel_id IS NULL OR parcel_id = '') AS missing_parcel "
        "FROM sales WHERE tenant_id = :tenant AND county = :county", partition_params(context, platform)).iloc[0]
    return dg.MaterializeResult(
        metadata=table_metadata(wh, "sales", written.pop("rows"), **written,
                                newest_sale=str(rows["sale_date"].max()) if len(rows) else "none"),
        check_results=[
            check("sale_keys_present_and_unique",
                  integrity.n == integrity.distinct_keys and integrity.missing_parcel == 0,
                  f"{integrity.n} sales, {integrity.distinct_keys} distinct keys, "
                  f"{integrity.missing_parcel} without parcel id",
                  rows=int(integrity.n), missing_parcel=int(integrity.missing_parcel)),
            reject_rate_check(collected, county),
        ],
    )

@dg.asset(
    description="Listings from the county's `provides: listings` sources. Listing sites are crawled "
                "by Scrapy (+ Playwright for JavaScript pages) in their own process or pod through "
                "Dagster Pipes; items are validated, invalid ones go to `rejects`.",
    check_specs=[
        dg.AssetCheckSpec("listing_keys_unique", asset="listings",
                          description="one row per (source, source_id)"),
        dg.AssetCheckSpec("reject_rate_below_ceiling", asset="listings", blocking=True,
                          description="share of listing items rejected ≤ the county's max_reject_rate"),
    ],
)
def listings(context: dg.AssetExecutionContext, platform: PlatformResource, warehouse: WarehouseResource,
             scraper: ScraperResource, credentials: SourceCredentialsResource) -> dg.MaterializeResult:
    county = county_of(context, platform)
    crawl_metadata: dict[str, object] = {}

    def read(source: SourceBase) -> list[Page | Reject]:
        if isinstance(source, ListingSiteSource):
            crawl = scraper.crawl(context, county.key, source)
            crawl_metadata.update(crawl.metadata)
            return crawl.items
        return list(reader(credentials)(source))

    collected = collect_listings(county, read)
    rows = collected.rows.reindex(columns=LISTING_COLUMNS)
    wh = warehouse.get()
    written = write_source_rows(context, wh, tenant(platform), "listings", ["source", "source_id"], rows, collected)
    newest = pd.to_datetime(rows["list_date"]).max() if len(rows) else None
    return dg.MaterializeResult(
        metadata=table_metadata(
            wh, "listings", written.pop("rows"), **written, **crawl_metadata,
            listing_sources=dg.MetadataValue.json([s.name for s in county.sources_providing("listings")]),
            newest_listing=str(newest.date()) if newest is not None and pd.notna(newest) else "none"),
        check_results=[
            check("listing_keys_unique", not rows.duplicated(["source", "source_id"]).any(),
                  f"{len(rows)} listings"),
            reject_rate_check(collected, county),
        ],
    )

@dg.asset(
    deps=[sales, listings],
    description="One prospect per property across every source: matched on parcel id, else the "
                "normalized address (+ unit), else coordinates within 5 m; each source record stays "
                "linked in `prospect_sources`. `status` follows the lifecycle new → enriched → "
                "scored → packeted → emailed as later stages advance it.",
    check_specs=[
        dg.AssetCheckSpec("prospect_keys_present_and_unique", asset="prospects"),
        dg.AssetCheckSpec("coordinates_inside_county", asset="prospects",
                          description="every located prospect lies in the county's bounding box"),
        dg.AssetCheckSpec("duplicate_rate_after_matching", asset="prospects",
                          description="prospects sharing a normalized address + unit < 0.5%"),
    ],
)
def prospects(context: dg.AssetExecutionContext, platform: PlatformResource,
              warehouse: WarehouseResource) -> dg.MaterializeResult:
    county = county_of(context, platform)
    wh = warehouse.get()
    params = partition_params(context, platform)
    sold = wh.frame("SELECT source, sale_id, parcel_id, sale_date, source_ref, latitude, longitude, use_type, "
                    "address, city, state, zip FROM sales WHERE tenant_id = :tenant AND county = :county",
                    params)
    listed = wh.frame(f"SELECT {', '.join(LISTING_COLUMNS)} FROM listings "
                      "WHERE tenant_id = :tenant AND county = :county", params)
    merged = build_prospects(sold, listed)
    frame = merged.frame.reindex(columns=PROSPECT_COLUMNS)
    with wh.transaction() as conn:
        stats = sync_partition(conn, "prospects", frame, tenant_id=params["tenant"], county=county.key,
                               keys=["prospect_key"], preserve=["status"])
        sync_partition(conn, "prospect_sources", merged.links.reindex(
            columns=["prospect_key", "source", "source_id", "source_ref", "matched_on"]),
            tenant_id=params["tenant"], county=county.key, keys=["source", "source_id"])
    box = county.bounding_box
    located = frame.dropna(subset=["latitude", "longitude"])
    outside = int((~(located["latitude"].between(box.min_latitude, box.max_latitude)
                     & located["longitude"].between(box.min_longitude, box.max_longitude))).sum())
    missing_key = int(frame["prospect_key"].isna().sum())
    addressed = frame.dropna(subset=["address_key"])
    leftover = float(addressed.duplicated(["address_key", "unit"]).mean()) if len(addressed) else 0.0
    return dg.MaterializeResult(
        metadata=table_metadata(
            wh, "prospects", stats.rows,
            lineage={"parcel_id": [("sales", "parcel_id")],
                     "latitude": [("sales", "latitude"), ("listings", "latitude")],
                     "longitude": [("sales", "longitude"), ("listings", "longitude")],
                     "use_type": [("sales", "use_type")],
                     "list_price": [("listings", "list_price")], "address": [("listings", "address")]},
            inserted=stats.inserted, updated=stats.updated, deleted=stats.deleted,
            source_records=len(merged.links),
            records_merged_into_existing=round(merged.duplicate_rate, 5),
            matched_on=dg.MetadataValue.json(merged.links["matched_on"].value_counts().to_dict()
                                             if len(merged.links) else {})),
        check_results=[
            check("prospect_keys_present_and_unique",
                  missing_key == 0 and not frame["prospect_key"].duplicated().any(),
                  f"{len(frame)} prospects, {missing_key} without a key"),
            check("coordinates_inside_county", outside == 0,
                  f"{outside} of {len(located)} located prospects outside the bounding box", outside=outside),
            check("duplicate_rate_after_matching", leftover < MAX_DUPLICATE_RATE,
                  f"{leftover:.2%} of addressed prospects share an address and unit with another",
                  duplicate_rate=leftover),
        ],
    )

