"""`enrichment`: facts about each prospect from every configured source, each with its provenance."""

from collections.abc import Iterator
from datetime import date
from typing import Any

import dagster as dg
import pandas as pd
from psycopg2 import sql

from realestate_assets.assets.common import (
    Reported,
    audit_checks,
    check,
    county_asset,
    county_of,
    county_sales,
    partition_params,
    reported,
    sync_metadata,
    table_metadata,
)
from realestate_assets.assets.discovery import ASSESSOR_COLUMNS
from realestate_assets.assets.unchanged import input_fingerprint, remember, unchanged, written_slice
from realestate_assets.db.warehouse import Audit, AuditResult, Warehouse, sync_partition
from realestate_assets.enrich.clients import CallLog
from realestate_assets.enrich.market import CompsSettings
from realestate_assets.enrich.pipeline import (
    ENRICHMENT_COLUMNS,
    STORED_COLUMNS,
    EnrichmentTally,
    county_enrichment,
)
from realestate_assets.enrich.source_statuses import SourceStatusIds, source_status_sql
from realestate_assets.enrich.sources_config import SourcesConfig, load_sources_config, resolve_api_key
from realestate_assets.enrich.stored_provenance import (
    ProvenanceIds,
    StoredDocuments,
    provenance_sql,
    stored_previous,
)
from realestate_assets.market.stored import fit_label, store_index
from resources import PlatformResource, SourceCredentialsResource, WarehouseResource

PROSPECTS_SQL = ("SELECT prospect_key, parcel_id, address, city, state, zip, latitude, longitude "
                 "FROM prospects WHERE county = :county")
# A previous row's columns but its provenance and source statuses (not read back).
PREVIOUS_COLUMNS = ", ".join(c for c in ENRICHMENT_COLUMNS if c not in ("provenance", "source_status"))
# The provenance as jsonb text (its document, the row's record in: stored_provenance.PROVENANCE_SQL),
# decoded only where a source's earlier values may be kept (enrich/pipeline.py::_Previous): the
# partition's previous rows read whole.
PREVIOUS_SQL = (f"SELECT {PREVIOUS_COLUMNS}, {provenance_sql('enrichment')}::text AS provenance "
                "FROM enrichment WHERE county = :county")
# The streamed step's form, per chunk of prospects (`prospect_chunks`: the chunk's key range): the
# provenance as the table stores it, its document's id and the row's record, and the county's
# documents read once (`PREVIOUS_DOCUMENTS_SQL`, a few hundred in a county). Rebuilding every
# row's ≈600-byte document on the server, sending it and searching it on the client was most of
# a re-run's work on the previous rows (issue 17); `stored_previous` gives the chunk its
# documents by id (`pipeline._Previous` reads either form, the same values).
PREVIOUS_CHUNK_SQL = (f"SELECT {PREVIOUS_COLUMNS}, provenance_id, provenance_record FROM enrichment "
                      "WHERE county = :county AND prospect_key BETWEEN :first AND :last")
PREVIOUS_DOCUMENTS_SQL = "SELECT id, provenance::text AS provenance FROM enrichment_provenances WHERE county = :county"
ROLL_SQL = (f"SELECT {', '.join(ASSESSOR_COLUMNS)} FROM assessor_roll "
            "WHERE county = :county ORDER BY source, parcel_id")


def prospect_chunks(wh: Warehouse, params: dict[str, Any], rows: int) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """The county's prospects, `rows` at a time in key order, each chunk with the previous
    `enrichment` rows of its key range; all in one snapshot of the database."""
    with wh.reading() as reader:
        documents = StoredDocuments(reader.frame(PREVIOUS_DOCUMENTS_SQL, params))
        for prospects in reader.chunks(PROSPECTS_SQL, params, key="prospect_key", rows=rows):
            keys = prospects["prospect_key"]
            yield prospects, stored_previous(reader.frame(PREVIOUS_CHUNK_SQL, {**params, "first": keys.iloc[0],
                                                                               "last": keys.iloc[-1]}), documents)


def write_calls(conn, calls: CallLog, *, county: str, run_id: str) -> int:
    from psycopg2.extras import execute_values

    rows = [c.as_row() for c in calls.calls]
    with conn.cursor() as cur:
        execute_values(cur, (
            "INSERT INTO source_calls (county, source, endpoint, status_code, latency_ms, cache_hit, "
            "cost_usd, error, run_id, called_at) VALUES %s"),
            [(county, r["source"], r["endpoint"], r["status_code"], r["latency_ms"], r["cache_hit"],
              r["cost_usd"], r["error"], run_id, r["called_at"]) for r in rows], page_size=1000)
    return len(rows)


def coverage_audit(floor: float, required: list[str]) -> Audit:
    """The blocking checks, on the staged rows: enough prospects enriched, and every required
    source answered (ok or a definite no-match) for at least the same share."""

    def audit(conn: Any, stage: str) -> list[AuditResult]:
        # The staged rows counted per status document (migration 0061: one per distinct document,
        # a handful a county), each document then read once, not once per row.
        answered = [sql.SQL("coalesce(sum(e.n) FILTER (WHERE {} -> {} ->> 'status' = 'ok'), 0)").format(
            sql.SQL(source_status_sql("e")), sql.Literal(name)) for name in required]
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT coalesce(sum(e.n), 0), coalesce(sum(e.enriched), 0){} FROM (SELECT "
                                "source_status_id, count(*) AS n, count(*) FILTER (WHERE status = 'enriched') "
                                "AS enriched FROM {} GROUP BY source_status_id) e").format(
                sql.SQL("").join(sql.SQL(", ") + a for a in answered), sql.Identifier(stage)))
            n, enriched, *by_required = (int(v) for v in cur.fetchone())
        coverage = enriched / n if n else 0.0
        share = {name: round(count / n, 4) if n else 0.0 for name, count in zip(required, by_required, strict=True)}
        short = {name: value for name, value in share.items() if value < floor}
        return [
            AuditResult("enrichment_coverage_above_floor", coverage >= floor,
                        f"{coverage:.1%} of prospects enriched (floor {floor:.0%})",
                        metadata={"coverage": coverage, "floor": floor}),
            AuditResult("required_sources_answered", not short,
                        f"required sources below {floor:.0%}: {short}" if short else
                        f"required sources {required or 'none configured'} answered for enough prospects",
                        metadata={"coverage_by_required_source": dg.MetadataValue.json(share)}),
        ]

    return audit


@county_asset(
    deps=["prospects", "sales", "assessor_roll"],
    description="Per prospect: building facts and sale history from the county's records, market "
                "comparables from its other sales, and — when their keys are configured — ATTOM "
                "(owner, assessment, AVM) and Census ACS tract data, merged by source priority. Every "
                "field records its source, fetch time and confidence in `provenance`; outside calls "
                "go through rate limits and an HTTP cache and are logged with their cost in "
                "`source_calls`. A source without its key is skipped and reported, never faked.",
    check_specs=[
        dg.AssetCheckSpec("enrichment_coverage_above_floor", asset="enrichment", blocking=True,
                          description="share of prospects enriched ≥ the county's floor"),
        dg.AssetCheckSpec("required_sources_answered", asset="enrichment", blocking=True,
                          description="every required source answered for ≥ the county's floor of prospects"),
        dg.AssetCheckSpec("comps_coverage", asset="enrichment",
                          description="share of enriched prospects with a comparable-sales value"),
        dg.AssetCheckSpec("values_fresh", asset="enrichment",
                          description="share of prospects holding a value kept from an outage past its "
                                      "source's staleness_days (WARN)"),
    ],
)
def enrichment(context: dg.AssetExecutionContext, platform: PlatformResource, warehouse: WarehouseResource,
               credentials: SourceCredentialsResource) -> Reported:
    county = county_of(context, platform)
    wh = warehouse.get()
    params = partition_params(context, platform)
    secrets = credentials.by_name()
    sources: SourcesConfig = load_sources_config(platform.config_path / "enrichment_sources.yaml")
    comps = CompsSettings.from_scoring(platform.scoring())
    calling = outside_sources_called(sources, secrets)
    inputs = None
    if not calling:  # only then do the county's own rows determine the output
        inputs = input_fingerprint(
            context, wh, "enrichment", params, tables=["assessor_roll", "sales"],
            queries={PROSPECTS_SQL: ["prospects"]}, upstream="prospects",  # its record holds the sales' slice
            settings={"sources": sources.model_dump(mode="json"), "comps": comps.model_dump(mode="json"),
                      "county": county.model_dump(mode="json"), "sources_skipped": sources_skipped(sources, secrets),
                      "date": str(date.today())})  # kept values turn stale by the calendar (provenance)
        if (same := unchanged(context, wh, params, inputs)) is not None:
            yield from same
            return
    roll = wh.frame(ROLL_SQL, params)
    assessor_rows = len(roll)
    calls = CallLog()
    tally = EnrichmentTally()
    floor = county.quality.min_enrichment_coverage
    required = [name for name, src in sources.sources.items() if src.enabled and src.required]
    with wh.transaction() as conn, conn.cursor() as cur:  # read before the sales the index is fitted on
        index_fitted_on = fit_label(cur, county.key)
    # Streamed: the county's facts and comps are built once; the prospects are read, enriched and
    # staged a chunk at a time, so the step holds one chunk's rows whatever the county's size.
    with county_enrichment(county_sales(wh, params), county_fips=county.fips, county_state=county.state,
                           sources=sources, comps=comps, cache_dir=platform.state_path / "http_cache",
                           redis_url=sources.redis_url(secrets), on_call=calls, env=secrets,
                           assessor=roll) as enricher, wh.transaction() as conn, \
            wh.transaction(begun_by_first=True) as adding:
        del roll  # the enricher keeps what it needs of it
        # The rows' status and provenance documents: added on a connection of their own, each
        # statement committing itself (`begun_by_first`: no BEGIN is sent, and none of these opens
        # one), since the rows' COPY holds `conn` while the chunks are made (CountyDocuments);
        # pruned in the rows' transaction.
        statuses, provenances = (ids(conn, county.key, adding) for ids in (SourceStatusIds, ProvenanceIds))

        def enriched_chunks() -> Iterator[pd.DataFrame]:
            for prospects, previous in prospect_chunks(wh, params, sources.runtime.chunk_size):
                frame = provenances.store(statuses.store(enricher.enrich(prospects, previous, tally)))
                del prospects, previous
                yield frame
                del frame  # staged: not held while the next chunk is made

        stats = sync_partition(conn, "enrichment", enriched_chunks(), columns=STORED_COLUMNS,
                               county=county.key, keys=["prospect_key"], audit=coverage_audit(floor, required))
        if stats.published:  # the slice is this run's rows: the documents they name are the county's
            statuses.prune()
            provenances.prune()
        # Calls cost money: they are recorded even when nothing is published.
        write_calls(conn, calls, county=county.key, run_id=context.run_id)
        if enricher.index is not None:  # the county's market index, for `features` and the API (market/stored.py)
            with conn.cursor() as cur:
                store_index(cur, county.key, enricher.index, index_fitted_on)
        # No prospect status moves: `enriched` is read from these rows (db/lifecycle.PUBLIC_STATUS).
        as_of, skipped = enricher.as_of, enricher.skipped
    fresh = tally.freshness.summary()
    coverage, comps_coverage = tally.coverage, tally.comps_coverage
    call_rows = [c.as_row() for c in calls.calls]
    cache_hits = sum(r["cache_hit"] for r in call_rows)
    # The row count and what `remember` records (a first load's from the load, not a scan).
    written = written_slice(wh, "enrichment", params, writes=[stats])
    result = dg.MaterializeResult(
        metadata=table_metadata(
            "enrichment", written.rows, **sync_metadata(stats),
            lineage={c: [("sales", c)] for c in ("living_sqft", "lot_sqft", "beds", "baths", "bldg_grade",
                                                  "use_type", "neighborhood")}
            | {"last_sale_price": [("sales", "sale_price")], "last_sale_date": [("sales", "sale_date")],
               "year_built": [("sales", "sale_date"), ("sales", "age_at_sale")],
               "comps_estimated_value": [("sales", "sale_price"), ("sales", "living_sqft"),
                                         ("sales", "latitude"), ("sales", "longitude")],
               "years_owned": [("sales", "sale_date")]},
            enriched=tally.enriched, failed=tally.rows - tally.enriched,
            assessor_rows=assessor_rows,
            coverage=round(coverage, 4), comps_coverage=round(comps_coverage, 4),
            as_of_date=str(as_of.date()),
            failure_reasons=dg.MetadataValue.json(tally.failures()),
            coverage_by_source=dg.MetadataValue.json(tally.coverage_by_source()),
            coverage_by_outside_field=dg.MetadataValue.json(tally.coverage_by_outside_field()),
            skipped_sources=dg.MetadataValue.json(skipped),
            outside_calls=len(call_rows),
            cache_hit_rate=round(cache_hits / len(call_rows), 4) if call_rows else 0.0,
            failed_calls=sum(1 for r in call_rows if r["error"]),
            api_cost_usd=round(calls.total_cost_usd(), 4),
            prospects_with_kept_values=fresh["with_kept"], prospects_with_stale_values=fresh["with_stale"],
            kept_fields_by_source=dg.MetadataValue.json(fresh["kept_fields_by_source"]),
            calls_by_source=dg.MetadataValue.json(calls.summary())),
        check_results=[
            *audit_checks(stats),
            check("comps_coverage", comps_coverage >= 0.5,
                  f"{comps_coverage:.1%} of enriched prospects have a comparable-sales value",
                  severity="WARN", comps_coverage=comps_coverage),
            check("values_fresh", fresh["with_stale"] == 0,
                  f"{fresh['with_stale']} of {fresh['prospects']} prospects ({fresh['stale_share']:.1%}) hold a "
                  f"value kept past its source's staleness_days; {fresh['with_kept']} hold kept values",
                  severity="WARN", stale_share=fresh["stale_share"],
                  stale_fields_by_source=dg.MetadataValue.json(fresh["stale_fields_by_source"])),
        ],
    )
    if inputs is None:  # outside sources answered: never skipped, say why
        yield from reported(context, dg.MaterializeResult(
            metadata={**(result.metadata or {}), "unchanged": False,
                      "never_skipped_because": f"outside sources called: {calling}"},
            check_results=result.check_results))
        return
    yield from remember(context, wh, params, inputs, result, published=stats.published, written=written)


def outside_sources_called(sources: SourcesConfig, secrets: dict[str, str]) -> list[str]:
    """The HTTP sources this run would call (enabled, and their key set when one is required).
    Their answers depend on the outside world and the HTTP cache's TTLs, not on our rows: with
    any of them, enrichment is always computed."""
    return sorted(name for name, src in sources.sources.items()
                  if src.enabled and src.is_http and resolve_api_key(src, secrets)[1] is None)


def sources_skipped(sources: SourcesConfig, secrets: dict[str, str]) -> dict[str, str]:
    """Why each enabled HTTP source is not called (never a key's value)."""
    return {name: reason for name, src in sorted(sources.sources.items())
            if src.enabled and src.is_http and (reason := resolve_api_key(src, secrets)[1])}

