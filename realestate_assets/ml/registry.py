"""The model registry (`ml_models`): which model of each kind is active for a county, and
champion/challenger promotion. No Dagster imports: the `ml_model` asset, the CLI and the tests
all call these.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd

from realestate_assets.db.slice_versions import writing_county
from realestate_assets.db.warehouse import Warehouse, to_json
from realestate_assets.enrich.market import CompsSettings
from realestate_assets.ml.activation import retire_others
from realestate_assets.ml.avm import TrainedAvm, training_fingerprint, training_frame, with_asof_comps
from realestate_assets.ml.classifier import TrainedClassifier, classification_metrics
from realestate_assets.ml.compiled import on_first_use
from realestate_assets.ml.deal import deal_training_frame, propensity_frame
from realestate_assets.ml.market_index import AsOfIndexes
from realestate_assets.ml.pipeline import avm_settings
from realestate_assets.ml.promotion import Decision, contest_start, decide
from realestate_assets.objects import object_intact, public_key

MODEL_NAME = "avm"
MODEL_NAMES = ("avm", "deal", "sale_propensity")


class NoActiveModel(LookupError):
    """The county has no active AVM yet (its `ml_model` partition was never materialized)."""


def model_key(county: str, version: str) -> str:
    """The object key of a model artifact: public county data (one model per county, shared by
    every tenant that follows it, DESIGN §9), by county and version (the version carries the
    training-data and settings fingerprint). Artifacts registered before migration 0016 keep their
    `tenants/<id>/models/…` key in `ml_models.artifact_path`, which is what loading reads."""
    return public_key("models", county, f"{version}.json")


def active_model(wh: Warehouse, params: dict[str, str], name: str = MODEL_NAME) -> pd.Series | None:
    found = wh.frame("SELECT version, artifact_path, artifact_sha256, metrics, holdout_start, training_end "
                     "FROM ml_models "
                     "WHERE county = :county AND model_name = :name AND is_active",
                     {"county": params["county"], "name": name})
    return None if found.empty else found.iloc[0]


def load_model(store: Any, row: pd.Series | None, kind: type) -> Any:
    """The registered model, read back only if its artifact still matches the recorded sha256
    (ValueError otherwise: the next `ml_model` run writes it again)."""
    if row is None:
        return None
    data = store.get(row.artifact_path)
    if hashlib.sha256(data).hexdigest() != row.artifact_sha256:
        raise ValueError(f"model artifact {row.artifact_path} does not match its recorded sha256")
    return kind.from_bytes(data)


def load_active_models(wh: Warehouse, store: Any, params: dict[str, str], compiled_trees: bool = False,
                       ) -> tuple[Any, Any, Any, dict[str, str]]:
    """The county's active AVM, deal and sale-propensity models (the latter two may be None) and versions.

    `compiled_trees`: each final booster's trees compiled (`ml/compiled.py`, kept in `store` by
    the artifact's sha256) when it first predicts, for a caller that predicts a county's rows
    (`scores`); a model that cannot be compiled predicts with LightGBM, its `forest.engine` says
    why (or that it predicted nothing, so was not compiled)."""
    rows = {name: active_model(wh, params, name) for name in MODEL_NAMES}
    if rows["avm"] is None:
        raise NoActiveModel(f"no active AVM for {params['county']}: materialize ml_model first")
    versions = {name: row.version for name, row in rows.items() if row is not None}
    models = {"avm": load_model(store, rows["avm"], TrainedAvm),
              "deal": load_model(store, rows["deal"], TrainedClassifier),
              "sale_propensity": load_model(store, rows["sale_propensity"], TrainedClassifier)}
    if compiled_trees:
        for name, model in models.items():
            if model is not None:  # the AVM's value is LightGBM's output, the classifiers' their margin
                model.forest = on_first_use(model.booster, name != "avm", store, rows[name].artifact_sha256, name)
    return models["avm"], models["deal"], models["sale_propensity"], versions


def compiles_trees(rows: int, scoring: Any) -> bool:
    """Whether a county of `rows` feature rows is predicted by its models' compiled trees
    (ml/compiled.py; config `compiled_trees_min_rows`): compiling costs ≈8–10 CPU s once per
    model set and kind of node, and saves ≈10 µs a row, so it pays only for big counties."""
    return rows >= scoring.compiled_trees_min_rows


def compile_active_models(wh: Warehouse, store: Any, params: dict[str, str]) -> dict[str, str]:
    """The county's active models' trees compiled now and kept in the object store beside their
    artifacts (or found there already), as `scores` would make them on first use; {model: engine}.

    Called when a model set is registered (`ml_model`, for a county `compiles_trees`): the compile
    is then a model artifact made once, like the LightGBM text, and a `scores` run reads it
    (≈0.2 s) instead of compiling on its critical path (≈8 CPU s at a million parcels,
    docs/scale.md, twenty-third round (a)). The code is compiled for this process's CPU
    (`compiled.target`): a `scores` pod on another kind of node compiles its own on first use."""
    try:
        models = load_active_models(wh, store, params, compiled_trees=True)[:3]
    except (NoActiveModel, ValueError, KeyError, OSError) as exc:  # an optimization: never fails the caller
        return {"none": f"not compiled: {exc}"}
    made = {}
    for name, model in zip(MODEL_NAMES, models, strict=True):
        if model is not None:
            forest = model.forest.ready()
            made[name] = forest.engine + (" (compiled now)" if forest.compiled_now else "")
    return made


def avm_decision(challenger: TrainedAvm, champion: TrainedAvm | None, champion_version: str | None,
                 sales: pd.DataFrame, comps: CompsSettings | None = None,
                 indexes: AsOfIndexes | None = None) -> Decision:
    ordered = sales.sort_values("sale_date", kind="stable").reset_index(drop=True)
    frame = training_frame(ordered)
    if comps is not None and any("comps_value" in m.features for m in (challenger, champion) if m is not None):
        # A model that uses its neighbours is judged with them: each sale's comps as of its date.
        frame = with_asof_comps(frame, ordered, comps, indexes or AsOfIndexes(ordered))
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


def artifact_intact(store: Any, stored: Any) -> bool:
    """The stored artifact exists and reads back with the sha256 it was written with."""
    return object_intact(store, stored.key, stored.sha256)


def promotion_decision(name: str, challenger: Any, champion: Any, champion_version: str | None,
                       sales: pd.DataFrame, scoring: Any, indexes: AsOfIndexes) -> Decision:
    """Challenger against the active model of its kind, on the same hold-out."""
    if name == "avm":
        return avm_decision(challenger, champion, champion_version, sales, CompsSettings.from_scoring(scoring),
                            indexes)
    if name == "deal":
        # The same inputs the models were trained with (as-of AVM values, comps): a model judged
        # without them would lose the contest for want of its inputs, not its skill.
        frame, _, _ = deal_training_frame(sales, CompsSettings.from_scoring(scoring), indexes,
                                          threshold=challenger.extra["threshold_log"],
                                          avm_settings=avm_settings(scoring))
        return classifier_decision(challenger, champion, champion_version, frame, "is_deal", "sale_date")
    frame = propensity_frame(sales, indexes, rule=CompsSettings.from_scoring(scoring))
    return classifier_decision(challenger, champion, champion_version, frame, "sold_next_12m", "snapshot")


def register(wh: Warehouse, county: str, name: str, version: str, kind: str, model: Any, stored: Any,
             decision: Decision | None, training_rows: int) -> bool:
    """Upsert the registry row; activate it only when the decision says so. Returns is_active."""
    same_as_active = decision is None
    with wh.transaction() as conn, conn.cursor() as cur:
        writing_county(cur, county)  # its statements write this county's rows alone (db/slice_versions.py)
        cur.execute("SELECT is_active FROM ml_models WHERE county = %s AND model_name = %s "
                    "AND version = %s", (county, name, version))
        existing = cur.fetchone()
        activate = decision.promote if decision is not None else bool(existing and existing[0])
        if activate:
            retire_others(cur, county, name, version)
        status = "active" if activate else "challenger_rejected"
        promotion = decision.as_dict() if decision is not None else {"reason": "same version re-registered"}
        cur.execute(
            "INSERT INTO ml_models (county, model_name, version, kind, metrics, hyperparameters, "
            "feature_names, training_start, training_end, holdout_start, artifact_path, artifact_sha256, "
            "is_active, status, promotion, training_rows) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (county, model_name, version) DO UPDATE SET "
            "metrics = EXCLUDED.metrics, artifact_path = EXCLUDED.artifact_path, "
            "artifact_sha256 = EXCLUDED.artifact_sha256, is_active = EXCLUDED.is_active, status = EXCLUDED.status, "
            "promotion = CASE WHEN %s THEN ml_models.promotion ELSE EXCLUDED.promotion END",
            (county, name, version, kind, to_json(_metrics_of(model)), to_json(model.params),
             to_json(_features_of(model)), model.training_start, model.training_end, model.holdout_start,
             stored.key, stored.sha256, activate, status, to_json(promotion), training_rows, same_as_active))
    return activate


def _metrics_of(model: Any) -> dict[str, Any]:
    importance = dict(model.importance)  # gain share per feature: the API's feature importance
    if isinstance(model, TrainedAvm):
        return {**model.metrics, "comparison": model.comparison, "tuning": model.tuning, "importance": importance}
    return {**model.metrics, "tuning": model.tuning, "label": model.extra, "calibration": model.calibration_points,
            "importance": importance}


def _features_of(model: Any) -> list[str]:
    return model.booster.feature_name() if isinstance(model, TrainedAvm) else model.feature_names


def fingerprint(sales: pd.DataFrame, settings: Any, name: str) -> str:
    digest = hashlib.sha256(training_fingerprint(sales, avm_settings(settings)).encode())
    digest.update(json.dumps({"name": name, **settings.model_dump()}, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]

