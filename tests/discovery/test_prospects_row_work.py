"""`prospects`' shortcuts at a million parcels (issue 17, twentieth round) give what the rules they
stand for give: a one-source county's last sales, alphanumeric parcel ids, the parcel records'
links and refs, and records already in rank order."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal, assert_index_equal, assert_series_equal

from realestate_assets.discovery import matching
from realestate_assets.discovery.collect import Matched, _last_sales, match_sources, prospect_frame, sale_order
from realestate_assets.discovery.matching import _PARCEL_JUNK, match_prospects, normalize_parcel_ids


def last_sales_by_duplicated(sales: pd.DataFrame) -> pd.Index:
    """The rule as it was written: the last row of each (source, parcel) in `sale_order`."""
    order = sale_order(sales)
    groups = sales[["source", "parcel_id"]].iloc[order]
    last = ~groups.duplicated(keep="last").to_numpy() & groups.notna().all(axis=1).to_numpy()
    return sales.index[order[last]]


def random_sales(rnd: random.Random, n: int, sources: list[object]) -> pd.DataFrame:
    parcels = [None, np.nan, "", "A1", "a1", "0007600046", "0007600046-1", "Z", "ä9"]
    index = pd.Index(rnd.sample(range(10**6), n)) if rnd.random() < 0.5 else pd.RangeIndex(n)
    return pd.DataFrame({
        "source": [rnd.choice(sources) for _ in range(n)],
        "sale_id": [rnd.choice([None, *(f"s{i}" for i in range(n))]) for _ in range(n)],
        "parcel_id": [rnd.choice(parcels) for _ in range(n)],
        "sale_date": [rnd.choice([None, "2024-01-02", "2024-01-03", "2023-12-31"]) for _ in range(n)],
    }, index=index)


@pytest.mark.parametrize("seed", range(3))
def test_one_source_last_sales_are_the_duplicated_rule(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(150):
        sales = random_sales(rnd, rnd.choice([1, 2, 5, 40]), ["kc"])
        assert_index_equal(_last_sales(sales), last_sales_by_duplicated(sales))


@pytest.mark.parametrize("sources", [["kc", "bulk"], ["kc", None], ["kc", np.nan]])
def test_several_or_missing_sources_keep_the_duplicated_rule(sources: list[object]) -> None:
    rnd = random.Random(11)
    for _ in range(100):
        sales = random_sales(rnd, rnd.choice([2, 5, 40]), sources)
        assert_index_equal(_last_sales(sales), last_sales_by_duplicated(sales))


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"source": ["kc"] * 3, "sale_id": ["a", "b", "c"], "parcel_id": [None] * 3,
                  "sale_date": ["2024-01-01"] * 3}),  # no parcel id at all: a null column for Arrow
    pd.DataFrame({"source": ["kc"] * 4, "sale_id": ["a", "b", "c", "d"], "parcel_id": [7, 7, 8, None],
                  "sale_date": ["2024-01-01", "2024-02-01", None, "2024-01-01"]}),  # numbers
    pd.DataFrame({"source": pd.array(["kc", pd.NA, "kc"], dtype="string"), "sale_id": ["a", "b", "c"],
                  "parcel_id": ["1", "1", "1"], "sale_date": ["2024-01-01"] * 3}),  # a missing source
    pd.DataFrame({"source": pd.Series([], dtype=object), "sale_id": pd.Series([], dtype=object),
                  "parcel_id": pd.Series([], dtype=object), "sale_date": pd.Series([], dtype=object)}),
])
def test_last_sales_of_unusual_columns(frame: pd.DataFrame) -> None:
    assert_index_equal(_last_sales(frame), last_sales_by_duplicated(frame))


def parcel_ids_by_pandas(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.upper().str.replace(_PARCEL_JUNK, "", regex=True)
    return text.mask(text.isna() | (text == "") | text.str.fullmatch("0+").fillna(False))


def test_alphanumeric_parcel_ids_skip_the_regex(monkeypatch: pytest.MonkeyPatch) -> None:
    """Letters and digits only (zeros alone, lower case, missing values too): no regex replace,
    and the values the pandas expression gives."""
    def no_regex(*_: object, **__: object) -> None:
        raise AssertionError("the regex replace ran")

    monkeypatch.setattr(matching.pc, "replace_substring_regex", no_regex)
    rnd = random.Random(5)
    for _ in range(100):
        values = pd.Series([rnd.choice(["0007600046", "000", "0", "AB12C", "ab12c", "00a", "0a0", None, "Z"])
                            for _ in range(rnd.choice([1, 3, 40]))], dtype=object)
        assert_series_equal(normalize_parcel_ids(values), parcel_ids_by_pandas(values))


def test_ids_with_other_characters_still_lose_them() -> None:
    values = pd.Series(["..0007600046", "ab-12 c", "", "0-0", "000", None], dtype=object)
    got = normalize_parcel_ids(values)
    assert_series_equal(got, parcel_ids_by_pandas(values))
    assert got.tolist()[:2] == ["0007600046", "AB12C"]


def _merged_refs(records: pd.DataFrame) -> pd.DataFrame:
    """The links of `records` with their refs by the left merge `_with_refs` stands for."""
    links = match_prospects(records.drop(columns="prospect_key")).links
    return links.merge(records[["source", "source_id", "source_ref"]].astype({"source_id": str}),
                       on=["source", "source_id"], how="left")


def _sales(parcel_id: list[object]) -> pd.DataFrame:
    n = len(parcel_id)
    return pd.DataFrame({"source": "kc", "sale_id": [f"s{i}" for i in range(n)], "parcel_id": parcel_id,
                         "sale_date": [f"2024-01-{1 + i % 28:02d}" for i in range(n)],
                         "source_ref": [f"r{i}" for i in range(n)], "latitude": 47.5 + np.arange(n) / 1000,
                         "longitude": -122.3 + np.arange(n) / 1000, "use_type": "sfr"})


@pytest.mark.parametrize("parcel_id", [
    [f"{i % 37:04d}" for i in range(120)],  # text ids, repeated sales: refs by position unchecked
    [1, "1", 2, 2, "3"],  # 1 and "1" are two parcels but one text key: the merge
])
def test_parcel_records_links_carry_their_refs(parcel_id: list[object]) -> None:
    listings = pd.DataFrame(columns=["source", "source_id", "source_ref", "list_date"])
    matched = match_sources(_sales(parcel_id), listings)
    assert_frame_equal(matched.links, _merged_refs(matched.records))


def test_records_out_of_rank_order_are_ordered_first() -> None:
    """A caller's records not in rank order: a listing's facts still come after the parcel's."""
    records = pd.DataFrame({"source": ["mls", "kc"], "source_id": ["L1", "7"], "parcel_id": [None, "7"],
                            "latitude": [47.61, 47.6], "longitude": [-122.31, -122.3], "use_type": [None, "sfr"],
                            "rank": [1, 0], "prospect_key": ["7", "7"]})
    shuffled = prospect_frame(Matched(records, pd.DataFrame(), 0.5))
    ordered = prospect_frame(Matched(records.iloc[::-1], pd.DataFrame(), 0.5))
    assert_frame_equal(shuffled, ordered)
    assert shuffled.loc[0, "latitude"] == 47.6


def prospect_frame_by_key_groupby(matched: Matched) -> pd.DataFrame:
    """`prospect_frame` as it was written: grouped on the key text, the sources' pairs by hash."""
    ordered = matched.records.sort_values("rank", kind="stable")
    columns = [c for c in ("parcel_id", "address", "unit", "city", "state", "zip", "latitude", "longitude",
                           "use_type") if c in ordered.columns]
    frame = ordered.groupby("prospect_key", sort=True)[columns].first()
    pairs = ordered[["prospect_key", "source"]].drop_duplicates()
    frame["sources"] = pairs.sort_values("source").groupby("prospect_key")["source"].agg(list)
    return frame.reset_index()


@pytest.mark.parametrize("seed", range(4))
def test_prospect_frame_on_sorted_codes_is_the_key_groupby(seed: int) -> None:
    """The keys factorized once (Arrow-sorted codes) give the frame grouping on the key text gave:
    the same keys in the same order, each column's first value, the sources; a missing key is no
    prospect."""
    rnd = random.Random(seed)
    n = 400
    keys = [rnd.choice([None, "k1", "k10", "k2", "K2", "ä", "address-00ff", "7"]) for _ in range(n)] if seed \
        else [f"k{rnd.randrange(150)}" for _ in range(n)]
    records = pd.DataFrame({
        "source": [rnd.choice(["kc", "mls", "zz"]) for _ in range(n)],
        "source_id": [f"s{i}" for i in range(n)],
        "parcel_id": [rnd.choice([None, "1", "2"]) for _ in range(n)],
        "latitude": [rnd.choice([np.nan, 47.5, 47.6]) for _ in range(n)],
        "longitude": -122.3, "use_type": [rnd.choice([None, "sfr", "condo"]) for _ in range(n)],
        "rank": sorted(rnd.choice([0, 1]) for _ in range(n)), "prospect_key": keys})
    got = prospect_frame(Matched(records, pd.DataFrame(), 0.0))
    assert_frame_equal(got, prospect_frame_by_key_groupby(Matched(records, pd.DataFrame(), 0.0)))


@pytest.mark.parametrize("seed", range(4))
def test_one_record_prospects_taken_beside_grouped_ones_are_the_key_groupby(seed: int) -> None:
    """Prospects of one record (taken as they are) and of several (grouped) in one frame, with
    Arrow text, NumPy text and float columns: each column's first non-null value per prospect,
    as grouping every prospect gave; every prospect of one record (a permutation of the codes)."""
    rnd = random.Random(seed)
    n = 300
    keys = [f"k{rnd.randrange(400 if seed % 2 else 10**6)}" for _ in range(n)]
    arrow = pd.ArrowDtype(pa.large_string())
    records = pd.DataFrame({
        "source": [rnd.choice(["kc", "mls"]) for _ in range(n)],
        "source_id": [f"s{i}" for i in range(n)],
        "parcel_id": pd.Series([rnd.choice([None, "1", "2"]) for _ in range(n)], dtype=arrow),
        "latitude": [rnd.choice([np.nan, 47.5, 47.6]) for _ in range(n)],
        "longitude": -122.3, "use_type": [rnd.choice([None, "sfr", "condo"]) for _ in range(n)],
        "rank": sorted(rnd.choice([0, 1]) for _ in range(n)), "prospect_key": keys})
    got = prospect_frame(Matched(records, pd.DataFrame(), 0.0))
    assert_frame_equal(got, prospect_frame_by_key_groupby(Matched(records, pd.DataFrame(), 0.0)))


@pytest.mark.parametrize("seed", range(4))
def test_parcel_keys_from_the_edges_codes_are_the_values_own(seed: int) -> None:
    """The parcel ids' sorted codes made once for the edges give each component the key its
    own values' codes gave (`_component_keys` with and without them)."""
    rnd = np.random.default_rng(seed)
    n, count = 1_000, 300
    labels = rnd.integers(0, count, n)
    labels[:count] = np.arange(count)
    parcel = pd.Series([f"P{rnd.integers(0, 80)}" if rnd.random() < 0.6 else None for _ in range(n)], dtype="string")
    record = pd.Series([f"r{i}" for i in range(n)], dtype="string")
    identifiers = [("parcel", lambda rows: parcel.iloc[rows]), ("record", lambda rows: record.iloc[rows])]
    coded = {"parcel": matching.sorted_codes_of(parcel)}
    assert (coded["parcel"][0] == -1).sum() == parcel.isna().sum()
    assert matching._component_keys(labels, count, identifiers, coded=coded).tolist() == \
        matching._component_keys(labels, count, identifiers).tolist()


@pytest.mark.parametrize("values", [
    ["0007600046", "ab-12 c", "", "000", None, np.nan, "Z"],  # ASCII: Arrow's ids
    ["ä9", "straße 1", None, "..7"],  # other text: pandas' ids
    [7, "7", None, 0],  # numbers: pandas' ids
])
def test_the_matchs_parcel_id_codes_are_the_normalized_ids(values: list[object]) -> None:
    """The match's parcel id codes — on Arrow's array for ASCII ids (twenty-eighth round (c): not
    made objects and back), from the objects otherwise — are `normalize_parcel_ids`' sorted codes,
    -1 where it has a missing id, and the same distinct ids as text objects."""
    column = pd.Series(values, dtype=object)
    codes, uniques = matching._parcel_id_codes(column)
    expected_codes, expected_uniques = matching.sorted_codes_of(normalize_parcel_ids(column))
    assert codes.tolist() == expected_codes.tolist() and uniques.tolist() == expected_uniques.tolist()
    assert uniques.dtype == object and all(type(u) is str for u in uniques)


@pytest.mark.parametrize("values", [[], [None, None], ["b", None, "a", "b", "A", "0a", "\u00e9"]])
def test_arrow_text_codes_are_the_objects_sorted_codes(values: list[object]) -> None:
    """`sorted_text_codes` of an Arrow array: `sorted_codes_of` of the same text as objects."""
    codes, uniques = matching.sorted_text_codes(pa.array(values, type=pa.large_string()))
    expected_codes, expected_uniques = matching.sorted_codes_of(pd.Series(values, dtype=object))
    assert codes.tolist() == expected_codes.tolist() and uniques.tolist() == expected_uniques.tolist()


def test_parcel_records_take_the_columns_own_arrays() -> None:
    """`_values`: a NumPy column's ndarray itself (no copy, no missing-value check made for the
    frame), an Arrow column's array as it is."""
    from realestate_assets.discovery.collect import _values

    text = pd.Series(["a", None, "b"], dtype=object)
    assert isinstance(_values(text), np.ndarray) and np.shares_memory(_values(text), text.to_numpy())
    arrow = pd.Series(["a", None], dtype=pd.ArrowDtype(pa.large_string()))
    assert _values(arrow) is arrow.array


def test_addresses_read_as_text_give_the_keys_of_text_addresses() -> None:
    """An address column passed to the normalizer as it is (numbers, missing values) keys the
    records as the same column made text with missing values "" did; with a unit too."""
    n = 12
    address = pd.Series([None, "12 Main St", 12, "12 MAIN STREET", np.nan, "4 Elm Ave"] * 2, dtype=object)
    records = pd.DataFrame({"source": "mls", "source_id": [f"L{i}" for i in range(n)], "address": address,
                            "city": "Seattle", "state": "WA", "zip": "98101"})
    as_text = records.assign(address=address.astype("string").fillna("").astype(object))
    assert match_prospects(records).links.equals(match_prospects(as_text).links)
    units = records.assign(unit=["", "4B", None, "4b", "", " 1 "] * 2)
    assert match_prospects(units).links.equals(match_prospects(units.assign(address=as_text["address"])).links)
    assert match_prospects(units).prospects == match_prospects(units.assign(address=as_text["address"])).prospects


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coordinate_pairs_of_parcel_records_alone_are_not_searched_and_change_nothing(seed: int) -> None:
    """Records that all have a parcel id: the pairs within 5 m are not looked for (each would be
    refused, or join two records of one parcel already joined). The keys, components and
    `matched_on` are those the search gives — forced here by one far-away record without a
    parcel id, whose own row is then left out."""
    from realestate_assets.discovery.matching import match_prospects

    rng = np.random.default_rng(seed)
    n = 600
    ids = rng.integers(0, 350, n)  # parcels with several records, sharing a point or 1-3 m apart
    lat = 47.5 + (ids % 40) * 1e-5 + rng.integers(0, 3, n) * 1e-5
    lon = -122.3 + (ids // 40) * 1e-5 + rng.integers(0, 3, n) * 1e-5
    records = pd.DataFrame({
        "source": rng.choice(["assessor", "mls"], n), "source_id": [f"r{i}" for i in range(n)],
        "parcel_id": [None if i % 97 == 0 else f"00{v}" for i, v in enumerate(ids)],
        "latitude": np.where(np.arange(n) % 89 == 0, np.nan, lat), "longitude": lon,
    })
    every = records.assign(parcel_id=[f"00{v}" for v in ids])  # every located record with an id
    forced = pd.concat([every, pd.DataFrame({"source": ["x"], "source_id": ["far"], "parcel_id": [None],
                                             "latitude": [10.0], "longitude": [10.0]})], ignore_index=True)
    skipped, searched = match_prospects(every), match_prospects(forced)
    assert skipped.keys.tolist() == searched.keys.iloc[:n].tolist()
    pd.testing.assert_frame_equal(skipped.links, searched.links.iloc[:n])
    assert skipped.prospects == searched.prospects - 1
    # with records that have no parcel id, the search runs as before and can join them
    assert match_prospects(records).prospects <= skipped.prospects + records["parcel_id"].isna().sum()


@pytest.mark.parametrize("with_addresses", [False, True])
def test_sales_text_held_by_arrow_links_and_makes_the_same_rows(with_addresses: bool) -> None:
    """`prospects` reads its sales' text as Arrow's (`read_frame`'s text_as_arrow): the same links
    and prospects' values as the same sales in objects, the links' source, id and ref and the
    prospects' text columns still Arrow's, for the write to take without a copy."""
    from realestate_assets.db.copy_io import TEXT_DTYPE

    n = 60
    sales = _sales([f"{i % 23:04d}" if i % 17 else None for i in range(n)]).assign(
        address=[f"{i % 9} Main St" if with_addresses and i % 3 else None for i in range(n)],
        city=[None if i % 4 else "Seattle" for i in range(n)], state="WA", zip=None)
    text = ["source", "sale_id", "parcel_id", "source_ref", "use_type", "address", "city", "state", "zip"]
    arrow = sales.astype(dict.fromkeys(text, TEXT_DTYPE))
    listings = pd.DataFrame(columns=["source", "source_id", "source_ref", "list_date"])
    by_objects, by_arrow = match_sources(sales, listings), match_sources(arrow, listings)

    def plain(frame: pd.DataFrame) -> dict[str, list[object]]:
        return {c: [None if not isinstance(v, list) and pd.isna(v) else v for v in frame[c]] for c in frame.columns}

    assert plain(by_arrow.links) == plain(by_objects.links)
    assert all(by_arrow.links[c].dtype == TEXT_DTYPE for c in ("source", "source_id", "source_ref", "matched_on"))
    frame = prospect_frame(by_arrow)
    assert plain(frame) == plain(prospect_frame(by_objects))
    assert all(frame[c].dtype == TEXT_DTYPE for c in ("parcel_id", "use_type", "address", "city"))
