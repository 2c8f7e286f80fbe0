"""Map a source page onto canonical fields and split valid rows from rejects.

Vectorized so a million-row file validates in seconds. A row is rejected, with every reason
it failed, when a required field is missing or a value is not plausible; nothing is guessed
or repaired beyond trimming and unit scaling that the county file declares.

Hostile text (issue #14): one value can cost its row, never the page. Every mapped value has a
maximum length (`TEXT_LIMITS`, the one table of them; keys and indexed columns stay far under
PostgreSQL's ~2,700-byte index entry); a longer one rejects the row. A key holding a control
character (NUL, CR/LF, …) rejects the row, since a key cannot be repaired. In other text a NUL
is removed and other control characters become a space; bytes the file's encoding could not
decode were already replaced by U+FFFD. Those cleanings are counted per field in
`Canonical.cleaned` and shown on the asset as `cleaned_values`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from realestate_assets.config_models import BoundingBox, FieldMap
from realestate_assets.db.copy_io import value_offsets
from realestate_assets.discovery.arrow_text import arrow_text, string_series
from realestate_assets.discovery.records import Page, Reject

# Plausible ranges; a value outside is a data error, not a property fact.
NUMERIC_RANGES: dict[str, tuple[float, float]] = {
    "sale_price": (1_000, 500_000_000),
    "lot_sqft": (1, 50_000_000),
    "living_sqft": (100, 100_000),
    "beds": (0, 50),
    "baths": (0, 50),
    "bldg_grade": (1, 13),
    "age_at_sale": (0, 400),
    "eff_age_at_sale": (0, 400),
    "waterfront": (0, 1),
    "latitude": (-90, 90),
    "longitude": (-180, 180),
    "list_price": (1_000, 500_000_000),
    "year_built": (1600, 2100),
    "assessed_value": (0, 5_000_000_000),
    "market_value": (0, 5_000_000_000),
    "tax_amount": (0, 100_000_000),
    "tax_year": (1900, 2100),
}
DATE_FIELDS = ("sale_date", "list_date")
EARLIEST_DATE = pd.Timestamp("1850-01-01")
# Maximum characters of each text field, enforced at validation (a longer value rejects its row).
# Keys and indexed columns: sales (parcel_id, sale_id), listings (source_id), assessor_roll
# (parcel_id), prospects (parcel_id, address_key from address + unit + city + state + zip).
TEXT_LIMITS: dict[str, int] = {
    "parcel_id": 100, "sale_id": 100, "source_id": 200,
    "address": 300, "unit": 40, "city": 100, "state": 40, "zip": 20,
    "use_type": 200, "neighborhood": 200, "property_type": 300, "listing_status": 80,
    "owner_name": 300, "owner_mailing_address": 300, "listing_url": 2000, "description": 5000,
    "photos": 110_000,  # JSON text: up to 50 photo URLs of up to 2,000 characters
}
DEFAULT_TEXT_LIMIT = 1000  # any other text field (assessor roll columns, …)
SCALAR_LIMIT = 100  # a number or a date spelled in more characters than this is not one
KEY_FIELDS = frozenset({"parcel_id", "sale_id", "source_id"})
RAW_CELL_LIMIT = 10_000  # characters of one raw value kept in a reject
_CONTROL = r"[\x00-\x1f\x7f]"
_CONTROL_NOT_NUL = r"[\x01-\x1f\x7f]+"
_SUSPECT = r"[\x00-\x1f\x7f\ufffd]"
# The same characters for Arrow's RE2, which spells a code point \x{…} (Python's `\ufffd`).
_SUSPECT_RE2 = r"[\x00-\x1f\x7f\x{fffd}]"
# What `str.strip()` removes: the characters for which `str.isspace()` is true (a test checks
# the list against every code point). Arrow's own whitespace trim has other rules; its trim of
# exactly these characters strips as Python does.
PY_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
                 "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")

SALE_REQUIRED = ("parcel_id", "sale_id", "sale_price", "sale_date", "latitude", "longitude")


def _iso_year(text: str) -> int | None:
    try:
        return date.fromisoformat(text[:10]).year
    except ValueError:
        return None


def text_limit(name: str) -> int:
    if name in TEXT_LIMITS:
        return TEXT_LIMITS[name]
    return SCALAR_LIMIT if name in NUMERIC_RANGES or name in DATE_FIELDS else DEFAULT_TEXT_LIMIT


def cap_raw(value: Any) -> Any:
    """A raw payload for the rejects table: each text value cut at RAW_CELL_LIMIT, saying so."""
    if isinstance(value, str) and len(value) > RAW_CELL_LIMIT:
        return value[:RAW_CELL_LIMIT] + f"… [{len(value):,} characters]"
    if isinstance(value, dict):
        return {key: cap_raw(inner) for key, inner in value.items()}
    return value


@dataclass(frozen=True)
class Canonical:
    rows: pd.DataFrame  # canonical columns, typed, plus `source` and `source_ref`
    rejects: list[Reject]
    cleaned: Counter[str] = field(default_factory=Counter)  # "field: what was cleaned" -> values


def _stripped_text(values: pd.Series, strip_chars: str | None) -> tuple[pd.Series, pa.Array | None]:
    """A raw column as text (`string` dtype), stripped of whitespace and then of `strip_chars`,
    empty text as missing; and the same values as an Arrow array when every raw value was text
    or missing (a file's cells always are), else None.

    By Arrow's kernels where it can (a Python call per value and per operation was most of a
    page's validation: issue 17); the values are exactly those of `astype("string").str.strip()`
    (`PY_WHITESPACE`). A column with other values (numbers from a JSON API) or text Arrow cannot
    hold (a lone surrogate) goes the pandas way."""
    arrow = _stripped_arrow(values, strip_chars)
    if arrow is None:
        text = values.astype("string").str.strip()
        if strip_chars:
            text = text.str.strip(strip_chars)
        return text.mask(text == ""), None
    return string_series(arrow, values.index), arrow


def _stripped_arrow(values: pd.Series, strip_chars: str | None) -> pa.Array | None:
    """`_stripped_text`'s Arrow array alone (None: the column goes the pandas way)."""
    arrow = arrow_text(values)
    if arrow is None:
        return None
    arrow = pc.utf8_trim(arrow, characters=PY_WHITESPACE)
    if strip_chars:
        arrow = pc.utf8_trim(arrow, characters=strip_chars)
    empty = pc.equal(arrow, "")
    if pc.any(empty).as_py():
        arrow = pc.if_else(empty, pa.scalar(None, pa.large_string()), arrow)
    return arrow


# A number as a county file spells it: optional minus, ASCII digits, optional fraction, 15
# characters at most (so at most 15 digits). pandas' parser reads such a value exactly as Arrow's
# cast does: the digits are an integer under 2**53, held exactly, then divided by a power of ten
# up to 1e15, exact too: one correctly rounded operation (pandas' precise_xstrtod), which is
# the correctly rounded value Arrow's parser gives.
_PLAIN_NUMBER_RE2 = r"^-?[0-9]+(\.[0-9]+)?$"
_PLAIN_NUMBER_CHARS = 15


def _plain_numbers(arrow: pa.Array, index: pd.Index) -> pd.Series | None:
    """`pd.to_numeric(text, errors="coerce").astype("float64")` of a stripped column by Arrow's
    cast, when every value it holds is a plain number (`_PLAIN_NUMBER_RE2`), else None (the
    caller parses as before). As pandas: a column of integers only is read as integers ("-0" is
    0), one with any fraction as floats ("-0" is -0.0). pandas' parse is a Python call per
    integer value: most of a page's validation (issue 17)."""
    present = pc.drop_null(arrow)
    if len(present) == 0:
        return None
    fraction = _plain_number_shape(present)
    if fraction is None:
        return None
    numbers = pc.cast(arrow, pa.float64()) if fraction else pc.cast(pc.cast(arrow, pa.int64()), pa.float64())
    return pd.Series(numbers.to_numpy(zero_copy_only=False), index=index, dtype="float64")


def _suspect(text: pd.Series | None, arrow: pa.Array | None) -> bool:
    """Whether a field holds a control character or an undecodable byte (`_clean_text`'s work):
    one pass, over the values' bytes when they are an Arrow array (`_suspect_bytes`)."""
    if arrow is not None:
        return _suspect_bytes(arrow)
    assert text is not None
    return bool(text.str.contains(_SUSPECT, regex=True, na=False).any())


def _suspect_bytes(arrow: pa.Array) -> bool:
    """`_SUSPECT_RE2` searched in a text array's bytes at once by NumPy (Arrow's regex
    kernel ran value by value: ≈0.5 CPU s of `sales` at 1M sales, issue 17): a control byte
    (0x00-0x1F, 0x7F: in UTF-8 those bytes are those characters only) or U+FFFD's bytes. Bytes a
    null slot leaves in the buffer are not read (the values' range only); a U+FFFD across two values
    cannot occur (each value is whole UTF-8), so the verdict is the regex's."""
    if not len(arrow):
        return False
    if not (pa.types.is_large_string(arrow.type) or pa.types.is_string(arrow.type)):  # another layout: the regex
        return bool(pc.any(pc.match_substring_regex(arrow, _SUSPECT_RE2)).as_py())
    data = arrow.buffers()[2]
    if data is None:
        return False
    at = value_offsets(arrow)
    if arrow.null_count:  # a null's slot is empty in Arrow's builders; if one is not, the regex
        null = arrow.is_null().to_numpy(zero_copy_only=False)
        if (at[1:][null] > at[:-1][null]).any():
            return bool(pc.any(pc.match_substring_regex(arrow, _SUSPECT_RE2)).as_py())
    values = np.frombuffer(data, dtype=np.uint8)[at[0]:at[-1]]
    if ((values < 0x20) | (values == 0x7F)).any():
        return True
    return values.tobytes().find("\ufffd".encode()) >= 0


def _plain_number_shape(present: pa.Array) -> bool | None:
    """Whether every value of a text array with no null matches `_PLAIN_NUMBER_RE2` within
    `_PLAIN_NUMBER_CHARS` characters: None if not, else whether any has a fraction. By NumPy
    over the array's bytes (the regex kernel was ≈0.6 CPU s of `sales` at a million rows, issue
    17): only ASCII digits, '-' and '.'; a '-' only as a value's first byte; at most one '.' a
    value, with a digit before it and one after; a digit in every value."""
    data_buffer, at = present.buffers()[2], value_offsets(present)
    lengths = np.diff(at)
    if lengths.min() < 1 or lengths.max() > _PLAIN_NUMBER_CHARS:  # ASCII only below: bytes are characters
        return None
    data = np.frombuffer(data_buffer, dtype=np.uint8)[at[0]:at[-1]]
    starts, ends = at[:-1] - at[0], at[1:] - at[0]
    digit = (data >= ord("0")) & (data <= ord("9"))
    minus, dot = data == ord("-"), data == ord(".")
    if not (digit | minus | dot).all():
        return None
    signed = minus[starts]
    if int(minus.sum()) != int(signed.sum()) or (signed & (lengths == 1)).any():  # "-" alone: no digit
        return None
    dots = np.flatnonzero(dot)
    if not len(dots):
        return False
    owner = np.searchsorted(ends, dots, side="right")  # the value each '.' is in
    if (np.diff(owner) == 0).any() or (dots == starts[owner]).any() or (dots + 1 == ends[owner]).any():
        return None
    return None if (~digit[dots - 1]).any() else True  # "-.5": a '.' right after the sign


def _clean_text(name: str, text: pd.Series, flag, cleaned: Counter[str], arrow: pa.Array | None = None) -> pd.Series:
    """Control characters and undecodable bytes in one field: reject (keys) or clean and count.
    `arrow`: the same values as an Arrow array, searched by Arrow's regex kernel instead."""
    if not _suspect(text, arrow):  # one pass for the usual case
        return text
    replaced = text.str.contains("\ufffd", regex=False, na=False)
    if replaced.any():
        cleaned[f"{name}: undecodable bytes replaced (U+FFFD)"] += int(replaced.sum())
    control = text.str.contains(_CONTROL, regex=True, na=False)
    if not control.any():
        return text
    if name in KEY_FIELDS:
        flag(control, f"{name}: contains control characters")
        return text.mask(control)
    nul = text.str.contains("\x00", regex=False, na=False)
    if nul.any():
        cleaned[f"{name}: NUL removed"] += int(nul.sum())
        text = text.str.replace("\x00", "", regex=False)
    other = text.str.contains(_CONTROL_NOT_NUL, regex=True, na=False)
    if other.any():
        cleaned[f"{name}: line breaks or control characters replaced by spaces"] += int(other.sum())
        text = text.str.replace(_CONTROL_NOT_NUL, " ", regex=True).str.strip()
    return text.mask(text == "")


# A date as a county file usually spells it (ISO 8601, a day): Arrow's cast reads it.
_ISO_DATE_RE2 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_EPOCH = date(1970, 1, 1)  # day 0 of Arrow's date32


def _iso_dates(arrow: pa.Array, index: pd.Index) -> pd.Series | None:
    """A date field's values as `canonicalize` gives them (`datetime.date`, NaT where missing)
    when every value is an ISO day (`YYYY-MM-DD`) Arrow reads, from EARLIEST_DATE to today: then
    pandas' mixed-format parse finds the same days and flags none (not a date, in the future,
    too early). Else None (the caller parses and flags as before). pandas' parse, its flags and
    the `date` objects made from its timestamps were ≈1.3 CPU s of `sales` at a million rows,
    a date column Arrow reads in ≈0.05 s (issue 17)."""
    present = pc.drop_null(arrow)
    if len(present) == 0 or not pc.all(pc.match_substring_regex(present, _ISO_DATE_RE2)).as_py():
        return None
    try:
        days = pc.cast(arrow, pa.date32())  # a day that does not exist (2015-02-29) fails
    except pa.ArrowInvalid:
        return None
    # Compared as days since 1970 (year 0 is a date32, not a `date`). A midnight is after now
    # exactly when its day is after today (pandas compares with now).
    bounds = pc.min_max(days.cast(pa.int32()))
    if bounds["min"].as_py() < (EARLIEST_DATE.date() - _EPOCH).days or \
            bounds["max"].as_py() > (pd.Timestamp.now().date() - _EPOCH).days:
        return None
    dates = days.to_pandas(date_as_object=True).to_numpy(dtype=object)
    if days.null_count:
        dates[days.is_null().to_numpy(zero_copy_only=False)] = pd.NaT  # as `.dt.date` gives a missing one
    return pd.Series(dates, index=index, dtype=object)


def _in_range(name: str, number: pd.Series, scale: float | None, flag, out: dict[str, pd.Series]) -> None:
    """A numeric field scaled, its values outside the plausible range flagged and left out."""
    if scale is not None:
        number = number * scale
    low, high = NUMERIC_RANGES[name]
    if number.dtype == np.float64:
        # By NumPy, the same masks and values as pandas' `between` and `where` below (NaN is in
        # no range), and no flag when none is outside (the usual page): pandas' two `between`s,
        # `where` and the flag's indexed update of an all-False mask were ≈18% of `canonicalize`
        # at 1M sales, 11 number fields a page (issue 17).
        values = number.to_numpy()
        inside = (values >= low) & (values <= high)
        outside = ~inside & ~np.isnan(values)
        if outside.any():
            flag(pd.Series(outside, index=number.index), f"{name}: outside {low:g}..{high:g}")
        out[name] = pd.Series(np.where(inside, values, np.nan), index=number.index)
        return
    flag(number.notna() & ~number.between(low, high), f"{name}: outside {low:g}..{high:g}")
    out[name] = number.where(number.between(low, high)).astype("float64")


def canonicalize(
    page: Page,
    fields: dict[str, FieldMap],
    required: tuple[str, ...] = SALE_REQUIRED,
    bounding_box: BoundingBox | None = None,
) -> Canonical:
    raw = page.frame
    # The fields' columns, made into one frame after the loop: a frame's column set one at a
    # time costs pandas' alignment and block insertion each (≈0.2 CPU s a million sales)
    columns: dict[str, pd.Series] = {}
    problems = pd.Series(np.full(len(raw), "", dtype=object), index=raw.index)
    cleaned: Counter[str] = Counter()
    flagged = False  # whether any row has a problem: else no reject to look for
    complete: set[str] = set()  # text fields made from an Arrow array without a null

    def flag(mask: pd.Series, reason: str) -> None:
        # A mask with no row (the bounding box's, on every page) changes nothing: not applied
        # (the indexed update of an all-False mask aligns and copies the problems each call: in
        # cProfile ≈0.3 s of 8 pages of 50k sales, issue 17)
        nonlocal flagged
        if not mask.any():
            return
        flagged = True
        problems.loc[mask] = problems.loc[mask] + reason + "; "

    for name, spec in fields.items():
        if spec.column not in raw.columns:
            # A mapping to a column the file lacks is a configuration error for the whole page.
            reason = f"column {spec.column!r} (for {name}) not in source columns {list(raw.columns)}"
            return Canonical(rows=pd.DataFrame(columns, index=raw.index).iloc[0:0], rejects=[
                Reject(page.source, page.refs[0] if page.refs else "", None, reason)])
        if name in NUMERIC_RANGES:  # plain numbers are read from Arrow: no text column made for them
            arrow = _stripped_arrow(raw[spec.column], spec.strip_chars)
            plain = _plain_numbers(arrow, raw.index) if arrow is not None else None
            if plain is not None:  # none too long (15 characters at most), none "not a number"
                _in_range(name, plain, spec.scale, flag, columns)
                continue
            text = string_series(arrow, raw.index) if arrow is not None else _stripped_text(
                raw[spec.column], spec.strip_chars)[0]
        else:
            # Text held by Arrow stays there (`text` None) unless a pandas step needs it: a pandas
            # text column per field, and its objects made again for the rows, were most of what
            # the text fields cost (issue 17).
            arrow = _stripped_arrow(raw[spec.column], spec.strip_chars)
            if name in DATE_FIELDS and arrow is not None and (dates := _iso_dates(arrow, raw.index)) is not None:
                columns[name] = dates
                continue
            text = None if arrow is not None else _stripped_text(raw[spec.column], spec.strip_chars)[0]
        # Control characters are cleaned in text fields (a bad number or date is "not a number/date").
        if name not in NUMERIC_RANGES and name not in DATE_FIELDS and _suspect(text, arrow):
            before = text if text is not None else string_series(arrow, raw.index)
            text = _clean_text(name, before, flag, cleaned)
            if text is not before:
                arrow = None
        limit = text_limit(name)
        too_long = (text.str.len().gt(limit).fillna(False) if arrow is None else
                    pd.Series(pc.fill_null(pc.greater(pc.utf8_length(arrow), limit), False).to_numpy(
                        zero_copy_only=False), index=raw.index)).astype(bool)
        if too_long.any():
            flag(too_long, f"{name}: longer than {limit} characters")
            text = (text if text is not None else string_series(arrow, raw.index)).mask(too_long)
            arrow = None
        if text is None and name in DATE_FIELDS:  # not ISO days from 1850 to today: pandas parses
            text = string_series(arrow, raw.index)
        if name in NUMERIC_RANGES:  # a value that is not a plain number: pandas' rules
            number = pd.to_numeric(text, errors="coerce")
            flag(text.notna() & number.isna(), f"{name}: not a number")
            _in_range(name, number, spec.scale, flag, columns)
        elif name in DATE_FIELDS:
            parsed = pd.to_datetime(text, errors="coerce", format="mixed")
            unparsed = text.notna() & parsed.isna()
            # pandas cannot hold years past 2262: tell a far-future date from garbage.
            far_future = unparsed.copy()
            if unparsed.any():  # the year of the values pandas could not parse only
                far_future[unparsed] = text[unparsed].map(_iso_year, na_action="ignore") \
                    .gt(pd.Timestamp.now().year).to_numpy(dtype=bool)
            flag(unparsed & ~far_future, f"{name}: not a date")
            flag(far_future | (parsed.notna() & (parsed > pd.Timestamp.now())), f"{name}: in the future")
            flag(parsed.notna() & (parsed < EARLIEST_DATE), f"{name}: before {EARLIEST_DATE.year}")
            columns[name] = parsed.where(parsed >= EARLIEST_DATE).dt.date
        elif arrow is not None:  # Arrow's objects: the text, None where missing
            columns[name] = pd.Series(arrow.to_numpy(zero_copy_only=False), index=raw.index, dtype=object)
            if not arrow.null_count:
                complete.add(name)
        else:
            columns[name] = text.astype(object).where(text.notna(), None)

    out = pd.DataFrame(columns, index=raw.index)  # (copied, as each column set was)
    for name in required:
        if name not in out.columns:
            flag(pd.Series(True, index=raw.index), f"{name}: not mapped by the source")
        elif name not in complete:  # (pandas' `isna` of the objects: a pass over them each)
            missing = out[name].isna()
            if missing.any():  # the problems' text is searched only when a value is missing
                flag(missing & ~problems.str.contains(f"{name}:", regex=False), f"{name}: missing")

    if bounding_box is not None and {"latitude", "longitude"} <= set(out.columns):
        lat, lon = out["latitude"], out["longitude"]
        outside = lat.notna() & lon.notna() & ~(
            lat.between(bounding_box.min_latitude, bounding_box.max_latitude)
            & lon.between(bounding_box.min_longitude, bounding_box.max_longitude))
        flag(outside, "coordinates: outside the county's bounding box")

    bad = problems != "" if flagged else pd.Series(np.zeros(len(raw), dtype=bool), index=raw.index)
    refs = np.asarray(page.refs, dtype=object)
    rejects = [
        Reject(page.source, refs[i], cap_raw(raw.iloc[i].to_dict()), problems.iloc[i].rstrip("; "))
        for i in np.flatnonzero(bad.to_numpy())
    ]
    if rejects:
        good = out.loc[~bad].reset_index(drop=True)
        refs = refs[~bad.to_numpy()]
    else:  # every row passed (the usual page): `out` is this call's own, so it is not copied
        # (the mask's take and the copy of every column were ≈17% of `canonicalize` at 1M sales)
        out.index = pd.RangeIndex(len(out))
        good = out
    good["source"] = page.source
    good["source_ref"] = refs
    return Canonical(rows=good, rejects=rejects, cleaned=cleaned)
