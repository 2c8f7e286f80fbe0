"""Property features for scoring, with a registry, from facts known at the as-of date.

Missing values stay missing (NaN): LightGBM routes them natively and the score rule skips a
component it cannot compute. Nothing is imputed, so a feature never claims a fact the data
does not hold. Every feature is described in REGISTRY (name, description, unit, source,
missing-value rule); `availability()` tells, per partition, which ones the data supports —
a feature no row has is listed as unavailable, never filled.

Leak guard: a fact dated after the as-of date (a sale, a listing) is ignored, so a feature
row describes only what could be known on its as-of date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from realestate_assets.db.copy_io import DATE_DTYPE
from realestate_assets.market.index import HedonicIndex
from realestate_assets.text_keys import key_positions

# A cap-rate estimate needs operating costs the data does not hold: we use the common rule of
# thumb that expenses (tax, insurance, maintenance, vacancy, management) take 40% of gross rent.
EXPENSE_RATIO = 0.40

NAN_RULE = "NaN when an input is missing (never imputed)"


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    group: str  # property | financial | market | owner | location
    description: str
    unit: str
    source: str
    missing: str = NAN_RULE


REGISTRY: list[FeatureSpec] = [
    FeatureSpec("age_years", "property", "years since built, at the as-of date", "years",
                "county sales: year built"),
    FeatureSpec("eff_age_years", "property", "years since the effective (renovation-adjusted) build year",
                "years", "county sales: effective year built"),
    FeatureSpec("living_sqft", "property", "finished living area", "sqft", "county sales"),
    FeatureSpec("lot_sqft", "property", "lot area", "sqft", "county sales"),
    FeatureSpec("lot_to_building_ratio", "property", "lot area / living area", "ratio", "county sales",
                "NaN when living area is missing or 0"),
    FeatureSpec("beds", "property", "bedrooms", "count", "county sales"),
    FeatureSpec("baths", "property", "bathrooms", "count", "county sales"),
    FeatureSpec("baths_per_bed", "property", "bathrooms per bedroom", "ratio", "county sales",
                "NaN when 0 bedrooms or missing"),
    FeatureSpec("bldg_grade", "property", "county building grade (1-13)", "grade", "county sales"),
    FeatureSpec("waterfront", "property", "1 when waterfront", "0/1", "county sales"),
    FeatureSpec("assessed_to_market_ratio", "property", "assessed value / market value", "ratio",
                "enrichment: assessor (ATTOM) assessed value and AVM/market value"),
    FeatureSpec("last_sale_price", "financial", "last recorded sale price", "USD", "county sales"),
    FeatureSpec("last_sale_price_per_sqft", "financial", "last sale price / living area", "USD/sqft",
                "county sales"),
    FeatureSpec("last_sale_price_indexed", "financial",
                "last sale price moved to the as-of date along the county market index", "USD",
                "county sales + market index"),
    FeatureSpec("estimated_equity", "financial", "estimated value minus outstanding mortgage balance", "USD",
                "needs recorded mortgages (no source configured)", "unavailable: no mortgage data source"),
    FeatureSpec("tax_burden_pct", "financial", "annual property tax / indexed value", "%",
                "enrichment: assessor tax amount"),
    FeatureSpec("gross_yield_pct", "financial", "12 × monthly rent / indexed value", "%",
                "enrichment: rent estimate, else the tract's median gross rent (ACS B25064)"),
    FeatureSpec("cap_rate_est_pct", "financial",
                f"gross yield × (1 − {EXPENSE_RATIO:.0%} expense ratio), a rule-of-thumb cap rate", "%",
                "derived from gross_yield_pct"),
    FeatureSpec("sale_count", "market", "recorded sales of the parcel up to the as-of date", "count",
                "county sales"),
    FeatureSpec("years_since_last_sale", "market", "years from the last sale to the as-of date", "years",
                "county sales"),
    FeatureSpec("last_price_to_comps_value", "market", "indexed last sale price / comparable-sales estimate",
                "ratio", "county sales + comps", "NaN with fewer than 3 comps"),
    FeatureSpec("comps_count", "market", "comparable sales found", "count", "enrichment comps"),
    FeatureSpec("comps_median_price_per_sqft", "market", "median time-adjusted comparable price per sqft",
                "USD/sqft", "enrichment comps", "NaN with fewer than 3 comps"),
    FeatureSpec("comps_value_spread_pct", "market", "interquartile range of comparable values, % of estimate",
                "%", "enrichment comps", "NaN with fewer than 3 comps"),
    FeatureSpec("market_trend_12m_pct", "market", "county market index change over the last 12 months", "%",
                "county sales (market index)"),
    FeatureSpec("list_price", "market", "current asking price", "USD", "listings (prospects.list_price)",
                "NaN when not listed, or listed after the as-of date"),
    FeatureSpec("days_on_market", "market", "days from the listing date to the as-of date", "days",
                "listings (prospects.list_date)", "NaN when not listed"),
    FeatureSpec("list_price_to_comps_value", "market", "asking price / comparable-sales estimate", "ratio",
                "listings + comps", "NaN when not listed or fewer than 3 comps"),
    FeatureSpec("absentee_owner", "owner", "1 when the owner's mailing address is elsewhere", "0/1",
                "enrichment: owner signals (ATTOM owner mailing address)", "NaN when unknown (never 0)"),
    FeatureSpec("out_of_state_owner", "owner", "1 when the owner's mailing state differs", "0/1",
                "enrichment: owner signals", "NaN when unknown (never 0)"),
    FeatureSpec("years_owned", "owner", "years the current owner has held the property", "years",
                "enrichment: owner signals (last sale date)"),
    FeatureSpec("corporate_owner", "owner", "1 when the owner is a business entity", "0/1",
                "enrichment: owner signals (owner names)", "NaN when unknown (never 0)"),
    FeatureSpec("tract_median_household_income", "location", "census tract median household income", "USD",
                "enrichment: ACS 5-year B19013_001E"),
    FeatureSpec("tract_vacancy_rate", "location", "census tract vacant / housing units", "share",
                "enrichment: ACS 5-year B25002"),
    FeatureSpec("tract_median_home_value", "location", "census tract median home value", "USD",
                "enrichment: ACS 5-year B25077_001E"),
]
SPECS = {spec.name: spec for spec in REGISTRY}
# Features that need a source no county has yet: listed, never computed.
UNSUPPORTED = {"estimated_equity"}
FEATURES: dict[str, str] = {s.name: f"{s.description}, {s.unit}" for s in REGISTRY if s.name not in UNSUPPORTED}

PASSTHROUGH = ["use_type", "neighborhood", "latitude", "longitude"]
OWNER_FLAGS = ["absentee_owner", "out_of_state_owner", "corporate_owner"]
# Every column of an `enrichment` row that `build_features` reads (the location and listing
# facts come from `locations`): a stage reads only these (issue 17: the other 28, owner names,
# addresses, AVM and tract counts, were parsed per row and dropped, ≈0.6 client CPU s at 1M).
ENRICHMENT_INPUTS = (
    "prospect_key", "as_of_date", "status", "use_type", "neighborhood", "living_sqft", "lot_sqft", "beds", "baths",
    "bldg_grade", "year_built", "effective_year_built", "waterfront", "sale_count", "last_sale_price",
    "last_sale_date", "comps_count", "comps_median_price_per_sqft", "comps_estimated_value",
    "comps_value_spread_pct", "assessed_to_market_ratio", "tax_amount", "rent_estimate_monthly",
    "tract_median_gross_rent", *OWNER_FLAGS, "years_owned", "tract_median_household_income",
    "tract_vacancy_rate", "tract_median_home_value")


def _floats(values: pd.Series | np.ndarray) -> np.ndarray:
    """`pd.to_numeric(values, errors="coerce").astype(float)` as an array: a float64 column as it
    is, a NumPy integer or boolean one cast, anything else (objects, text) through pandas."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        return np.asarray(values, dtype=float)
    return pd.to_numeric(pd.Series(values), errors="coerce").astype(float).to_numpy()


def _ratio(numerator: pd.Series | np.ndarray, denominator: pd.Series | np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is missing or not positive."""
    denominator = _floats(denominator)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _floats(numerator) / np.where(denominator > 0, denominator, np.nan)


def _column(rows: pd.DataFrame, name: str) -> pd.Series:
    """A column if the input has it, else all-missing (a source not configured)."""
    if name in rows:
        return rows[name]
    return pd.Series(np.nan, index=rows.index, dtype=float)


def _flag(values: pd.Series) -> pd.Series:
    """True → 1.0, False → 0.0, anything else NaN. A column with no NULL comes from the read as
    `bool` and one with only NULLs (no source gave the flag) as objects holding None: those cast
    without the map's per-value hash lookup (four flags a chunk, ≈2% of `features`' samples at
    1M, issue 17)."""
    if values.dtype == bool:
        return values.astype(float)
    if values.isna().all():
        return pd.Series(np.nan, index=values.index, dtype=float, name=values.name)
    return values.map({True: 1.0, False: 0.0}).astype(float)


def _dates(values: pd.Series | np.ndarray) -> np.ndarray:
    """`pd.to_datetime(values)` as a datetime64[ns] array (NaT for a missing date; a zoned time at
    its wall-clock time, as `month_start` takes it); Arrow's dates without a `datetime.date` a value."""
    if isinstance(values, pd.Series) and values.dtype == DATE_DTYPE:  # Arrow's days (`read_frames`' arrow)
        return values.array.__arrow_array__().to_numpy().astype("datetime64[ns]")  # null → NaT
    converted = pd.DatetimeIndex(pd.to_datetime(values))
    return (converted if converted.tz is None else converted.tz_localize(None)).to_numpy(dtype="datetime64[ns]")


def _days(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """Whole days from `earlier` to `later` (pandas' `.dt.days`: floored), NaN where one is NaT."""
    between = later - earlier
    missing = np.isnat(between)
    days = np.floor_divide(between.view(np.int64), np.int64(86_400_000_000_000)).astype(float)
    days[missing] = np.nan
    return days


def locations_by_key(locations: pd.DataFrame) -> pd.DataFrame:
    """`build_features`' locations indexed by prospect_key (unique: one prospect per key). Index
    them once for a county built in chunks: the index's hash table is made on the first lookup
    and kept, where a merge per chunk hashed the whole county's keys again (issue 17).

    The columns are the read's own arrays, not copies: `set_index` copies every column (pandas 2
    without copy-on-write; 0.01–0.09 CPU s at 1M, issue 17), and nothing here writes to them."""
    if locations.index.name == "prospect_key":
        return locations
    by_key = pd.DataFrame({name: locations[name] for name in locations.columns if name != "prospect_key"},
                          copy=False)
    by_key.index = pd.Index(locations["prospect_key"], name="prospect_key", copy=False)
    return by_key


def build_features(enrichment: pd.DataFrame, locations: pd.DataFrame, index: HedonicIndex) -> pd.DataFrame:
    """Feature rows for enriched prospects.

    `locations`: prospect_key → latitude, longitude, and optionally the listing facts
    list_price, list_date; as a column or as the index (`locations_by_key`). `index`: the
    county's market index (`HedonicIndex`, or anything with `level(dates)` and `trend_pct(as_of)`).

    Computed a column at a time on NumPy arrays and made into one frame at the end (issue 17: as
    pandas Series set into the frame one by one, with pandas' `to_numeric`, `where` and
    `to_datetime` per column, the pandas overhead was most of the chunks' ≈1.8 CPU s at 1M).
    """
    # A NumPy mask whether the status is objects or Arrow's text (`read_frames`' arrow: NULL never enriched).
    enriched = (enrichment["status"] == "enriched").to_numpy(dtype=bool, na_value=False)
    rows = enrichment if enriched.all() else enrichment.loc[enriched]
    # The prospect's own location and listing facts win over any enrichment copy of them.
    by_key = locations_by_key(locations)
    # By the keys' hashes (`key_positions`: at 1M prospects the text look-up was ≈0.5–1 CPU s of the
    # chunks, issue 17).
    positions = key_positions(by_key.index, rows["prospect_key"])
    if (positions >= 0).all():  # every key found: its rows, as the join below would give them
        facts = {column: by_key[column].to_numpy()[positions] for column in by_key.columns}
    else:
        found = by_key.reindex(rows["prospect_key"])  # a left join: missing keys give NaN
        facts = {column: found[column].to_numpy() for column in by_key.columns}

    def value(name: str) -> pd.Series | np.ndarray:
        return facts[name] if name in facts else _column(rows, name)

    n = len(rows)
    as_of = _dates(rows["as_of_date"])
    as_of_missing = np.isnat(as_of)
    as_of_year = np.where(as_of_missing, np.nan, as_of.astype("datetime64[Y]").view(np.int64) + 1970.0)
    # Leak guard: a sale or listing dated after the as-of date is not known on that date.
    last_date = _dates(value("last_sale_date"))
    has_sale = last_date <= as_of  # False where either is NaT
    last_date = np.where(has_sale, last_date, np.datetime64("NaT", "ns"))
    last_price = np.where(has_sale, _floats(value("last_sale_price")), np.nan)
    list_date = _dates(value("list_date"))
    listed = np.isnat(list_date) | (list_date <= as_of)
    list_price = np.where(listed, _floats(value("list_price")), np.nan)

    out: dict[str, pd.Series | np.ndarray] = {"prospect_key": value("prospect_key"), "as_of_date": rows["as_of_date"]}
    for column in PASSTHROUGH:
        out[column] = value(column)
    out["age_years"] = as_of_year - _floats(rows["year_built"])
    out["eff_age_years"] = as_of_year - _floats(rows["effective_year_built"])
    for column in ("living_sqft", "lot_sqft", "beds", "baths", "bldg_grade", "comps_count",
                   "comps_median_price_per_sqft", "comps_value_spread_pct"):
        out[column] = _floats(rows[column])
    # The trend along the index given (the one the models were trained with), per as-of date.
    trend = np.full(n, np.nan)
    if not as_of_missing.all():
        dates, which = np.unique(as_of[~as_of_missing], return_inverse=True)
        trend[~as_of_missing] = np.array([index.trend_pct(pd.Timestamp(d)) for d in dates], dtype=float)[which]
    out["market_trend_12m_pct"] = trend
    out["sale_count"] = _floats(value("sale_count"))
    out["last_sale_price"] = last_price
    out["lot_to_building_ratio"] = _ratio(rows["lot_sqft"], rows["living_sqft"])
    out["baths_per_bed"] = _ratio(rows["baths"], rows["beds"])
    out["waterfront"] = _flag(value("waterfront")).to_numpy()
    out["last_sale_price_per_sqft"] = _ratio(last_price, rows["living_sqft"])
    indexed = np.full(n, np.nan)
    if has_sale.any():
        indexed[has_sale] = index.level(as_of[has_sale]) / index.level(last_date[has_sale]) * last_price[has_sale]
    out["last_sale_price_indexed"] = indexed
    out["years_since_last_sale"] = _days(as_of, last_date) / 365.25
    comps_value = _floats(rows["comps_estimated_value"])
    out["last_price_to_comps_value"] = _ratio(indexed, comps_value)
    out["assessed_to_market_ratio"] = _floats(value("assessed_to_market_ratio"))
    out["tax_burden_pct"] = _ratio(value("tax_amount"), indexed) * 100
    rent = _floats(value("rent_estimate_monthly"))
    rent = np.where(np.isnan(rent), _floats(value("tract_median_gross_rent")), rent)
    gross_yield = _ratio(rent * 12, indexed) * 100
    out["gross_yield_pct"] = gross_yield
    out["cap_rate_est_pct"] = gross_yield * (1 - EXPENSE_RATIO)
    out["list_price"] = list_price
    out["days_on_market"] = _days(as_of, np.where(listed, list_date, np.datetime64("NaT", "ns")))
    out["list_price_to_comps_value"] = _ratio(list_price, comps_value)
    for column in OWNER_FLAGS:
        out[column] = _flag(value(column)).to_numpy()
    out["years_owned"] = _floats(value("years_owned"))
    for column in ("tract_median_household_income", "tract_vacancy_rate", "tract_median_home_value"):
        out[column] = _floats(value(column))
    # ±inf → NaN: the ratios above make them in float columns and only there.
    return pd.DataFrame({name: _finite(values) for name, values in out.items()})


def _finite(values: pd.Series | np.ndarray) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """A column for the frame by position (a passed-through column's index is not aligned on, an
    extension dtype is kept), a float array's ±inf as NaN (copied only where there is one)."""
    if isinstance(values, pd.Series):
        if not isinstance(values.dtype, np.dtype):
            return values.array
        values = values.to_numpy()
    if values.dtype.kind == "f":
        infinite = np.isinf(values)
        if infinite.any():
            return np.where(infinite, np.nan, values)
    return values


def present_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Per registered feature the frame has: how many of its rows hold a value. Counts add up
    over chunks: `availability_of` and `missing_shares` of the sums are those of the whole."""
    return {spec.name: _present(frame[spec.name]) for spec in REGISTRY if spec.name in frame}


def _present(values: pd.Series) -> int:
    """How many of `values` are not missing (`notna`): a float column's count by NumPy, without
    pandas' mask Series (≈40 columns a chunk, ≈0.3 CPU s of `features`' chunks at 1M, issue 17)."""
    array = values.to_numpy()
    if array.dtype.kind == "f":
        return len(array) - int(np.count_nonzero(np.isnan(array)))
    return int(values.notna().sum())


def availability(frame: pd.DataFrame) -> dict[str, dict[str, object]]:
    """Per registered feature: available or not in this partition, its coverage, and why."""
    return availability_of(present_counts(frame), len(frame))


def missing_shares(present: Mapping[str, int], rows: int) -> dict[str, float]:
    """Per computed feature: the share of rows without a value (NaN for no rows, as a mean of none)."""
    return {name: round((rows - present[name]) / rows, 4) if rows else float("nan")
            for name in FEATURES if name in present}


def availability_of(present: Mapping[str, int], rows: int) -> dict[str, dict[str, object]]:
    """`availability` from `present_counts` (summed over a county's chunks) and the row count."""
    report: dict[str, dict[str, object]] = {}
    for spec in REGISTRY:
        if spec.name in UNSUPPORTED or spec.name not in present:
            report[spec.name] = {"available": False, "coverage": 0.0, "reason": spec.missing, "source": spec.source}
            continue
        coverage = present[spec.name] / rows if rows else 0.0
        report[spec.name] = {"available": coverage > 0, "coverage": round(coverage, 4), "source": spec.source,
                             **({} if coverage > 0 else {"reason": f"no row has it: {spec.source} gave no value"})}
    return report


def registry_table() -> list[dict[str, str]]:
    return [asdict(spec) for spec in REGISTRY]
