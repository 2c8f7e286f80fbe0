"""`ml_model` (the AVM, registered in `ml_models`) and `scores` (value, bird-dog score, reasons)."""


import hashlib

import dagster as dg
import numpy as np
import pandas as pd

from realestate_assets.assets.common import (
    OWNERS,
    check,
    county_sales,
    histogram_markdown,
    partition_params,
    table_metadata,
    tenant,
)
from realestate_assets.config_models import ScoringConfig, load_scoring
from realestate_assets.db.warehouse import Warehouse, advance_status, sync_partition, to_json
from realestate_assets.ml.avm import AvmSettings, TrainedAvm, scoring_frame, train_avm, training_fingerprint
from realestate_assets.ml.scoring import bird_dog_score, component_reasons, score_components, top_factors, value_gap_pct
from resources import ObjectStoreResource, WarehouseResource

MODEL_NAME = "avm"


def avm_settings(scoring: ScoringConfig) -> AvmSettings:
    return AvmSettings(num_boost_round=scoring.num_boost_round, learning_rate=scoring.learning_rate,
                       num_leaves=scoring.num_leaves, min_data_in_leaf=scoring.min_data_in_leaf,
                       holdout_fraction=scoring.holdout_fraction, seed=scoring.seed)


def active_model(wh: Warehouse, params: dict[str, str]) -> pd.Series | None:
    found = wh.frame("SELECT version, artifact_path, metrics FROM ml_models WHERE tenant_id = :tenant "
                     "AND county = :county AND model_name = 'avm' AND is_active", params)
    return None if found.empty else found.iloc[0]


def build(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=partitions,
        group_name="scoring",
        kinds={"lightgbm", "postgres"},
        owners=OWNERS,
        deps=["sales"],
        automation_condition=dg.AutomationCondition.eager(),
        description="LightGBM AVM on log sale price, evaluated on a time hold-out (newest sales) with "
                    "the IAAO ratio study, artifact in the object store, registered in `ml_models` "
                    "and activated. Same sales and settings give the same version (re-runs re-register).",
        check_specs=[
            dg.AssetCheckSpec("holdout_accuracy", asset="ml_model",
                              description="hold-out MdAPE ≤ 25% and COD ≤ 30"),
            dg.AssetCheckSpec("artifact_matches_registry", asset="ml_model", blocking=True,
                              description="the stored artifact exists and its sha256 matches"),
        ],
        tags={"stage": "training"},
    )
    def ml_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 object_store: ObjectStoreResource) -> dg.MaterializeResult:
        wh, store = warehouse.get(), object_store.get()
        params = partition_params(context)
        settings = avm_settings(load_scoring())
        sales = county_sales(wh, params)
        version = f"{MODEL_NAME}-{context.partition_key}-{training_fingerprint(sales, settings)}"
        model = train_avm(sales, settings)
        stored = store.put(f"models/{context.partition_key}/{version}.json", model.to_bytes(),
                           "application/json")
        with wh.transaction() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO ml_models (tenant_id, county, model_name, version, kind, metrics, "
                "hyperparameters, feature_names, training_start, training_end, holdout_start, "
                "artifact_path, artifact_sha256, is_active) "
                "VALUES (%s, %s, %s, %s, 'lightgbm_regressor', %s, %s, %s, %s, %s, %s, %s, %s, true) "
                "ON CONFLICT (tenant_id, county, model_name, version) DO UPDATE SET "
                "metrics = EXCLUDED.metrics, artifact_path = EXCLUDED.artifact_path, "
                "artifact_sha256 = EXCLUDED.artifact_sha256, is_active = true",
                (tenant(), context.partition_key, MODEL_NAME, version, to_json(model.metrics),
                 to_json(settings.params()), to_json(model.booster.feature_name()),
                 model.training_start, model.training_end, model.holdout_start, stored.key, stored.sha256))
            # One active model per county: the newest registration (promotion rules: issue #5).
            cur.execute("UPDATE ml_models SET is_active = false WHERE tenant_id = %s AND county = %s "
                        "AND model_name = %s AND version <> %s AND is_active",
                        (tenant(), context.partition_key, MODEL_NAME, version))
        metrics = model.metrics
        reread_ok = store.exists(stored.key) and \
            hashlib.sha256(store.get(stored.key)).hexdigest() == stored.sha256
        table = "\n".join(["| metric | hold-out |", "|---|---:|"] +
                          [f"| {k} | {v:.4g} |" for k, v in metrics.items()])
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": 1, "model_version": version, "artifact": stored.uri,
                "training_window": f"{model.training_start} → {model.training_end}",
                "holdout_start": model.holdout_start,
                "metrics": dg.MetadataValue.md(table),
                **{f"holdout_{k}": float(v) for k, v in metrics.items()},
            },
            check_results=[
                check("holdout_accuracy", metrics["mdape_pct"] <= 25 and metrics["cod"] <= 30,
                      f"MdAPE {metrics['mdape_pct']:.1f}%, COD {metrics['cod']:.1f} on "
                      f"{metrics['n']} hold-out sales", severity="WARN"),
                check("artifact_matches_registry", reread_ok, f"{stored.uri} sha256 {stored.sha256[:12]}…"),
            ],
        )

    @dg.asset(
        partitions_def=partitions,
        group_name="scoring",
        kinds={"lightgbm", "postgres"},
        owners=OWNERS,
        deps=["features", ml_model],
        automation_condition=dg.AutomationCondition.eager(),
        description="Per prospect: the AVM's estimated value, the value gap, a 0-100 `bird_dog_score` "
                    "(transparent rule: docs/scoring.md) and the model version. SHAP reasons "
                    "(`score_breakdown`) are computed only where they are read: every property at or "
                    "above the packet threshold, plus the county's top `explain_top_n`.",
        check_specs=[
            dg.AssetCheckSpec("scores_in_range_with_model", asset="scores", blocking=True,
                              description="0 ≤ bird_dog_score ≤ 100 and a model version on every row"),
            dg.AssetCheckSpec("every_feature_row_scored", asset="scores", blocking=True),
            dg.AssetCheckSpec("packet_candidates_explained", asset="scores", blocking=True,
                              description="every property that will get a memo has its reasons"),
        ],
        tags={"stage": "scoring"},
    )
    def scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
               object_store: ObjectStoreResource) -> dg.MaterializeResult:
        wh, store = warehouse.get(), object_store.get()
        params = partition_params(context)
        scoring = load_scoring()
        registered = active_model(wh, params)
        if registered is None:
            raise dg.Failure(f"no active AVM for {context.partition_key}: materialize ml_model first")
        model = TrainedAvm.from_bytes(store.get(registered.artifact_path))
        features = wh.frame("SELECT * FROM features WHERE tenant_id = :tenant AND county = :county "
                            "ORDER BY prospect_key", params)
        frame = score_frame(features, model, registered.version, scoring)
        with wh.transaction() as conn:
            stats = sync_partition(conn, "scores", frame, tenant_id=tenant(),
                                   county=context.partition_key, keys=["prospect_key"])
            advance_status(conn, tenant_id=tenant(), county=context.partition_key, status="scored",
                           keys=frame["prospect_key"].tolist())
        in_range = frame["bird_dog_score"].between(0, 100).all() and frame["model_version"].notna().all()
        candidates = frame["bird_dog_score"] >= scoring.packet_threshold
        unexplained = int((candidates & frame["score_breakdown"].isna()).sum())
        return dg.MaterializeResult(
            metadata=table_metadata(
                wh, "scores", stats.rows,
                lineage={"estimated_value": [("features", c) for c in ("living_sqft", "lot_sqft", "beds",
                                                                          "baths", "bldg_grade", "age_years")],
                         "bird_dog_score": [("features", "last_sale_price_indexed"),
                                            ("features", "years_since_last_sale"),
                                            ("features", "eff_age_years"),
                                            ("features", "comps_median_price_per_sqft")]},
                model_version=registered.version,
                packet_candidates=int(candidates.sum()),
                explained_rows=int(frame["score_breakdown"].notna().sum()),
                median_score=float(frame["bird_dog_score"].median()) if len(frame) else 0.0,
                score_histogram=histogram_markdown(frame["bird_dog_score"], range(0, 101, 10),
                                                   "bird_dog_score"),
                top_10=dg.MetadataValue.md(top_table(frame))),
            check_results=[
                check("scores_in_range_with_model", bool(in_range),
                      f"{len(frame)} scores in [0, 100] with model {registered.version}"),
                check("every_feature_row_scored", len(frame) == len(features),
                      f"{len(frame)} scores for {len(features)} feature rows"),
                check("packet_candidates_explained", unexplained == 0,
                      f"{int(candidates.sum())} candidates, {unexplained} without reasons"),
            ],
        )

    return [ml_model, scores]


def score_frame(features: pd.DataFrame, model: TrainedAvm, version: str,
                scoring: ScoringConfig) -> pd.DataFrame:
    """Value, score, rank and — only for rows that will be read — SHAP reasons."""
    inputs = scoring_frame(features)
    estimated = pd.Series(model.predict(inputs), index=features.index)
    components = score_components(features, estimated)
    score = bird_dog_score(components)
    gap = value_gap_pct(estimated, features["last_sale_price_indexed"])
    rank = score.rank(ascending=False, method="first").astype(int)
    explain = (score >= scoring.packet_threshold) | (rank <= scoring.explain_top_n)
    breakdown = pd.Series([None] * len(features), index=features.index, dtype=object)
    if explain.any():
        contributions = model.contributions(inputs.loc[explain])
        factors = top_factors(contributions, inputs.loc[explain])
        for position, row_index in enumerate(contributions.index):
            breakdown.at[row_index] = {
                "value_factors": factors[position],
                "reasons": component_reasons(components.loc[row_index], features.loc[row_index],
                                             gap.loc[row_index]),
                "base_value": float(np.exp(contributions.at[row_index, "bias"])),
            }
    return pd.DataFrame({
        "prospect_key": features["prospect_key"],
        "as_of_date": features["as_of_date"],
        "estimated_value": estimated.round(0),
        "value_gap_pct": gap.round(2),
        "bird_dog_score": score,
        "score_rank": rank,
        "score_components": [{k: (None if pd.isna(v) else round(float(v), 4)) for k, v in row.items()}
                             for row in components.to_dict("records")],
        "score_breakdown": breakdown,
        "model_version": version,
    })


def top_table(frame: pd.DataFrame) -> str:
    top = frame.nsmallest(10, "score_rank")
    lines = ["| rank | prospect | score | estimated value | value gap |", "|---:|---|---:|---:|---:|"]
    lines += [f"| {r.score_rank} | {r.prospect_key} | {r.bird_dog_score:.1f} | ${r.estimated_value:,.0f} "
              f"| {r.value_gap_pct:.1f}% |" for r in top.itertuples()]
    return "\n".join(lines)
