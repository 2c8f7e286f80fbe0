"""The bird-dog score, 0-100: trained models combined by a documented rule (docs/scoring.md).

Model-based score (issue 5, `MODEL_WEIGHTS`), each component a county percentile in [0, 1]:

  deal        40%  calibrated deal probability (deal model) — only with an asking price
  propensity  25%  calibrated probability of a sale in the next 12 months
  equity      25%  estimated value vs the price: the asking price when listed, else the last
                   sale moved to today along the index (value_gap_pct)
  confidence  10%  agreement between the AVM and the comparable-sales estimate

Missing components' weights are spread over the others (a parcel with no asking price is
scored on propensity, equity and confidence). A parcel WITH a deal probability (listed, with an
asking price) is scored on the deal component alone (`LISTED_WEIGHTS`, issue 16): see
`model_bird_dog_score`. The first, rule-based score below stays as
the fallback when a county has too little history to train the deal or propensity model.

First definition: transparent, rule-based, 0-100.

A bird dog looks for owners who could sell below market value and still walk away well:
lots of equity, long ownership, a valuation we trust, and room to add value. Each component
is the property's percentile within its county (0 = lowest, 1 = highest):

  equity      45%  estimated value minus the last sale price moved to today along the county
                   index, as a share of the estimated value (value_gap_pct)
  tenure      25%  years since the last sale
  confidence  15%  agreement between the AVM and the comparable-sales estimate
  upside      15%  effective age (older effective age: renovation upside)

bird_dog_score = 100 × Σ weight × percentile, over the components the data supports, with
the weights of missing components spread over the others. Issue 5 replaces this rule with a
trained deal model; the rule stays documented in docs/scoring.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from realestate_assets.config_models import SuspectSaleRule
from realestate_assets.ml.avm import FEATURE_LABELS, comps_value  # comps_value: one rule, defined with the AVM

WEIGHTS = {"equity": 0.45, "tenure": 0.25, "confidence": 0.15, "upside": 0.15}
MODEL_WEIGHTS = {"deal": 0.40, "propensity": 0.25, "equity": 0.25, "confidence": 0.10}
# A listed property's question is the deal model's: "is buying at this asking price a deal?". The
# deal model answers it from resales (price vs comps, the house, the trend); a fixed blend with the
# AVM gap and AVM/comps agreement can only hide a stronger signal (issue 16; measured in
# docs/scoring.md "Deal ranking"), and the chance of a sale is moot for a property already for sale.
LISTED_WEIGHTS = {"deal": 1.0}

# How `scores` stores `score_components` (migration 0060): each component's county percentile,
# rounded to 4 places, in a double precision column (NULL where the data cannot say), not a jsonb
# document per row (whose parse was ≈0.7 s of the server's COPY at a million parcels: docs/scale.md
# "Twenty-seventh round (a)"). Which components a county's rows have depends on how it was scored
# (`MODEL_WEIGHTS`' with a sale-propensity model, else the rule's `WEIGHTS`): the county's names
# are stored once beside its model versions (`score_model_versions.components`), and a reader
# rebuilds the dict from the named columns only, in this order (the one the jsonb document gave
# its keys: shorter first, then bytewise), with `score_components_of` or `score_components_sql`:
# the API, the reasons and the memo keep their shapes.
SCORE_COMPONENT_COLUMNS = {"deal": "deal_percentile", "equity": "equity_percentile",
                           "tenure": "tenure_percentile", "upside": "upside_percentile",
                           "confidence": "confidence_percentile", "propensity": "propensity_percentile"}


def score_components_of(row: Mapping[str, Any], names: Iterable[str] | None) -> dict[str, float | None]:
    """A `scores` row's components as the dict the API shows, {component: percentile or None},
    for the county's component `names` (none without them)."""
    named = set(names or ())
    return {name: _stored_percentile(row.get(column)) for name, column in SCORE_COMPONENT_COLUMNS.items()
            if name in named}


def _stored_percentile(value: Any) -> float | None:
    return None if value is None or value != value else float(value)  # NULL (or NaN, from a frame): None


def score_components_sql(alias: str = "s", names: str = "v.components") -> str:
    """SQL of a `scores` row's components as the jsonb document the column held, for the county's
    component `names` (an SQL text[]; `{}` without them): each value to 4 places, a JSON number
    with a fraction as the writer wrote it, NULL as null. For the readers that take the document
    (on-demand reasons, the memo rows)."""
    pairs = ", ".join(f"('{name}', round({alias}.{column}::numeric, 4))"
                      for name, column in SCORE_COMPONENT_COLUMNS.items())
    return (f"(SELECT coalesce(jsonb_object_agg(c.name, c.value), '{{}}') FROM (VALUES {pairs}) AS c(name, value) "
            f"WHERE c.name = ANY ({names}))")


SUSPECT_SALE = "last sale likely not at market value"
# Where a county file says how a sale was made (instrument, reason, warnings): the features
# carry them for the last sale under these names when the source maps them.
SALE_FLAG_COLUMNS = ("last_sale_instrument", "last_sale_reason", "last_sale_warnings")
# The last recorded sale's flags per parcel of a county (the same last sale as enrichment's:
# newest date, then highest sale id), joined by the scores asset and the memo query.
SALES_FLAG_COLUMNS = tuple(c.removeprefix("last_") for c in SALE_FLAG_COLUMNS)  # their `sales` columns
LAST_SALE_FLAGS = ", ".join(f"{s} AS {c}" for s, c in zip(SALES_FLAG_COLUMNS, SALE_FLAG_COLUMNS, strict=True))
LAST_SALE_ORDER = 'sale_date DESC, sale_id COLLATE "C" DESC'
LAST_SALE_FLAGS_SQL = f"""
SELECT DISTINCT ON (parcel_id) parcel_id, {LAST_SALE_FLAGS}
FROM sales WHERE county = :county
ORDER BY parcel_id, {LAST_SALE_ORDER}
"""
# The county's prospects whose last sale has a flag, with the flags (the others' are all NULL):
# what `scores` joins on the client to its feature rows, read on a second connection in the same
# snapshot while the features stream in key order from their index, so the first feature row no
# longer waits for this `DISTINCT ON` and the join's sort (docs/scale.md, twenty-fifth round (e)).
# Only when the county has a flagged sale at all (the `EXISTS`, a one-time filter: without one
# no last sale has a flag): a county file that maps no flags (the bundled King County file) is
# then one scan of its sales, stopped at the first flag where there are some, instead of the
# `DISTINCT ON` over every sale — ≈1 server CPU s at a million parcels, on the core the
# predictions do not use (docs/scale.md, twenty-eighth round (d)).
FLAGGED_LAST_SALES_SQL = f"""
SELECT p.prospect_key, {', '.join(f'ls.{c}' for c in SALE_FLAG_COLUMNS)}
FROM prospects p JOIN ({LAST_SALE_FLAGS_SQL}) ls ON ls.parcel_id = p.parcel_id
WHERE p.county = :county AND ({' OR '.join(f'ls.{c} IS NOT NULL' for c in SALE_FLAG_COLUMNS)})
  AND EXISTS (SELECT 1 FROM sales s WHERE s.county = :county
              AND ({' OR '.join(f's.{c} IS NOT NULL' for c in SALES_FLAG_COLUMNS)}))
"""
# The `scores` asset's inputs (its feature rows with the last sale's flags) for a few prospects:
# each one's last sale looked up by its parcel (ix_sales_parcel), not the county's every sale.
# Read by the asset for its explained rows and by reasons on demand (ml/on_demand.py).
SCORE_INPUTS_OF_SQL = f"""
SELECT f.*, ls.last_sale_instrument, ls.last_sale_reason, ls.last_sale_warnings
FROM features f LEFT JOIN prospects p USING (county, prospect_key)
LEFT JOIN LATERAL (SELECT {LAST_SALE_FLAGS} FROM sales s WHERE s.county = f.county AND s.parcel_id = p.parcel_id
                   ORDER BY {LAST_SALE_ORDER} LIMIT 1) ls ON true
WHERE f.county = :county AND f.prospect_key = ANY(:keys) ORDER BY f.prospect_key
"""


def value_gap_pct(estimated_value: pd.Series, last_sale_price_indexed: pd.Series) -> pd.Series:
    return (estimated_value - last_sale_price_indexed) / estimated_value * 100.0


def suspect_sale(last_sale_price_indexed: pd.Series, comps_estimated_value: pd.Series, rule: SuspectSaleRule,
                 flags: pd.DataFrame | None = None) -> pd.Series:
    """Why each last sale is likely not at market value, or None: THE rule (scores and memos call it).

    Suspect when the last sale moved to today's market is outside [min, max] × the
    comparable-sales estimate, or when the source's instrument / reason / warnings text holds one
    of the configured non-market terms. A suspect sale is not used for the equity component or
    the value gap: it says little about what the owner could sell for.
    """
    indexed = pd.to_numeric(last_sale_price_indexed, errors="coerce").astype(float)
    comps = pd.to_numeric(comps_estimated_value, errors="coerce").astype(float)
    ratio = indexed / comps.where(comps > 0)
    out = pd.Series([None] * len(indexed), index=indexed.index, dtype=object)
    low, high = ratio < rule.min_ratio_to_comps, ratio > rule.max_ratio_to_comps
    out[low] = [f"{SUSPECT_SALE}: in today's market it is {r:.0%} of the comparable-sales estimate"
                for r in ratio[low]]
    out[high] = [f"{SUSPECT_SALE}: in today's market it is {r:.1f}× the comparable-sales estimate"
                 for r in ratio[high]]
    if flags is not None and rule.non_market_terms and len(flags.columns):
        # Only rows with a flag can hold a term: a row without any has the empty text, which
        # contains no non-empty term. A county file without these columns (the bundled one and
        # its 212× copies) spent ≈2 CPU s a million rows joining, cleaning and searching "".
        # `flags` is row for row the prices' (one frame's columns), so rows are taken by position.
        flagged = flags.notna().any(axis=1).to_numpy() if all(rule.non_market_terms) else \
            np.ones(len(flags), dtype=bool)
        positions = np.flatnonzero(flagged)
        parts = flags.iloc[positions].astype("string").fillna("")
        joined = parts.iloc[:, 0]
        for column in parts.columns[1:]:  # column-wise, not a Python join per row (issue 17)
            joined = joined + " · " + parts[column]
        text = (joined.astype(object).str.replace(r"(?: · )+", " · ", regex=True)
                .str.strip(" ·"))  # empty columns leave no gap
        lowered = text.str.lower()
        free = out.isna().to_numpy()[positions]  # not yet suspect by the ratio or an earlier term
        for term in rule.non_market_terms:
            hit = lowered.str.contains(term.lower(), regex=False).to_numpy(dtype=bool) & free
            out.iloc[positions[hit]] = [f"{SUSPECT_SALE}: the county file records it as '{t}'"
                                        for t in text.to_numpy()[hit]]
            free &= ~hit
    return out


def suspect_sale_reason(last_sale_price_indexed: float | None, comps_estimated_value: float | None,
                        rule: SuspectSaleRule, flags: Mapping[str, Any] | None = None) -> str | None:
    """`suspect_sale` for one property (a memo)."""
    frame = pd.DataFrame([{c: (flags or {}).get(c) for c in SALE_FLAG_COLUMNS}])
    return suspect_sale(pd.Series([last_sale_price_indexed], dtype=float),
                        pd.Series([comps_estimated_value], dtype=float), rule, frame).iloc[0]


def county_percentiles(raw: Mapping[str, pd.Series], index: pd.Index) -> pd.DataFrame:
    """Each column (on `index`, as a frame of them aligns it) as percentiles in (0, 1], as
    `pd.DataFrame(raw, index=index).rank(pct=True, method="average")` gives them, to the bit: NaN
    stays NaN, equal values share the mean of their ranks, divided by the column's count of known
    values. Per column with numpy's unstable sort, which an average rank does not need stable
    (equal values get one rank whatever their order), and without first copying the columns into
    one frame: pandas' 2-D rank sorts by a stable merge sort, 0.55–0.67 against 0.30–0.33 CPU s for
    the four components of a million parcels (docs/scale.md, thirty-sixth round (d))."""
    return pd.DataFrame({column: _pct_average(values.reindex(index).to_numpy(dtype=float, na_value=np.nan))
                         for column, values in raw.items()}, index=index)


def _pct_average(values: np.ndarray) -> np.ndarray:
    out = np.full(len(values), np.nan)
    known = np.flatnonzero(~np.isnan(values))
    if not len(known):
        return out
    known_values = values[known]
    order = np.argsort(known_values)
    ordered = known_values[order]
    first = np.empty(len(ordered), dtype=bool)  # where a run of equal values starts
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], len(ordered))
    # Ranks starts+1 … ends (1-based) share their mean, (starts + 1 + ends) / 2: exact, as pandas'
    # sum of the ranks over their count is (a half-integer, far below 2**53).
    ranks = np.empty(len(ordered))
    ranks[order] = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    out[known] = ranks / len(ordered)
    return out


def score_components(features: pd.DataFrame, estimated_value: pd.Series,
                     suspect: pd.Series | None = None) -> pd.DataFrame:
    """Each component as a county percentile in [0, 1]; NaN where the data cannot say.

    `suspect` (from `suspect_sale`): rows whose last sale is not used for equity."""
    reference = features["last_sale_price_indexed"]
    if suspect is not None:
        reference = reference.where(suspect.isna())
    gap = value_gap_pct(estimated_value, reference)
    disagreement = (estimated_value / comps_value(features) - 1.0).abs()
    return county_percentiles({
        "equity": gap,
        "tenure": features["years_since_last_sale"],
        "confidence": -disagreement,
        "upside": features["eff_age_years"],
    }, features.index)


def model_components(features: pd.DataFrame, estimated_value: pd.Series, deal_probability: pd.Series,
                     sale_probability: pd.Series, price: pd.Series | None = None,
                     suspect: pd.Series | None = None) -> pd.DataFrame:
    """The model-based score's components as county percentiles in [0, 1]; NaN where unknown.

    `price`: the asking price where there is one; rows without it are judged against the last
    sale moved to today (equity), as the rule does — unless `suspect` says that sale was likely
    not at market value (then equity is missing and its weight spread over the others).
    """
    reference = features["last_sale_price_indexed"]
    if suspect is not None:
        reference = reference.where(suspect.isna())
    if price is not None:
        reference = price.where(price.notna(), reference)
    return county_percentiles({
        "deal": deal_probability.astype(float),
        "propensity": sale_probability.astype(float),
        "equity": value_gap_pct(estimated_value, reference),
        "confidence": -(estimated_value / comps_value(features) - 1.0).abs(),
    }, features.index)


def bird_dog_score(components: pd.DataFrame, weights: dict[str, float] | None = None) -> pd.Series:
    weights = pd.Series(weights or WEIGHTS)
    components = components[list(weights.index)]
    present = components.notna()
    weighted = components.fillna(0.0).mul(weights, axis=1).sum(axis=1)
    total_weight = present.mul(weights, axis=1).sum(axis=1)
    score = (weighted / total_weight.where(total_weight > 0)) * 100.0
    return score.fillna(0.0).clip(0.0, 100.0).round(2)


def model_bird_dog_score(components: pd.DataFrame) -> pd.Series:
    """The model-based score: rows with a deal probability by `LISTED_WEIGHTS`, the rest by
    `MODEL_WEIGHTS` (their deal weight spread over the others)."""
    score = bird_dog_score(components, MODEL_WEIGHTS)
    listed = components["deal"].notna()
    if listed.any():
        score[listed] = bird_dog_score(components.loc[listed], LISTED_WEIGHTS)
    return score


def _known(value: object) -> bool:
    return value is not None and (isinstance(value, str) or not pd.isna(value))


def _plain(value: object) -> str | float | None:
    """A model input as a factor's `value`: text as it is, numbers as floats, unknown as None."""
    return (value if isinstance(value, str) else float(value)) if _known(value) else None


def _strongest(contributions: pd.DataFrame, inputs: pd.DataFrame,
               n: int) -> Iterator[list[tuple[str, object, float]]]:
    """Per row, its `n` largest SHAP contributions by size: (feature, its input, contribution).

    The model's own features are the contributions' columns (LightGBM's pred_contrib adds `bias`);
    equal sizes keep the model's feature order (stable sort), so the same row always reads the same."""
    names = [c for c in contributions.columns if c != "bias"]
    values = contributions[names].to_numpy(dtype=float)
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :n]
    records = inputs.reindex(columns=names).to_dict("records")
    for row, ranked in enumerate(order):
        yield [(names[column], records[row][names[column]], float(values[row, column])) for column in ranked]


def top_factors(contributions: pd.DataFrame, inputs: pd.DataFrame, n: int = 5) -> list[list[dict]]:
    """Plain-language top value factors per row from SHAP contributions (log-price space)."""
    out: list[list[dict]] = []
    for strongest in _strongest(contributions, inputs, n):
        factors = []
        for feature, value, contribution in strongest:
            effect = float(np.expm1(contribution) * 100.0)
            label = FEATURE_LABELS.get(feature, feature)
            direction = "raises" if effect >= 0 else "lowers"
            factors.append({
                "feature": feature, "value": _plain(value),
                "effect_pct": round(effect, 2),
                "text": " ".join(part for part in (label, _describe(feature, value), direction,
                                                   f"the estimate by {abs(effect):.1f}%") if part),
            })
        out.append(factors)
    return out


def _describe(feature: str, value: object) -> str:
    if not _known(value):
        return "(unknown)"
    if feature in ("living_sqft", "lot_sqft"):
        return f"of {float(value):,.0f} sqft"
    if feature in ("age_years", "eff_age_years"):
        return f"of {float(value):.0f} years"
    if feature == "waterfront":
        return "(yes)" if float(value) >= 1 else "(no)"
    if feature == "comps_value":
        return f"of ${float(value):,.0f}"
    if feature == "comps_value_spread_pct":
        return f"of {float(value):.0f}%"
    if feature in ("latitude", "longitude", "sale_months"):
        return ""
    if isinstance(value, str):
        return f"'{value}'"
    return f"of {float(value):g}"


Reason = tuple[str, str]  # (the fact it states, the words): two reasons stating one fact are one reason

# The fact a model driver states, where another reason may state it too (else the feature's name).
FEATURE_FACTS = {"years_since_last_sale": "tenure", "years_owned": "tenure", "eff_age_years": "effective_age",
                 "comps_count": "comps", "price_to_comps": "price_vs_comps", "list_price_to_comps_value":
                 "price_vs_comps", "price_to_avm": "value_gap"}


def component_reasons(components: Mapping[str, Any], features: Mapping[str, Any], gap_pct: float,
                      suspect: str | None = None) -> list[Reason]:
    """Why the rule scored this property as it did, in an investor's words."""
    reasons: list[Reason] = []
    if suspect:
        reasons.append(("value_gap", f"{suspect}: not used for the equity score or the value gap"))
    elif pd.notna(gap_pct):
        reasons.append(("value_gap", f"last sale, moved to today's market, is {gap_pct:.0f}% below the estimated value"
                        if gap_pct >= 0 else
                        f"last sale, moved to today's market, is {-gap_pct:.0f}% above the estimated value"))
    if pd.notna(features.get("years_since_last_sale")):
        reasons.append(("tenure", f"owned for {features['years_since_last_sale']:.1f} years since the last sale"))
    if pd.notna(features.get("comps_count")) and features["comps_count"] > 0:
        reasons.append(("comps", f"{int(features['comps_count'])} comparable sales nearby support the value"))
    if pd.notna(features.get("eff_age_years")) and "upside" in components:
        reasons.append(("effective_age", f"effective age {features['eff_age_years']:.0f} years "
                        f"({components.get('upside', float('nan')) * 100:.0f}th percentile in the county)"))
    return reasons


def factor_reasons(factors: Iterable[Mapping[str, Any]]) -> list[Reason]:
    """Model drivers (`driver_factors`) as reasons, each tagged with the fact it states."""
    return [(FEATURE_FACTS.get(f["feature"], f["feature"]), f["text"]) for f in factors]


def dedupe_reasons(reasons: Iterable[Reason]) -> tuple[list[str], list[str]]:
    """One statement per fact, the first (strongest-ordered) kept: (texts, their facts)."""
    texts: list[str] = []
    facts: list[str] = []
    for fact, text in reasons:
        if fact not in facts:
            facts.append(fact)
            texts.append(text)
    return texts, facts


# Price ratios a reason words as a percentage: (the price, what it is compared with).
_RATIOS = {
    "price_to_comps": ("price", "the comparable sales"),
    "list_price_to_comps_value": ("price", "the comparable sales"),
    "price_to_avm": ("price", "the estimated value"),
    "last_price_to_comps_value": ("last sale price in today's money", "the comparable sales"),
}


def _driver_text(feature: str, value: object, labels: Mapping[str, str]) -> str:
    label = labels.get(feature, feature)
    if not _known(value):
        return f"{label} unknown"
    if isinstance(value, str):
        return f"{label} '{value}'"
    v = float(value)
    if feature in _RATIOS:  # a percentage, as the memo's value table words it (not 0.4855)
        price, against = _RATIOS[feature]
        return f"{price} {abs(1 - v) * 100:.0f}% {'below' if v < 1 else 'above'} {against}"
    if feature in ("price_per_sqft", "last_price_per_sqft_indexed"):
        return f"{label} ${v:,.0f}"
    if feature == "years_since_last_sale":
        return f"last sold {v:.1f} years ago"
    if feature == "market_trend_12m_pct":
        return f"county market {v:+.1f}% over 12 months"
    if feature in ("age_years", "eff_age_years"):
        return f"{label} {v:.0f} years"
    if feature in ("living_sqft", "lot_sqft"):
        return f"{label} {v:,.0f} sqft"
    if feature == "waterfront":
        return "waterfront" if v >= 1 else "not waterfront"
    if feature in ("latitude", "longitude"):
        return "location"
    return f"{label} {v:g}"


def driver_factors(contributions: pd.DataFrame, inputs: pd.DataFrame, outcome: str, n: int = 3,
                   labels: Mapping[str, str] | None = None) -> list[list[dict]]:
    """Top SHAP drivers (log-odds) of a classifier per row, in words: "<fact> raises <outcome>"."""
    labels = labels or {}
    return [[{"feature": feature, "value": _plain(value), "log_odds": round(contribution, 4),
              "text": f"{_driver_text(feature, value, labels)} {'raises' if contribution >= 0 else 'lowers'} "
                      f"{outcome}"}
             for feature, value, contribution in strongest]
            for strongest in _strongest(contributions, inputs, n)]


def owner_reasons(features: Mapping[str, Any]) -> list[Reason]:
    """Owner signals in words, only where enrichment established them."""
    reasons: list[Reason] = []
    if features.get("out_of_state_owner") == 1:
        reasons.append(("owner_location", "owner's mailing address is out of state"))
    elif features.get("absentee_owner") == 1:
        reasons.append(("owner_location", "owner does not live at the property (absentee)"))
    if features.get("corporate_owner") == 1:
        reasons.append(("corporate_owner", "owned by a business entity"))
    if pd.notna(features.get("years_owned")) and features.get("years_owned") is not None:
        reasons.append(("tenure", f"current owner for {float(features['years_owned']):.1f} years"))
    return reasons


# Why a component of the score can be missing for a property (shown in memos).
def missing_component_reason(name: str, *, listed: bool, suspect: str | None, has_sale: bool) -> str:
    if name == "deal":
        return ("no asking price: deal probability not computed" if not listed else
                "no trained deal model for this county: deal probability not computed")
    if name == "propensity":
        return "no trained sale-propensity model for this county"
    if name == "equity":
        if suspect:  # the details are stated once, where the sale is described
            return f"{SUSPECT_SALE}: equity not scored"
        return "no recorded sale or no estimate to compare: equity not scored" if not has_sale else \
            "no estimated value: equity not scored"
    if name == "confidence":
        return "too few comparable sales for a comparable-sales estimate: confidence not scored"
    if name == "tenure":
        return "no recorded sale: years owned unknown"
    if name == "upside":
        return "no effective age on record"
    return "no data"


def score_composition(components: Mapping[str, Any], *, listed: bool, suspect: str | None,
                      has_sale: bool) -> list[dict[str, Any]]:
    """What the score used: every component of its method with its configured weight, the weight it
    carried after missing components' weights were spread over the present ones (as
    `bird_dog_score` does), its percentile, and — when missing — why."""
    weights = MODEL_WEIGHTS if ("deal" in components or "propensity" in components) else WEIGHTS
    if weights is MODEL_WEIGHTS and components.get("deal") is not None and not pd.isna(components.get("deal")):
        weights = LISTED_WEIGHTS  # as `model_bird_dog_score` scores it
    present = {k for k in weights if components.get(k) is not None and not pd.isna(components.get(k))}
    total = sum(weights[k] for k in present)
    return [{"name": k, "weight": weights[k], "percentile": components.get(k) if k in present else None,
             "effective_weight": weights[k] / total if k in present and total else 0.0, "used": k in present,
             "missing_reason": None if k in present else
             missing_component_reason(k, listed=listed, suspect=suspect, has_sale=has_sale)}
            for k in weights]
