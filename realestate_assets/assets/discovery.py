"""`sales`, `listings` and `prospects`: what the county's sources say, validated, then one
prospect per property across all of them."""

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import dagster as dg
import pandas as pd
from psycopg2 import sql

from realestate_assets import gx_worker
from realestate_assets.activity import county_activity
from realestate_assets.assets.common import (
    Reported,
    audit_checks,
    check,
    county_asset,
    county_of,
    partition_params,
    reported,
    rows_after_sync,
    sync_metadata,
    table_metadata,
)
from realestate_assets.assets.unchanged import input_fingerprint, remember, unchanged, written_slice
from realestate_assets.config_models import ASSESSOR_FIELDS, CountyConfig, ListingSiteSource, SourceBase
from realestate_assets.db.warehouse import Audit, AuditResult, SyncStats, Warehouse, replace_rejects, sync_partition
from realestate_assets.discovery.collect import (
    Collected,
    collect,
    collect_listings,
    match_sources,
    prospect_frame,
    sale_pages,
)
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.discovery.sources import iter_source
from resources import PlatformResource, ScraperResource, SourceCredentialsResource, WarehouseResource

SALE_COLUMNS = [
    "source", "sale_id", "parcel_id", "sale_price", "sale_date", "use_type", "neighborhood",
    "lot_sqft", "waterfront", "bldg_grade", "living_sqft", "beds", "baths", "age_at_sale",
    "eff_age_at_sale", "latitude", "longitude", "address", "city", "state", "zip", "sale_instrument",
    "sale_reason", "sale_warnings", "source_ref",
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
# What `prospects` writes, in one transaction: each source record's link, then the prospects.
PROSPECT_OUTPUTS = ("prospects", "prospect_sources")
SALE_KEYS = ["source", "sale_id"]
LISTING_KEYS = ["source", "source_id"]
ASSESSOR_COLUMNS = ["source", "parcel_id", *sorted(ASSESSOR_FIELDS), "source_ref"]
ASSESSOR_KEYS = ["source", "parcel_id"]
# The seed's bar for duplicates left after cross-source matching.
MAX_DUPLICATE_RATE = 0.005
# The WARN check every source table carries: a county with no discovering source is inactive.
COUNTY_ACTIVE = "county_active"


def write_source_rows(context: dg.AssetExecutionContext, wh: Warehouse, params: dict[str, str],
                      county: CountyConfig, table: str, keys: list[str], key_check: str,
                      rows: pd.DataFrame | Iterable[pd.DataFrame], collected: Collected,
                      required: str | None = None,
                      columns: list[str] | None = None) -> tuple[SyncStats, dict[str, object]]:
    """Audit and publish a source table's partition and replace its rejects in one transaction.

    `rows` may be pages (`collect_pages`, with `columns` naming them): each is staged as it is
    read, and `collected` is complete once the last has been taken, before the audit reads it.
    The rejects are recorded even when a blocking audit holds the rows back: they say why.
    """
    audit = source_audit(key_check, keys, collected, county, required)
    frames = rows.reset_index(drop=True) if isinstance(rows, pd.DataFrame) else rows
    with wh.transaction() as conn:
        stats = sync_partition(conn, table, frames, county=params["county"], keys=keys, audit=audit,
                               columns=columns)
        replace_rejects(conn, county=params["county"], asset=table,
                        rejects=collected.rejects, run_id=context.run_id)
    if collected.cleaned:
        context.log.warning(f"{table}: values cleaned while loading: {dict(collected.cleaned)}")
    return stats, {**sync_metadata(stats), "rejects": len(collected.rejects),
                   "reject_rate": round(collected.reject_rate, 5),
                   "rows_read_by_source": dg.MetadataValue.json(dict(collected.source_rows)),
                   "reject_reasons": dg.MetadataValue.json(_reason_counts(collected.rejects)),
                   "cleaned_values": dg.MetadataValue.json(dict(collected.cleaned))}


def source_check_specs(asset: str, key_check: str, key_description: str) -> list[dg.AssetCheckSpec]:
    """The checks every source table has; `source_audit` evaluates the first two on the staged rows,
    `county_active_check` the last."""
    return [dg.AssetCheckSpec(key_check, asset=asset, description=key_description),
            dg.AssetCheckSpec("reject_rate_below_ceiling", asset=asset, blocking=True,
                              description="share of source rows rejected ≤ the county's max_reject_rate"),
            dg.AssetCheckSpec(COUNTY_ACTIVE, asset=asset, description=(
                "the county has an enabled source that provides sales or listings; warns when it has "
                "none, so an inactive county's empty partition does not pass for a healthy one "
                "(enable a source in config/counties/<county>.yaml)"))]


def county_active_check(county: CountyConfig) -> tuple[dict[str, object], dg.AssetCheckResult]:
    """Whether the county is active (realestate_assets/activity.py decides), as metadata and a WARN check."""
    active, reason = county_activity(county)
    metadata = {"county_active": active, "county_status": reason,
                "enabled_sources": dg.MetadataValue.json(
                    {s.name: s.provides for s in county.sources if s.enabled})}
    return metadata, check(COUNTY_ACTIVE, active, reason, severity="WARN")


def source_audit(check_name: str, keys: list[str], collected: Collected, county: CountyConfig,
                 required: str | None = None) -> Audit:
    """A source table's checks, run on its staged rows: natural keys present and unique (advisory)
    and the reject rate under the county's ceiling (blocking: above it nothing is published)."""

    def audit(conn: Any, stage: str) -> list[AuditResult]:
        missing = (sql.SQL("count(*) FILTER (WHERE {c} IS NULL OR {c} = '')").format(c=sql.Identifier(required))
                   if required else sql.SQL("0"))
        key_list = sql.SQL(", ").join(map(sql.Identifier, keys))
        incomplete = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(k)) for k in keys)
        with conn.cursor() as cur:
            # The staged rows' complete keys are unique already: `sync_partition` refuses a
            # repeated key (the stage's unique index; on a first load the table's unique key,
            # which its upsert needs anyway). So the keys are counted distinct only when one has
            # a NULL part, which a unique index lets repeat: the same figures, without sorting a
            # million keys (issue 17: 18 s of the `sales` step at 1M, load 13).
            cur.execute(sql.SQL("SELECT count(*), count(*) FILTER (WHERE {}), {} FROM {}").format(
                incomplete, missing, sql.Identifier(stage)))
            n, with_null, without = cur.fetchone()
            distinct = n
            if with_null:
                cur.execute(sql.SQL("SELECT count(DISTINCT ({})) FROM {}").format(key_list, sql.Identifier(stage)))
                distinct = cur.fetchone()[0]
        ceiling = county.quality.max_reject_rate
        return [
            AuditResult(check_name, n == distinct and without == 0,
                        f"{n} rows, {distinct} distinct keys" + (f", {without} without {required}" if required else ""),
                        blocking=False, metadata={"rows": int(n), "missing_key": int(without)}),
            AuditResult("reject_rate_below_ceiling", collected.reject_rate <= ceiling,
                        f"{len(collected.rejects)} rejects, rate {collected.reject_rate:.2%} "
                        f"(ceiling {ceiling:.2%})", metadata={"reject_rate": collected.reject_rate,
                                                              "ceiling": ceiling}),
        ]

    return audit


def _reason_counts(rejects: list[Reject]) -> dict[str, int]:
    """The 20 commonest reject reasons, by field ("sale_price: not a number" counts as sale_price)."""
    counts = Counter(reason.split(":")[0] if ":" in reason else reason[:60]
                     for reject in rejects for reason in reject.reason.split("; "))
    return dict(counts.most_common(20))


def reader(credentials: SourceCredentialsResource) -> Callable[[SourceBase], Iterator[Page | Reject]]:
    """The discovery adapters, with the secrets the county files name (e.g. a Socrata app token)."""
    return partial(iter_source, credentials=credentials.by_name())


@county_asset(
    description="Recorded sales from the county's `provides: sales` sources (bulk files, Socrata, "
                "ArcGIS), validated and mapped to canonical fields. Invalid rows go to `rejects` "
                "with the reason.",
    check_specs=source_check_specs("sales", "sale_keys_present_and_unique",
                                   "every sale has a parcel id and a sale id unique per source"),
)
def sales(context: dg.AssetExecutionContext, platform: PlatformResource, warehouse: WarehouseResource,
          credentials: SourceCredentialsResource) -> Reported:
    county = county_of(context, platform)
    gx_worker.prefetch()  # every run of `sales` reads its sources: GE set up meanwhile, if wanted
    collected = Collected(rows=pd.DataFrame(columns=SALE_COLUMNS))
    newest: list[object] = []  # each page's newest sale date

    def pages() -> Iterator[pd.DataFrame]:  # staged one by one: a million sales are never one frame
        for page in sale_pages(collected, county, reader(credentials)):
            rows = page.reindex(columns=SALE_COLUMNS)
            rows["waterfront"] = rows["waterfront"].map({1.0: True, 0.0: False})
            newest.append(rows["sale_date"].max())
            yield rows

    wh, params = warehouse.get(), partition_params(context, platform)
    stats, written = write_source_rows(context, wh, params, county, "sales", SALE_KEYS,
                                       "sale_keys_present_and_unique", pages(), collected, required="parcel_id",
                                       columns=SALE_COLUMNS)
    activity, active_check = county_active_check(county)
    yield from reported(context, dg.MaterializeResult(
        metadata=table_metadata("sales", rows_after_sync(wh, "sales", params, stats), **written, **activity,
                                newest_sale=str(max(newest)) if newest else "none"),
        check_results=[*audit_checks(stats), active_check],
    ))


@county_asset(
    description="The county assessor's roll from its `provides: assessor` sources (Socrata, ArcGIS, bulk "
                "files): owner, mailing address, assessed and market value, tax per parcel. Enrichment "
                "reads it from here. Invalid rows go to `rejects` with the reason.",
    check_specs=source_check_specs("assessor_roll", "parcel_keys_present_and_unique",
                                   "every row has a parcel id, unique per source"),
)
def assessor_roll(context: dg.AssetExecutionContext, platform: PlatformResource, warehouse: WarehouseResource,
                  credentials: SourceCredentialsResource) -> Reported:
    county = county_of(context, platform)
    collected = collect(county, "assessor", ("parcel_id",), "parcel_id", reader(credentials))
    rows = collected.rows.reindex(columns=ASSESSOR_COLUMNS)
    wh, params = warehouse.get(), partition_params(context, platform)
    stats, written = write_source_rows(context, wh, params, county, "assessor_roll", ASSESSOR_KEYS,
                                       "parcel_keys_present_and_unique", rows, collected, required="parcel_id")
    activity, active_check = county_active_check(county)
    yield from reported(context, dg.MaterializeResult(
        metadata=table_metadata(
            "assessor_roll", rows_after_sync(wh, "assessor_roll", params, stats), **written, **activity,
            assessor_sources=dg.MetadataValue.json([s.name for s in county.sources_providing("assessor")])),
        check_results=[*audit_checks(stats), active_check],
    ))


@county_asset(
    description="Listings from the county's `provides: listings` sources. Listing sites are crawled "
                "by Scrapy (+ Playwright for JavaScript pages) in their own process or pod through "
                "Dagster Pipes; items are validated, invalid ones go to `rejects`.",
    check_specs=source_check_specs("listings", "listing_keys_unique", "one row per (source, source_id)"),
)
def listings(context: dg.AssetExecutionContext, platform: PlatformResource, warehouse: WarehouseResource,
             scraper: ScraperResource, credentials: SourceCredentialsResource) -> Reported:
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
    wh, params = warehouse.get(), partition_params(context, platform)
    stats, written = write_source_rows(context, wh, params, county, "listings", LISTING_KEYS,
                                       "listing_keys_unique", rows, collected)
    newest = pd.to_datetime(rows["list_date"]).max() if len(rows) else None
    activity, active_check = county_active_check(county)
    yield from reported(context, dg.MaterializeResult(
        metadata=table_metadata(
            "listings", rows_after_sync(wh, "listings", params, stats), **written, **crawl_metadata, **activity,
            listing_sources=dg.MetadataValue.json([s.name for s in county.sources_providing("listings")]),
            newest_listing=str(newest.date()) if newest is not None and pd.notna(newest) else "none"),
        check_results=[*audit_checks(stats), active_check],
    ))

@county_asset(
    deps=[sales, listings],
    description="One prospect per property across every source: matched on parcel id, else the "
                "normalized address (+ unit), else coordinates within 5 m; each source record stays "
                "linked in `prospect_sources`. A prospect's status (new → enriched → scored) is read from "
                "the later stages' rows, not stored (db/lifecycle.py; packeted and emailed are each "
                "tenant's own: its packets and emails).",
    check_specs=[
        dg.AssetCheckSpec("prospect_keys_present_and_unique", asset="prospects",
                          description="every prospect has a prospect_key, unique in the county"),
        dg.AssetCheckSpec("coordinates_inside_county", asset="prospects",
                          description="every located prospect lies in the county's bounding box"),
        dg.AssetCheckSpec("duplicate_rate_after_matching", asset="prospects",
                          description="prospects sharing a normalized address + unit < 0.5%"),
    ],
)
def prospects(context: dg.AssetExecutionContext, platform: PlatformResource,
              warehouse: WarehouseResource) -> Reported:
    county = county_of(context, platform)
    wh = warehouse.get()
    params = partition_params(context, platform)
    # The prospects are a function of the county's sales and listings (every row of both slices),
    # the code, and, for the checks, the bounding box: unchanged, nothing is read or rewritten.
    inputs = input_fingerprint(context, wh, "prospects", params, tables=["sales", "listings"],
                               settings={"bounding_box": county.bounding_box.model_dump(mode="json")},
                               companions=PROSPECT_OUTPUTS[1:])
    if (same := unchanged(context, wh, params, inputs)) is not None:
        yield from same
        return
    sold = wh.frame("SELECT source, sale_id, parcel_id, sale_date, source_ref, latitude, longitude, use_type, "
                    "address, city, state, zip FROM sales WHERE county = :county",
                    params, text_as_arrow=True)  # its text goes on to the write as Arrow's (issue 17)
    listed = wh.frame(f"SELECT {', '.join(LISTING_COLUMNS)} FROM listings "
                      "WHERE county = :county", params)
    matched = match_sources(sold, listed)
    del sold, listed  # not held through the writes (issue 17: a million sales)
    links = matched.links.reindex(columns=["prospect_key", "source", "source_id", "source_ref", "matched_on"])
    duplicate_rate = matched.duplicate_rate
    with wh.transaction() as conn, ThreadPoolExecutor(max_workers=1, thread_name_prefix="prospect-links") as pool:
        # The links are final once the records are matched: a thread writes them while this one
        # builds the prospects' rows (psycopg2 releases the GIL while the server parses the COPY
        # and rebuilds the indexes; ≈3 s at 1M, issue 17). The connection is the thread's until
        # its result is taken; the pool's exit waits for it on any error, before the rollback.
        linked = pool.submit(sync_partition, conn, "prospect_sources", links, county=county.key,
                             keys=["source", "source_id"])
        frame = prospect_frame(matched).reindex(columns=PROSPECT_COLUMNS)
        del matched  # its rows are in `frame` and `links`: not held through the writes
        # The checks and the links' figures are made while the server may still write the links
        # (after the write they were on the step's critical path; issue 17).
        checks = _prospect_checks(frame, county)
        matched_on = links["matched_on"].value_counts().to_dict() if len(links) else {}
        link_stats = linked.result()
        stats = sync_partition(conn, "prospects", frame, county=county.key, keys=["prospect_key"])
    written = written_slice(wh, "prospects", params, companions=PROSPECT_OUTPUTS[1:], writes=[stats, link_stats])
    yield from remember(context, wh, params, inputs, dg.MaterializeResult(
        metadata=table_metadata(
            "prospects", written.rows,
            lineage={"parcel_id": [("sales", "parcel_id")],
                     "latitude": [("sales", "latitude"), ("listings", "latitude")],
                     "longitude": [("sales", "longitude"), ("listings", "longitude")],
                     "use_type": [("sales", "use_type")],
                     "list_price": [("listings", "list_price")], "address": [("listings", "address")]},
            inserted=stats.inserted, updated=stats.updated, deleted=stats.deleted,
            source_records=len(links),
            records_merged_into_existing=round(duplicate_rate, 5),
            matched_on=dg.MetadataValue.json(matched_on)),
        check_results=checks,
    ), written=written)


def _prospect_checks(frame: pd.DataFrame, county: CountyConfig) -> list[dg.AssetCheckResult]:
    """`prospects`' checks on the rows it writes. They read their columns alone (a `dropna` of
    the frame copied all of it: ≈1 s at 1M). A repeated key is not looked for again: the write
    refuses the frame before any check is reported (`sync_partition`'s duplicate-key check)."""
    box = county.bounding_box
    latitude, longitude = frame["latitude"], frame["longitude"]
    located = (latitude.notna() & longitude.notna()).to_numpy()
    inside = (latitude.between(box.min_latitude, box.max_latitude)
              & longitude.between(box.min_longitude, box.max_longitude)).to_numpy()
    outside, located_count = int((located & ~inside).sum()), int(located.sum())
    missing_key = int(frame["prospect_key"].isna().sum())
    addressed = frame.loc[frame["address_key"].notna().to_numpy(), ["address_key", "unit"]]
    leftover = float(addressed.duplicated().mean()) if len(addressed) else 0.0
    return [
        check("prospect_keys_present_and_unique", missing_key == 0,
              f"{len(frame)} prospects, {missing_key} without a key"),
        check("coordinates_inside_county", outside == 0,
              f"{outside} of {located_count} located prospects outside the bounding box", outside=outside),
        check("duplicate_rate_after_matching", leftover < MAX_DUPLICATE_RATE,
              f"{leftover:.2%} of addressed prospects share an address and unit with another",
              duplicate_rate=leftover),
    ]

