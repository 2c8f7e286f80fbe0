"""The parcel ids' Arrow path and the addresses' row codes (issue 17) give exactly what the pandas
expressions they replace gave: the same values, dtypes, index and Python types."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from realestate_assets.discovery.addresses import address_keys, normalize_address, normalize_addresses
from realestate_assets.discovery.matching import _PARCEL_JUNK, _ascii_parcel_ids, normalize_parcel_ids, sorted_codes


def parcel_ids_by_pandas(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.upper().str.replace(_PARCEL_JUNK, "", regex=True)
    return text.mask(text.isna() | (text == "") | text.str.fullmatch("0+").fillna(False))


def addresses_by_multiindex(address, city=None, state=None, zip_code=None) -> pd.DataFrame:
    n = len(address)

    def text(values):
        return (values if values is not None else pd.Series([""] * n, index=address.index)).astype("string") \
            .fillna("")

    frame = pd.DataFrame({"a": text(address), "c": text(city), "s": text(state), "z": text(zip_code)},
                         index=address.index)
    uniques = frame.drop_duplicates()
    parsed = [normalize_address(a, c, s, z) for a, c, s, z in uniques.itertuples(index=False)]
    table = pd.DataFrame([(p.street, p.unit, p.city, p.state, p.zip, p.parsed, p.key) for p in parsed],
                         columns=["street", "unit", "city", "state", "zip", "parsed", "address_key"],
                         index=pd.MultiIndex.from_frame(uniques))
    result = table.reindex(pd.MultiIndex.from_frame(frame))
    result.index = address.index
    return result


def random_index(rnd: random.Random, n: int) -> pd.Index:
    return pd.Index(rnd.sample(range(10**6), n)) if rnd.random() < 0.5 else pd.RangeIndex(n)


PARCELS = ["0007600046", "..0007600046", "000", "0", "", "  ", "ab-12 c", "AB12C", None, np.nan, pd.NA, "Ab\x00c",
           "0-0-0", "00a", "\t12\n", "straße-1", "ﬁ12", "ä1"]


@pytest.mark.parametrize("seed", range(4))
def test_parcel_ids_by_arrow_are_pandas_parcel_ids(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(250):
        values = [rnd.choice(PARCELS) for _ in range(rnd.choice([0, 1, 3, 40]))]
        if rnd.random() < 0.6:  # ASCII only: the Arrow path
            values = [v for v in values if not (isinstance(v, str) and not v.isascii())]
        if values and rnd.random() < 0.05:
            values[0] = 12345  # a number: the pandas path
        series = pd.Series(values, index=random_index(rnd, len(values)), dtype=object,
                           name=rnd.choice([None, "parcel_id"]))
        if rnd.random() < 0.2:
            series = series.astype("string")
        expected, got = parcel_ids_by_pandas(series), normalize_parcel_ids(series)
        pd.testing.assert_series_equal(got, expected, check_exact=True)
        assert [type(v) for v in got] == [type(v) for v in expected]


def test_the_arrow_path_is_taken_for_ascii_text_only() -> None:
    assert _ascii_parcel_ids(pd.Series(["a-1", None])) is not None
    assert _ascii_parcel_ids(pd.Series(["straße"])) is None  # str.upper gives STRASSE, Arrow would not
    assert _ascii_parcel_ids(pd.Series(["1", 2])) is None
    assert _ascii_parcel_ids(pd.Series([1, 2])) is None


def test_a_parcel_id_utf8_cannot_hold_goes_the_pandas_way() -> None:
    # A lone surrogate (a hostile file's bytes decoded with surrogateescape): not a crash of the step.
    series = pd.Series(["ab-1\udc80", "0007600046"])
    assert _ascii_parcel_ids(series) is None
    pd.testing.assert_series_equal(normalize_parcel_ids(series), parcel_ids_by_pandas(series), check_exact=True)


STREETS = ["123 Main St", "123 MAIN STREET", "4 Elm Ave Apt 4B", "PO Box 12", "", None, "77 Lakeview Blvd E",
           " 9 n 1st st #2", "ÅÉ straße 3", np.nan, pd.NA, 42]
CITIES = ["Seattle", "SEATTLE", None, "", "Austin"]
STATES = ["WA", "wa", None, "Texas"]
ZIPS = ["98103", "98103-1234", None, 98122, ""]


@pytest.mark.parametrize("seed", range(3))
def test_addresses_by_row_codes_are_the_multiindex_ones(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(60):
        n = rnd.choice([0, 1, 2, 7, 120])
        index = random_index(rnd, n)
        address = pd.Series([rnd.choice(STREETS) for _ in range(n)], index=index, dtype=object)
        if rnd.random() < 0.3:
            address = address.astype("string")
        others = [None if rnd.random() < 0.2 else pd.Series([rnd.choice(pool) for _ in range(n)], index=index,
                                                             dtype=object) for pool in (CITIES, STATES, ZIPS)]
        expected, got = addresses_by_multiindex(address, *others), normalize_addresses(address, *others)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        for column in expected.columns:
            assert [type(v) for v in got[column]] == [type(v) for v in expected[column]]


@pytest.mark.parametrize("seed", range(3))
def test_address_keys_are_the_normalized_rows_keys(seed: int) -> None:
    """`address_keys` normalizes only the rows with an address's text: the keys (None where
    none) are `normalize_addresses`' of every row, whatever the city, state and ZIP."""
    rnd = random.Random(seed)
    for _ in range(60):
        n = rnd.choice([0, 1, 2, 7, 120])
        index = random_index(rnd, n)
        streets = rnd.choice([STREETS, ["", None, np.nan, pd.NA, "  "]])  # some columns with no address at all
        address = pd.Series([rnd.choice(streets) for _ in range(n)], index=index, dtype=object)
        if rnd.random() < 0.3:
            address = address.astype("string")
        others = [None if rnd.random() < 0.2 else pd.Series([rnd.choice(pool) for _ in range(n)], index=index,
                                                             dtype=object) for pool in (CITIES, STATES, ZIPS)]
        got = address_keys(address, *others)
        assert got.dtype == object and got.tolist() == normalize_addresses(address, *others)["address_key"].tolist()


TEXTS = ["", "a", "A", "b", "aa", "a ", "0", "00", "10", "9", "é", "e\u0301", "ß", "\uffff", "\U0001f600", "z\x00",
         "coords-1", "47.6,-122.3"]


@pytest.mark.parametrize("seed", range(3))
def test_sorted_codes_are_pandas_sorted_factorize(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(300):
        values = np.array([rnd.choice(TEXTS) for _ in range(rnd.choice([1, 2, 5, 60]))], dtype=object)
        if rnd.random() < 0.05:
            values[0] = "\ud800"  # a lone surrogate: Arrow cannot hold it, pandas sorts it
        codes, uniques = sorted_codes(values)
        expected_codes, expected_uniques = pd.factorize(values, sort=True)
        assert codes.tolist() == expected_codes.tolist()
        assert uniques.tolist() == list(expected_uniques) and uniques.dtype == object
