"""Train every scoring model from a county's sales, and score prospects with them.

Shared by the `ml_model`/`scores` assets and `reos backtest`, so the backtest measures
exactly what production runs. No Dagster imports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from realestate_assets.config_models import ScoringConfig
from realestate_assets.market.index import AsOfIndexes
from realestate_assets.ml.avm import BASE_FEATURES, AvmSettings, TrainedAvm, scoring_frame, train_avm
from realestate_assets.ml.classifier import ClassifierSettings, TrainedClassifier
from realestate_assets.ml.deal import (
    BUILDING,
    LABELS,
    deal_inputs_from_features,
    propensity_inputs_from_features,
    train_deal_model,
    train_propensity_model,
)
from realestate_assets.ml.scoring import (
    MODEL_WEIGHTS,
    SALE_FLAG_COLUMNS,
    SCORE_COMPONENT_COLUMNS,
    WEIGHTS,
    bird_dog_score,
    component_reasons,
    comps_value,
    dedupe_reasons,
    driver_factors,
    factor_reasons,
    model_bird_dog_score,
    model_components,
    owner_reasons,
    score_components,
    suspect_sale,
    top_factors,
    value_gap_pct,
)
from realestate_assets.ml.tuning import search_space

Progress = Callable[[int], None] | None


def avm_settings(scoring: ScoringConfig) -> AvmSettings:
    return AvmSettings(num_boost_round=scoring.num_boost_round, learning_rate=scoring.learning_rate,
                       num_leaves=scoring.num_leaves, min_data_in_leaf=scoring.min_data_in_leaf,
                       holdout_fraction=scoring.holdout_fraction, seed=scoring.seed, trials=scoring.avm_trials,
                       cv_folds=scoring.cv_folds, space=search_space("avm", scoring))


def classifier_settings(scoring: ScoringConfig, trials: int) -> ClassifierSettings:
    return ClassifierSettings(trials=trials, cv_folds=scoring.cv_folds, holdout_fraction=scoring.holdout_fraction,
                              seed=scoring.seed, space=search_space("classifier", scoring))


@dataclass
class Trained:
    avm: TrainedAvm
    deal: TrainedClassifier | None = None
    propensity: TrainedClassifier | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # model → why it was not trained
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # this process's CPU: honest on a busy machine


def train_all(sales: pd.DataFrame, scoring: ScoringConfig, compare: bool = True,
              progress: Callable[[str, int], None] | None = None) -> Trained:
    """AVM (required) and the deal and sale-propensity classifiers (skipped, with the reason,
    when the county's history cannot support them)."""
    def step(name: str) -> Progress:
        return (lambda n: progress(name, n)) if progress else None

    started, cpu = time.perf_counter(), time.process_time()
    indexes = AsOfIndexes(sales)  # one cache of as-of indexes for the AVM's comps and the classifiers
    comps = scoring.comps
    avm = train_avm(sales, avm_settings(scoring), compare=compare, progress=step("avm"),
                    baseline_comps=scoring.baseline_comps, comps=comps, indexes=indexes)
    trained = Trained(avm=avm, seconds={"avm": time.perf_counter() - started},
                      cpu_seconds={"avm": time.process_time() - cpu})
    for name, train in (("deal", lambda: train_deal_model(sales, comps, classifier_settings(
                            scoring, scoring.deal_trials), indexes, step("deal"),
                            avm_settings(scoring))),
                        ("sale_propensity", lambda: train_propensity_model(sales, classifier_settings(
                            scoring, scoring.propensity_trials), indexes, step("sale_propensity"), comps))):
        started, cpu = time.perf_counter(), time.process_time()
        try:
            model = train()
        except ValueError as exc:  # too little history: say so, score without it
            trained.skipped[name] = str(exc)
            continue
        finally:
            trained.seconds[name] = time.perf_counter() - started
            trained.cpu_seconds[name] = time.process_time() - cpu
        if name == "deal":
            trained.deal = model
        else:
            trained.propensity = model
    return trained


@dataclass
class Scored:
    frame: pd.DataFrame
    method: str
    explained: int
    explain_seconds: float
    predict_seconds: float
    suspect_sales: int = 0  # rows whose last sale was kept out of equity and the value gap


# What the county-wide part of scoring reads of each feature row, besides the predictions: the
# percentiles' raw values (`model_components` / `score_components`) and the output's keys. The
# other feature columns are needed only per chunk (predictions) or per explained row (reasons).
# Explained rows read and explained at once by `CountyScores.parts` (the parts' reasons are held
# until written: ≈2–3 KB a row): a first batch of at most EXPLAIN_FIRST_BATCH_ROWS, each next one
# at most twice the last's, up to EXPLAIN_BATCH_ROWS.
EXPLAIN_FIRST_BATCH_ROWS = 250
EXPLAIN_BATCH_ROWS = 25_000
COUNTY_WIDE_COLUMNS = ["prospect_key", "as_of_date", "last_sale_price_indexed", "years_since_last_sale",
                       "eff_age_years", "comps_median_price_per_sqft", "living_sqft"]
# What `_predict_chunk` reads of a feature row: the models' inputs (`scoring_frame`,
# `deal_inputs_from_features`, `propensity_inputs_from_features`), the asking price, the
# suspect-sale rule's and `COUNTY_WIDE_COLUMNS`. The `scores` asset streams the county's feature
# rows with only these (24 of the table's 45 columns): the server's COPY text and the client's
# parse share the two cores with the predictions (at a million rows the read's client CPU
# 1.7 → 1.0 s: docs/scale.md, twenty-sixth round (c)). The explained rows are read whole
# (`rows_for`): their reasons read more. Some inputs are optional in those functions
# (`list_price`, `sale_count`, `last_sale_price`, `last_price_to_comps_value`: NaN when absent),
# so a column missing here would change predictions silently — tests/scoring/
# test_models_end_to_end.py::test_the_chunks_narrowed_to_the_predicted_columns_… checks the list.
PREDICTED_COLUMNS = list(dict.fromkeys([
    *COUNTY_WIDE_COLUMNS, *(c for c in BASE_FEATURES if c != "sale_months"), *BUILDING, "use_type",
    "comps_count", "comps_value_spread_pct", "market_trend_12m_pct", "list_price", "sale_count",
    "last_sale_price", "last_price_to_comps_value"]))


def score_features(features: pd.DataFrame, avm: TrainedAvm, deal: TrainedClassifier | None,
                   propensity: TrainedClassifier | None, versions: dict[str, str], scoring: ScoringConfig,
                   explain: bool = True, explain_keys: Collection[str] | None = None) -> Scored:
    """Value, probabilities, the 0-100 score, rank and — only for rows that will be read — reasons.

    `explain_keys` explains exactly those prospects instead (reasons on demand). One frame in
    memory: `score_chunks` with a single chunk, its output in one part (the `scores` asset
    streams the county in and out)."""
    county = score_chunks([features], avm, deal, propensity, versions, scoring,
                          rows_for=lambda chosen: features.iloc[chosen.index], explain=explain,
                          explain_keys=explain_keys)
    frame = next(county.parts(max(county.rows, 1)))
    frame.index = features.index
    return Scored(frame, county.method, county.explained, county.explain_seconds, county.predict_seconds,
                  county.suspect_sales)


@dataclass
class CountyScores:
    """A county scored county-wide by `score_chunks`; its output rows are made by `parts` a slice
    at a time, each slice's chosen rows read again (`rows_for`) and explained only then, so
    neither the output nor the reasons
    are ever held for the whole county (issue 17).

    `county`: per row, in the county's order (positions as index), `COUNTY_WIDE_COLUMNS`, the
    predictions, the asking price, the suspect-sale reason, and the score, its rank, the value
    gap and whether the row is explained."""

    county: pd.DataFrame
    components: pd.DataFrame
    method: str
    versions: dict[str, str]
    models: tuple[TrainedAvm, TrainedClassifier | None, TrainedClassifier | None]
    rows_for: Callable[[pd.DataFrame], pd.DataFrame]
    predict_seconds: float
    explain_seconds: float = 0.0  # grows as `parts` explains

    @property
    def rows(self) -> int:
        return len(self.county)

    @property
    def explained(self) -> int:
        return int(self.county["explain"].sum())

    @property
    def component_names(self) -> list[str]:
        """The components this county's rows have (`score_model_versions.components`), as
        `SCORE_COMPONENT_COLUMNS` orders them."""
        return [name for name in SCORE_COMPONENT_COLUMNS if name in self.components.columns]

    @property
    def suspect_sales(self) -> int:  # rows whose last sale was kept out of equity and the value gap
        return int((self.county["suspect"].notna() & ~self.county["priced"]).sum())

    def parts(self, rows: int) -> Iterator[pd.DataFrame]:
        """The output rows, `rows` at a time (one empty, typed part for an empty county); the
        explained rows of consecutive parts are read and explained together (`_batches`), the next
        batch by a thread while this one's parts are made and written."""
        batches = self._batches(rows)
        # The writer waits on the server's COPY most of the parts' time (at a million parcels the
        # client used ≈2 of the parts' ≈6 s): the next batch's SHAP (its kernel releases the GIL)
        # fills that wait instead of running before the parts with the writer idle (docs/scale.md,
        # twenty-fourth round (a)). One thread: `rows_for`'s reads stay one at a time.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="explain") as pool:
            pending = pool.submit(self._breakdown, self.county.iloc[slice(*batches[0])])
            for i, (start, end) in enumerate(batches):
                breakdown = pending.result()
                if i + 1 < len(batches):
                    pending = pool.submit(self._breakdown, self.county.iloc[slice(*batches[i + 1])])
                for first in range(start, end, rows):
                    part = self.county.iloc[first:first + rows]
                    yield self._output(part, breakdown.loc[part.index])

    def _batches(self, rows: int) -> list[tuple[int, int]]:
        """The county's positions in ranges of whole parts, each explained in one SHAP call: SHAP's
        memo of leaf patterns (ml/treeshap.py) is per call, so one call for the 5,000 rows of a
        million parcels instead of one per part (≈128 rows each) cost 3.4 instead of 4.7 CPU s for
        the AVM (twenty-third round (a)); a small first batch starts the writer early, and each
        next batch (at most twice the last's explained rows) is explained while the parts before
        it are written. Each row's values are its own: the same to the bit however batched."""
        explained = np.cumsum(self.county["explain"].to_numpy())
        batches, start, cap = [], 0, EXPLAIN_FIRST_BATCH_ROWS
        while start < max(self.rows, 1):
            end = start + rows
            before = explained[start - 1] if start else 0
            while end < self.rows and explained[min(end + rows, self.rows) - 1] - before <= cap:
                end += rows
            batches.append((start, end))
            start, cap = end, min(2 * cap, EXPLAIN_BATCH_ROWS)
        return batches

    def best(self, n: int) -> pd.DataFrame:
        """The output rows of the `n` best-ranked, in rank order, without reasons (for a summary)."""
        # The ranks are 1..rows, each once (`rank(method="first")`): the `n` best are those up to
        # `n`. `nsmallest` took 0.6–0.8 CPU s at a million parcels, after the load, on the step's path.
        part = self.county[self.county["rank"].to_numpy() <= n].sort_values("rank")
        return self._output(part, pd.Series([None] * len(part), index=part.index, dtype=object))

    def _breakdown(self, part: pd.DataFrame) -> pd.Series:
        """The reasons of the part's explained rows (None for the others)."""
        started = time.perf_counter()
        chosen = part.loc[part["explain"], ["prospect_key"]]
        rows = self.rows_for(chosen).set_axis(chosen.index) if len(chosen) else chosen.iloc[:0]
        avm, deal, propensity = self.models
        of = part.loc[chosen.index]
        breakdown = explain_rows(rows, scoring_frame(rows) if len(rows) else rows,
                                 self.components.loc[chosen.index], of["gap"], avm, deal, propensity,
                                 deal_inputs_from_features(rows, of["estimated_value"]) if len(rows) else rows,
                                 propensity_inputs_from_features(rows) if len(rows) else rows,
                                 of["priced"], of["suspect"])
        out = pd.Series([None] * len(part), index=part.index, dtype=object)
        for key, value in breakdown.items():
            out.at[key] = value
        self.explain_seconds += time.perf_counter() - started
        return out

    def _output(self, part: pd.DataFrame, breakdown: pd.Series) -> pd.DataFrame:
        """The part's `scores` rows. The components as their columns, rounded to 4 places
        (`SCORE_COMPONENT_COLUMNS`; NaN, and a component this scoring has not, written as NULL:
        a rescoring by the other method leaves none of the old one's), and no model versions:
        those and the components' names are the county's (`versions`, `component_names`), written
        once by the `scores` asset. Per row they were two jsonb documents whose parse was ≈2 s of
        the server's single-core COPY at a million parcels (migration 0060)."""
        components = self.components.loc[part.index].astype(float).round(4)
        missing = pd.Series(np.nan, index=part.index)
        return pd.DataFrame({
            "prospect_key": part["prospect_key"],
            "as_of_date": part["as_of_date"],
            "estimated_value": part["estimated_value"].round(0),
            "estimated_value_low": part["estimated_value_low"].round(0),
            "estimated_value_high": part["estimated_value_high"].round(0),
            "value_gap_pct": part["gap"].round(2),
            "bird_dog_score": part["score"],
            "score_rank": part["rank"],
            "score_breakdown": breakdown,
            "model_version": self.versions["avm"],
            "deal_probability": part["deal_probability"].round(4),
            "sale_probability_12m": part["sale_probability"].round(4),
            **{column: components.get(name, missing) for name, column in SCORE_COMPONENT_COLUMNS.items()},
        })


def score_chunks(chunks: Iterable[pd.DataFrame], avm: TrainedAvm, deal: TrainedClassifier | None,
                 propensity: TrainedClassifier | None, versions: dict[str, str], scoring: ScoringConfig,
                 rows_for: Callable[[pd.DataFrame], pd.DataFrame], explain: bool = True,
                 explain_keys: Collection[str] | None = None,
                 last_sale_flags: Callable[[], pd.DataFrame] | None = None) -> CountyScores:
    """`score_features` over a county given as consecutive chunks of feature rows, in memory
    bounded by the chunk plus a few columns per row (issue 17).

    Per chunk (per row, so chunking changes nothing): the AVM's value and range, the deal and
    sale probabilities, the suspect-sale rule, and the `COUNTY_WIDE_COLUMNS`. County-wide, from
    those columns only: the components' percentiles, the score, its rank and which rows are
    explained. `rows_for(chosen)` gives the full feature rows of the chosen rows (a frame of
    them, positions in the county as its index), in their order: only they are explained, a
    part of the output at a time (`CountyScores.parts`).

    `last_sale_flags`: when the chunks do not carry the last sale's `SALE_FLAG_COLUMNS`, the
    prospects whose last sale has a flag (`prospect_key` and the flags; the others have none),
    asked for once the chunks are predicted: the suspect-sale rule is then applied county-wide,
    row by row as per chunk (the `scores` asset reads them on a second connection meanwhile).
    """
    predicted_seconds = 0.0
    parts: list[pd.DataFrame] = []
    for features in chunks:
        chunk_started = time.perf_counter()
        parts.append(_predict_chunk(features, avm, deal, propensity, scoring,
                                    judge_sales=last_sale_flags is None))
        predicted_seconds += time.perf_counter() - chunk_started
    started = time.perf_counter()
    # pandas' default copy: with `copy=False` (and no copy-on-write) its concat consolidates the
    # result in place, copying every float column a second time (≈0.27 s of ≈0.38 in py-spy at a
    # million rows); the parts' columns are new arrays either way, so the values are the same.
    county = pd.concat(parts, ignore_index=True) if len(parts) != 1 else \
        parts[0].reset_index(drop=True)
    del parts
    if last_sale_flags is not None:
        county["suspect"] = suspect_sale(county["last_sale_price_indexed"], comps_value(county), scoring.suspect_sale,
                                         _aligned_flags(county["prospect_key"], last_sale_flags()))
    estimated, deal_p, sale_p = county["estimated_value"], county["deal_probability"], county["sale_probability"]
    price, priced, suspect = county["price"], county["priced"].astype(bool), county["suspect"]
    county["priced"] = priced
    if propensity is not None:
        method, weights = "models", MODEL_WEIGHTS
        components = model_components(county, estimated, deal_p, sale_p, price.where(priced), suspect)
    else:
        method, weights = "rule (sale-propensity model unavailable)", WEIGHTS
        components = score_components(county, estimated, suspect)
    score = model_bird_dog_score(components) if weights is MODEL_WEIGHTS else bird_dog_score(components, weights)
    county["gap"] = _value_gap(county)
    county["score"] = score
    county["rank"] = rank = score.rank(ascending=False, method="first").astype(int)
    to_explain = explained_by_default(score, rank, scoring) if explain else pd.Series(False, index=county.index)
    if explain_keys is not None:
        to_explain = county["prospect_key"].isin(list(explain_keys))
    county["explain"] = to_explain.astype(bool)
    return CountyScores(county, components, method, versions, (avm, deal, propensity), rows_for,
                        predicted_seconds + time.perf_counter() - started)


def explain_last_rank(scoring: ScoringConfig) -> int | None:
    """The worst score rank the `scores` asset explains (None: every packet candidate, however many).

    The reasons budget (`explain_max_rows`, best ranks first, never fewer than `explain_top_n`):
    the packet candidates ranked below it are left without reasons, for whoever reads them to
    explain on demand. The `packet_candidates_explained` check reads the same rank."""
    return max(scoring.explain_max_rows, scoring.explain_top_n) if scoring.explain_max_rows else None


def explained_by_default(score: pd.Series, rank: pd.Series, scoring: ScoringConfig) -> pd.Series:
    """Which rows the `scores` asset explains: the packet candidates (score at or above the
    threshold) and the best `explain_top_n`, within the reasons budget (`explain_last_rank`)."""
    chosen = (score >= scoring.packet_threshold) | (rank <= scoring.explain_top_n)
    last = explain_last_rank(scoring)
    return chosen if last is None else chosen & (rank <= last)


def _predict_chunk(features: pd.DataFrame, avm: TrainedAvm, deal: TrainedClassifier | None,
                   propensity: TrainedClassifier | None, scoring: ScoringConfig,
                   judge_sales: bool = True) -> pd.DataFrame:
    """What the county-wide part of `score_chunks` needs of these rows: `COUNTY_WIDE_COLUMNS`,
    the predictions, the asking price and the suspect-sale reason (no such column when not
    `judge_sales`: the caller judges the sales once it has their flags, and a column of Nones
    per chunk cost ≈0.4 CPU s a million rows in `score_chunks`' concat, only to be replaced)."""
    # The models' inputs read the as-of date as datetime64 (`pd.to_datetime`, what each of them
    # did to the `datetime.date`s a read gives): converted once here instead of in each, and then
    # hashed as integers by their once-per-distinct-date work (`ml/avm.py::per_distinct`).
    # The rows' own column (COUNTY_WIDE_COLUMNS, written) stays as read.
    dated = features
    if "as_of_date" in features and features["as_of_date"].dtype == object:
        dated = features.copy(deep=False)
        dated["as_of_date"] = pd.to_datetime(features["as_of_date"])
    inputs = scoring_frame(dated)
    # The value at the as-of date's market (projected past the training months) and its 80% range.
    valuation = avm.estimate(inputs, dated["as_of_date"]).set_axis(features.index)
    estimated = valuation["estimated_value"]
    price = features["list_price"].astype(float) if "list_price" in features else \
        pd.Series(np.nan, index=features.index)
    priced = price.notna() & (price > 0)
    deal_p = pd.Series(np.nan, index=features.index)
    if deal is not None and priced.any():
        deal_x = deal_inputs_from_features(features, estimated)
        deal_p[priced] = deal.predict_proba(deal_x.loc[priced])
    sale_p = pd.Series(propensity.predict_proba(propensity_inputs_from_features(dated)),
                       index=features.index) if propensity is not None else pd.Series(np.nan, index=features.index)
    # A last sale likely not at market value says nothing about equity: left out of it and of the gap.
    suspect: pd.Series | None = None
    if judge_sales:
        flags = [c for c in SALE_FLAG_COLUMNS if c in features.columns]
        suspect = suspect_sale(features["last_sale_price_indexed"], comps_value(features), scoring.suspect_sale,
                               features[flags] if flags else None)
    out = features[COUNTY_WIDE_COLUMNS].copy()
    for column in ("estimated_value", "estimated_value_low", "estimated_value_high"):
        out[column] = valuation[column]
    out["deal_probability"], out["sale_probability"] = deal_p, sale_p
    out["price"], out["priced"] = price, priced
    if judge_sales:
        out["suspect"] = suspect
    return out


def _aligned_flags(keys: pd.Series, flagged: pd.DataFrame) -> pd.DataFrame:
    """The last sale's `SALE_FLAG_COLUMNS` of each of `keys` (unique prospect keys), row for row:
    `flagged`'s where it has the key, else None (a frame of the prospects whose last sale has a
    flag: few or none in most county files)."""
    columns = {c: np.full(len(keys), None, dtype=object) for c in SALE_FLAG_COLUMNS}
    if len(flagged):
        at = pd.Index(keys).get_indexer(flagged["prospect_key"])
        kept = at >= 0  # a prospect without a feature row is not scored
        for c in SALE_FLAG_COLUMNS:
            columns[c][at[kept]] = flagged[c].to_numpy(dtype=object)[kept]
    return pd.DataFrame(columns, index=keys.index)


def _value_gap(predicted: pd.DataFrame) -> pd.Series:
    """The value gap of `_predict_chunk` rows (`priced` as bool): against the asking price when
    listed, else against the indexed last sale unless that sale is suspect (then none)."""
    priced = predicted["priced"]
    reference = predicted["last_sale_price_indexed"].where(predicted["suspect"].isna()).where(
        ~priced, predicted["price"])
    return value_gap_pct(predicted["estimated_value"], reference)


def explain_prospects(features: pd.DataFrame, components: pd.DataFrame, avm: TrainedAvm,
                      deal: TrainedClassifier | None, propensity: TrainedClassifier | None,
                      scoring: ScoringConfig) -> dict[str, dict[str, Any]]:
    """Reasons on demand for a few prospects, without their county: {prospect_key: breakdown}.

    `features`: their scoring inputs (the `scores` asset's feature rows with the last-sale flags);
    `components`: their stored percentiles (`scores`' component columns, one row each, in the same
    order). Everything per row is computed again exactly as `score_chunks` does — the value, the
    probabilities, the suspect-sale rule, the value gap — and explained by `explain_rows`; only
    the percentiles are county-relative, so the stored ones are used (rounded to 4 places, which
    changes no reason's wording but an "upside" percentile on a .5 boundary)."""
    if features.empty:
        return {}
    rows = features.reset_index(drop=True)
    predicted = _predict_chunk(rows, avm, deal, propensity, scoring)
    predicted["priced"] = predicted["priced"].astype(bool)
    breakdown = explain_rows(rows, scoring_frame(rows), components.reset_index(drop=True).astype(float),
                             _value_gap(predicted), avm, deal, propensity,
                             deal_inputs_from_features(rows, predicted["estimated_value"]),
                             propensity_inputs_from_features(rows), predicted["priced"], predicted["suspect"])
    return {rows.at[position, "prospect_key"]: value for position, value in breakdown.items()}


def explain_rows(features: pd.DataFrame, inputs: pd.DataFrame, components: pd.DataFrame, gap: pd.Series,
                 avm: TrainedAvm, deal: TrainedClassifier | None, propensity: TrainedClassifier | None,
                 deal_x: pd.DataFrame, prop_x: pd.DataFrame, priced: pd.Series,
                 suspect: pd.Series | None = None) -> dict[Any, dict[str, Any]]:
    """SHAP reasons (LightGBM pred_contrib) for the given rows only: value, deal and sale drivers.

    `reasons` states each fact once (`dedupe_reasons`); `reason_facts` names the fact of each."""
    if features.empty:
        return {}
    contributions = avm.contributions(inputs)
    value_factors = top_factors(contributions, inputs)
    sale_drivers = driver_factors(propensity.contributions(prop_x), prop_x, "the chance of a sale within 12 months",
                                  labels=LABELS) if propensity is not None else [[] for _ in range(len(features))]
    deal_drivers: dict[Any, list[dict]] = {}
    if deal is not None and priced.any():
        rows = deal_x.loc[priced]
        for key, factors in zip(rows.index, driver_factors(deal.contributions(rows), rows, "the deal probability",
                                                           labels=LABELS), strict=True):
            deal_drivers[key] = factors
    out = {}
    feature_rows = features.to_dict("records")
    component_rows = components.to_dict("records")
    for position, key in enumerate(features.index):
        row = feature_rows[position]  # plain dicts: component_reasons/owner_reasons only .get() and []
        why_suspect = None if suspect is None or priced.loc[key] else suspect.loc[key]
        reasons, facts = dedupe_reasons(
            component_reasons(component_rows[position], row, gap.loc[key], why_suspect)
            + factor_reasons(deal_drivers.get(key, [])[:2]) + factor_reasons(sale_drivers[position][:2])
            + owner_reasons(row))
        out[key] = {"value_factors": value_factors[position], "deal_drivers": deal_drivers.get(key, []),
                    "sale_drivers": sale_drivers[position], "reasons": reasons, "reason_facts": facts,
                    "suspect_sale": why_suspect, "base_value": float(np.exp(contributions.at[key, "bias"]))}
    return out
