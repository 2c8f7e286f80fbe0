"""Issue 13: a last sale likely not at market value is called out and kept out of equity and the gap;
reasons state each fact once; the score says what it used."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from realestate_assets.config_models import ScoringConfig, SuspectSaleRule, load_scoring
from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.ml.scoring import (
    SUSPECT_SALE,
    bird_dog_score,
    component_reasons,
    county_percentiles,
    dedupe_reasons,
    factor_reasons,
    model_components,
    owner_reasons,
    score_composition,
    suspect_sale,
    suspect_sale_reason,
)
from realestate_assets.settings import repo_root

RULE = SuspectSaleRule(min_ratio_to_comps=0.5, max_ratio_to_comps=2.0,
                       non_market_terms=["quit claim", "related part"])


def test_rule_and_threshold_come_from_config_scoring_yaml() -> None:
    scoring = load_scoring(repo_root() / "config")
    assert scoring.suspect_sale.min_ratio_to_comps == 0.5 and scoring.suspect_sale.max_ratio_to_comps == 2.0
    assert "quit claim" in scoring.suspect_sale.non_market_terms
    assert scoring.data_stale_after_days == 120
    doc = (repo_root() / "docs" / "scoring.md").read_text()
    assert "likely not at market value" in doc and "min_ratio_to_comps" in doc


def test_far_from_comps_or_flagged_by_the_source_is_suspect() -> None:
    indexed = pd.Series([250_000.0, 600_000.0, 1_300_000.0, 590_000.0, 600_000.0, None])
    comps = pd.Series([610_000.0, 610_000.0, 610_000.0, 610_000.0, None, 610_000.0])
    flags = pd.DataFrame({"last_sale_instrument": [None, None, None, "Quit Claim Deed", None, None],
                          "last_sale_reason": [None, None, None, None, "Related Party, Friend, or Neighbor", None]})
    out = suspect_sale(indexed, comps, RULE, flags)
    assert out[0] == f"{SUSPECT_SALE}: in today's market it is 41% of the comparable-sales estimate"
    assert out[1] is None  # a market sale
    assert out[2].endswith("2.1× the comparable-sales estimate")
    assert out[3] == f"{SUSPECT_SALE}: the county file records it as 'Quit Claim Deed'"
    assert "Related Party" in out[4]  # no comps estimate, but the source says so
    assert out[5] is None  # nothing to judge by: not called suspect
    # The memo's one-property form is the same rule.
    assert suspect_sale_reason(250_000.0, 610_000.0, RULE) == out[0]
    assert suspect_sale_reason(600_000.0, 610_000.0, RULE, {"last_sale_warnings": "partial interest"}) is None


def test_a_suspect_sale_is_not_used_for_equity_and_its_weight_is_spread() -> None:
    n = 6
    features = pd.DataFrame({"last_sale_price_indexed": [250_000.0] + [500_000.0] * (n - 1),
                             "comps_median_price_per_sqft": [400.0] * n, "living_sqft": [1500.0] * n})
    estimated = pd.Series([600_000.0] * n)
    suspect = suspect_sale(features["last_sale_price_indexed"],
                           features["comps_median_price_per_sqft"] * features["living_sqft"], RULE)
    before = model_components(features, estimated, pd.Series([np.nan] * n), pd.Series(np.linspace(.1, .6, n)))
    after = model_components(features, estimated, pd.Series([np.nan] * n), pd.Series(np.linspace(.1, .6, n)),
                             suspect=suspect)
    assert before.loc[0, "equity"] == 1.0  # the 58% "gap" from a non-market sale ranked it first on equity
    assert np.isnan(after.loc[0, "equity"]) and after.loc[1:, "equity"].notna().all()
    score = bird_dog_score(after, {"deal": .4, "propensity": .25, "equity": .25, "confidence": .1})
    assert 0 <= score[0] <= 100
    composition = score_composition(after.loc[0].to_dict(), listed=False, suspect=suspect[0], has_sale=True)
    by_name = {c["name"]: c for c in composition}
    assert by_name["deal"]["missing_reason"] == "no asking price: deal probability not computed"
    assert by_name["equity"]["missing_reason"].startswith(SUSPECT_SALE) and not by_name["equity"]["used"]
    # Weights after redistribution: propensity 25 / (25 + 10), confidence 10 / 35.
    assert by_name["propensity"]["effective_weight"] == pytest.approx(0.25 / 0.35)
    assert by_name["confidence"]["effective_weight"] == pytest.approx(0.10 / 0.35)
    assert sum(c["effective_weight"] for c in composition) == pytest.approx(1.0)


def test_one_fact_one_statement() -> None:
    features = {"years_since_last_sale": 12.3, "years_owned": 12.3, "comps_count": 6, "out_of_state_owner": 1}
    drivers = [{"feature": "years_since_last_sale", "text": "last sold 12.3 years ago raises the chance of a sale"},
               {"feature": "market_trend_12m_pct", "text": "county market +11.7% over 12 months raises it"}]
    texts, facts = dedupe_reasons(component_reasons({"equity": .9}, features, 21.0) + factor_reasons(drivers)
                                  + owner_reasons(features))
    assert facts == ["value_gap", "tenure", "comps", "market_trend_12m_pct", "owner_location"]
    assert sum("12.3 years" in t for t in texts) == 1  # the tenure fact once, not three times
    texts, facts = dedupe_reasons(component_reasons({}, features, 58.0, suspect=f"{SUSPECT_SALE}: x"))
    assert texts[0].startswith(SUSPECT_SALE) and "58%" not in " ".join(texts)


def test_scoring_config_defaults_match_the_file() -> None:
    assert ScoringConfig().suspect_sale.min_ratio_to_comps == 0.5


def test_a_county_file_that_says_how_a_sale_was_made_flags_the_last_sale(database_url: str, tmp_path) -> None:
    """Discovery keeps the mapped instrument / reason / warnings; the last sale's flags per parcel
    (LAST_SALE_FLAGS_SQL, what scores and memos join) feed the same rule."""
    from realestate_assets.config_models import BulkFileSource
    from realestate_assets.db.warehouse import Warehouse
    from realestate_assets.discovery.records import Page
    from realestate_assets.discovery.sources import iter_source
    from realestate_assets.discovery.validate import canonicalize
    from realestate_assets.ml.scoring import LAST_SALE_FLAGS_SQL

    path = tmp_path / "sales.csv"
    path.write_text("pinx,sale_id,sale_price,sale_date,instrument,warnings,longitude,latitude\n"
                    "..0000000001,a,300000,2015-01-01,Quit Claim Deed,,-122.3,47.6\n"
                    "..0000000001,b,400000,2016-01-01,Statutory Warranty Deed,,-122.3,47.6\n"
                    "..0000000002,c,500000,2016-02-01,Statutory Warranty Deed,PARTIAL INTEREST,-122.3,47.6\n")
    source = BulkFileSource(type="bulk_file", name="kc", path=str(path), fields={
        "parcel_id": {"column": "pinx", "strip_chars": "."}, "sale_id": "sale_id", "sale_price": "sale_price",
        "sale_date": "sale_date", "sale_instrument": "instrument", "sale_warnings": "warnings",
        "longitude": "longitude", "latitude": "latitude"})
    (page,) = [p for p in iter_source(source) if isinstance(p, Page)]
    rows = canonicalize(page, source.field_map()).rows
    assert rows["sale_instrument"].tolist() == ["Quit Claim Deed", "Statutory Warranty Deed",
                                                "Statutory Warranty Deed"]
    wh = Warehouse(database_url)
    county = f"flags_{uuid.uuid4().hex[:8]}"  # public county data: a county of the test's own
    with wh.transaction() as conn, conn.cursor() as cur:
        ensure_county_partitions(cur, county)
        for r in rows.itertuples():
            cur.execute("INSERT INTO sales (county, source, sale_id, parcel_id, sale_price, sale_date, "
                        "sale_instrument, sale_warnings) VALUES (%s, 'kc', %s, %s, %s, %s, %s, %s)",
                        (county, r.sale_id, r.parcel_id, float(r.sale_price), r.sale_date, r.sale_instrument,
                         None if pd.isna(r.sale_warnings) else r.sale_warnings))
    flags = wh.frame(LAST_SALE_FLAGS_SQL, {"county": county}).set_index("parcel_id")
    assert flags.loc["0000000001", "last_sale_instrument"] == "Statutory Warranty Deed"  # the quit claim was earlier
    assert flags.loc["0000000002", "last_sale_warnings"] == "PARTIAL INTEREST"
    rule = load_scoring(repo_root() / "config").suspect_sale
    out = suspect_sale(pd.Series([400_000.0, 500_000.0]), pd.Series([410_000.0, 520_000.0]), rule,
                       flags.reset_index(drop=True))
    assert out[0] is None
    assert out[1] == f"{SUSPECT_SALE}: the county file records it as 'Statutory Warranty Deed · PARTIAL INTEREST'"

    # What `scores` reads of them (FLAGGED_LAST_SALES_SQL: the prospects whose last sale has a
    # flag), on a second connection in the first one's snapshot: a sale recorded since is unseen.
    from realestate_assets.assets.common import export_snapshot, snapshot
    from realestate_assets.assets.scoring import flagged_last_sales

    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO prospects (county, prospect_key, parcel_id) VALUES (%s, 'p1', '0000000001'), "
                    "(%s, 'p2', '0000000002'), (%s, 'p3', '0000000003')", (county, county, county))
    with snapshot(wh) as read:
        exported = export_snapshot(read)
        with wh.transaction() as conn, conn.cursor() as cur:  # p2's newest sale now has no flag
            cur.execute("INSERT INTO sales (county, source, sale_id, parcel_id, sale_price, sale_date) "
                        "VALUES (%s, 'kc', 'd', '0000000002', 510000, '2017-01-01')", (county,))
        flagged = flagged_last_sales(wh, {"county": county}, exported).sort_values("prospect_key")
    assert flagged["prospect_key"].tolist() == ["p1", "p2"]  # p3 has no sale
    assert flagged["last_sale_warnings"].tolist()[1] == "PARTIAL INTEREST"
    with snapshot(wh) as now:  # an exported snapshot is imported while its transaction is open
        assert flagged_last_sales(wh, {"county": county}, export_snapshot(now))["prospect_key"].tolist() == ["p1"]


def test_a_county_without_a_flagged_sale_skips_the_last_sales_distinct_on(database_url: str) -> None:
    """FLAGGED_LAST_SALES_SQL in a county whose sales carry no flag (its file maps none): no row,
    and the `DISTINCT ON` over the county's every sale is never run (the one-time `EXISTS`);
    once one sale has a flag, the last sales are judged as before (an earlier flagged sale is
    not the last)."""
    from realestate_assets.db.warehouse import Warehouse
    from realestate_assets.ml.scoring import FLAGGED_LAST_SALES_SQL

    wh = Warehouse(database_url)
    county = f"noflags_{uuid.uuid4().hex[:8]}"  # public county data: a county of the test's own
    with wh.transaction() as conn, conn.cursor() as cur:
        ensure_county_partitions(cur, county)
        cur.execute("INSERT INTO sales (county, source, sale_id, parcel_id, sale_price, sale_date) "
                    "VALUES (%s, 'kc', 'a', '1', 300000, '2015-01-01'), (%s, 'kc', 'b', '1', 400000, '2016-01-01'), "
                    "(%s, 'kc', 'c', '2', 500000, '2016-02-01')", (county, county, county))
        cur.execute("INSERT INTO prospects (county, prospect_key, parcel_id) VALUES (%s, 'p1', '1'), "
                    "(%s, 'p2', '2')", (county, county))
    assert wh.frame(FLAGGED_LAST_SALES_SQL, {"county": county}).empty
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON) " + wh.bind(conn, FLAGGED_LAST_SALES_SQL,
                                                                                    {"county": county}))
        plan = cur.fetchone()[0][0]["Plan"]

    def nodes(node: dict) -> list[dict]:
        return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]

    (unique,) = [n for n in nodes(plan) if n["Node Type"] == "Unique"]
    assert unique["Actual Loops"] == 0  # never executed
    with wh.transaction() as conn, conn.cursor() as cur:  # parcel 1's earlier sale is a quit claim
        cur.execute("UPDATE sales SET sale_instrument = 'Quit Claim Deed' WHERE county = %s AND sale_id = 'a'",
                    (county,))
    assert wh.frame(FLAGGED_LAST_SALES_SQL, {"county": county}).empty
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute("UPDATE sales SET sale_warnings = 'PARTIAL INTEREST' WHERE county = %s AND sale_id = 'c'",
                    (county,))
    flagged = wh.frame(FLAGGED_LAST_SALES_SQL, {"county": county})
    assert flagged["prospect_key"].tolist() == ["p2"]
    assert flagged["last_sale_warnings"].tolist() == ["PARTIAL INTEREST"]


def test_rows_without_flags_are_judged_by_price_alone_and_flagged_rows_by_their_text() -> None:
    # Most rows of a county carry no flag (none at all where its file has no such columns): only
    # the flagged rows' text is searched, by position, whatever the index.
    index = pd.Index([907, 3, 55, 12, 40])
    indexed = pd.Series([250_000.0, 600_000.0, 600_000.0, 600_000.0, 600_000.0], index=index)
    comps = pd.Series([610_000.0] * 5, index=index)
    flags = pd.DataFrame({"last_sale_instrument": [None, "Quit Claim Deed", None, "", None],
                          "last_sale_warnings": [None, None, pd.NA, None, "related party"]}, index=index)
    out = suspect_sale(indexed, comps, RULE, flags)
    assert out.index.equals(index)
    assert out.tolist() == [f"{SUSPECT_SALE}: in today's market it is 41% of the comparable-sales estimate",
                            f"{SUSPECT_SALE}: the county file records it as 'Quit Claim Deed'", None, None,
                            f"{SUSPECT_SALE}: the county file records it as 'related party'"]
    none = pd.DataFrame({"last_sale_instrument": [None] * 5, "last_sale_warnings": [np.nan] * 5}, index=index)
    assert suspect_sale(indexed, comps, RULE, none).tolist() == [out.iloc[0], None, None, None, None]
    # An empty term is in every text, the empty one too: every row without a ratio reason is flagged.
    everything = SuspectSaleRule(non_market_terms=[""])
    assert suspect_sale(indexed, comps, everything, none).tolist()[1:] == \
        [f"{SUSPECT_SALE}: the county file records it as ''"] * 4


@pytest.mark.parametrize("rows", [0, 1, 2, 3, 10, 1_000])
def test_county_percentiles_are_pandas_average_pct_rank_to_the_bit(rows: int) -> None:
    """The components' percentiles (numpy's unstable sort per column) are `DataFrame.rank(pct=True,
    method="average")`'s bit for bit: ties (0.0 and -0.0, infinities), NaN, an all-NaN column."""
    rng = np.random.default_rng(rows)
    for _ in range(20):
        index = pd.Index(rng.permutation(rows) + 7)
        raw = {
            "few": rng.integers(0, 4, rows).astype(float),
            "odd": np.where(rng.random(rows) < 0.4, np.nan, rng.choice([np.inf, -np.inf, 0.0, -0.0, 1.5], rows)),
            "spread": rng.normal(size=rows),
            "none": np.full(rows, np.nan),
        }
        raw = {name: pd.Series(values, index=index) for name, values in raw.items()}
        raw["shifted"] = pd.Series(rng.normal(size=rows), index=index + 1)  # aligned on `index`, as a frame does
        pd.testing.assert_frame_equal(county_percentiles(raw, index),
                                      pd.DataFrame(raw, index=index).rank(pct=True, method="average"),
                                      check_exact=True)
