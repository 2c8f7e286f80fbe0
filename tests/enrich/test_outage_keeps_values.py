"""An outage never erases what we knew (issue #14, item 3): when a source fails or is skipped,
enrichment keeps its last good values with their original provenance and fetch time, marks them
stale past the source's staleness_days, and the `values_fresh` check reports how much is stale.
Against local ATTOM and Census servers and the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import yaml

from realestate_assets.db.warehouse import Warehouse
from realestate_assets.definitions import Deployment
from realestate_assets.enrich.provenance import SourceValues, expand, freshness, kept_values, merge_fields
from realestate_assets.enrich.source_statuses import columns_sql
from resources import SourceCredentialsResource
from tests.enrich.fakes import ATTOM_KEY, FakeAttom, FakeCensus, attom_record
from tests.enrich.test_enrichment_asset import configure, enrich

NOW = datetime(2026, 12, 1, tzinfo=UTC)
# The rows' columns the outage tests read back (the statuses as their document: columns_sql).
COLUMNS = ["prospect_key", "assessed_value", "avm_value", "owner_names", "provenance", "source_status"]
CENSUS_COLUMNS = ["prospect_key", "tract_geoid", "tract_median_household_income", "provenance", "source_status"]


def test_kept_values_are_the_real_earlier_values_with_their_time_and_turn_stale() -> None:
    fetched = (NOW - timedelta(days=10)).isoformat()
    values = {"assessed_value": 400_000.0, "avm_value": float("nan"), "living_sqft": 1500.0}
    provenance = {"assessed_value": {"source": "attom", "fetched_at": fetched, "confidence": 0.85},
                  "avm_value": {"source": "attom", "fetched_at": fetched, "confidence": 0.7},  # was NULL
                  "living_sqft": {"source": "county_assessor", "fetched_at": fetched, "confidence": 0.95},
                  "rent_estimate_monthly": {"source": "attom", "fetched_at": fetched, "method": "derived"},
                  "tax_year": {"source": None, "fetched_at": None, "confidence": None}}
    kept = kept_values("attom", "failed: HTTP 500", values, provenance, priority=20, staleness_days=30)
    assert [k.values for k in kept] == [{"assessed_value": 400_000.0}]  # nothing invented, nothing derived
    undated = {"assessed_value": {"source": "attom", "fetched_at": "yesterday-ish", "confidence": 0.85}}
    assert kept_values("attom", "failed", values, undated) == []  # cannot date it: not kept, no crash
    merged, prov = merge_fields(kept, now=NOW)
    assert merged == {"assessed_value": 400_000.0}
    assert prov["assessed_value"] == {"source": "attom", "fetched_at": fetched, "confidence": 0.85,
                                      "kept": True, "kept_reason": "failed: HTTP 500"}
    kept = kept_values("attom", "skipped: no key", values, provenance, priority=20, staleness_days=5)
    _, prov = merge_fields(kept, now=NOW)
    assert prov["assessed_value"]["stale"] is True and prov["assessed_value"]["fetched_at"] == fetched
    # A fresh answer from another source still outranks a stale kept one.
    fresh = SourceValues("county_assessor", {"assessed_value": 410_000.0}, NOW, priority=10, staleness_days=365)
    merged, prov = merge_fields([*kept, fresh], now=NOW)
    assert merged["assessed_value"] == 410_000.0 and "kept" not in prov["assessed_value"]
    assert freshness([prov, {"x": {"source": "attom", "kept": True, "stale": True}}, {}]) == {
        "prospects": 3, "with_stale": 1, "with_kept": 1, "stale_share": 0.3333,
        "kept_fields_by_source": {"attom": 1}, "stale_fields_by_source": {"attom": 1}}


def set_attom(config: Path, **settings: object) -> None:
    path = config / "enrichment_sources.yaml"
    sources = yaml.safe_load(path.read_text())
    sources["sources"]["attom"].update(settings)
    path.write_text(yaml.safe_dump(sources))


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_an_outage_keeps_the_last_good_values_and_reports_staleness(tmp_path: Path, serve, database_url: str,
                                                                     tenant: str, make_deployment) -> None:
    attom = FakeAttom()
    config = configure(tmp_path, serve(attom).url, serve(FakeCensus()).url)
    set_attom(config, cache_ttl_s=0)  # no HTTP cache: every run asks ATTOM again
    sample = pd.read_csv(tmp_path / "data" / "king_wa_sample.csv", dtype=str)
    known = sample["pinx"].str.strip(".").drop_duplicates().iloc[:5].tolist()
    for i, parcel in enumerate(known):
        record = attom_record(i)
        record["identifier"]["apn"] = parcel
        attom.add(f"parcel {parcel}", record)

    def deployment(with_attom_key: bool = True) -> Deployment:
        base = make_deployment(config)
        keys = SourceCredentialsResource(attom_api_key=ATTOM_KEY if with_attom_key else "",
                                         census_api_key="test-census-key")
        return Deployment(base.environment, {**base.resources, "credentials": keys}, base.executor)

    wh = Warehouse(database_url)

    def rows() -> pd.DataFrame:
        frame = wh.frame(f"SELECT {columns_sql(COLUMNS, 'e')} FROM enrichment e WHERE county = 'king_wa'",
                         {"t": tenant}).set_index("prospect_key")
        return frame.assign(provenance=frame["provenance"].map(expand))  # per field (stored grouped)

    assert enrich(deployment()).success
    before = rows()
    assert before.loc[known, "assessed_value"].notna().all()

    attom.behaviours.failure_rate = 1.0  # ATTOM is down
    down = enrich(deployment())
    assert down.success
    after = rows()
    for key in known:
        assert after.loc[key, "source_status"]["attom"]["status"] == "failed"
        for column in ("assessed_value", "avm_value", "owner_names"):
            assert after.loc[key, column] == before.loc[key, column], (key, column)
            kept, original = after.loc[key, "provenance"][column], before.loc[key, "provenance"][column]
            assert kept["source"] == "attom" and kept["fetched_at"] == original["fetched_at"]
            assert kept["confidence"] == original["confidence"]
            assert kept["kept"] is True and kept["kept_reason"].startswith("failed") and "stale" not in kept
    unmatched = after.drop(index=known)
    assert unmatched["assessed_value"].isna().all()  # ATTOM never knew these: nothing to keep
    fresh = checks(down)["values_fresh"]
    assert fresh.passed and fresh.severity == dg.AssetCheckSeverity.WARN
    metadata = down.asset_materializations_for_node("enrichment")[0].metadata
    assert metadata["prospects_with_kept_values"].value == len(known)

    set_attom(config, staleness_days=0)  # and now skipped (no key), with values past their staleness
    skipped = enrich(deployment(with_attom_key=False))
    assert skipped.success
    later = rows()
    for key in known:
        assert later.loc[key, "source_status"]["attom"]["status"] == "skipped"
        assert later.loc[key, "assessed_value"] == before.loc[key, "assessed_value"]
        kept = later.loc[key, "provenance"]["assessed_value"]
        assert kept["fetched_at"] == before.loc[key, "provenance"]["assessed_value"]["fetched_at"]
        assert kept["stale"] is True and kept["kept_reason"].startswith("skipped")
    stale = checks(skipped)["values_fresh"]
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
    assert f"{len(known)} of {len(later)} prospects" in stale.description
    wh.dispose()


def test_a_census_outage_keeps_the_tract_values_too(tmp_path: Path, serve, database_url: str, tenant: str,
                                                    make_deployment) -> None:
    """With the geocoder down the tract is unknown: the ACS figures are down with it (not "no
    tract here"), so their last good values stay, kept and dated (found by `make chaos`)."""
    census = FakeCensus()
    config = configure(tmp_path, serve(FakeAttom()).url, serve(census).url)
    path = config / "enrichment_sources.yaml"
    sources = yaml.safe_load(path.read_text())
    for name in ("census_geocoder", "census_acs"):
        sources["sources"][name]["cache_ttl_s"] = 0  # every run asks the Census again
    path.write_text(yaml.safe_dump(sources))

    def deployment() -> Deployment:
        base = make_deployment(config)
        keys = SourceCredentialsResource(attom_api_key=ATTOM_KEY, census_api_key="test-census-key")
        return Deployment(base.environment, {**base.resources, "credentials": keys}, base.executor)

    wh = Warehouse(database_url)

    def rows() -> pd.DataFrame:
        frame = wh.frame(f"SELECT {columns_sql(CENSUS_COLUMNS, 'e')} FROM enrichment e "
                         "WHERE county = 'king_wa'", {"t": tenant})
        return frame.assign(provenance=frame["provenance"].map(expand)).set_index("prospect_key")

    assert enrich(deployment()).success
    before = rows()
    known = before.index[before["tract_median_household_income"].notna()]
    assert len(known) > 0
    census.behaviours.failure_rate = 1.0  # geocoder and ACS down
    assert enrich(deployment()).success
    after = rows()
    for key in known:
        assert after.loc[key, "source_status"]["census_acs"]["status"] == "failed"
        assert "census_geocoder failed" in after.loc[key, "source_status"]["census_acs"]["reason"]
        for column in ("tract_geoid", "tract_median_household_income"):
            assert after.loc[key, column] == before.loc[key, column], (key, column)
            assert after.loc[key, "provenance"][column]["kept"] is True
    wh.dispose()
