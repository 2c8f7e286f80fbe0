"""The enrichment asset against local ATTOM and Census servers: values land with provenance,
calls are logged with their cost, a second run is served from the cache, and a failing
required source marks prospects failed with the reason."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from realestate_assets.db.warehouse import Warehouse
from realestate_assets.definitions import Deployment, build_definitions
from realestate_assets.enrich.provenance import expand
from realestate_assets.enrich.source_statuses import source_status_sql
from realestate_assets.enrich.stored_provenance import provenance_sql
from resources import SourceCredentialsResource
from tests.enrich.fakes import ATTOM_KEY, FakeAttom, FakeCensus, attom_record
from tests.samples import write_sample_config

OUT_OF_STATE = "PO BOX 77, PHOENIX, AZ 85001"


def configure(tmp_path: Path, attom_url: str, census_url: str, *, attom_required: bool = False) -> Path:
    config = write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=40)
    sources = yaml.safe_load((config / "enrichment_sources.yaml").read_text())
    for name, url in (("attom", attom_url), ("census_geocoder", census_url), ("census_acs", census_url)):
        sources["sources"][name].update(base_url=url, rate_limit_per_s=200, retries=0)
    sources["sources"]["attom"]["required"] = attom_required
    (config / "enrichment_sources.yaml").write_text(yaml.safe_dump(sources))
    return config


def add_assessor_roll(config: Path, rows: list[dict[str, str]]) -> None:
    """The county's assessor roll as a bulk file (`provides: assessor`), read by the discovery adapters."""
    path = config.parent / "data" / "assessor_roll.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    county_file = config / "counties" / "king_wa.yaml"
    county = yaml.safe_load(county_file.read_text())
    county["sources"].append({"name": "kc_assessor_roll", "type": "bulk_file", "provides": "assessor",
                              "path": str(path), "fields": {
                                  "parcel_id": "PIN", "owner_name": "TAXPAYER", "owner_mailing_address": "MAILING",
                                  "assessed_value": "APPRAISED", "tax_amount": "TAX"}})
    # A two-row roll with one bad row is a 50% reject rate: above the default ceiling the
    # assessor_roll asset would (rightly) publish nothing; this test is about what lands.
    county.setdefault("quality", {})["max_reject_rate"] = 0.5
    county_file.write_text(yaml.safe_dump(county))


ENRICHMENT_AND_INPUTS = ("sales", "listings", "assessor_roll", "prospects", "enrichment")


def enrich(deployment: Deployment) -> dg.ExecuteInProcessResult:
    """Discovery and enrichment only: the asset under test and what it reads."""
    defs = build_definitions(deployment=deployment)
    keys = {dg.AssetKey(k) for k in ENRICHMENT_AND_INPUTS} & set(defs.resolve_all_asset_keys())
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=keys)
    return job.execute_in_process(partition_key="king_wa", instance=dg.DagsterInstance.ephemeral(),
                                  raise_on_error=False)


@pytest.fixture
def env(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def deploy(make_deployment):  # -> Callable[[Path], Deployment]
    """The local set with the ATTOM and Census keys as resource config (no Redis)."""

    def make(config: Path) -> Deployment:
        deployment = make_deployment(config)
        keys = SourceCredentialsResource(attom_api_key=ATTOM_KEY, census_api_key="test-census-key")
        return Deployment(deployment.environment, {**deployment.resources, "credentials": keys},
                          deployment.executor)

    return make


def test_outside_sources_land_with_provenance_cost_and_cache(env: Path, serve, database_url: str,
                                                             tenant: str, deploy) -> None:
    attom, census = FakeAttom(), FakeCensus()
    attom_server, census_server = serve(attom), serve(census)
    config = configure(env, attom_server.url, census_server.url)
    sample = pd.read_csv(env / "data" / "king_wa_sample.csv", dtype=str)
    known = sample["pinx"].str.strip(".").drop_duplicates().iloc[:10].tolist()
    for i, parcel in enumerate(known):
        record = attom_record(i, mailing=OUT_OF_STATE if i == 0 else None,
                              owner="ACME HOLDINGS LLC" if i == 1 else "SMITH JOHN D", corporate=i == 1)
        record["identifier"]["apn"] = parcel
        attom.add(f"parcel {parcel}", record)
    add_assessor_roll(config, [
        {"PIN": known[2], "TAXPAYER": "JONES MARY", "MAILING": "12 ELM ST, SEATTLE, WA 98101",
         "APPRAISED": "555000", "TAX": "5100"},
        {"PIN": "", "TAXPAYER": "NOBODY", "MAILING": "", "APPRAISED": "1", "TAX": "1"},  # no parcel: a reject
    ])

    deployment = deploy(config)
    first = enrich(deployment)
    assert first.success
    wh = Warehouse(database_url)
    rows = wh.frame(f"SELECT e.*, {source_status_sql('e')} AS source_status, {provenance_sql('e')} AS provenance "
                    "FROM enrichment e WHERE county = 'king_wa'", {"t": tenant}).set_index("prospect_key")
    rows["provenance"] = rows["provenance"].map(expand)  # per field (stored grouped)
    assert (rows["status"] == "enriched").all()
    owner = rows.loc[known[0]]
    assert owner["owner_names"] == ["SMITH JOHN D"] and owner["assessed_value"] == 400_000
    assert owner["provenance"]["assessed_value"]["source"] == "attom"
    assert owner["provenance"]["living_sqft"]["source"] == "county_assessor"  # county outranks ATTOM
    assert bool(owner["out_of_state_owner"])  # mailing address in AZ, parcel in WA
    assert pd.isna(owner["absentee_owner"])  # unknown: the county file has no street address to compare
    assert bool(rows.loc[known[1], "corporate_owner"])
    assert owner["tract_geoid"].startswith("53033")
    assert owner["rent_estimate_monthly"] == owner["tract_median_gross_rent"] > 0
    assert owner["provenance"]["rent_estimate_monthly"]["source"] == "census_acs"
    rolled = rows.loc[known[2]]  # the county's roll outranks ATTOM (priority 10 vs 20)
    assert rolled["owner_names"] == ["JONES MARY"] and rolled["assessed_value"] == 555_000
    assert rolled["provenance"]["owner_names"]["source"] == "county_assessor"
    assert pd.notna(rolled["out_of_state_owner"]) and not rolled["out_of_state_owner"]  # known: WA mailing
    assert rolled["tax_amount"] == 5100
    roll_rejects = wh.frame("SELECT reason FROM rejects WHERE tenant_id IS NULL AND county = 'king_wa' "
                            "AND asset = 'assessor_roll'", {"t": tenant})["reason"]
    assert list(roll_rejects) == ["parcel_id: missing"]
    unmatched = rows.drop(index=known).iloc[0]
    assert unmatched["source_status"]["attom"]["status"] == "no_match" and pd.isna(unmatched["assessed_value"])

    calls = wh.frame("SELECT source, cache_hit, cost_usd::float8 AS cost, run_id FROM source_calls "
                     "WHERE tenant_id IS NULL AND county = 'king_wa'", {"t": tenant})
    billed = calls[(calls["source"] == "attom") & (calls["cost"] > 0)]
    assert len(billed) == 10 * 4  # four endpoints for each matched parcel; no-matches are free
    assert calls["cost"].sum() == pytest.approx(40 * 0.05)
    metadata = first.asset_materializations_for_node("enrichment")[0].metadata
    assert metadata["api_cost_usd"].value == pytest.approx(2.0)

    outbound = attom_server.count() + census_server.count()
    second = enrich(deployment)
    assert second.success
    assert attom_server.count() + census_server.count() == outbound  # all from the HTTP cache
    again = wh.frame("SELECT cache_hit, cost_usd::float8 AS cost FROM source_calls WHERE county = 'king_wa' "
                     "AND run_id = :r", {"t": tenant, "r": second.run_id})
    assert len(again) > 0 and again["cache_hit"].all() and again["cost"].sum() == 0
    assert second.asset_materializations_for_node("enrichment")[0].metadata["cache_hit_rate"].value == 1.0
    wh.dispose()


def test_failing_required_source_publishes_nothing_and_blocks(env: Path, serve, database_url: str,
                                                                   tenant: str, deploy) -> None:
    attom = FakeAttom(failure_rate=1.0)
    config = configure(env, serve(attom).url, serve(FakeCensus()).url, attom_required=True)
    result = enrich(deploy(config))
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks["required_sources_answered"] is False and checks["enrichment_coverage_above_floor"] is False
    wh = Warehouse(database_url)
    # Write–audit–publish: the blocking checks ran on the staged rows, so nothing was published
    # (no earlier rows existed to keep); the reasons are in the materialization's metadata.
    assert wh.scalar("SELECT count(*) FROM enrichment WHERE county = 'king_wa'", {"t": tenant}) == 0
    metadata = result.asset_materializations_for_node("enrichment")[0].metadata
    assert metadata["published"].value is False and metadata["staged_rows"].value == 40
    reasons = metadata["failure_reasons"].value
    assert sum(reasons.values()) == 40 and all(r.startswith("required source attom failed") for r in reasons)
    wh.dispose()
