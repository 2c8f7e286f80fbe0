"""The floor for issue 17: the same stages as the county graph, as one bare pandas / NumPy
(KD-tree) / LightGBM process writing each stage's rows into PostgreSQL with COPY.

    python bench/floor.py FILE.csv DATABASE_URL

No Dagster, no checks, no provenance, no outside sources: what the stages cost when nothing
but the arithmetic and the writes are paid for (DESIGN §8, "Measured cost of a bare
single-process pipeline"). Per stage: seconds and the stage's own peak RSS (the kernel's
high-water mark is reset before each stage through /proc/self/clear_refs).

Stages: sales (read the raw file, map columns, drop unusable rows, COPY), prospects (one per
parcel), enrichment (latest/prior sale facts and comps: one KD-tree over the window's sales,
every parcel queried for its 80 nearest, filters as arrays, median of the 10 nearest kept),
features (column arithmetic), ml_model (LightGBM, 300 rounds on log price), scores (predict
every row; per-row contributions only for the explained rows: score ≥ 75 or the top 25).
"""

from __future__ import annotations

import io
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = {"pinx": "parcel_id", "sale_id": "sale_id", "sale_price": "sale_price", "sale_date": "sale_date",
           "use_type": "use_type", "area": "neighborhood", "lot_sf": "lot_sqft", "wfnt": "waterfront",
           "bldg_grade": "bldg_grade", "tot_sf": "living_sqft", "beds": "beds", "baths": "baths",
           "age": "age_at_sale", "eff_age": "eff_age_at_sale", "longitude": "longitude", "latitude": "latitude"}
BOX = (47.07, 47.80, -122.55, -121.06)  # config/counties/king_wa.yaml bounding_box
RADIUS_M, WINDOW_MONTHS, SQFT_TOL, MAX_COMPS, MIN_COMPS, CANDIDATES = 1200.0, 24, 0.35, 10, 3, 80
EXPLAIN_THRESHOLD, EXPLAIN_TOP = 75.0, 25
MODEL_FEATURES = ["living_sqft", "lot_sqft", "bldg_grade", "beds", "baths", "age_years", "latitude", "longitude",
                  "waterfront", "months"]


def peak_mb() -> float:
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS


def copy_frame(conn, table: str, frame: pd.DataFrame) -> None:
    """CREATE the table (all columns text/float) and COPY the frame in."""
    columns = ", ".join(f"{c} {'double precision' if pd.api.types.is_numeric_dtype(t) else 'text'}"
                        for c, t in frame.dtypes.items())
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    buffer.seek(0)
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}; CREATE UNLOGGED TABLE {table} ({columns})")
        cur.copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT csv)", buffer)
    conn.commit()


def to_xy(lat: np.ndarray, lon: np.ndarray, lat0: float) -> np.ndarray:
    """Equirectangular metres around the county's mean latitude (enough within a county)."""
    r = 6_371_000.0
    return np.column_stack([np.radians(lon) * r * np.cos(np.radians(lat0)), np.radians(lat) * r])


def stage_sales(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, usecols=list(COLUMNS), dtype={"pinx": str, "sale_id": str, "use_type": str})
    sales = raw.rename(columns=COLUMNS)
    sales["parcel_id"] = sales["parcel_id"].str.strip(".")
    sales["sale_date"] = pd.to_datetime(sales["sale_date"], errors="coerce")
    ok = (sales["sale_price"] > 0) & sales["sale_date"].notna() & sales["latitude"].between(BOX[0], BOX[1]) \
        & sales["longitude"].between(BOX[2], BOX[3])
    return sales.loc[ok].drop_duplicates("sale_id").reset_index(drop=True)


def stage_prospects(sales: pd.DataFrame) -> pd.DataFrame:
    last = sales.sort_values(["parcel_id", "sale_date"]).drop_duplicates("parcel_id", keep="last")
    return last[["parcel_id", "latitude", "longitude", "use_type"]].reset_index(drop=True)


def stage_enrichment(sales: pd.DataFrame) -> pd.DataFrame:
    ordered = sales.sort_values(["parcel_id", "sale_date", "sale_id"])
    grouped = ordered.groupby("parcel_id", sort=False)
    last = grouped.tail(1).set_index("parcel_id")
    prior = grouped.nth(-2).set_index("parcel_id")
    facts = last[["use_type", "living_sqft", "lot_sqft", "bldg_grade", "beds", "baths", "waterfront", "latitude",
                  "longitude"]].copy()
    facts["year_built"] = last["sale_date"].dt.year - last["age_at_sale"]
    facts["sale_count"] = grouped.size()
    facts["last_sale_price"] = last["sale_price"].astype(float)
    facts["last_sale_date"] = last["sale_date"]
    facts["prior_sale_price"] = prior["sale_price"].astype(float).reindex(facts.index)

    as_of = sales["sale_date"].max()
    pool = sales.loc[(sales["sale_date"] < as_of)
                     & (sales["sale_date"] >= as_of - pd.DateOffset(months=WINDOW_MONTHS))].reset_index(drop=True)
    lat0 = float(sales["latitude"].mean())
    tree_xy = to_xy(pool["latitude"].to_numpy(), pool["longitude"].to_numpy(), lat0)
    from scipy.spatial import cKDTree

    tree = cKDTree(tree_xy)
    target_xy = to_xy(facts["latitude"].to_numpy(), facts["longitude"].to_numpy(), lat0)
    pool_parcel = pd.Categorical(pool["parcel_id"])
    target_parcel = pd.Categorical(facts.index, categories=pool_parcel.categories).codes
    pool_use = pd.Categorical(pool["use_type"])
    target_use = pd.Categorical(facts["use_type"], categories=pool_use.categories).codes
    pool_sqft = pool["living_sqft"].to_numpy(dtype=float)
    pool_ppsf = pool["sale_price"].to_numpy(dtype=float) / pool_sqft
    t_sqft = facts["living_sqft"].to_numpy(dtype=float)
    median, count = np.full(len(facts), np.nan), np.zeros(len(facts), dtype=int)
    k = min(CANDIDATES, len(pool))
    for start in range(0, len(facts), 50_000):
        rows = slice(start, start + 50_000)
        _, idx = tree.query(target_xy[rows], k=k, distance_upper_bound=RADIUS_M)
        found = idx < len(pool)
        idx = np.where(found, idx, 0)
        ok = found & (pool_parcel.codes[idx] != target_parcel[rows, None]) \
            & (pool_use.codes[idx] == target_use[rows, None]) & (target_use[rows, None] >= 0) \
            & (np.abs(pool_sqft[idx] - t_sqft[rows, None]) <= SQFT_TOL * t_sqft[rows, None])
        rank = np.cumsum(ok, axis=1)
        ok &= rank <= MAX_COMPS
        ppsf = np.where(ok, pool_ppsf[idx], np.nan)
        count[rows] = ok.sum(axis=1)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                median[rows] = np.nanmedian(ppsf, axis=1)
    median[count < MIN_COMPS] = np.nan
    facts["comps_count"] = count
    facts["comps_median_price_per_sqft"] = median
    facts["comps_estimated_value"] = median * t_sqft
    facts["as_of_date"] = as_of
    return facts.reset_index()


def stage_features(enriched: pd.DataFrame) -> pd.DataFrame:
    as_of = enriched["as_of_date"]
    f = enriched[["parcel_id", "living_sqft", "lot_sqft", "bldg_grade", "beds", "baths", "latitude", "longitude",
                  "waterfront", "sale_count", "last_sale_price", "comps_estimated_value"]].copy()
    f["age_years"] = as_of.dt.year - enriched["year_built"]
    f["years_since_last_sale"] = (as_of - enriched["last_sale_date"]).dt.days / 365.25
    f["months"] = (as_of.dt.year - 2010) * 12 + as_of.dt.month
    f["last_price_to_comps_value"] = f["last_sale_price"] / f["comps_estimated_value"]
    return f


def stage_model(sales: pd.DataFrame):
    import lightgbm as lgb

    x = sales[["living_sqft", "lot_sqft", "bldg_grade", "beds", "baths", "latitude", "longitude",
               "waterfront"]].astype(float)
    x["age_years"] = sales["age_at_sale"].astype(float)
    x["months"] = (sales["sale_date"].dt.year - 2010) * 12 + sales["sale_date"].dt.month
    data = lgb.Dataset(x[MODEL_FEATURES], np.log(sales["sale_price"].astype(float)), free_raw_data=True)
    params = {"objective": "regression", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 20,
              "seed": 7, "verbose": -1, "num_threads": 2}
    return lgb.train(params, data, num_boost_round=300)


def stage_scores(features: pd.DataFrame, model, explain_rows: int | None = None) -> pd.DataFrame:
    x = features[MODEL_FEATURES].astype(float)
    value = np.exp(model.predict(x))
    gap = (value - features["last_sale_price"]) / value * 100
    score = gap.rank(pct=True).fillna(0) * 100
    out = pd.DataFrame({"parcel_id": features["parcel_id"], "estimated_value": value, "value_gap_pct": gap,
                        "bird_dog_score": score})
    explain = (score >= EXPLAIN_THRESHOLD).to_numpy()
    explain[np.argsort(-score.to_numpy())[:EXPLAIN_TOP]] = True
    if explain_rows is not None:  # as many as the graph explained, best first
        explain[:] = False
        explain[np.argsort(-score.to_numpy())[:explain_rows]] = True
    contrib = model.predict(x[explain], pred_contrib=True)
    top = np.argsort(-np.abs(contrib[:, :-1]), axis=1)[:, :5]
    out["top_factors"] = None
    out.loc[explain, "top_factors"] = [",".join(MODEL_FEATURES[i] for i in row) for row in top]
    return out


def run_floor(path: Path, database_url: str,
              explain_rows: int | None = None) -> list[tuple[str, float, float, float]]:
    """Every stage in this process; [(stage, seconds, peak MB, CPU seconds)]. `explain_rows`: how
    many rows get per-row contributions (default: score ≥ 75 or the top 25)."""
    import psycopg2

    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
    figures = []

    def timed(name, fn, *args, table=None):
        reset_peak()
        started, cpu = time.perf_counter(), time.process_time()
        out = fn(*args)
        if table is not None:
            copy_frame(conn, table, out)
        figures.append((name, time.perf_counter() - started, peak_mb(), time.process_time() - cpu))
        return out

    sales = timed("sales", stage_sales, path, table="floor_sales")
    timed("prospects", stage_prospects, sales, table="floor_prospects")
    enriched = timed("enrichment", stage_enrichment, sales, table="floor_enrichment")
    features = timed("features", stage_features, enriched, table="floor_features")
    del enriched
    model = timed("ml_model", stage_model, sales)
    timed("scores", stage_scores, features, model, explain_rows, table="floor_scores")
    conn.close()
    return figures


if __name__ == "__main__":
    for name, seconds, peak, cpu in run_floor(Path(sys.argv[1]), sys.argv[2]):
        print(f"{name:<11}{seconds:>8.2f} s{peak:>8,.0f} MB{cpu:>8.2f} CPU s")
