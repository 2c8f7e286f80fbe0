"""The one comparable-sales rule (realestate_assets/market/comps.py): its semantics, pinned on
hand-made sales, and its vectorized search checked against a plain loop over every sale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from realestate_assets.config_models import ScoringConfig
from realestate_assets.docs.context import MarketData
from realestate_assets.market import comps
from realestate_assets.market.comps import CompsSettings, SalesPool, comparable_sales
from realestate_assets.market.index import AsOfIndexes, HedonicIndex
from realestate_assets.ml.baselines import nearest_comps_value
from realestate_assets.ml.deal import asof_comps
from tests.scoring.helpers_scoring import sale

AS_OF = pd.Timestamp("2016-06-01")
DEG_PER_M = 1 / 111_195  # latitude degrees per metre


def north(metres: float) -> float:
    return 47.6 + metres * DEG_PER_M


def target(parcel: str = "t", use: str = "sfr", sqft: float = 1000.0) -> pd.DataFrame:
    return pd.DataFrame({"parcel_id": [parcel], "latitude": [47.6], "longitude": [-122.3],
                         "living_sqft": [sqft], "use_type": [use]})


def test_a_comp_is_another_parcels_earlier_similar_nearby_sale_nearest_first() -> None:
    sales = pd.DataFrame([
        sale("t", "own", "2016-01-01", 100_000),                                 # the target's own parcel
        sale("same_day", "sd", "2016-06-01", 200_000, lat=north(10)),            # on the as-of day: not yet known
        sale("day_before", "db", "2016-05-31", 300_000, lat=north(400)),         # the day before: a comp
        sale("too_old", "old", "2014-06-01", 400_000, lat=north(20)),            # window start itself: out
        sale("in_window", "iw", "2014-06-02", 410_000, lat=north(300)),          # a day later: in
        sale("townhouse", "th", "2016-01-01", 500_000, lat=north(30), use="townhouse"),
        sale("too_big", "tb", "2016-01-01", 600_000, lat=north(40), sqft=1351),  # outside ±35%
        sale("band_edge", "be", "2016-01-01", 650_000, lat=north(200), sqft=1349),  # just inside the band
        sale("far", "far", "2016-01-01", 700_000, lat=north(1300)),              # beyond 1.2 km
        sale("near", "nr", "2016-01-01", 800_000, lat=north(100)),
    ])
    comps = comparable_sales(target(), sales, AS_OF, CompsSettings())
    parcels = sales["parcel_id"].iloc[comps.chosen["sale"]].tolist()
    assert parcels == ["near", "band_edge", "in_window", "day_before"]  # nearest first
    assert comps.chosen["distance_m"].is_monotonic_increasing
    assert comps.summary.loc[0, "comps_count"] == 4
    # No index given: prices as recorded. Median of 800, 481.8, 410, 300 $/sqft.
    assert comps.summary.loc[0, "comps_median_price_per_sqft"] == pytest.approx((650_000 / 1349 + 410) / 2, rel=1e-3)
    assert comps.summary.loc[0, "comps_estimated_value"] == pytest.approx(1000 * (650_000 / 1349 + 410) / 2, rel=1e-3)

    capped = comparable_sales(target(), sales, AS_OF, CompsSettings(max_comps=3))
    assert sales["parcel_id"].iloc[capped.chosen["sale"]].tolist() == ["near", "band_edge", "in_window"]
    assert comparable_sales(target(use=None), sales, AS_OF, CompsSettings()).summary.loc[0, "comps_count"] == 0


def test_fewer_than_min_comps_count_but_give_no_estimate() -> None:
    sales = pd.DataFrame([sale("a", "1", "2016-01-01", 400_000), sale("b", "2", "2016-01-02", 410_000)])
    summary = comparable_sales(target(), sales, AS_OF, CompsSettings()).summary
    assert summary.loc[0, "comps_count"] == 2
    assert summary[["comps_median_price_per_sqft", "comps_estimated_value", "comps_value_spread_pct"]].isna().all(
        axis=None)
    assert comparable_sales(target(), sales, AS_OF, CompsSettings(min_comps=2)).summary.notna().all(axis=None)


def test_each_target_may_carry_its_own_as_of_date() -> None:
    sales = pd.DataFrame([sale(f"p{i}", f"s{i}", f"2015-0{i + 1}-15", 300_000 + i, lat=north(10 * i))
                          for i in range(6)])
    targets = pd.concat([target("x"), target("y")], ignore_index=True)
    comps = comparable_sales(targets, sales, pd.to_datetime(["2015-04-01", "2015-07-01"]), CompsSettings())
    assert comps.summary["comps_count"].tolist() == [3, 6]  # January–March, then all six


def test_equidistant_sales_come_newest_first_whichever_other_sales_are_searched() -> None:
    """A building's sales at one spot: the rule takes the newest of them, with any over-fetch and in
    a pool of only some of the county's sales (the API's candidates near a property)."""
    building = [sale(f"b{i}", f"b{i}", f"2016-0{1 + i % 5}-0{1 + i // 5}", 400_000 + i, lat=north(100))
                for i in range(12)]
    others = [sale(f"o{i}", f"o{i}", "2015-06-01", 300_000, lat=north(2_000 + 37 * i)) for i in range(40)]
    sales = pd.DataFrame(building + others)
    newest = [r["parcel_id"] for r in sorted(building, key=lambda r: r["sale_date"], reverse=True)][:3]
    for settings in (CompsSettings(max_comps=3, candidates=1), CompsSettings(max_comps=3, candidates=80)):
        for pool in (sales, sales.iloc[::-1].reset_index(drop=True), pd.DataFrame(building)):
            chosen = comparable_sales(target(), pool, AS_OF, settings).chosen
            assert pool.iloc[chosen["sale"]]["parcel_id"].tolist() == newest


def brute_force(targets: pd.DataFrame, sales: pd.DataFrame, as_of: pd.Series, s: CompsSettings) -> list[list[str]]:
    """The rule as a plain loop over every sale: the reference the vectorized search must match."""
    out = []
    for row, date in zip(targets.itertuples(), as_of, strict=True):
        dy = (sales["latitude"] - row.latitude) * 111_195 * 1.0
        dx = (sales["longitude"] - row.longitude) * 111_195 * np.cos(np.radians(sales["latitude"].mean()))
        dist = np.hypot(dx, dy)
        dates = pd.to_datetime(sales["sale_date"])
        ok = ((sales["parcel_id"] != row.parcel_id) & (sales["use_type"] == row.use_type) & (dates < date)
              & (dates > date - pd.DateOffset(months=s.window_months)) & (dist <= s.radius_m)
              & ((sales["living_sqft"] / row.living_sqft - 1).abs() <= s.sqft_tolerance))
        out.append(sales.loc[ok].assign(d=dist[ok]).sort_values("d").head(s.max_comps)["sale_id"].tolist())
    return out


def test_vectorized_search_matches_a_loop_over_every_sale_even_with_tiny_chunks_and_overfetch() -> None:
    rng = np.random.default_rng(11)
    n = 600
    dates = pd.Timestamp("2012-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D")
    sales = pd.DataFrame([sale(f"p{i % 450}", f"s{i}", str(d.date()), float(rng.uniform(2e5, 9e5)),
                               sqft=float(rng.uniform(700, 2500)), lat=47.6 + float(rng.normal(0, 0.006)),
                               use="sfr" if rng.random() < 0.8 else "townhouse")
                          for i, d in enumerate(dates)])
    sales["longitude"] = -122.3 + rng.normal(0, 0.008, n)
    targets = sales.sample(120, random_state=1).reset_index(drop=True)
    as_of = pd.to_datetime(targets["sale_date"]) + pd.to_timedelta(rng.integers(-60, 60, len(targets)), unit="D")
    # Two candidates per query and 7 rows a chunk: nearly every row must be searched again, in its band.
    settings = CompsSettings(candidates=2, chunk_rows=7)
    chosen = comparable_sales(targets, sales, as_of.to_numpy(), settings).chosen
    got = [chosen.loc[chosen["target"] == i, "sale"].map(sales["sale_id"]).tolist() for i in range(len(targets))]
    expected = brute_force(targets, sales, as_of, settings)
    # Same comps; the order may differ only between sales at the same distance (to rounding).
    assert [sorted(g) for g in got] == [sorted(e) for e in expected]
    assert sum(map(len, expected)) > 300
    # The summary alone (enrichment, the AVM baseline: no (target, comp) rows gathered for the
    # county) is the same summary, to the bit, with and without an index, chunked and widened.
    index = HedonicIndex.from_sales(sales)
    for with_index in (None, index):
        whole = comparable_sales(targets, sales, as_of.to_numpy(), settings, with_index)
        alone = comparable_sales(targets, sales, as_of.to_numpy(), settings, with_index, chosen=False)
        pd.testing.assert_frame_equal(alone.summary, whole.summary, check_exact=True)
        assert alone.chosen.empty and list(alone.chosen.columns) == list(whole.chosen.columns)
    assert whole.summary["comps_median_price_per_sqft"].notna().sum() > 50


def test_rows_short_of_comps_get_the_same_answer_whatever_the_first_query_fetched() -> None:
    """A row the first query leaves short is searched among its size band's sales (strata of
    living area, a ball widened until complete): the chosen rows, ties and distances included,
    are those of a query that fetched enough — with a size band and radius, and without any."""
    rng = np.random.default_rng(5)
    n = 900
    spot = rng.integers(0, 300, n)  # several sales at one spot: equidistant candidates
    dates = pd.Timestamp("2013-01-01") + pd.to_timedelta(rng.integers(0, 1200, n), unit="D")
    sales = pd.DataFrame([sale(f"p{i % 700}", f"s{i}", str(d.date()), float(rng.uniform(2e5, 9e5)),
                               sqft=float(rng.choice([600.0, 1000.0, 1500.0, 4000.0]) * rng.uniform(0.9, 1.1)),
                               lat=47.6 + float(np.sin(spot[i])) * 0.01, lon=-122.3 + float(np.cos(spot[i])) * 0.01,
                               use="sfr" if rng.random() < 0.85 else "townhouse")
                          for i, d in enumerate(dates)])
    targets = sales.sample(150, random_state=3).reset_index(drop=True)
    as_of = (pd.to_datetime(targets["sale_date"]) + pd.Timedelta(days=30)).to_numpy()
    for settings in (CompsSettings(radius_m=900), ScoringConfig().baseline_comps):
        enough = comparable_sales(targets, sales, as_of, settings.model_copy(update={"candidates": n}))
        for fetched in (1, 3):
            short = comparable_sales(targets, sales, as_of, settings.model_copy(
                update={"candidates": fetched, "chunk_rows": 11}))
            pd.testing.assert_frame_equal(short.chosen, enough.chosen, check_exact=True)
            pd.testing.assert_frame_equal(short.summary, enough.summary, check_exact=True)
        assert enough.chosen["distance_m"].duplicated().any()  # ties were there to order


def sales_at_shared_spots(rng: np.random.Generator, n: int = 900) -> pd.DataFrame:
    """`n` sales at 250 spots (several sales at one spot: equidistant candidates, ties to order),
    three sizes with some spread, mostly single-family."""
    spot = rng.integers(0, 250, n)
    dates = pd.Timestamp("2013-01-01") + pd.to_timedelta(rng.integers(0, 1200, n), unit="D")
    return pd.DataFrame([sale(f"p{i % 700}", f"s{i}", str(d.date()), float(rng.uniform(2e5, 9e5)),
                              sqft=float(rng.choice([600.0, 1000.0, 1500.0]) * rng.uniform(0.9, 1.1)),
                              lat=47.6 + float(np.sin(spot[i])) * 0.01, lon=-122.3 + float(np.cos(spot[i])) * 0.01,
                              use="sfr" if rng.random() < 0.85 else "townhouse")
                         for i, d in enumerate(dates)])


def test_the_first_querys_smaller_fetch_changes_no_comp(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first query fetches FIRST_FETCH_SHARE of `candidates`, then all of them for the rows it
    left short: the chosen rows (ties, order, distances) and the summary are those of one query of
    all the candidates, whatever the share — with a size band and radius, and without any."""
    import realestate_assets.market.comps as comps_module

    sales = sales_at_shared_spots(np.random.default_rng(11))
    targets = sales.sample(200, random_state=7).reset_index(drop=True)
    for settings in (CompsSettings(radius_m=900, candidates=24, chunk_rows=11),
                     ScoringConfig().baseline_comps.model_copy(update={"candidates": 24, "chunk_rows": 11})):
        monkeypatch.setattr(comps_module, "FIRST_FETCH_SHARE", 0.0)  # one query of all the candidates
        assert SalesPool._fetches(24) == (24,)
        whole = comparable_sales(targets, sales, AS_OF, settings)
        assert whole.chosen["distance_m"].duplicated().any()  # ties were there to order
        for share in (0.05, 0.45, 2 / 3, 0.99):
            monkeypatch.setattr(comps_module, "FIRST_FETCH_SHARE", share)
            assert len(SalesPool._fetches(24)) == 2
            staged = comparable_sales(targets, sales, AS_OF, settings)
            pd.testing.assert_frame_equal(staged.chosen, whole.chosen, check_exact=True)
            pd.testing.assert_frame_equal(staged.summary, whole.summary, check_exact=True)


def test_the_comps_do_not_depend_on_the_targets_order() -> None:
    """Each target's comps are its own: the same targets in another order (so other query chunks,
    other neighbours in each KD-tree query) get the same chosen rows (ties, order, distances,
    prices) and summary, with a size band and radius and with the baseline's settings, with every
    row's comps kept or only the summary."""
    sales = sales_at_shared_spots(np.random.default_rng(5))
    targets = sales.sample(300, random_state=3).reset_index(drop=True)
    for settings in (CompsSettings(radius_m=900, candidates=24, chunk_rows=11),
                     ScoringConfig().baseline_comps.model_copy(update={"candidates": 24, "chunk_rows": 11})):
        pool = SalesPool(sales, settings)
        first = pool.find(targets, AS_OF)
        assert first.chosen["distance_m"].duplicated().any()  # ties were there to order
        for seed in (0, 1):
            perm = np.random.default_rng(seed).permutation(len(targets))
            # Another pool too: its KD-trees and band trees built as the permuted targets ask for them.
            found = SalesPool(sales, settings).find(targets.iloc[perm], AS_OF)
            chosen = found.chosen.assign(target=perm[found.chosen["target"].to_numpy()])
            chosen = chosen.sort_values("target", kind="stable").reset_index(drop=True)  # each target's rows in order
            pd.testing.assert_frame_equal(chosen, first.chosen.reset_index(drop=True), check_exact=True)
            pd.testing.assert_frame_equal(found.summary.sort_index(), first.summary, check_exact=True)
            summary = pool.find(targets.iloc[perm], AS_OF, chosen=False).summary
            pd.testing.assert_frame_equal(summary.sort_index(), first.summary, check_exact=True)


@pytest.mark.parametrize("options", [{}, {"leafsize": 1}, {"leafsize": 2, "balanced_tree": False},
                                     {"leafsize": 1000}, {"compact_nodes": False}])
def test_the_comps_do_not_depend_on_how_the_trees_are_built(monkeypatch: pytest.MonkeyPatch,
                                                             options: dict[str, object]) -> None:
    """`TREE_OPTIONS` is a speed setting only: with SciPy's default trees and other shapes (leaf
    sizes, balancing, compaction) the same chosen rows (ties, order, distances, prices) and summary,
    with a size band and radius (the band trees' first query, rows left short to the band search at
    4 candidates) and with the baseline's settings (the types' own trees)."""
    sales = sales_at_shared_spots(np.random.default_rng(7))
    targets = sales.sample(300, random_state=8).reset_index(drop=True)
    for settings in (CompsSettings(radius_m=900, candidates=4, chunk_rows=11),
                     ScoringConfig().baseline_comps.model_copy(update={"candidates": 24, "chunk_rows": 11})):
        expected = SalesPool(sales, settings).find(targets, AS_OF)
        assert expected.chosen["distance_m"].duplicated().any()  # ties were there to order
        with monkeypatch.context() as patch:
            patch.setattr(comps, "TREE_OPTIONS", options)
            found = SalesPool(sales, settings).find(targets, AS_OF)
        pd.testing.assert_frame_equal(found.chosen, expected.chosen, check_exact=True)
        pd.testing.assert_frame_equal(found.summary, expected.summary, check_exact=True)


def test_each_target_asks_its_size_bands_tree_and_gets_the_rules_comps() -> None:
    """The first query asks the KD-tree of the strata a target's size band spans (`_band_tree`):
    the comps are the plain loop's whatever `candidates` — bands holding fewer sales than are
    fetched, a band with no sale at all (a size no one has), most rows short at one candidate."""
    rng = np.random.default_rng(29)
    n = 700
    dates = pd.Timestamp("2013-06-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D")
    sizes = np.exp(rng.uniform(np.log(500), np.log(6000), n))  # many bands, some thinly held
    sales = pd.DataFrame([sale(f"p{i % 600}", f"s{i}", str(d.date()), float(rng.uniform(2e5, 9e5)),
                               sqft=float(sizes[i]), lat=47.6 + float(rng.normal(0, 0.005)),
                               use="sfr" if rng.random() < 0.8 else "townhouse")
                          for i, d in enumerate(dates)])
    sales["longitude"] = -122.3 + rng.normal(0, 0.006, n)
    targets = pd.concat([sales.sample(100, random_state=4), sales.head(2).assign(living_sqft=60_000.0)],
                        ignore_index=True)  # the last two: no sale of their size
    as_of = pd.Series(pd.Timestamp("2016-04-01"), index=targets.index)
    expected = brute_force(targets, sales, as_of, CompsSettings())
    assert sum(map(len, expected)) > 300 and expected[-1] == expected[-2] == []
    summaries = []
    for fetched in (1, 2, 24, 40, n):
        settings = CompsSettings(candidates=fetched, chunk_rows=13)
        found = comparable_sales(targets, sales, as_of.iloc[0], settings)
        got = [found.chosen.loc[found.chosen["target"] == i, "sale"].map(sales["sale_id"]).tolist()
               for i in range(len(targets))]
        assert [sorted(g) for g in got] == [sorted(e) for e in expected]
        summaries.append(found.summary)
    for summary in summaries[1:]:
        pd.testing.assert_frame_equal(summary, summaries[0], check_exact=True)


def test_the_band_searchs_one_key_order_is_the_rules_order() -> None:
    """`_by_row_in_rule_order` (one integer key, equal keys re-sorted) orders (row, sale) pairs as
    the four-key lexsort it replaced: by row, distance, newest first, the sales' order — with
    equidistant sales, distances a rounding apart (below the key's dropped bits), and zero."""
    rng = np.random.default_rng(17)
    n = 400
    dates = pd.Timestamp("2014-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    sales = pd.DataFrame([sale(f"p{i}", f"s{i}", str(d.date()), 300_000.0, sqft=1000.0) for i, d in enumerate(dates)])
    pool = SalesPool(sales, CompsSettings())
    for rows_max in (1, 7, 5_000, 1 << 20):
        m = 20_000
        row = rng.integers(0, rows_max, m)
        dist = rng.choice(rng.uniform(0, 1200, 300), m)  # many exact ties
        near = rng.random(m) < 0.2
        dist[near] = np.nextafter(dist[near], np.inf)  # a rounding apart
        dist[rng.random(m) < 0.05] = 0.0
        pos = rng.integers(0, n, m)
        expected = np.lexsort((pos, pool._age(pos), dist, row))
        got = pool._by_row_in_rule_order(row, dist, pos)
        # Pairs may repeat (the same row, sale and distance): compare the pairs in order, not positions.
        for key in (row, dist, pos):
            assert np.array_equal(key[got], key[expected])
    assert len(pool._by_row_in_rule_order(np.array([], dtype=np.intp), np.array([]), np.array([], dtype=np.intp))) == 0


def test_one_as_of_date_gives_the_same_comps_as_that_date_per_row() -> None:
    rng = np.random.default_rng(23)
    n = 300
    dates = pd.Timestamp("2014-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    sales = pd.DataFrame([sale(f"p{i % 250}", f"s{i}", str(d.date()), float(rng.uniform(2e5, 9e5)),
                               sqft=float(rng.uniform(800, 2000)), lat=47.6 + float(rng.normal(0, 0.004)))
                          for i, d in enumerate(dates)])
    sales["longitude"] = -122.3 + rng.normal(0, 0.005, n)
    targets = sales.sample(80, random_state=2).reset_index(drop=True)
    pool = SalesPool(sales, CompsSettings(candidates=3, chunk_rows=9))
    index = HedonicIndex.from_sales(sales)
    one = pool.find(targets, np.datetime64("2016-03-15", "ns"), index)
    each = pool.find(targets, np.full(len(targets), np.datetime64("2016-03-15", "ns")), index)
    pd.testing.assert_frame_equal(one.chosen, each.chosen, check_exact=True)
    pd.testing.assert_frame_equal(one.summary, each.summary, check_exact=True)
    assert one.summary["comps_count"].sum() > 100


def test_enrichment_deal_labels_baseline_and_memo_share_the_rule() -> None:
    sales = pd.DataFrame([sale(f"n{i}", f"n{i}", "2016-01-01", 500_000 + i * 1000, lat=north(50 * i))
                          for i in range(1, 5)] + [sale("t", "t1", "2016-06-01", 50_000)])
    settings = ScoringConfig().comps
    rule = comparable_sales(target(), sales, AS_OF, settings)
    # Deal labels: the same comps as of the purchase date.
    deal = asof_comps(target().assign(date=AS_OF), sales, AsOfIndexes(sales), settings)
    assert deal.loc[0, "comps_count"] == rule.summary.loc[0, "comps_count"] == 4
    # Memo: the same chosen rows, with their time-adjusted prices along the county index.
    memo = MarketData(sales, ScoringConfig()).comps({**target().iloc[0].to_dict()}, AS_OF)
    assert [c["parcel_id"] for c in memo] == sales["parcel_id"].iloc[rule.chosen["sale"]].tolist()
    index = HedonicIndex.from_sales(sales)
    with_index = comparable_sales(target(), sales, AS_OF, settings, index)
    assert [c["adjusted_price"] for c in memo] == pytest.approx(with_index.chosen["adjusted_price"].tolist())
    # Baseline: looser settings of the same rule — any distance, so the far sale counts too.
    far = pd.concat([sales, pd.DataFrame([sale("far", "f", "2016-01-01", 900_000, lat=north(5000))])])
    flat = HedonicIndex.from_sales(far.loc[far["parcel_id"] != "t"])  # one month: no time adjustment
    value = nearest_comps_value(far, target(), flat, size_elasticity=1.0)  # the target's own sale: not a comp
    assert value[0] == pytest.approx(np.median([501_000, 502_000, 503_000, 504_000, 900_000]))


def test_comps_settings_come_from_scoring_yaml() -> None:
    from realestate_assets.config_models import load_scoring

    scoring = load_scoring()
    assert scoring.comps == CompsSettings() and scoring.comps.radius_m == 1200
    assert CompsSettings.from_scoring(scoring) is scoring.comps
    assert scoring.baseline_comps.radius_m is None and scoring.baseline_comps.min_comps == 1
    with pytest.raises(ValueError):
        CompsSettings(min_comps=5, max_comps=3)
