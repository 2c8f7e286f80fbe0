"""Spatial residual correction of the re-indexed AVM: learn from the neighbours' recent errors.

Between retrains the AVM's value is moved along the county's market index (monthly
re-indexing). The index is one county-wide path, so a neighbourhood whose market moved faster
or slower than the county since the model's cut-off is mispriced in the same direction for
every house there. The sales since the cut-off show it: each one, valued the same re-indexed
way, leaves a residual log(price / value). A sale is corrected by the median residual of its
nearest *earlier* sales since the cut-off (strictly before its date: nothing on or after the
day it describes), shrunk towards no correction:

    value × exp(shrink · median residual of the nearest neighbours)

The neighbours are the comps rule's (`CompsSettings`): at most `max_comps`, within `radius_m`,
at least `min_comps` (else no correction). `shrink` is chosen by time-series cross-validation
on the training sales (`ml/avm.py::_select`, 0 = not used).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from realestate_assets.config_models import CompsSettings
from realestate_assets.geo import to_xy

SHRINKS = (0.0, 0.25, 0.5, 0.75, 1.0)  # the correction's share, chosen by CV


def neighbour_residuals(latitude: np.ndarray, longitude: np.ndarray, dates: pd.Series | np.ndarray,
                        residual: np.ndarray, rule: CompsSettings) -> np.ndarray:
    """For each row, the median `residual` of its nearest rows dated strictly before it (the comps
    rule's count and radius); 0.0 where fewer than `rule.min_comps` such rows exist.

    Rows with a NaN residual or position are never neighbours. Exact: one KD-tree per distinct
    date over the rows before it (the rows are a window of sales, so this stays cheap)."""
    latitude = np.asarray(latitude, dtype=float)
    longitude = np.asarray(longitude, dtype=float)
    residual = np.asarray(residual, dtype=float)
    days = pd.to_datetime(pd.Series(np.asarray(dates))).to_numpy()
    out = np.zeros(len(residual))
    if len(residual) == 0:
        return out
    located = np.isfinite(latitude) & np.isfinite(longitude)
    xy = to_xy(np.where(located, latitude, 0.0), np.where(located, longitude, 0.0),
               float(np.nanmean(latitude)) if located.any() else 0.0)
    usable = located & np.isfinite(residual)
    radius = np.inf if rule.radius_m is None else float(rule.radius_m)
    for day in np.unique(days):
        known = np.flatnonzero(usable & (days < day))
        targets = np.flatnonzero((days == day) & located)
        if len(known) < rule.min_comps or not len(targets):
            continue
        k = min(rule.max_comps, len(known))
        distance, nearest = cKDTree(xy[known]).query(xy[targets], k=k, distance_upper_bound=radius)
        distance, nearest = distance.reshape(len(targets), k), nearest.reshape(len(targets), k)
        found = np.isfinite(distance)
        values = np.where(found, residual[known[np.minimum(nearest, len(known) - 1)]], np.nan)
        enough = found.sum(axis=1) >= rule.min_comps
        out[targets[enough]] = np.nanmedian(values[enough], axis=1)
    return out


def corrected(values: np.ndarray, actual: np.ndarray, latitude: np.ndarray, longitude: np.ndarray,
              dates: pd.Series | np.ndarray, shrink: float, rule: CompsSettings) -> np.ndarray:
    """`values` moved by `shrink` × their earlier neighbours' median log residual (`values` when
    `shrink` is 0). `actual` is read only for rows dated before the one corrected."""
    values = np.asarray(values, dtype=float)
    if shrink == 0.0:
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        residual = np.log(np.asarray(actual, dtype=float) / values)
    residual[~np.isfinite(residual)] = np.nan
    return values * np.exp(shrink * neighbour_residuals(latitude, longitude, dates, residual, rule))
