"""The batch entry point end to end: config -> clients -> local ATTOM + Census servers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from realestate_assets.enrich.clients import CallLog, Enricher, ProspectRef, enrich_batch, load_sources_config
from realestate_assets.enrich.sources_config import parse_sources_config
from tests.enrich.fakes import ATTOM_KEY, FakeAttom, FakeCensus, attom_record

HTTP = ("attom", "census_geocoder", "census_acs")
FAST = {"rate_limit_per_s": 200.0, "backoff_initial_s": 0.005, "backoff_max_s": 0.02, "timeout_s": 0.5}


def prospect(n: int, **kw) -> ProspectRef:
    base = dict(prospect_id=f"p{n}", address_line1=f"{100 + n} NE {n % 90 + 1}TH ST", city="SEATTLE", state="WA",
                zip="98115", latitude=47.6 + n * 1e-4, longitude=-122.3)
    base.update(kw)
    return ProspectRef(**base)


@pytest.fixture
def world(serve):
    attom = FakeAttom()
    for n in range(12):
        mailing = "PO BOX 99, AUSTIN, TX 78701" if n % 4 == 0 else None
        rec = attom_record(n, owner="ACME HOLDINGS LLC" if n % 4 == 0 else "SMITH JOHN D", mailing=mailing)
        attom.add(rec["address"]["line1"], rec)
    census = FakeCensus()
    return attom, serve(attom), census, serve(census)


def enricher(world, tmp_path, log, *, config=None, env=None, overrides=None, **kw) -> Enricher:
    _, a_srv, _, c_srv = world
    settings = {k: dict(FAST) for k in HTTP}
    for k, v in (overrides or {}).items():
        settings[k].update(v)
    return Enricher.from_config(
        config or load_sources_config(), on_call=log, cache_dir=tmp_path,
        env={"ATTOM_API_KEY": ATTOM_KEY, "CENSUS_API_KEY": "test-census-key"} if env is None else env,
        base_url_overrides={"attom": a_srv.url, "census_geocoder": c_srv.url, "census_acs": c_srv.url},
        settings_overrides=settings, as_of=date(2026, 6, 1), **kw)


def test_values_land_with_provenance_and_signals(world, tmp_path):
    log = CallLog()
    assessor = {"assessed_value": 399_000, "year_built": 1949}
    ps = [prospect(0, assessor_values=assessor, assessor_fetched_at=datetime(2026, 5, 1, tzinfo=UTC)),
          prospect(1), prospect(999, address_line1="1 NOWHERE RD", latitude=None, longitude=None)]
    with enricher(world, tmp_path, log) as e:
        out = e.enrich_batch(ps)
    assert [o.prospect_id for o in out] == ["p0", "p1", "p999"] and all(o.ok for o in out)
    o = out[0]
    # county assessor outranks ATTOM (priority 10 < 20); ATTOM fills the rest
    assert o.values["assessed_value"] == 399_000 and o.provenance["assessed_value"]["source"] == "county_assessor"
    assert o.provenance["assessed_value"]["conflicts"] == [{"source": "attom", "value": 400_000.0}]
    assert o.values["year_built"] == 1949 and o.values["avm_value"] == 610_000
    assert o.provenance["avm_value"] == {"source": "attom", "fetched_at": o.provenance["avm_value"]["fetched_at"],
                                         "confidence": 0.87}
    assert o.values["tract_geoid"] == "53033005100" and o.provenance["tract_geoid"]["source"] == "census_geocoder"
    assert o.values["tract_median_household_income"] == 95_000
    assert o.provenance["tract_median_household_income"]["source"] == "census_acs"
    assert o.signals == {"absentee_owner": True, "out_of_state_owner": True, "years_owned": 11.0,
                         "corporate_owner": True, "trust_owner": False, "government_owner": False,
                         "assessed_to_market_ratio": round(399_000 / 610_000, 4)}
    assert out[1].signals["absentee_owner"] is False and out[1].signals["corporate_owner"] is False
    # no match anywhere: enriched, every field NULL with provenance saying so, sources say why
    nm = out[2]
    assert nm.values == {} and nm.provenance["avm_value"] == {"source": None, "fetched_at": None, "confidence": None}
    assert nm.sources["attom"].status == "no_match" and nm.sources["census_geocoder"].status == "not_applicable"
    assert nm.sources["market"].status == "skipped"
    json.dumps(o.row(), default=str)  # the row is ready for the table


def test_second_run_is_served_from_cache_with_zero_outbound_calls(world, tmp_path):
    _, a_srv, _, c_srv = world
    ps = [prospect(n) for n in range(10)] + [prospect(500, address_line1="9 NOWHERE RD")]
    log1, log2 = CallLog(), CallLog()
    with enricher(world, tmp_path, log1) as e:
        first = e.enrich_batch(ps)
    calls_after_first = a_srv.count() + c_srv.count()
    assert a_srv.count() == 10 * 4 + 1 and c_srv.count("/geocoder") == 11 and c_srv.count("/acs") == 1
    with enricher(world, tmp_path, log2) as e:  # a new run: new clients, same cache directory
        second = e.enrich_batch(ps)
    assert a_srv.count() + c_srv.count() == calls_after_first  # zero outbound calls
    assert all(c.cache_hit for c in log2.calls) and log2.total_cost_usd() == 0
    assert [o.values for o in second] == [o.values for o in first]
    assert all(o.sources["attom"].cache_hit for o in second)


def test_costs_add_up_from_the_call_log(world, tmp_path):
    log = CallLog()
    ps = [prospect(n) for n in range(5)]
    with enricher(world, tmp_path, log) as e:
        e.enrich_batch(ps)
    cost = load_sources_config().sources["attom"].cost_per_call_usd
    attom_calls = [c for c in log.calls if c.source == "attom"]
    assert len(attom_calls) == 20
    assert log.total_cost_usd("attom") == pytest.approx(20 * cost)
    assert log.summary()["attom"]["cost_usd"] == pytest.approx(20 * cost)
    assert log.total_cost_usd("census_acs") == 0 and log.total_cost_usd() == pytest.approx(20 * cost)
    rows = [c.as_row() for c in log.calls]
    assert set(rows[0]) == {"source", "endpoint", "status_code", "latency_ms", "cache_hit", "cost_usd", "error",
                            "called_at"}


def test_flaky_sources_leave_every_prospect_enriched_or_failed_with_reason(world, tmp_path):
    attom, _, census, _ = world
    attom.behaviours.failure_rate = 0.3  # seeded
    census.behaviours.failure_rate = 0.3
    data = load_sources_config().model_dump()
    data["sources"]["census_geocoder"]["required"] = True  # a required source that flakes
    cfg = parse_sources_config(data)
    log = CallLog()
    ps = [prospect(n) for n in range(24)]
    overrides = {k: {"retries": 1, "breaker_threshold": 1000} for k in HTTP}
    overrides["census_geocoder"]["retries"] = 0
    with enricher(world, tmp_path, log, config=cfg, overrides=overrides) as e:
        out = e.enrich_batch(ps)
    assert len(out) == len(ps) and [o.prospect_id for o in out] == [p.prospect_id for p in ps]
    for o in out:
        assert o.status in ("enriched", "failed")
        if o.status == "failed":
            assert o.reason and o.reason.startswith("required source census_geocoder failed")
        else:
            assert o.sources["census_geocoder"].status == "ok"
            # an optional source that failed leaves its fields NULL, with the reason on record
            if o.sources["attom"].status == "failed":
                assert "HTTP 500" in o.sources["attom"].reason and "avm_value" not in o.values
                assert o.provenance["avm_value"]["source"] is None
    assert any(c.status_code == 500 for c in log.calls)  # the flakiness really happened
    assert any(o.ok for o in out) and any(not o.ok for o in out)
    assert any(o.ok and o.sources["attom"].status == "failed" for o in out)


def test_unset_key_skips_the_source_and_reports_it(world, tmp_path):
    _, a_srv, _, _ = world
    with enricher(world, tmp_path, CallLog(), env={"CENSUS_API_KEY": "test-census-key"}) as e:
        out = e.enrich_batch([prospect(1)])
    assert a_srv.count() == 0  # never called, never faked
    assert e.skipped["attom"].reason == "environment variable ATTOM_API_KEY is not set"
    assert out[0].ok and out[0].sources["attom"].status == "skipped"
    assert "avm_value" not in out[0].values and out[0].values["tract_geoid"] == "53033005200"


def test_required_source_unconfigured_or_failing_fails_the_prospect(world, tmp_path):
    attom, _, _, _ = world
    data = load_sources_config().model_dump()
    data["sources"]["attom"]["required"] = True
    cfg = parse_sources_config(data)
    with enricher(world, tmp_path, CallLog(), config=cfg, env={}) as e:
        out = e.enrich_batch([prospect(1)])
    assert not out[0].ok and "required source attom skipped: environment variable ATTOM_API_KEY" in out[0].reason
    attom.behaviours.script("101 NE 2TH ST", *["500"] * 10)
    with enricher(world, tmp_path, CallLog(), config=cfg, overrides={"attom": {"retries": 1}}) as e:
        out = e.enrich_batch([prospect(1), prospect(2)])
    assert out[0].status == "failed" and "required source attom failed: attom: HTTP 500" in out[0].reason
    assert out[1].ok


def test_circuit_breaker_opens_in_a_batch(world, tmp_path):
    attom, a_srv, _, _ = world
    attom.behaviours.failure_rate = 1.0
    log = CallLog()
    with enricher(world, tmp_path, log, max_workers=1,
                  overrides={"attom": {"retries": 0, "breaker_threshold": 3}}) as e:
        out = e.enrich_batch([prospect(n) for n in range(10)])
    assert a_srv.count() == 3  # then the breaker stopped calling ATTOM
    reasons = [o.sources["attom"].reason for o in out]
    assert all("circuit open" in r for r in reasons[3:])
    assert all(o.ok for o in out)  # ATTOM is optional: the rest still enriched


def test_market_fn_and_one_shot_function(world, tmp_path):
    _, a_srv, _, c_srv = world

    def market(p, so_far):
        return {"comps_value": 555_000, "avm_value": 1}  # a low-priority second opinion

    cfg = load_sources_config()
    out = enrich_batch([prospect(2)], cfg, on_call=CallLog(), market_fn=market, cache_dir=tmp_path,
                       env={"ATTOM_API_KEY": ATTOM_KEY, "CENSUS_API_KEY": "test-census-key"}, as_of=date(2026, 6, 1),
                       base_url_overrides={"attom": a_srv.url, "census_geocoder": c_srv.url, "census_acs": c_srv.url},
                       settings_overrides={k: dict(FAST) for k in HTTP})
    o = out[0]
    assert o.values["comps_value"] == 555_000 and o.provenance["comps_value"]["source"] == "market"
    assert o.values["avm_value"] == 610_002  # ATTOM outranks the local estimate
    assert o.provenance["avm_value"]["conflicts"] == [{"source": "market", "value": 1}]
