"""Reasons on demand (issue #11): a few prospects explained from their stored score, without
scoring their county. Shared by `GET /api/v1/properties/{id}/reasons` and `reos explain`.

On any psycopg2 connection (the API's acts as `reos_api`, so row-level security confines every
read to the followed counties) it reads each prospect's score row — the stored reasons, the stored
percentiles and the versions of the models that made the score — and its scoring inputs (the
`scores` asset's: the feature row and its last sale's flags), loads those models, and explains with
`pipeline.explain_prospects`. Reasons already stored are answered as stored. `store_reasons` saves
the computed ones into their score rows (`reos explain --store`, and the `packets` asset for the
planned memos past the reasons budget).

`Explainer` is meant to live as long as its process: models are kept by (county, name, version)
(an LRU: loading King County's three takes about a second), explanations by (county, prospect,
the score's model versions and its `updated_at`: a rescored row is explained again). No Dagster
imports.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from realestate_assets.config_models import ScoringConfig
from realestate_assets.db.copy_io import copy_readable, read_frame, result_columns
from realestate_assets.db.warehouse import to_json
from realestate_assets.ml.avm import TrainedAvm
from realestate_assets.ml.classifier import TrainedClassifier
from realestate_assets.ml.pipeline import explain_prospects
from realestate_assets.ml.registry import MODEL_NAMES, load_model
from realestate_assets.ml.scoring import SCORE_INPUTS_OF_SQL, score_components_sql

# The `scores` asset's inputs for a few prospects (ml/scoring.py), bound by psycopg2 here.
INPUT_SQL = SCORE_INPUTS_OF_SQL.replace(":county", "%(county)s").replace(":keys", "%(keys)s")
# The score rows as they read before migration 0060: the components as their document, the
# county's model versions beside each row (`{}` when the county has none recorded).
SCORE_SQL = ("SELECT s.prospect_key, s.bird_dog_score, s.score_rank, s.estimated_value, "
             f"{score_components_sql('s')} AS score_components, s.score_breakdown, "
             "coalesce(v.model_versions, '{}') AS model_versions, s.updated_at "
             "FROM scores s LEFT JOIN score_model_versions v ON v.county = s.county "
             "WHERE s.county = %s AND s.prospect_key = ANY(%s)")
REGISTRY_SQL = ("SELECT model_name, version, artifact_path, artifact_sha256, is_active FROM ml_models "
                "WHERE county = %s AND (is_active OR version = ANY(%s))")
# Reasons computed on demand saved into their score rows, in one statement: only into the row that
# was explained (same `updated_at`: a row rescored since keeps what its scoring wrote) and only
# where none are stored yet.
STORE_SQL = """
UPDATE scores s SET score_breakdown = u.breakdown
FROM unnest(%s::text[], %s::jsonb[], %s::timestamptz[]) AS u(prospect_key, breakdown, updated_at)
WHERE s.county = %s AND s.prospect_key = u.prospect_key AND s.updated_at = u.updated_at
  AND s.score_breakdown IS NULL
"""
KINDS = {"avm": TrainedAvm, "deal": TrainedClassifier, "sale_propensity": TrainedClassifier}


class Unexplainable(LookupError):
    """The models that made the score cannot be loaded (not registered, or their artifact is
    missing or does not match its sha256): the next `ml_model`/`scores` run fixes it."""


@dataclass(frozen=True)
class Explained:
    """A prospect's reasons: `breakdown` as `scores.score_breakdown` holds it (plain JSON values),
    `source` "stored" (the pipeline's or an earlier `reos explain`) or "computed" (now)."""

    prospect_key: str
    breakdown: dict[str, Any]
    source: str
    model_versions: dict[str, str]
    score: dict[str, Any]  # the score row read (its percentiles and versions)


@dataclass(frozen=True)
class _Registered:
    artifact_path: str
    artifact_sha256: str


class Explainer:
    """Per process: the models and the explanations computed, each least recently used out first."""

    def __init__(self, scoring: ScoringConfig, models: int = 12, explanations: int = 4096) -> None:
        self.scoring, self.max_models, self.max_explanations = scoring, models, explanations
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str, str], threading.Lock] = {}
        self._models: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._explained: OrderedDict[tuple[Any, ...], tuple[dict[str, Any], dict[str, str]]] = OrderedDict()
        self.loads = 0  # models read from the store (a test sees the LRU work)

    def explain(self, cur: Any, store: Any, county: str, keys: Collection[str]) -> dict[str, Explained]:
        """The reasons of those of `keys` that have a score row (and, to compute them, a feature
        row) the connection can read; the others are left out (not scored, or not visible)."""
        cur.execute(SCORE_SQL, (county, list(keys)))
        names = [c.name for c in cur.description]
        scores = {row["prospect_key"]: row for row in (dict(zip(names, r, strict=True)) for r in cur.fetchall())}
        out = {key: Explained(key, row["score_breakdown"], "stored", row["model_versions"] or {}, row)
               for key, row in scores.items() if row["score_breakdown"]}
        missing = {key: row for key, row in scores.items() if key not in out}
        if not missing:
            return out
        cached = {}
        for key, row in missing.items():
            found = self._cached(self._cache_key(county, key, row))
            if found is not None:
                cached[key] = Explained(key, found[0], "computed", found[1], row)
        out.update(cached)
        todo = {k: v for k, v in missing.items() if k not in cached}
        if not todo:
            return out
        for versions, rows in _by_versions(todo).items():
            out.update(self._compute(cur, store, county, dict(versions), rows))
        return out

    def _compute(self, cur: Any, store: Any, county: str, versions: dict[str, str],
                 rows: dict[str, dict[str, Any]]) -> dict[str, Explained]:
        import pandas as pd

        avm, deal, propensity, used = self.models(cur, store, county, versions)
        features = _features(cur, county, sorted(rows))
        if features.empty:
            return {}
        components = pd.DataFrame([rows[key]["score_components"] or {} for key in features["prospect_key"]])
        computed = explain_prospects(features, components, avm, deal, propensity, self.scoring)
        out = {}
        for key, breakdown in computed.items():
            plain = json.loads(to_json(breakdown))  # what scores.score_breakdown would hold
            self._remember(self._cache_key(county, key, rows[key]), (plain, used))
            out[key] = Explained(key, plain, "computed", used, rows[key])
        return out

    def models(self, cur: Any, store: Any, county: str, versions: dict[str, str]) -> tuple[Any, Any, Any,
                                                                                           dict[str, str]]:
        """The models of these versions (a score's `model_versions`); without versions (a score
        older than them), the county's active ones. Unexplainable when one cannot be loaded."""
        cur.execute(REGISTRY_SQL, (county, list(versions.values())))
        registered = {(r[0], r[1]): (r[2], r[3], r[4]) for r in cur.fetchall()}
        if not versions:
            versions = {name: version for (name, version), (_, _, active) in registered.items() if active}
        if "avm" not in versions:
            raise Unexplainable(f"no AVM registered for {county}: materialize ml_model first")
        loaded: dict[str, Any] = {}
        for name in MODEL_NAMES:
            version = versions.get(name)
            if version is None:
                loaded[name] = None
                continue
            found = registered.get((name, version))
            if found is None:
                raise Unexplainable(f"the {name} model {version} that scored it is not registered for {county}")
            loaded[name] = self._model(county, name, version, lambda f=found, n=name: load_model(
                store, _Registered(f[0], f[1]), KINDS[n]))
        return loaded["avm"], loaded["deal"], loaded["sale_propensity"], versions

    def _model(self, county: str, name: str, version: str, load: Callable[[], Any]) -> Any:
        key = (county, name, version)
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one load per model at a time: concurrent first requests wait for it
            with self._lock:
                if key in self._models:
                    self._models.move_to_end(key)
                    return self._models[key]
            try:
                model = load()
            except (ValueError, KeyError, OSError) as exc:
                raise Unexplainable(f"the {name} model {version} of {county} could not be loaded: {exc}") from exc
            with self._lock:
                self.loads += 1
                self._models[key] = model
                while len(self._models) > self.max_models:
                    self._models.popitem(last=False)
                self._loading.pop(key, None)
            return model

    @staticmethod
    def _cache_key(county: str, key: str, row: dict[str, Any]) -> tuple[Any, ...]:
        return county, key, tuple(sorted((row["model_versions"] or {}).items())), row["updated_at"]

    def _cached(self, key: tuple[Any, ...]) -> tuple[dict[str, Any], dict[str, str]] | None:
        with self._lock:
            found = self._explained.get(key)
            if found is not None:
                self._explained.move_to_end(key)
            return found

    def _remember(self, key: tuple[Any, ...], explained: tuple[dict[str, Any], dict[str, str]]) -> None:
        """An explanation and the model versions it used."""
        with self._lock:
            self._explained[key] = explained
            self._explained.move_to_end(key)
            while len(self._explained) > self.max_explanations:
                self._explained.popitem(last=False)


def store_reasons(cur: Any, county: str, explained: Iterable[Explained]) -> int:
    """Save the reasons computed now (`source` "computed") into `scores.score_breakdown`; the
    rows written. Needs a connection that may write `scores` (the pipeline's, not the API's).
    Shared by `reos explain --store` and the `packets` asset."""
    computed = [e for e in explained if e.source == "computed"]
    if not computed:
        return 0
    cur.execute(STORE_SQL, ([e.prospect_key for e in computed], [to_json(e.breakdown) for e in computed],
                            [e.score["updated_at"] for e in computed], county))
    return int(cur.rowcount)


def _by_versions(rows: dict[str, dict[str, Any]]) -> dict[tuple[tuple[str, str], ...], dict[str, dict[str, Any]]]:
    """The score rows grouped by the model versions that made them."""
    groups: dict[tuple[tuple[str, str], ...], dict[str, dict[str, Any]]] = {}
    for key, row in rows.items():
        groups.setdefault(tuple(sorted((row["model_versions"] or {}).items())), {})[key] = row
    return groups


def _features(cur: Any, county: str, keys: list[str]) -> Any:
    """The prospects' scoring inputs, typed as the `scores` asset reads them (db/copy_io.py)."""
    import pandas as pd

    query = cur.mogrify(INPUT_SQL, {"county": county, "keys": keys}).decode()
    conn = cur.connection
    columns = result_columns(conn, query)
    if copy_readable(columns):
        return read_frame(conn, query, columns)
    cur.execute(query)
    return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
