"""Pure parts: provenance merge, owner signals, sources config validation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from realestate_assets.discovery.addresses import normalize_address, normalize_state
from realestate_assets.enrich.clients.batch import SourceStatus
from realestate_assets.enrich.owner_signals import (
    assessed_to_market_ratio,
    compute_owner_signals,
    is_absentee,
    is_corporate,
    is_government,
    is_out_of_state,
    is_trust,
    years_owned,
)
from realestate_assets.enrich.provenance import (
    SourceValues,
    compact,
    expand,
    freshness,
    kept_values,
    merge_fields,
    provenance_json,
    stored_text,
)
from realestate_assets.enrich.sources_config import (
    SourcesConfigError,
    load_sources_config,
    parse_sources_config,
    resolve_api_key,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)

# --------------------------------------------------------------------------- provenance


def test_merge_by_priority_with_provenance():
    county = SourceValues("county_assessor", {"assessed_value": 400_000, "beds": 3, "owner_names": None},
                          NOW - timedelta(days=10), priority=10, confidence=0.95)
    attom = SourceValues("attom", {"assessed_value": 410_000, "beds": 3, "avm_value": 600_000,
                                   "owner_names": ["SMITH JOHN"], "last_sale_date": date(2015, 6, 10)},
                         NOW - timedelta(days=1), priority=20, confidence=0.85, field_confidence={"avm_value": 0.87})
    values, prov = merge_fields([attom, county], now=NOW, expected_fields=["tract_geoid"])
    assert values == {"assessed_value": 400_000, "beds": 3, "avm_value": 600_000, "owner_names": ["SMITH JOHN"],
                      "last_sale_date": date(2015, 6, 10)}
    assert prov["assessed_value"] == {"source": "county_assessor", "fetched_at": (NOW - timedelta(days=10)).isoformat(),
                                      "confidence": 0.95, "conflicts": [{"source": "attom", "value": 410_000}]}
    assert prov["beds"]["source"] == "county_assessor" and "conflicts" not in prov["beds"]  # same value: no conflict
    assert prov["owner_names"]["source"] == "attom"  # None never wins
    assert prov["avm_value"]["confidence"] == 0.87
    assert prov["tract_geoid"] == {"source": None, "fetched_at": None, "confidence": None}  # NULL, explained
    assert expand(provenance_json(prov)) == prov  # JSON-serializable, in the stored form and back


def test_stored_provenance_groups_fields_by_entry_and_reads_back_in_every_form():
    """The stored form (issue 17) holds each entry once with its fields; `expand` reads it, the
    per-field form of rows written before it, and a per-field key added to a grouped row."""
    county = {"source": "county_assessor", "fetched_at": "2026-12-01T00:00:00+00:00", "confidence": 0.95,
              "record": "kc sale 1"}
    market = {"source": "market", "fetched_at": "2026-12-01T00:00:00+00:00", "confidence": 0.6}
    unknown = {"source": None, "fetched_at": None, "confidence": None}
    per_field = {"beds": county, "baths": dict(county), "comps_value": market, "avm_value": unknown,
                 "tract_geoid": unknown, "assessed_value": {**county, "conflicts": [{"source": "attom", "value": 1}]}}
    stored = compact(per_field)
    assert stored == {"groups": [
        {"entry": per_field["assessed_value"], "fields": ["assessed_value"]},
        {"entry": unknown, "fields": ["avm_value", "tract_geoid"]},
        {"entry": county, "fields": ["baths", "beds"]},  # equal entries are one group
        {"entry": market, "fields": ["comps_value"]}]}
    # The writer's text (migration 0063): the same groups, the row's record taken out of the
    # entries that name it (their groups marked) and given back beside the text.
    text, record = stored_text(per_field)
    plain = {k: v for k, v in county.items() if k != "record"}
    assert record == "kc sale 1" and json.loads(text) == {"groups": [
        {"entry": {**plain, "conflicts": [{"source": "attom", "value": 1}]}, "fields": ["assessed_value"],
         "record": True},
        {"entry": unknown, "fields": ["avm_value", "tract_geoid"]},
        {"entry": plain, "fields": ["baths", "beds"], "record": True},
        {"entry": market, "fields": ["comps_value"]}]}
    assert expand(text, record) == per_field
    assert expand(text) == {**per_field, "beds": plain, "baths": plain,  # without it: the entries as stored
                            "assessed_value": json.loads(text)["groups"][0]["entry"]}
    for form in (stored, json.dumps(stored), per_field, json.dumps(per_field)):  # grouped, old, as text
        assert expand(form) == per_field
    # Entries naming different records keep their own: nothing is taken out.
    other = {**per_field, "comps_value": {**market, "record": "kc sale 2"}}
    assert stored_text(other) == (json.dumps(compact(other)), None)
    assert expand(None) == {} and expand({}) == {} and compact({}) == {} and stored_text({}) == ("{}", None)
    kept = {"source": "attom", "fetched_at": "2026-01-02T03:04:05+00:00", "confidence": 0.9, "kept": True}
    patched = {**stored, "beds": kept, "owner_names": kept}  # SQL `provenance || jsonb_build_object(...)`
    assert expand(patched) == {**per_field, "beds": kept, "owner_names": kept}
    # Readers over the stored form: kept values, freshness, the API's lookups.
    assert freshness([json.dumps(patched), text, per_field])["kept_fields_by_source"] == {"attom": 2}
    assert [s.values for s in kept_values("attom", "down", {"beds": 3, "owner_names": ["A"]}, patched)] == \
        [{"beds": 3, "owner_names": ["A"]}]


def test_source_status_stored_without_its_defaults_and_read_back():
    """`enrichment.source_status` holds a status without its defaults (no reason, not a cache
    hit); rows written before held them all: both read back the same."""
    for status in (SourceStatus("ok"), SourceStatus("skipped", "environment variable X is not set"),
                   SourceStatus("no_match", "ATTOM: SuccessWithoutResult", cache_hit=True)):
        assert SourceStatus.from_dict(json.loads(json.dumps(status.as_dict()))) == status
        older = {"status": status.status, "reason": status.reason, "cache_hit": status.cache_hit}
        assert SourceStatus.from_dict(older) == status
    assert SourceStatus("ok").as_dict() == {"status": "ok"}


def test_stale_values_rank_after_fresh_ones_but_still_fill_gaps():
    old = SourceValues("county_assessor", {"assessed_value": 1, "year_built": 1950}, NOW - timedelta(days=400),
                       priority=10, staleness_days=365)
    fresh = SourceValues("attom", {"assessed_value": 2}, NOW - timedelta(days=5), priority=20, staleness_days=90)
    values, prov = merge_fields([old, fresh], now=NOW)
    assert values == {"assessed_value": 2, "year_built": 1950}
    assert prov["year_built"]["stale"] is True and "stale" not in prov["assessed_value"]


def test_merge_ties_are_deterministic_and_pure():
    a = SourceValues("b_src", {"x": 1}, NOW, priority=5, confidence=0.5)
    b = SourceValues("a_src", {"x": 2}, NOW, priority=5, confidence=0.5)
    assert merge_fields([a, b], now=NOW) == merge_fields([b, a], now=NOW)
    assert merge_fields([a, b], now=NOW)[0]["x"] == 2
    assert merge_fields([], now=NOW) == ({}, {})


# --------------------------------------------------------------------------- owner signals


def test_address_normalization():
    # owner signals use the shared normalizer (discovery.addresses): the unit is split from the street
    a = normalize_address("1234 North Division Street Apt. 4, Spokane, Washington 99201-1234")
    b = normalize_address("1234 N DIVISION ST #4", city="Spokane", state="WA", zip_code="99201")
    assert (a.street, a.unit, a.state, a.zip) == ("1234 N DIVISION ST", "4", "WA", "99201")
    assert b.street.startswith("1234 N DIVISION ST") and b.state == "WA"
    for empty in (None, "  "):  # no address: nothing to compare, never an exception
        e = normalize_address(empty)
        assert e.street is None and e.po_box is None and e.key is None
    assert normalize_state("Washington") == "WA" and normalize_state("tx") == "TX" and normalize_state("Xx") is None


def test_absentee_owner():
    prop = normalize_address("1234 N Division St", city="Spokane", state="WA", zip_code="99201")
    assert is_absentee(prop, normalize_address("1234 North Division Street, Spokane, WA 99201")) is False
    assert is_absentee(prop, normalize_address("1234 N Division St Unit 2, Spokane, WA 99201")) is False
    assert is_absentee(prop, normalize_address("77 Pine Ave, Spokane, WA 99201")) is True
    assert is_absentee(prop, normalize_address("1234 N Division St, Austin, TX 78701")) is True
    assert is_absentee(prop, normalize_address("PO Box 12, Spokane, WA 99201")) is None  # same ZIP: unknown
    assert is_absentee(prop, normalize_address("PO Box 12, Austin, TX 78701")) is True
    assert is_absentee(prop, None) is None and is_absentee(None, prop) is None
    assert is_absentee(prop, normalize_address(None)) is None and is_absentee(normalize_address("  "), prop) is None


def test_out_of_state_and_years_owned():
    mail_tx = normalize_address("PO Box 12, Austin, TX 78701")
    assert is_out_of_state("WA", mail_tx) is True
    assert is_out_of_state("Texas", mail_tx) is False
    assert is_out_of_state(None, mail_tx) is None and is_out_of_state("WA", None) is None
    assert is_out_of_state("WA", normalize_address(None)) is None
    assert years_owned(date(2016, 6, 1), date(2026, 6, 1)) == 10.0
    assert years_owned("2015-06-10", date(2026, 6, 1)) == 11.0
    assert years_owned(None, date(2026, 6, 1)) is None
    assert years_owned(date(2030, 1, 1), date(2026, 6, 1)) is None  # a future sale is bad data, not 0 years
    assert years_owned("not a date", date(2026, 6, 1)) is None


@pytest.mark.parametrize(("name", "corp", "trust", "gov"), [
    ("ACME HOLDINGS LLC", True, False, False),
    ("Blue Sky Properties, L.L.C.", True, False, False),
    ("RAINIER INVESTMENTS INC", True, False, False),
    ("PACIFIC HOMES LP", True, False, False),
    ("SMITH FAMILY TRUST", False, True, False),
    ("JONES MARY TR", False, True, False),
    ("DOE JOHN & JANE REVOCABLE LIVING TRUST", False, True, False),
    ("XYZ LAND TRUST LLC", True, False, False),  # an LLC holding a land trust: corporate
    ("COLEMAN JACOB", False, False, False),  # "CO" inside a word is not "CO"
    ("SMITH JOHN D", False, False, False),
    ("CITY OF SEATTLE", False, False, True),
    ("KING COUNTY HOUSING AUTHORITY", False, False, True),
])
def test_owner_name_classification(name, corp, trust, gov):
    assert (is_corporate(name), is_trust(name), is_government(name)) == (corp, trust, gov)


def test_missing_inputs_are_unknown_not_false():
    s = compute_owner_signals({}, property_address=None, as_of=date(2026, 6, 1))
    assert set(s.as_dict().values()) == {None}
    assert is_corporate([]) is None and is_trust(None) is None
    assert assessed_to_market_ratio(None, 5) is None and assessed_to_market_ratio(5, 0) is None
    assert assessed_to_market_ratio(400_000, 500_000) == 0.8


def test_compute_owner_signals_prefers_avm_as_market():
    values = {"owner_names": ["ACME HOLDINGS LLC"], "owner_mailing_address": "PO BOX 99, AUSTIN, TX 78701",
              "last_sale_date": date(2015, 6, 10), "assessed_value": 300_000, "avm_value": 600_000,
              "market_value": 400_000}
    s = compute_owner_signals(values, property_address="100 NE 1TH ST", property_city="SEATTLE",
                              property_state="WA", property_zip="98115", as_of=date(2026, 6, 10))
    assert s.absentee_owner is True and s.out_of_state_owner is True and s.corporate_owner is True
    assert s.trust_owner is False and s.years_owned == 11.0 and s.assessed_to_market_ratio == 0.5


# --------------------------------------------------------------------------- config


def test_repo_config_loads():
    cfg = load_sources_config()
    assert {s.type for s in cfg.sources.values()} == {"attom", "census_geocoder", "census_acs", "county_assessor",
                                                      "market"}
    assert cfg.sources["attom"].api_key_env == "ATTOM_API_KEY" and cfg.sources["market"].cost_per_call_usd == 0


def test_invalid_config_names_file_and_field(tmp_path):
    bad = tmp_path / "enrichment_sources.yaml"
    bad.write_text("version: 1\nsources:\n  attom:\n    type: attom\n    base_url: https://x\n    timeout_s: -1\n")
    with pytest.raises(SourcesConfigError) as err:
        load_sources_config(bad)
    assert str(bad) in str(err.value) and "sources.attom.timeout_s" in str(err.value)
    with pytest.raises(SourcesConfigError, match=r"sources\.attom\.tiemout_s"):
        parse_sources_config({"sources": {"attom": {"type": "attom", "base_url": "https://x", "tiemout_s": 1}}})
    with pytest.raises(SourcesConfigError, match="base_url is required"):
        parse_sources_config({"sources": {"attom": {"type": "attom"}}})
    with pytest.raises(SourcesConfigError, match="not valid YAML"):
        bad.write_text("sources: [\n")
        load_sources_config(bad)
    with pytest.raises(SourcesConfigError, match="file not found"):
        load_sources_config(tmp_path / "nope.yaml")


def test_api_key_resolution():
    cfg = load_sources_config()
    assert resolve_api_key(cfg.sources["attom"], {}) == (None, "environment variable ATTOM_API_KEY is not set")
    assert resolve_api_key(cfg.sources["attom"], {"ATTOM_API_KEY": " k "}) == ("k", None)
    # The Census pair waits for CENSUS_API_KEY (the geocoder sends no key; it is gated with ACS).
    census_unset = (None, "environment variable CENSUS_API_KEY is not set")
    assert resolve_api_key(cfg.sources["census_acs"], {}) == census_unset
    assert resolve_api_key(cfg.sources["census_geocoder"], {}) == census_unset
    assert resolve_api_key(cfg.sources["census_acs"], {"CENSUS_API_KEY": "k"}) == ("k", None)
    optional = cfg.sources["census_acs"].model_copy(update={"api_key_required": False})
    assert resolve_api_key(optional, {}) == (None, None)  # an optional key may stay unset
