"""ATTOM and Census clients against local servers replaying the services' real shapes."""

from __future__ import annotations

from datetime import date

import pytest

from realestate_assets.enrich.clients.attom import AttomClient, AttomQuery, parse_envelope
from realestate_assets.enrich.clients.base import (
    CallLog,
    ClientSettings,
    MalformedResponseError,
    SourceError,
)
from realestate_assets.enrich.clients.census import (
    CensusAcsClient,
    CensusGeocoderClient,
    acs_number,
    parse_acs_table,
    tract_fields,
)
from realestate_assets.net import make_cache_storage
from tests.enrich.fakes import ATTOM_KEY, KING_TRACTS, FakeAttom, FakeCensus, attom_envelope, attom_record


def cs(name: str, url: str, **kw) -> ClientSettings:
    # A generous timeout: no test here is about timeouts, and a busy machine can take over 0.5 s to answer.
    base = dict(name=name, base_url=url, timeout_s=10.0, retries=2, cost_per_call_usd=0.1, rate_limit_per_s=None,
                cache_ttl_s=None, backoff_initial_s=0.01, backoff_max_s=0.03)
    base.update(kw)
    return ClientSettings(**base)


@pytest.fixture
def attom_srv(serve):
    fake = FakeAttom()
    for n in range(3):
        rec = attom_record(n)
        fake.add(rec["address"]["line1"], rec)
    camel = attom_record(50, camel=True, owner="ACME HOLDINGS LLC", mailing="PO BOX 99, AUSTIN, TX 78701",
                         corporate=True)
    fake.add(camel["address"]["line1"], camel)
    return fake, serve(fake)


def q(n: int) -> AttomQuery:
    return AttomQuery(address1=f"{100 + n} NE {n % 90 + 1}TH ST", address2="SEATTLE, WA 98115")


# --------------------------------------------------------------------------- ATTOM


def test_attom_lookup_merges_the_four_endpoints(attom_srv):
    _, srv = attom_srv
    log = CallLog()
    with AttomClient(cs("attom", srv.url), api_key=ATTOM_KEY, on_call=log) as c:
        res = c.lookup(q(1))
    p = res.property
    assert res.matched and res.calls == 4 and res.cache_hits == 0
    assert p.owner_names == ["SMITH JOHN D"]
    assert p.owner_mailing_address == "101 NE 2TH ST, SEATTLE, WA 98115-1234"
    assert (p.assessed_value, p.market_value, p.tax_amount, p.tax_year) == (400_001, 500_001, 4321.5, 2024)
    assert (p.last_sale_price, p.last_sale_date) == (350_001, date(2015, 6, 10))
    assert (p.year_built, p.living_sqft, p.lot_sqft, p.beds, p.baths) == (1951, 1501, 5000, 3, 2.5)
    assert (p.avm_value, p.avm_high, p.avm_low, p.avm_confidence_score) == (610_001, 650_001, 570_001, 87)
    assert p.attom_id == "150000001" and p.fips == "53033"
    assert sorted(p.endpoints) == ["assessment_detail", "avm_detail", "property_detail", "saleshistory_detail"]
    assert {r.headers["apikey"] for r in srv.requests} == {ATTOM_KEY}
    assert {r.query["address1"] for r in srv.requests} == {"101 NE 2TH ST"}
    assert log.total_cost_usd() == pytest.approx(0.4)


def test_attom_camel_case_and_missing_fields_stay_none(attom_srv):
    _, srv = attom_srv
    with AttomClient(cs("attom", srv.url), api_key=ATTOM_KEY,
                     endpoints=["assessment_detail", "property_detail"]) as c:
        p = c.lookup(AttomQuery(address1="150 NE 51TH ST", address2="SEATTLE, WA")).property
    assert p.assessed_value == 400_050 and p.market_value == 500_050 and p.living_sqft == 1550
    assert p.owner_mailing_address == "PO BOX 99, AUSTIN, TX 78701" and p.owner_corporate_indicator is True
    assert p.avm_value is None and p.avm_confidence_score is None  # AVM endpoint not called: unknown
    assert "avm_value" not in p.values()


def test_attom_query_by_attom_id_and_apn():
    assert AttomQuery(attom_id=123).params() == {"attomid": "123"}
    assert AttomQuery(apn="0001", fips="53033").params() == {"apn": "0001", "fips": "53033"}
    with pytest.raises(ValueError):
        AttomQuery(address1="1 MAIN ST").params()


@pytest.mark.parametrize("as_400", [True, False])
def test_attom_no_match_is_an_answer_not_a_failure(attom_srv, tmp_path, as_400):
    fake, srv = attom_srv
    fake.no_match_as_400 = as_400
    log = CallLog()
    with AttomClient(cs("attom", srv.url, breaker_threshold=1, cache_ttl_s=60), api_key=ATTOM_KEY, on_call=log,
                     cache_storage=make_cache_storage("attom", cache_dir=tmp_path)) as c:
        res = c.lookup(AttomQuery(address1="1 NOWHERE RD", address2="SEATTLE, WA"))
        again = c.lookup(AttomQuery(address1="1 NOWHERE RD", address2="SEATTLE, WA"))
        assert not c.breaker.is_open  # threshold 1, yet no failure was counted
        assert c.lookup(q(0)).matched
    assert res.property is None and res.calls == 1  # stops after the first endpoint said "no match"
    assert again.property is None and again.cache_hits == 1  # the no-match was cached too
    assert srv.count("/property/detail") == 2
    assert log.calls[0].status_code == (400 if as_400 else 200) and log.calls[0].error is None
    assert log.calls[0].cost_usd == (0 if as_400 else 0.1)  # ATTOM bills 200s only


def test_attom_429_then_success(attom_srv):
    fake, srv = attom_srv
    fake.behaviours.script("100 NE 1TH ST", "429", "429")
    log = CallLog()
    with AttomClient(cs("attom", srv.url), api_key=ATTOM_KEY, on_call=log, endpoints=["property_detail"]) as c:
        assert c.lookup(q(0)).matched
    assert [x.status_code for x in log.calls] == [429, 429, 200]


def test_attom_bad_key_and_malformed_json(attom_srv):
    fake, srv = attom_srv
    with AttomClient(cs("attom", srv.url), api_key="wrong") as c, pytest.raises(SourceError, match="HTTP 401"):
        c.lookup(q(0))
    fake.behaviours.script("100 NE 1TH ST", "malformed")
    with AttomClient(cs("attom", srv.url), api_key=ATTOM_KEY) as c, pytest.raises(MalformedResponseError):
        c.lookup(q(0))


def test_parse_envelope_rejects_other_shapes():
    with pytest.raises(MalformedResponseError):
        parse_envelope({"property": []})
    with pytest.raises(MalformedResponseError):
        parse_envelope({"status": {"code": 210, "msg": "Invalid parameter"}})
    assert parse_envelope(attom_envelope([])) is None
    lot_acres = attom_record(1)
    lot_acres["lot"] = {"lotsize1": 0.25}
    lot_acres["assessment"]["assessed"]["assdttlvalue"] = 0  # ATTOM's 0 means unknown
    p = parse_envelope(attom_envelope([lot_acres]))
    assert p.lot_sqft == 10_890 and p.assessed_value is None


# --------------------------------------------------------------------------- Census


def test_geocoder_coordinates_to_tract(serve):
    srv = serve(FakeCensus())
    with CensusGeocoderClient(cs("census_geocoder", srv.url)) as c:
        tract, _ = c.tract_for(47.6001, -122.3)
        sea, _ = c.tract_for(10.0, -40.0)
    assert tract.geoid == "53033005200" and (tract.state, tract.county, tract.tract) == ("53", "033", "005200")
    assert tract.name == "Census Tract 52"
    assert sea is None  # no tract in the sea: a no-match, not an error
    r = srv.requests[0].query
    assert r["benchmark"] == "Public_AR_Current" and r["vintage"] == "Current_Current" and r["format"] == "json"
    assert (r["x"], r["y"]) == ("-122.300000", "47.600100")


def test_acs_one_call_per_county_and_sentinels_become_none(serve, monkeypatch):
    srv = serve(FakeCensus())
    log = CallLog()
    with CensusAcsClient(cs("census_acs", srv.url), year=2023, on_call=log, api_key="census-k") as c:
        rows = [c.tract_row(c_)[0] for c_ in [_tract(i) for i in range(len(KING_TRACTS))]]
    assert srv.count("/acs/acs5") == 1  # all 20 tracts of King County from one call
    req = srv.requests[0]
    assert req.path == "/data/2023/acs/acs5" and req.query["for"] == "tract:*"
    assert req.query["in"] == "state:53 county:033" and req.query["key"] == "census-k"
    assert rows[0]["B19013_001E"] == 95_000 and rows[0]["NAME"].startswith("Census Tract 51")
    assert rows[3]["B19013_001E"] is None and rows[3]["B25077_001E"] is None and rows[3]["B25064_001E"] is None
    f = tract_fields(rows[3])
    assert "tract_median_household_income" not in f and f["tract_population"] == 4030
    assert f["tract_vacancy_rate"] == round(103 / 2000, 4)
    assert f["tract_owner_occupied_share"] == round(1100 / 1897, 4)
    assert "census-k" not in repr(log.calls)


def _tract(i: int):
    from realestate_assets.enrich.clients.census import Tract

    s, c, t = KING_TRACTS[i]
    return Tract(f"{s}{c}{t}", s, c, t)


def test_acs_batches_at_most_50_variables(serve):
    srv = serve(FakeCensus())
    many = [f"B99{i:03d}_001E" for i in range(60)] + ["B19013_001E"]
    with CensusAcsClient(cs("census_acs", srv.url), variables=many) as c:
        row, _ = c.tract_row(_tract(0))
    assert srv.count("/acs/acs5") == 2
    assert all(len(r.query["get"].split(",")) <= 50 for r in srv.requests)
    assert row["B19013_001E"] == 95_000 and row["B99059_001E"] is None and len(row) == len(many) + 1


def test_acs_county_without_data_and_failures_fail_once(serve):
    fake = FakeCensus()
    srv = serve(fake)
    from realestate_assets.enrich.clients.census import Tract

    with CensusAcsClient(cs("census_acs", srv.url, retries=0)) as c:
        assert c.tract_row(Tract("53999000100", "53", "999", "000100"))[0] is None  # HTTP 204: no rows
        fake.behaviours.script("acs:state:53 county:033", "html")  # "Invalid Key" HTML page with a 200
        for _ in range(3):
            with pytest.raises(MalformedResponseError):
                c.tract_row(_tract(0))
    assert srv.count("/acs/acs5") == 2  # the failed county is not asked again in this run


def test_acs_number_and_table_shape():
    assert acs_number("-666666666") is None and acs_number("-222222222") is None and acs_number(None) is None
    assert acs_number("12.5") == 12.5 and acs_number("0") == 0 and acs_number("N") is None
    with pytest.raises(MalformedResponseError):
        parse_acs_table({"error": "x"}, [])
    with pytest.raises(MalformedResponseError):
        parse_acs_table([["NAME", "B01003_001E"]], ["B01003_001E"])  # no geography columns


def test_wrong_json_shape_is_evicted_from_the_cache_and_counted_as_failure(serve, tmp_path):
    state = {"n": 0}

    def app(req):
        from tests.enrich.fakes import Response

        state["n"] += 1
        if state["n"] == 1:  # valid JSON, wrong shape (e.g. a gateway's own error object)
            return Response.json({"message": "gateway says hi"})
        return Response.json(attom_envelope([attom_record(0)]))

    srv = serve(app)
    with AttomClient(cs("attom", srv.url, cache_ttl_s=60), api_key=ATTOM_KEY, endpoints=["property_detail"],
                     cache_storage=make_cache_storage("attom", cache_dir=tmp_path)) as c:
        with pytest.raises(MalformedResponseError, match="no status envelope"):
            c.lookup(q(0))
        assert c.breaker.failures == 1
        assert c.lookup(q(0)).matched  # not served the bad answer from the cache
        assert c.lookup(q(0)).cache_hits == 1  # the good one is cached
    assert srv.count() == 2


def test_key_echoed_in_an_error_body_is_blanked(serve):
    from tests.enrich.fakes import Response

    srv = serve(lambda req: Response(403, f"Invalid key {req.query.get('key')} for this API".encode()))
    with CensusAcsClient(cs("census_acs", srv.url, retries=0), api_key="SECRETKEY123") as c, \
            pytest.raises(SourceError) as err:
        c.tract_row(_tract(0))
    assert "SECRETKEY123" not in str(err.value) and "Invalid key *** for" in str(err.value)
