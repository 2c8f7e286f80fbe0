"""The model registry, read-only (issue #11): every trained version of a followed county's models
with its hold-out figures, the baselines it was judged against, feature importance and the
promotion rule's decision. Row-level security admits the followed counties (migration 0014).

Training and activation stay with the pipeline (`ml_model` in Dagster): models are public county
data, one set per county shared by every tenant that follows it (migration 0016).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.schemas import ModelDetail, ModelVersion
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.db.warehouse import dict_rows

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
def get_model(model_id: Annotated[int, Path(ge=1, le=2**63 - 1)], ctx: Context = needs("read")) -> dict[str, Any]:
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
