"""Training and scoring on the bundled King County sales: AVM vs baselines, deal and propensity
models, calibrated probabilities, SHAP contributions that add up, and the 0-100 score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from realestate_assets.config_models import SuspectSaleRule
from realestate_assets.enrich.market import CompsSettings
from realestate_assets.ml import pipeline
from realestate_assets.ml.avm import TrainedAvm, scoring_frame, training_frame
from realestate_assets.ml.classifier import TrainedClassifier
from realestate_assets.ml.deal import (
    DEAL_NUMERIC,
    deal_inputs_from_features,
    deal_training_frame,
    propensity_inputs_from_features,
)
from realestate_assets.ml.market_index import AsOfIndexes, HedonicIndex
from realestate_assets.ml.pipeline import (
    PREDICTED_COLUMNS,
    Trained,
    explain_prospects,
    score_chunks,
    score_features,
    train_all,
)
from realestate_assets.ml.scoring import MODEL_WEIGHTS, SALE_FLAG_COLUMNS, SCORE_COMPONENT_COLUMNS, score_components_of
from tests.scoring.helpers_scoring import fast_scoring, king_sales, prospect_features


@pytest.fixture(scope="module")
def trained() -> Trained:
    return train_all(king_sales(), fast_scoring())


def test_avm_beats_nearest_comps_and_hedonic_ols_on_the_time_holdout(trained: Trained) -> None:
    comparison = trained.avm.comparison
    avm = comparison["avm_lightgbm"]["mdape_pct"]
    assert avm < comparison["nearest_comps_size_adjusted"]["mdape_pct"]
    assert avm < comparison["hedonic_ols"]["mdape_pct"]
    # The frozen model held at its last training month drifts behind the rising market; both the
    # projected index (the estimate) and monthly re-indexing (values moved between retrains) remove
    # most of that drift.
    flat = comparison["avm_lightgbm_flat"]
    assert comparison["avm_lightgbm_reindexed_monthly"]["mdape_pct"] < flat["mdape_pct"]
    assert abs(comparison["avm_lightgbm_reindexed_monthly"]["median_error_pct"]) < abs(flat["median_error_pct"])
    assert avm < flat["mdape_pct"] and abs(comparison["avm_lightgbm"]["median_error_pct"]) < abs(
        flat["median_error_pct"])
    # Every estimate carries an 80% range, measured on the hold-out.
    assert 60 < trained.avm.metrics["interval_coverage_pct"] < 95
    assert trained.avm.intervals is not None and trained.avm.forecast is not None
    assert trained.avm.selection["blend_weight"] in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
    assert {"mdape_pct", "pe10_pct", "pe20_pct", "median_error_pct", "cod", "prd", "prb"} <= set(
        comparison["hedonic_ols"])
    assert trained.avm.tuning["trials"] == 3 and trained.avm.eval_booster is not None


def test_hedonic_index_rises_with_the_seattle_market() -> None:
    index = HedonicIndex.from_sales(king_sales())
    assert index.by_month.iloc[0] == pytest.approx(1.0)
    assert 1.3 < index.by_month.iloc[-1] < 2.0  # King County prices rose strongly 2010 → 2016
    as_of = AsOfIndexes(king_sales()).before(pd.Timestamp("2014-01-15"))
    assert as_of.last_month == pd.Timestamp("2013-12-01")  # nothing from January 2014 itself


def test_deal_model_is_calibrated_and_beats_chance_on_its_holdout(trained: Trained) -> None:
    deal = trained.deal
    assert deal is not None, trained.skipped
    assert deal.metrics["auc"] > 0.65 and deal.metrics["n"] >= 50
    assert deal.extra["excluded_built_or_renovated_after_purchase"] > 0
    frame, _, _ = deal_training_frame(king_sales(), CompsSettings.from_scoring(fast_scoring()),
                                      threshold=deal.extra["threshold_log"])
    p = deal.predict_proba(frame)
    assert ((p > 0) & (p < 1)).all()
    assert p.mean() == pytest.approx(frame["is_deal"].mean(), abs=0.08)  # Platt-calibrated
    restored = TrainedClassifier.from_bytes(deal.to_bytes())
    np.testing.assert_allclose(restored.predict_proba(frame), p)
    assert set(DEAL_NUMERIC) <= set(deal.feature_names)


def test_sale_propensity_probabilities_near_the_base_rate(trained: Trained) -> None:
    model = trained.propensity
    assert model is not None, trained.skipped
    assert model.metrics["auc"] > 0.5
    assert model.metrics["mean_predicted"] == pytest.approx(model.metrics["base_rate"], abs=0.03)


def test_shap_contributions_add_up_to_each_models_prediction(trained: Trained) -> None:
    sample = training_frame(king_sales().head(40))
    contributions = trained.avm.contributions(sample)
    np.testing.assert_allclose(np.exp(contributions.sum(axis=1)), trained.avm.predict(sample), rtol=1e-6)
    frame, _, _ = deal_training_frame(king_sales().head(800), CompsSettings.from_scoring(fast_scoring()))
    deal_contrib = trained.deal.contributions(frame)
    np.testing.assert_allclose(deal_contrib.sum(axis=1), trained.deal.margin(frame), rtol=1e-6, atol=1e-9)


def test_predictions_and_contributions_are_the_same_on_any_number_of_threads(
        trained: Trained, monkeypatch: pytest.MonkeyPatch) -> None:
    """`PREDICT_THREADS` (issue 17: `scores` predicts on both cores) changes no value, to the bit."""
    from realestate_assets.ml import compiled as compiled_module
    from realestate_assets.ml import treeshap as treeshap_module
    from realestate_assets.ml.deal import propensity_inputs_from_features

    features = prospect_features(500)
    inputs = training_frame(king_sales().head(500))
    prop_x = propensity_inputs_from_features(features)

    def outputs() -> list[np.ndarray]:
        return [trained.avm.estimate(inputs, features["as_of_date"]).to_numpy(),
                trained.avm.contributions(inputs).to_numpy(), trained.propensity.predict_proba(prop_x),
                trained.propensity.contributions(prop_x).to_numpy()]

    results = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(compiled_module, "PREDICT_THREADS", threads)  # the predictions' (ml/compiled.predict)
        monkeypatch.setattr(treeshap_module, "PREDICT_THREADS", threads)  # LightGBM's SHAP where it is the fallback
        results.append(outputs())
    for other in results[1:]:
        for one, many in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(one, many)


def test_scores_are_bounded_versioned_and_explained_only_where_read(trained: Trained) -> None:
    features = prospect_features()
    settings = fast_scoring(packet_threshold=80, explain_top_n=5)
    versions = {"avm": "avm-test", "deal": "deal-test", "sale_propensity": "sp-test"}
    scored = score_features(features, trained.avm, trained.deal, trained.propensity, versions, settings)
    frame = scored.frame
    assert scored.method == "models"
    assert frame["bird_dog_score"].between(0, 100).all() and frame["score_rank"].is_unique
    assert frame["deal_probability"].notna().sum() == 10
    # Every estimate carries its 80% range (scores.estimated_value_low/high).
    assert (frame["estimated_value_low"] < frame["estimated_value"]).all()
    assert (frame["estimated_value"] < frame["estimated_value_high"]).all()
    assert frame["sale_probability_12m"].between(0, 1).all()
    # The versions are the county's, written once beside the rows (migration 0060), not per row.
    assert "model_versions" not in frame and "score_components" not in frame
    explain = (frame["bird_dog_score"] >= 80) | (frame["score_rank"] <= 5)
    assert frame.loc[explain, "score_breakdown"].notna().all()
    assert frame.loc[~explain, "score_breakdown"].isna().all() and scored.explained == explain.sum()
    breakdown = frame.loc[explain, "score_breakdown"].iloc[0]
    assert len(breakdown["value_factors"]) == 5 and breakdown["sale_drivers"]
    assert any("chance of a sale" in reason for reason in breakdown["reasons"])
    # Issue 13: an unlisted property whose last sale is far from its comps has no value gap, and its
    # equity percentile is missing (its weight spread), however large the "gap" would have been.
    ratio = features["last_sale_price_indexed"] / (features["comps_median_price_per_sqft"] * features["living_sqft"])
    suspect = ((ratio < 0.5) | (ratio > 2.0)) & features["list_price"].isna()
    assert suspect.any() and scored.suspect_sales == suspect.sum()
    assert frame.loc[suspect, "value_gap_pct"].isna().all()
    assert frame.loc[suspect, SCORE_COMPONENT_COLUMNS["equity"]].isna().all()
    # The percentiles as their columns, rounded to 4 places (each a k / 10,000 in [0, 1]).
    percentiles = frame[list(SCORE_COMPONENT_COLUMNS.values())].to_numpy(dtype=float)
    known = percentiles[~np.isnan(percentiles)]
    assert known.size and ((known >= 0) & (known <= 1) & (np.round(known, 4) == known)).all()
    assert frame.loc[~suspect & features["list_price"].isna(), "value_gap_pct"].notna().all()
    for b in frame["score_breakdown"].dropna():  # one statement per fact
        assert len(b["reason_facts"]) == len(set(b["reason_facts"])) == len(b["reasons"])
    listed = frame.loc[frame["deal_probability"].notna()].index
    text = score_features(features.loc[listed], trained.avm, trained.deal, trained.propensity, versions,
                          fast_scoring(packet_threshold=0)).frame["score_breakdown"].iloc[0]["deal_drivers"]
    assert text and all("deal probability" in d["text"] for d in text)


def test_scoring_a_county_in_chunks_gives_the_rows_of_scoring_it_whole(trained: Trained,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The `scores` asset streams the county (issue 17): predictions per chunk, percentiles, rank
    and reasons county-wide; every value and every reason as if scored in one frame."""
    features = prospect_features(600)
    features.loc[features.index % 97 == 3, "list_price"] = 500_000.0  # listed rows in every chunk
    settings = fast_scoring(packet_threshold=70, explain_top_n=5)
    versions = {"avm": "avm-test", "deal": "deal-test", "sale_propensity": "sp-test"}
    models = (trained.avm, trained.deal, trained.propensity, versions, settings)
    whole = score_features(features, *models)
    asked: list[list[str]] = []

    def rows_for(chosen: pd.DataFrame) -> pd.DataFrame:  # as the asset reads them again: by key
        asked.append(chosen["prospect_key"].tolist())
        return features.set_index("prospect_key", drop=False).loc[chosen["prospect_key"]].reset_index(drop=True)

    chunked = score_chunks((features.iloc[i:i + 70] for i in range(0, len(features), 70)), *models,
                           rows_for=rows_for)
    assert 0 < whole.explained == chunked.explained < len(features) and not asked  # nothing explained yet
    assert (whole.method, whole.suspect_sales) == (chunked.method, chunked.suspect_sales)
    # The output a part at a time (not aligned with the input chunks), the explained rows of
    # consecutive parts read and explained together, at most EXPLAIN_FIRST_BATCH_ROWS in the first
    # batch and twice the last's in each next, up to EXPLAIN_BATCH_ROWS (here all in one batch,
    # then in batches of a few parts, then one part at a time; the next batch explained by a
    # thread while a batch's parts are made): the parts together are the whole county's frame.
    parts = list(chunked.parts(130))
    assert [len(p) for p in parts] == [130, 130, 130, 130, 80]
    assert sum(map(len, asked)) == whole.explained and len(asked) == 1
    streamed = pd.concat(parts)
    pd.testing.assert_frame_equal(streamed, whole.frame)
    for batch in (whole.explained // 2, 1):
        monkeypatch.setattr(pipeline, "EXPLAIN_FIRST_BATCH_ROWS", batch)
        monkeypatch.setattr(pipeline, "EXPLAIN_BATCH_ROWS", batch)
        asked.clear()
        pd.testing.assert_frame_equal(pd.concat(chunked.parts(130)), whole.frame)
        assert sum(map(len, asked)) == whole.explained and 1 < len(asked) <= 5
    assert streamed["score_breakdown"].notna().sum() == whole.explained
    pd.testing.assert_frame_equal(chunked.best(10).drop(columns="score_breakdown"),
                                  whole.frame.nsmallest(10, "score_rank").drop(columns="score_breakdown"))
    for propensity in (trained.propensity, None):  # the rule's percentiles too
        alone = score_features(features, trained.avm, trained.deal, propensity, versions, settings,
                               explain_keys=features["prospect_key"].iloc[[5, 400]])
        pieces = score_chunks((features.iloc[i:i + 250] for i in range(0, len(features), 250)), trained.avm,
                              trained.deal, propensity, versions, settings, rows_for=rows_for,
                              explain_keys=features["prospect_key"].iloc[[5, 400]])
        pd.testing.assert_frame_equal(pd.concat(pieces.parts(250)), alone.frame)
        assert pieces.explained == 2


def test_the_last_sales_flags_read_apart_judge_the_sales_as_the_chunks_flags_do(trained: Trained) -> None:
    """The `scores` asset reads the prospects whose last sale has a flag apart from the feature
    rows (`last_sale_flags`): the county's rows are those of its feature rows carrying the flags."""
    features = prospect_features(600)
    position = np.arange(len(features))
    carrying = features.assign(
        last_sale_instrument=np.where(position % 7 == 1, "Quit Claim Deed", np.where(position % 13 == 2, "", None)),
        last_sale_reason=None,
        last_sale_warnings=np.where(position % 11 == 4, "RELATED PARTY", None))
    settings = fast_scoring(packet_threshold=70, explain_top_n=5,
                            suspect_sale=SuspectSaleRule(non_market_terms=["quit claim", "related part"]))
    versions = {"avm": "avm-test", "deal": "deal-test", "sale_propensity": "sp-test"}
    whole = score_features(carrying, trained.avm, trained.deal, trained.propensity, versions, settings)
    flags = list(SALE_FLAG_COLUMNS)
    flagged = carrying.loc[carrying[flags].notna().any(axis=1), ["prospect_key", *flags]].sample(frac=1, random_state=3)
    flagged = pd.concat([flagged, pd.DataFrame({"prospect_key": ["no feature row"], flags[0]: ["Quit Claim Deed"]})])
    by_key = carrying.set_index("prospect_key", drop=False)
    asked: list[int] = []
    apart = score_chunks((features.iloc[i:i + 70] for i in range(0, len(features), 70)), trained.avm, trained.deal,
                         trained.propensity, versions, settings,
                         rows_for=lambda chosen: by_key.loc[chosen["prospect_key"]].reset_index(drop=True),
                         last_sale_flags=lambda: asked.append(1) or flagged)
    assert asked == [1]  # asked for once, when the chunks are predicted
    assert apart.suspect_sales == whole.suspect_sales
    assert whole.suspect_sales > score_features(features, trained.avm, trained.deal, trained.propensity, versions,
                                                settings, explain=False).suspect_sales  # the flags count
    pd.testing.assert_frame_equal(pd.concat(apart.parts(130)), whole.frame)


def test_the_chunks_narrowed_to_the_predicted_columns_score_as_the_whole_rows(trained: Trained) -> None:
    """The `scores` asset streams only `PREDICTED_COLUMNS` of the feature rows (the explained rows
    are read whole): the same county as from the whole rows, with every input the models may read
    present and varied (the optional ones — the asking price, the sale count, the last price —
    would be NaN, not an error, if the list left them out)."""
    features = prospect_features(600)
    position = np.arange(len(features))
    features = features.assign(
        last_sale_price=features["last_sale_price_indexed"] * (0.6 + (position % 9) / 20),
        last_price_to_comps_value=0.7 + (position % 13) / 20, sale_count=1.0 + position % 4,
        # columns the predictions never read: not streamed
        tract_median_household_income=50_000.0 + position, absentee_owner=(position % 3 == 0).astype(float))
    features.loc[features.index % 97 == 3, "list_price"] = 500_000.0
    assert set(PREDICTED_COLUMNS) < set(features.columns)
    settings = fast_scoring(packet_threshold=70, explain_top_n=5)
    versions = {"avm": "avm-test", "deal": "deal-test", "sale_propensity": "sp-test"}
    whole = score_features(features, trained.avm, trained.deal, trained.propensity, versions, settings)
    narrow = features[PREDICTED_COLUMNS]
    by_key = features.set_index("prospect_key", drop=False)
    streamed = score_chunks((narrow.iloc[i:i + 70] for i in range(0, len(narrow), 70)), trained.avm, trained.deal,
                            trained.propensity, versions, settings,
                            rows_for=lambda chosen: by_key.loc[chosen["prospect_key"]].reset_index(drop=True))
    pd.testing.assert_frame_equal(pd.concat(streamed.parts(130)), whole.frame)
    # The models' inputs themselves, whether or not these models split on each of them.
    estimated = whole.frame["estimated_value"]
    for inputs in (scoring_frame, propensity_inputs_from_features, lambda f: deal_inputs_from_features(f, estimated)):
        pd.testing.assert_frame_equal(inputs(narrow), inputs(features))


def test_avm_artifact_keeps_both_boosters(trained: Trained) -> None:
    restored = TrainedAvm.from_bytes(trained.avm.to_bytes())
    sample = training_frame(king_sales().head(20))
    np.testing.assert_allclose(restored.predict_holdout(sample), trained.avm.predict_holdout(sample))
    assert restored.comparison.keys() == trained.avm.comparison.keys()


def test_a_few_prospects_explained_alone_as_when_their_county_is_scored(trained: Trained) -> None:
    """Reasons on demand (ml/on_demand.py): a prospect's feature row, the models and its stored
    percentiles give the reasons scoring the whole county gives it — listed, unlisted, suspect."""
    features = prospect_features()
    settings = fast_scoring()
    versions = {"avm": "avm-test", "deal": "deal-test", "sale_propensity": "sp-test"}
    stored = score_features(features, trained.avm, trained.deal, trained.propensity, versions, settings,
                            explain=False).frame
    ratio = features["last_sale_price_indexed"] / (features["comps_median_price_per_sqft"] * features["living_sqft"])
    suspect = features.index[((ratio < 0.5) | (ratio > 2.0)) & features["list_price"].isna()]
    chosen = [0, 3, 150, int(suspect[0])]  # two listed (a deal probability), one plain, one suspect sale
    keys = features["prospect_key"].iloc[chosen].tolist()
    whole = score_features(features, trained.avm, trained.deal, trained.propensity, versions, settings,
                           explain_keys=keys).frame.set_index("prospect_key")["score_breakdown"]
    # As stored (migration 0060's columns, rounded) and read back (`score_components_of`: None for NULL).
    components = pd.DataFrame([score_components_of(row, MODEL_WEIGHTS)
                               for row in stored.iloc[chosen].to_dict("records")])
    alone = explain_prospects(features.iloc[chosen], components, trained.avm, trained.deal, trained.propensity,
                              settings)
    assert list(alone) == keys
    for key in keys:
        assert alone[key] == whole[key], key
    assert alone[keys[0]]["deal_drivers"] and alone[keys[-1]]["suspect_sale"]


def test_the_reasons_budget_explains_the_best_candidates_first() -> None:
    """`explain_max_rows` bounds the explained rows to the best ranks (never fewer than
    `explain_top_n`); 0 explains every candidate. One rule for the asset and its check."""
    from realestate_assets.ml.pipeline import explain_last_rank, explained_by_default

    score = pd.Series([90.0, 80.0, 10.0, 76.0, 75.0, 20.0, 95.0])
    rank = score.rank(ascending=False, method="first").astype(int)  # 2, 3, 7, 4, 5, 6, 1
    every = fast_scoring(packet_threshold=75, explain_top_n=1, explain_max_rows=0)
    assert explain_last_rank(every) is None
    assert explained_by_default(score, rank, every).tolist() == [True, True, False, True, True, False, True]
    budget = fast_scoring(packet_threshold=75, explain_top_n=1, explain_max_rows=3)
    assert explain_last_rank(budget) == 3
    assert explained_by_default(score, rank, budget).tolist() == [True, True, False, False, False, False, True]
    top = fast_scoring(packet_threshold=99, explain_top_n=6, explain_max_rows=2)  # the top N stays whole
    assert explain_last_rank(top) == 6
    assert explained_by_default(score, rank, top).tolist() == [True, True, False, True, True, True, True]
    assert fast_scoring().explain_max_rows == 5000  # the shipped default (config/scoring.yaml says why)
