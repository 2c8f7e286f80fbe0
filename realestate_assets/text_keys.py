"""Text keys (parcel ids, prospect keys) looked up in a county-wide index by their 64-bit hashes.

pandas looks text keys up in an index of a million Python strings through a hash table of the
strings themselves, made on the first look-up (with its `is_unique`, ≈0.3 CPU s a million), each
chunk's keys then hashed and compared through pointers scattered over the county's heap (issue 17:
`features`' location join, `enrichment`'s parcels in the county's facts and the comps pool's
parcel codes). Hashed instead: an index's keys once (pandas' `hash_array` of the text's UTF-8
bytes, ≈0.1 CPU s a million, kept with the index) into an index of `uint64`, the wanted keys
hashed and looked up there, every match checked against the key itself. Any doubt — keys that are
not all text, two keys with one hash, a match that is not the key, a key not found that is not
text — and the look-up is pandas' own (`get_indexer`): the same positions whatever the hashes do.
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd
from pandas.util import hash_array

# Per index (by `id`, dropped with the index: an index never changes): its keys' hashes as an
# index and its keys as objects, or None where not all its keys are text.
_HASHED: dict[int, tuple[pd.Index, np.ndarray] | None] = {}


def _is_text(values: np.ndarray) -> bool:
    """Every value a `str` (no missing value). Equal texts have equal hashes, so a text whose hash
    is not among the keys' is not among them; another value may equal a key with another hash
    (`hash_array` hashes a mixed array's values as their `str`: 1 and "1" alike)."""
    return pd.api.types.infer_dtype(values, skipna=False) == "string"


def _hashed(index: pd.Index) -> tuple[pd.Index, np.ndarray] | None:
    """The index's keys' hashes and its keys as objects, made once per index."""
    if id(index) not in _HASHED:
        values = index.to_numpy(dtype=object)
        _HASHED[id(index)] = (pd.Index(hash_array(values, categorize=False)), values) if _is_text(values) else None
        weakref.finalize(index, _HASHED.pop, id(index), None)
    return _HASHED[id(index)]


def key_positions(keys: pd.Index, wanted: pd.Series | pd.Index, *, as_text: bool = False) -> np.ndarray:
    """`keys.get_indexer(wanted)`: each wanted key's position in `keys` (unique keys), -1 where it
    is not there. `as_text`: the wanted values compared as their text (`astype("string")`), as a
    `string` index's are. An index given (`keys`, or `wanted` as an index) is hashed once and its
    hashes kept with it: give the same object again."""
    hashed = _hashed(keys)
    if hashed is not None and hashed[0].is_unique:
        by_hash, key_values = hashed
        wanted_hashed = _hashed(wanted) if isinstance(wanted, pd.Index) else None
        if wanted_hashed is not None:
            hashes, values = wanted_hashed[0].to_numpy(), wanted_hashed[1]
        else:
            values = wanted.to_numpy(dtype=object)
            hashes = hash_array(values, categorize=False)
        positions = by_hash.get_indexer(hashes)
        found = positions >= 0
        if (key_values[positions[found]] == values[found]).all() and (found.all() or _is_text(values[~found])):
            return positions
    return keys.get_indexer(pd.Series(wanted).astype("string") if as_text else wanted)
