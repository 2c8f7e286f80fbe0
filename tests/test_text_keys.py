"""Issue 17: `key_positions` gives `get_indexer`'s positions, by the keys' hashes where it can be
sure and by pandas' own look-up wherever it cannot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import realestate_assets.text_keys as text_keys
from realestate_assets.text_keys import key_positions


def test_text_keys_found_and_missing_as_get_indexer() -> None:
    keys = pd.Index([f"p{i}" for i in range(1000)])
    wanted = pd.Series(["p3", "p999", "nowhere", "p3", "p0", ""])
    expected = keys.get_indexer(wanted)
    assert (key_positions(keys, wanted) == expected).all() and (expected == [3, 999, -1, 3, 0, -1]).all()
    assert (key_positions(keys, wanted) == expected).all()  # the keys' hashes kept: the same again
    assert len(key_positions(keys, pd.Series([], dtype=object))) == 0


def test_values_that_are_not_text_are_looked_up_by_pandas() -> None:
    keys = pd.Index(["1", "2", "x"])
    for wanted in (pd.Series([1, "2", None]), pd.Series(["x", np.nan]), pd.Series(["1", 2.0])):
        assert (key_positions(keys, wanted) == keys.get_indexer(wanted)).all()
    mixed = pd.Index([1, "1", None, "b"])  # keys not all text: never hashed
    assert (key_positions(mixed, pd.Series(["1", 1, "b"])) == [1, 0, 3]).all()


def test_the_pools_text_codes_as_a_string_index_gives_them() -> None:
    categories = pd.Index(["a", "b", "10"], dtype="string")
    for wanted in (pd.Index(["b", "zz", "a"]), pd.Series([10, None, "b"]), pd.Series(["10", pd.NA], dtype="string")):
        expected = categories.get_indexer(pd.Series(wanted).astype("string"))
        assert (key_positions(categories, wanted, as_text=True) == expected).all()


def test_a_shared_hash_or_a_wrong_match_falls_back_to_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    keys, wanted = pd.Index(["a", "b", "c"]), pd.Series(["c", "d", "a"])
    monkeypatch.setattr(text_keys, "hash_array", lambda values, categorize: np.zeros(len(values), dtype=np.uint64))
    assert (key_positions(keys, wanted) == [2, -1, 0]).all()  # every key one hash: not unique
    one = pd.Index(["a"])  # one key, every text its hash: "b" matches it and is not it
    assert (key_positions(one, pd.Series(["b", "a"])) == [-1, 0]).all()


def test_duplicated_keys_raise_as_get_indexer_does() -> None:
    with pytest.raises(pd.errors.InvalidIndexError):
        key_positions(pd.Index(["a", "a"]), pd.Series(["a"]))
