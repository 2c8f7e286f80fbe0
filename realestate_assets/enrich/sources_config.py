"""Typed config of the enrichment sources (`config/enrichment_sources.yaml`). Pure pydantic.

Loading fails with a `SourcesConfigError` naming the file and the field (`sources.attom.
timeout_s: Input should be greater than 0`), so a typo never silently disables a source.

Priority: a lower number wins when two sources give the same field (1 beats 10).
API keys: only the *name* of the credential is configured; its value is passed in at
run time (resources.SourceCredentialsResource) and never stored on the model, logged or printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from realestate_assets.config_models import ConfigError, read_yaml

HTTP_TYPES = frozenset({"attom", "census_geocoder", "census_acs"})
DEFAULT_PATH_PARTS = ("config", "enrichment_sources.yaml")


class SourcesConfigError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    type: Literal["attom", "census_geocoder", "census_acs", "county_assessor", "market"]
    enabled: bool = True
    required: bool = False
    priority: int = Field(default=50, ge=0, le=1000, description="lower wins in provenance merges")
    confidence: float = Field(default=0.8, ge=0, le=1, description="default confidence of this source's values")
    base_url: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    retries: int = Field(default=3, ge=0, le=10)
    backoff_initial_s: float = Field(default=0.5, gt=0, description="first retry wait when the source names none")
    backoff_max_s: float = Field(default=30.0, gt=0, description="cap of the jittered exponential backoff")
    cost_per_call_usd: float = Field(default=0.0, ge=0)
    rate_limit_per_s: float | None = Field(default=5.0, gt=0)
    rate_burst: int = Field(default=1, ge=1)
    cache_ttl_s: float = Field(default=86_400.0, ge=0, description="0 disables the HTTP cache")
    staleness_days: int = Field(default=90, ge=0, description="values older than this rank after fresh ones")
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    api_key_required: bool = Field(default=True, description="False: call without a key when it is unset")
    breaker_threshold: int = Field(default=5, ge=1)
    max_retry_after_s: float = Field(default=60.0, ge=0)
    # type-specific
    endpoints: list[str] | None = Field(default=None, description="attom: which endpoints to call, in order")
    acs_year: int | None = Field(default=None, ge=2009, le=2100, description="census_acs: ACS 5-year vintage")

    @model_validator(mode="after")
    def _http_needs_url(self) -> SourceConfig:
        if self.type in HTTP_TYPES and not self.base_url:
            raise ValueError(f"base_url is required for a {self.type} source")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        if self.endpoints is not None and self.type != "attom":
            raise ValueError("endpoints applies to the attom source only")
        return self

    @property
    def is_http(self) -> bool:
        return self.type in HTTP_TYPES


class RuntimeConfig(_Strict):
    max_workers: int = Field(default=8, ge=1, le=256)
    batch_size: int = Field(default=1000, ge=1, description="prospects enriched per batch (bounds memory)")
    chunk_size: int = Field(default=10_000, ge=1,
                            description="prospects read, enriched and staged for the write at a time by the "
                                        "enrichment asset: its memory is one chunk's rows, whatever the county's size")
    cache_dir: str = Field(default=".reos/http_cache",
                           description="used by library callers; the asset keeps it under REOS_STATE_DIR")
    redis_url_env: str | None = Field(
        default="REDIS_URL",
        description="when this env var is set, rate-limit buckets and the HTTP cache live in Redis")


class SourcesConfig(_Strict):
    version: Literal[1] = 1
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    sources: dict[str, SourceConfig]

    @model_validator(mode="after")
    def _one_per_http_type(self) -> SourcesConfig:
        for t in HTTP_TYPES | {"county_assessor", "market"}:
            names = [n for n, s in self.sources.items() if s.type == t]
            if len(names) > 1:
                raise ValueError(f"at most one source of type {t!r}; found {names}")
        return self

    def by_type(self, type_: str) -> tuple[str, SourceConfig] | None:
        for name, src in self.sources.items():
            if src.type == type_:
                return name, src
        return None

    def redis_url(self, credentials: Mapping[str, str]) -> str | None:
        """The Redis URL among the run's credentials (keyed by the name this file gives it)."""
        return (credentials.get(self.runtime.redis_url_env) or None) if self.runtime.redis_url_env else None


def default_path() -> Path:
    """The repository's file; a run passes its own config directory's file explicitly."""
    return Path(__file__).resolve().parents[2].joinpath(*DEFAULT_PATH_PARTS)


def _format(path: Path, error: ValidationError) -> str:
    lines = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"{path}: {where}: {e['msg']}")
    return "\n".join(lines)


def parse_sources_config(data: object, path: Path | str = "<memory>") -> SourcesConfig:
    path = Path(path)
    if not isinstance(data, Mapping):
        raise SourcesConfigError(f"{path}: expected a mapping at the top level")
    try:
        return SourcesConfig.model_validate(data)
    except ValidationError as exc:
        raise SourcesConfigError(_format(path, exc)) from exc


def load_sources_config(path: Path | str | None = None) -> SourcesConfig:
    path = Path(path) if path is not None else default_path()
    if not path.is_file():
        raise SourcesConfigError(f"{path}: file not found")
    try:  # parsed once per text, as every config file (≈3 ms of an unchanged `enrichment`, issue 17)
        data = read_yaml(path)
    except ConfigError as exc:
        raise SourcesConfigError(str(exc)) from exc
    return parse_sources_config(data, path)


def resolve_api_key(src: SourceConfig, env: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(key, reason-to-skip). Reason is None when the source can run (with or without a key)."""
    if not src.api_key_env:
        return None, None
    value = ((env or {}).get(src.api_key_env) or "").strip()
    if value:
        return value, None
    if src.api_key_required:
        return None, f"environment variable {src.api_key_env} is not set"
    return None, None
