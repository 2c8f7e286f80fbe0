"""The model registry (issue #11): every trained version of a followed county's models with its
hold-out figures, the baselines it was judged against, feature importance and the promotion
rule's decision. Row-level security admits the followed counties (migration 0014).

Models are public county data, one set per county shared by every tenant that follows it (0016):
* Training (`POST /models/train`): a tenant admin of a tenant that follows the county, or a
  platform admin. It only launches `ml_model` for the county in Dagster (DESIGN §10) and cannot
  harm the other followers: a retrained version is activated only if it beats the active one on
  the same hold-out (ml/promotion.py), and unchanged data gives the same version.
* Activation (`POST /models/{id}/activate`): a platform admin only, since it changes what every
  follower's scores use. The reason is recorded in the model's `promotion`, where the rule
  records its own (ml/activation.py), and in the audit log.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from realestate_assets.api import dagster_runs
from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.schemas import ModelDetail, ModelVersion
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.api.v1.settings_schemas import ActivateRequest, TrainAccepted, TrainRequest, TrainRun
from realestate_assets.db.warehouse import dict_row, dict_rows
from realestate_assets.ml.activation import activate

router = APIRouter(tags=["models"])
ERRORS = (401, 403, 422)
# The figures a list shows, by what the model predicts; the rest is in the detail's `metrics`.
HEADLINE = ("mdape_pct", "pe10_pct", "cod", "prd", "auc", "precision_at_top10_pct", "brier")
SUMMARY_COLUMNS = ("id, county, model_name, version, kind, status, is_active, training_start, training_end, "
                   "holdout_start, training_rows, metrics, promotion, created_at")


class ModelQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    county: list[str] | None = Field(None, description="Counties (repeat the parameter); default all followed")
    model_name: Literal["avm", "deal", "sale_propensity"] | None = None
    active_only: bool = Field(False, description="Only the versions in use")


ModelId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    metrics = row.pop("metrics", None) or {}
    return {**row, "headline": {k: metrics[k] for k in HEADLINE
                                if isinstance(metrics.get(k), int | float) and math.isfinite(metrics[k])}}


@router.get("/models", response_model=list[ModelVersion], responses=responses(*ERRORS),
            summary="Model versions of the followed counties, newest first, with their key hold-out figures")
def list_models(query: Annotated[ModelQuery, Query()], ctx: Context = needs("read")) -> list[dict[str, Any]]:
    conditions, params = ["true"], []
    if query.county:
        conditions.append("county = ANY(%s)")
        params.append(query.county)
    if query.model_name:
        conditions.append("model_name = %s")
        params.append(query.model_name)
    if query.active_only:
        conditions.append("is_active")
    ctx.cur.execute(f"SELECT {SUMMARY_COLUMNS} FROM ml_models WHERE {' AND '.join(conditions)} "
                    "ORDER BY county, model_name, created_at DESC, id DESC", params)
    return [_summary(row) for row in dict_rows(ctx.cur)]


@router.get("/models/{model_id}", response_model=ModelDetail, responses=responses(*ERRORS, 404),
            summary="One model version: every hold-out figure, the baselines, feature importance, the promotion")
def get_model(model_id: ModelId, ctx: Context = needs("read")) -> dict[str, Any]:
    ctx.cur.execute(f"SELECT {SUMMARY_COLUMNS}, hyperparameters, feature_names, artifact_sha256 FROM ml_models "
                    "WHERE id = %s", (model_id,))
    found = dict_rows(ctx.cur)
    if not found:
        raise Problem(404, f"no model {model_id} in the counties this tenant follows")
    row = found[0]
    metrics = row["metrics"] or {}
    # jsonb keeps no key order: sort here, largest share first.
    importance = sorted((metrics.get("importance") or {}).items(), key=lambda item: -(item[1] or 0))
    return {**_summary(dict(row)), "metrics": metrics, "importance": dict(importance)}


def _train_row(ctx: Context, field: str, value: str) -> dict[str, Any] | None:
    """A train this tenant launched, found by a field its audit row keeps (its run_id):
    row-level security confines the search to the tenant's own."""
    ctx.cur.execute("SELECT after, created_at FROM audit_log WHERE action = 'train' AND entity = 'ml_models' "
                    "AND after->>%s = %s ORDER BY id DESC LIMIT 1", (field, value))
    return dict_row(ctx.cur)


@router.post("/models/train", response_model=TrainAccepted, status_code=202,
             responses=responses(*ERRORS, 404, 503),
             summary="Retrain a followed county's models: launches `ml_model` for the county in Dagster")
def train_models(body: TrainRequest, request: Request, ctx: Context = needs("admin")) -> dict[str, Any]:
    """A tenant admin trains the counties the tenant follows (a platform admin, any configured
    county). The new versions replace the active ones only when they win the promotion contest.
    A retry with the same Idempotency-Key never reaches here: api/v1/idempotency.py replays the answer."""
    ctx.cur.execute("SELECT 1 FROM subscriptions WHERE county = %s", (body.county,))
    followed = ctx.cur.fetchone() is not None
    configured = (FilePath(request.app.state.reos.settings.config_dir) / "counties" / f"{body.county}.yaml").is_file()
    if not configured or not (followed or ctx.principal.platform_admin):
        raise Problem(404, f"the tenant does not follow a configured county {body.county!r}")
    try:
        run_id = dagster_runs.launch(request.app.state.reos.dagster,
                                     dagster_runs.model_run(body.county, ctx.tenant_id, ctx.request_id))
    except dagster_runs.DagsterUnavailable as exc:
        raise Problem(503, str(exc)) from exc
    ctx.audit("train", "ml_models", body.county,
              after={"county": body.county, "run_id": run_id})
    return {"county": body.county, "run_id": run_id, "launched_at": datetime.now(UTC)}


@router.post("/models/{model_id}/activate", response_model=ModelVersion, responses=responses(*ERRORS, 404),
             summary="Make a registered version the active one of its county (platform admin), with the reason")
def activate_model(model_id: ModelId, body: ActivateRequest, ctx: Context = needs("platform")) -> dict[str, Any]:
    changed = activate(ctx.cur, model_id, body.reason, ctx.principal.actor)
    if changed is None:
        raise Problem(404, f"no model {model_id}")
    before, after = changed
    ctx.audit("activate", "ml_models", model_id, before=before, after=after)
    ctx.cur.execute(f"SELECT {SUMMARY_COLUMNS} FROM ml_models WHERE id = %s", (model_id,))
    return _summary(dict_rows(ctx.cur)[0])


@router.get("/models/train/{run_id}", response_model=TrainRun, responses=responses(*ERRORS, 404),
            summary="A train this tenant launched, with its Dagster run status")
def train_run(run_id: Annotated[str, Path(max_length=64)], request: Request,
              ctx: Context = needs("read")) -> dict[str, Any]:
    row = _train_row(ctx, "run_id", run_id)
    if row is None:
        raise Problem(404, f"no train run {run_id!r} launched by this tenant")
    status = dagster_runs.run_status(request.app.state.reos.dagster, run_id)
    return {"run_id": run_id, "county": row["after"]["county"], "launched_at": row["created_at"], "status": status,
            "finished": status in dagster_runs.TERMINAL_RUN_STATES}
