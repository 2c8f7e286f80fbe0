"""A county's market as the pipeline fitted it, for readers that must not hold the county's sales.

The API's market panel (api/v1/property_market.py) answers one property at a time. Loading a
county's every sale and fitting its index per API process costs seconds and about a gigabyte at a
million sales, so it reads instead:

* the index: `market_indexes` (migration 0045), one row per county — the `HedonicIndex` the
  pipeline fitted on all the county's recorded sales (`enrichment`, for the comps' trend; `features`
  takes that fit, `fitted_index`), as its method, first month and monthly levels; the row's
  `fitted_at` is the change stamp;
* the comps' candidates: the sales the one comps rule (market/comps.py) could pick for the
  subject — its time window before the as-of date, inside a box around it — by an indexed query
  (`ix_sales_location`, migration 0045), not the county's sales. The box starts at a sixteenth of
  the radius and widens (`next_box`) until it covers the radius or the rule's comps in it are all nearer
  than its edge (every sale outside is farther: the same comps as the county-wide search);
* the projection's reference latitude: the mean latitude of the whole pool the rule projects
  (`SalesPool`), so the candidates' distances are the county-wide pool's to the last digit.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from realestate_assets.config_models import CompsSettings
from realestate_assets.db.input_fingerprints import code_version
from realestate_assets.db.slice_versions import version_keys
from realestate_assets.geo import EARTH_RADIUS_M
from realestate_assets.market.index import HedonicIndex

# The recorded-sales columns MarketData reads (the packets asset and the API load them alike).
MARKET_SALES_COLUMNS = ("source, sale_id, parcel_id, sale_price::float8 AS sale_price, sale_date, use_type, "
                        "neighborhood, lot_sqft, waterfront, bldg_grade, living_sqft, beds, baths, age_at_sale, "
                        "eff_age_at_sale, latitude, longitude")
NUMERIC_SALES_COLUMNS = ("sale_price", "lot_sqft", "bldg_grade", "living_sqft", "beds", "baths", "age_at_sale",
                         "eff_age_at_sale", "latitude", "longitude")
BOX_MARGIN = 1.01  # a box is 1% wider than asked: a superset, the rule itself filters
FIRST_BOX_SHARE = 1 / 16  # the first box's half width, a share of the radius (widened while not enough)

STORE_SQL = """
INSERT INTO market_indexes (county, method, first_month, levels, fitted_on, fitted_at)
VALUES (%s, %s, %s, %s, %s, now())
ON CONFLICT (county) DO UPDATE SET method = EXCLUDED.method, first_month = EXCLUDED.first_month,
    levels = EXCLUDED.levels, fitted_on = EXCLUDED.fitted_on, fitted_at = EXCLUDED.fitted_at
"""
# The rule's pool (SalesPool): located sales with a living area, in the window before the as-of date.
POOL_SQL = ("county = %(county)s AND living_sqft > 0 AND latitude IS NOT NULL AND longitude IS NOT NULL "
            "AND sale_date < %(as_of)s AND (%(months)s::int IS NULL "
            "OR sale_date > (%(as_of)s::date - make_interval(months => %(months)s::int))::date)")
REFERENCE_LATITUDE_SQL = f"SELECT avg(latitude) FROM sales WHERE {POOL_SQL}"
CANDIDATES_SQL = (f"SELECT {MARKET_SALES_COLUMNS} FROM sales WHERE {POOL_SQL} "
                  "AND use_type = %(use_type)s AND (%(lat_lo)s::float8 IS NULL OR (latitude BETWEEN %(lat_lo)s "
                  "AND %(lat_hi)s AND longitude BETWEEN %(lon_lo)s AND %(lon_hi)s)) ORDER BY sale_date, sale_id")
PARCEL_SALES_SQL = ("SELECT sale_date, sale_price::float8 FROM sales WHERE county = %s AND parcel_id = %s "
                    "ORDER BY sale_date, sale_id")


def store_index(cur: Any, county: str, index: HedonicIndex, fitted_on: str | None = None) -> None:
    """Keep the county's fitted index (the pipeline's write; levels are contiguous months), with
    what it was fitted on (`fit_label`, read before the sales the fit read; None: unknown)."""
    first = None if index.by_month.empty else index.by_month.index.min().date()
    cur.execute(STORE_SQL, (county, index.method, first, [float(v) for v in index.by_month.to_numpy()], fitted_on))


def fit_label(cur: Any, county: str) -> str | None:
    """What a fit of the county's sales read from now on is fitted on: the `sales` slice's version
    key (db/slice_versions.py: read before the sales, it labels any state read after it) and the
    code's version. None when the slice has no version key: such a fit is never taken for another."""
    key = version_keys(cur, ["sales"], county)["sales"]
    return None if key is None else f"{key} {code_version()}"


def fitted_index(cur: Any, county: str) -> tuple[HedonicIndex | None, str | None]:
    """The county's stored index when it was fitted on its sales as they are now, by this code
    (its `fitted_on` is the present `fit_label`): the same fit, taken instead of reading every sale
    again (issue 17: ≈2 s of `features` at a million parcels). Else None. With the present label,
    for storing a fit made instead."""
    label = fit_label(cur, county)
    stored = None if label is None else stored_index(cur, county, fitted_on=label)
    return (None if stored is None else stored[0]), label


def stored_index(cur: Any, county: str, fitted_on: str | None = None) -> tuple[HedonicIndex, datetime] | None:
    """The county's stored index and when it was fitted; None before the pipeline stored one (or,
    with `fitted_on`, one fitted on that)."""
    cur.execute("SELECT method, first_month, levels, fitted_at FROM market_indexes WHERE county = %s "
                "AND (%s::text IS NULL OR fitted_on = %s)", (county, fitted_on, fitted_on))
    row = cur.fetchone()
    if row is None:
        return None
    method, first, levels, fitted_at = row
    months = pd.date_range(first, periods=len(levels), freq="MS") if first is not None else pd.DatetimeIndex([])
    return HedonicIndex(pd.Series(np.asarray(levels, dtype=float), index=months), method), fitted_at


def sales_frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    """Sales rows (MARKET_SALES_COLUMNS) typed as MarketData reads them."""
    # Column by column from the rows' tuples: the numeric columns are float8 (or NULL: NaN), so one
    # float array each; a frame of the rows typed afterwards (pd.to_numeric per column) cost the API's
    # comps ≈1.3 ms more a candidate box, whatever its size (docs/testing.md, Stop 47 (a)).
    values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    data: dict[str, np.ndarray] = {}
    for name, column in zip(columns, values, strict=True):
        if name in NUMERIC_SALES_COLUMNS:
            data[name] = np.array(column, dtype=float)
        elif name == "waterfront":  # boolean or NULL
            data[name] = np.array([np.nan if v is None else float(v) for v in column], dtype=float)
        else:
            data[name] = np.array(column, dtype=object)
    return pd.DataFrame(data, columns=columns)


def _pool_params(county: str, as_of: Any, settings: CompsSettings) -> dict[str, Any]:
    return {"county": county, "as_of": pd.Timestamp(as_of).date(), "months": settings.window_months}


def reference_latitude(cur: Any, county: str, as_of: Any, settings: CompsSettings) -> float | None:
    """The mean latitude of the rule's whole pool as of `as_of` (None: an empty pool)."""
    cur.execute(REFERENCE_LATITUDE_SQL, _pool_params(county, as_of, settings))
    value = cur.fetchone()[0]
    return None if value is None else float(value)


def comps_candidates(cur: Any, county: str, subject: dict[str, Any], as_of: Any, settings: CompsSettings,
                     ref_lat: float, half_width_m: float | None) -> pd.DataFrame:
    """The sales of the rule's pool of the subject's use type inside a square of `half_width_m`
    metres around it in the pool's projection (so it holds every such sale within that distance;
    None: the whole window), oldest first like the county's sales."""
    params = {**_pool_params(county, as_of, settings), "use_type": subject["use_type"],
              "lat_lo": None, "lat_hi": None, "lon_lo": None, "lon_hi": None}
    if half_width_m is not None:
        dlat = math.degrees(half_width_m / EARTH_RADIUS_M) * BOX_MARGIN
        dlon = dlat / math.cos(math.radians(ref_lat))  # x is scaled by cos(ref_lat) in the projection
        lat, lon = float(subject["latitude"]), float(subject["longitude"])
        params.update(lat_lo=lat - dlat, lat_hi=lat + dlat, lon_lo=lon - dlon, lon_hi=lon + dlon)
    cur.execute(CANDIDATES_SQL, params)
    return sales_frame(cur.fetchall(), [c.name for c in cur.description])


def next_box(half_width_m: float, comps_found: int, settings: CompsSettings) -> float:
    """The next candidate box's half width after one that held `comps_found` of the rule's comps,
    short of `max_comps` or not all inside it: sized for twice the comps at the density seen, capped
    at the radius. Speed only — a box is used when the rule's comps in it are complete, whatever its
    size (api/v1/property_market.comps_of)."""
    from realestate_assets.market.comps import widening  # here: the API reads parcel_sales without scipy

    # As the rule widens its own ball: a sparse county's property reaches its comps' box in one or
    # two queries, not doubling four times.
    return min(half_width_m * float(widening(settings.max_comps, comps_found)), settings.radius_m or math.inf)


def parcel_sales(cur: Any, county: str, parcel_id: str) -> list[dict[str, Any]]:
    """The parcel's recorded sales, oldest first (`ix_sales_parcel`)."""
    cur.execute(PARCEL_SALES_SQL, (county, parcel_id))
    return [{"date": d.isoformat(), "price": float(p)} for d, p in cur.fetchall()]
