"""Typed configuration: county files, scoring, outreach. Pure pydantic, no Dagster.

A county file `config/counties/<key>.yaml` is one partition; its stem is the partition key.
Loading fails with a message that names the file and the field, so a typo never becomes a
silent, empty partition; one bad file disables only its own county (`read_county_files`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from realestate_assets.settings import default_config_dir, repo_root

PARTITION_KEY = re.compile(r"^[a-z][a-z0-9_]{1,62}$")

# The canonical fields a source's rows map onto. Discovery validates against these names.
SALE_FIELDS = {
    "parcel_id", "sale_id", "sale_price", "sale_date", "use_type", "neighborhood", "lot_sqft",
    "waterfront", "bldg_grade", "living_sqft", "beds", "baths", "age_at_sale", "eff_age_at_sale",
    "longitude", "latitude", "address", "city", "state", "zip",
    "sale_instrument", "sale_reason", "sale_warnings",  # how the sale was made, where the file says so
}
LISTING_FIELDS = {
    "source_id", "listing_url", "unit", "list_price", "year_built", "property_type", "listing_status",
    "list_date", "description", "photos", "owner_name", "owner_mailing_address",
}
ASSESSOR_FIELDS = {"owner_name", "owner_mailing_address", "assessed_value", "market_value", "tax_amount",
                   "tax_year"}
CANONICAL_FIELDS = SALE_FIELDS | LISTING_FIELDS | ASSESSOR_FIELDS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMap(Strict):
    """Where one canonical field comes from in a source row."""

    column: str
    strip_chars: str | None = Field(default=None, description="characters stripped from both ends")
    scale: float | None = Field(default=None, description="multiply a numeric value, e.g. acres to sqft")


class RateLimit(Strict):
    requests_per_second: float = Field(default=1.0, gt=0)
    concurrency: int = Field(default=2, ge=1, le=64)


class BoundingBox(Strict):
    min_latitude: float = Field(ge=-90, le=90)
    max_latitude: float = Field(ge=-90, le=90)
    min_longitude: float = Field(ge=-180, le=180)
    max_longitude: float = Field(ge=-180, le=180)

    @model_validator(mode="after")
    def _ordered(self) -> BoundingBox:
        if self.min_latitude >= self.max_latitude or self.min_longitude >= self.max_longitude:
            raise ValueError("min must be below max for latitude and longitude")
        return self

    def contains(self, latitude: float, longitude: float) -> bool:
        return (self.min_latitude <= latitude <= self.max_latitude
                and self.min_longitude <= longitude <= self.max_longitude)


class SourceBase(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    provides: Literal["sales", "parcels", "listings", "assessor"] = "sales"
    verified: bool = Field(default=False, description="exercised against the live service")
    enabled: bool = True
    attribution: str | None = None
    fields: dict[str, FieldMap | str] = Field(default_factory=dict)
    rate_limit: RateLimit = Field(default_factory=RateLimit)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, FieldMap | str]) -> dict[str, FieldMap | str]:
        unknown = sorted(set(value) - CANONICAL_FIELDS)
        if unknown:
            raise ValueError(f"unknown canonical field(s) {unknown}; known: {sorted(CANONICAL_FIELDS)}")
        return value

    def field_map(self) -> dict[str, FieldMap]:
        return {k: FieldMap(column=v) if isinstance(v, str) else v for k, v in self.fields.items()}


class BulkFileSource(SourceBase):
    type: Literal["bulk_file"]
    path: str = Field(description="a path relative to the repository root, an absolute path, or a URL")
    format: Literal["csv", "csv.zip", "xlsx"] = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    chunk_rows: int = Field(default=50_000, ge=100)

    def resolved_path(self) -> Path | str:
        if "://" in self.path:
            return self.path
        path = Path(self.path)
        return path if path.is_absolute() else repo_root() / path


class SocrataSource(SourceBase):
    type: Literal["socrata"]
    domain: str
    dataset: str = Field(pattern=r"^[a-z0-9]{4}-[a-z0-9]{4}$")
    where: str | None = None
    order: str = Field(default=":id", description="SODA pages are stable only with an $order")
    page_size: int = Field(default=1000, ge=1, le=50_000)
    app_token_env: str = "SOCRATA_APP_TOKEN"


class ArcGISSource(SourceBase):
    type: Literal["arcgis"]
    url: str = Field(description="a FeatureServer/MapServer layer URL, ending in the layer number")
    where: str = "1=1"
    out_fields: str = "*"
    page_size: int = Field(default=1000, ge=1, le=10_000)


class ListingSiteSource(SourceBase):
    type: Literal["listing_site"]
    start_urls: list[str] = Field(min_length=1)
    render: Literal["http", "playwright"] = "http"
    item_selector: str | None = None
    next_page_selector: str | None = None
    # When set, index pages only give links: each link this selector matches is a property's own
    # page, and the listing is read there (JSON-LD, __NEXT_DATA__, `selectors` over the whole page).
    detail_link_selector: str | None = None
    selectors: dict[str, str] = Field(default_factory=dict)
    structured_data: bool = True
    max_pages: int = Field(default=50, ge=1)


Source = Annotated[
    BulkFileSource | SocrataSource | ArcGISSource | ListingSiteSource, Field(discriminator="type")
]


class Quality(Strict):
    max_reject_rate: float = Field(default=0.05, ge=0, le=1,
                                   description="blocking check: share of source rows rejected")
    min_enrichment_coverage: float = Field(default=0.9, ge=0, le=1,
                                           description="blocking check: share of prospects enriched")


class Schedule(Strict):
    """When discovery runs: `cron` read in `timezone` (sensors/schedules.py reads the effective one
    each minute, so a platform admin's override applies without a reload)."""

    cron: str = "0 5 * * 1"
    timezone: str = "UTC"

    # Judged by Dagster's own cron parser (realestate_assets/cron.py), imported here only when a
    # county is validated: the API does not load Dagster until it reads a county.
    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from realestate_assets.cron import cron_error

        if error := cron_error(value):
            raise ValueError(error)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from realestate_assets.cron import timezone_error

        if error := timezone_error(value):
            raise ValueError(error)
        return value


class CountyConfig(Strict):
    key: str
    name: str
    state: str = Field(pattern=r"^[A-Z]{2}$")
    state_fips: str = Field(pattern=r"^\d{2}$")
    county_fips: str = Field(pattern=r"^\d{3}$")
    timezone: str = "UTC"
    bounding_box: BoundingBox
    schedule: Schedule = Field(default_factory=Schedule)
    quality: Quality = Field(default_factory=Quality)
    sources: list[Source] = Field(min_length=1)
    parcel_viewer_url: str | None = Field(
        default=None, pattern=r"^https?://[^\s]*\{parcel_id\}",
        description="the county's public parcel page, `{parcel_id}` replaced by the parcel id (memos link it)")

    @field_validator("key")
    @classmethod
    def _key_shape(cls, value: str) -> str:
        if not PARTITION_KEY.match(value):
            raise ValueError("must be lowercase letters, digits and underscores, e.g. king_wa")
        return value

    @property
    def fips(self) -> str:
        return self.state_fips + self.county_fips

    def sources_providing(self, what: str) -> list[BulkFileSource | SocrataSource | ArcGISSource
                                                  | ListingSiteSource]:
        return [s for s in self.sources if s.provides == what and s.enabled]


class ConfigError(ValueError):
    """A configuration file is invalid; the message names the file and the field."""


def _format_validation_error(path: Path | str, error: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


# Each config file's last parse, by path: (the text parsed, what it gave). A run reads the same
# files again and again (its county twice a step and twice more in each freshness check,
# scoring.yaml in three steps, enrichment_sources.yaml in `enrichment`) and parsing is the cost
# (≈2 ms a county file, ≈5 ms scoring.yaml, ≈3 ms enrichment_sources.yaml: pure-Python YAML),
# not reading the few KB of text (issue 17: fixed costs per step). Keyed by the text itself, not
# the file's mtime: the file is read every time, so an edit (however soon after the last read,
# whatever the file system's timestamp granularity) is parsed at the next read, and the cache
# never answers with an older file's content.
_PARSED: dict[Path, tuple[str, Any]] = {}
_PARSED_MAX = 256  # files; a process that reads more (tests' temporary directories) starts over


def read_yaml(path: Path) -> Any:
    """A config file's parsed YAML (a copy: see `_PARSED`); `ConfigError` when unreadable or invalid.
    The one reader of the config directory's YAML files (county files, scoring.yaml,
    enrichment_sources.yaml)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable: {type(exc).__name__}: {exc}") from exc
    parsed = _PARSED.get(path)
    if parsed is None or parsed[0] != text:
        try:
            parsed = (text, yaml.safe_load(text))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[path] = parsed
    # A copy: a caller may change what it is given (a patch applied, a key added) without
    # changing what the next read of the same text returns (≈0.02 ms for a county file).
    return copy.deepcopy(parsed[1])


def county_file_data(path: Path) -> dict[str, Any]:
    """A county file's mapping, its key the file stem (not validated yet)."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    if "key" in data and data["key"] != path.stem:
        raise ConfigError(f"{path}: key: {data['key']!r} must equal the file stem {path.stem!r}")
    return {**data, "key": path.stem}


def load_county(path: Path, override: CountyOverride | None = None) -> CountyConfig:
    """The county of a file, with a platform admin's `override` (county_overrides) applied when
    given. An override the file no longer admits (a source renamed, a value the file's other
    fields now refuse) makes the county invalid, like an invalid file: the error names both."""
    data = county_file_data(path)
    where = str(path)
    try:
        if override is not None and override.patch:
            where = f"{path} with {override.label}"
            return patched_county(data, override.patch)
        return CountyConfig.model_validate(data)
    except CountyPatchError as exc:
        raise ConfigError(f"{where}: invalid configuration\n  {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(where, exc)) from exc


# ------------------------------------------------------------------- run-time county overrides

# What a platform admin may change in a county without a deploy (county_overrides, migration 0034):
# settings every step reads when it runs, so the next run applies them, and the discovery cron,
# which the county's discovery sensor reads at each evaluation (sensors/schedules.py). The rest is
# code reviewed with the file: identity and geography (key, FIPS, bounding box), source locations,
# field maps and the credentials' names. The discovery sensor's on/off switch is PATCH
# /settings/schedules. Comparable-sales settings are scoring.yaml's, not a county's. `*` is a
# source's name.
EDITABLE_COUNTY_FIELDS: dict[str, str] = {
    "quality.max_reject_rate": "blocking check: the share of source rows rejected above which discovery "
                               "publishes nothing",
    "quality.min_enrichment_coverage": "blocking check: the share of prospects enriched below which enrichment "
                                       "publishes nothing",
    "parcel_viewer_url": "the county's public parcel page ({parcel_id} replaced), linked from memos",
    "sources.*.enabled": "read this source (off: discovery skips it, e.g. while its service is down)",
    "schedule.cron": "when discovery runs (five-field cron, read in schedule.timezone); the county's discovery "
                     "sensor applies a change within a minute",
    "schedule.timezone": "the IANA time zone the discovery cron is read in",
}


@dataclass(frozen=True)
class CountyOverride:
    """A county's row of county_overrides: the patch ({dotted path: value}) and its version."""

    patch: dict[str, Any]
    version: int

    @property
    def label(self) -> str:
        return f"its override (county_overrides version {self.version})"


def editable_county_paths(data: dict[str, Any]) -> list[str]:
    """The editable paths of one county, its sources' names in place of `*`."""
    names = [s.get("name") for s in data.get("sources") or [] if isinstance(s, dict)]
    return [p for pattern in EDITABLE_COUNTY_FIELDS
            for p in ([pattern.replace("*", str(n)) for n in names] if "*" in pattern else [pattern])]


class CountyPatchError(ValueError):
    """A patched path this county does not admit; `path` is the dotted path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def apply_county_patch(data: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A copy of a county file's mapping with each patched path set; CountyPatchError names a path
    that is not editable in this county (the value itself is CountyConfig's to judge)."""
    merged = copy.deepcopy(data)
    editable = set(editable_county_paths(data))
    for path, value in sorted(patch.items()):
        if path not in editable:
            raise CountyPatchError(path, f"not an editable field of this county; editable: {sorted(editable)}")
        head, _, rest = path.partition(".")
        if head == "sources":
            name, _, field = rest.partition(".")
            target = next(s for s in merged["sources"] if s.get("name") == name)
        elif rest:
            target = merged.setdefault(head, {})
            if not isinstance(target, dict):
                raise CountyPatchError(path, f"the file's {head} is not a mapping")
            field = rest
        else:
            target, field = merged, head
        target[field] = value
    return merged


def patched_county(data: dict[str, Any], patch: dict[str, Any]) -> CountyConfig:
    """A county file's mapping with `patch` applied, validated as the file is (ValidationError), and
    a source switched on only when its file says it was verified against the live service
    (CountyPatchError): an unverified source stays off until someone has run it by hand and said
    so in the file (docs/counties.md), whatever the API is asked."""
    county = CountyConfig.model_validate(apply_county_patch(data, patch))
    for source in county.sources:
        path = f"sources.{source.name}.enabled"
        if path in patch and source.enabled and not source.verified:
            raise CountyPatchError(path, f"source {source.name} is not verified (`verified: false` in the file): "
                                         "run it by hand and mark it verified in the file before switching it on")
    return county


def editable_county_values(county: CountyConfig) -> dict[str, Any]:
    """The value of each editable path in a (validated) county, JSON-ready: what a patch stores
    (as CountyConfig parsed it) and what the settings form shows."""
    data = county.model_dump(mode="json")
    values: dict[str, Any] = {}
    for path in editable_county_paths(data):
        head, _, rest = path.partition(".")
        if head == "sources":
            name, _, field = rest.partition(".")
            values[path] = next(s for s in data["sources"] if s["name"] == name)[field]
        else:
            values[path] = data[head][rest] if rest else data[head]
    return values


def county_field_path(data: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """A validation error's location as the dotted path of EDITABLE_COUNTY_FIELDS: a source by its
    name, not its index, and without the source type pydantic's tagged union adds."""
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "sources" and parts[1].isdigit():
        sources = data.get("sources") or []
        index = int(parts[1])
        if index < len(sources) and isinstance(sources[index], dict):
            parts[1] = str(sources[index].get("name", index))
            if len(parts) > 2 and parts[2] == sources[index].get("type"):
                del parts[2]
    return ".".join(parts) or "(top level)"


def load_counties(directory: Path | None = None) -> dict[str, CountyConfig]:
    """Every county file, validated, keyed by partition key (sorted for stable partitions);
    the first invalid file raises. The code location reads them with `read_county_files`."""
    files = read_county_files(directory)
    if files.invalid:
        raise ConfigError(next(iter(files.invalid.values())))
    return files.counties


@dataclass(frozen=True)
class CountyFiles:
    """The county files of a config directory: the valid ones, and why each other one is not.

    One bad file disables its county only: the code location keeps loading the others. The bad
    county keeps its partition when its stem is a valid partition key, so its runs fail fast with
    the error and its `county_fresh` checks fail (sensors/freshness.py) — visible in the UI — rather
    than the county silently vanishing."""

    counties: dict[str, CountyConfig]
    invalid: dict[str, str]  # file stem -> the error, naming the file and the field

    @property
    def partition_keys(self) -> list[str]:
        """Valid counties plus invalid files whose stem is a valid key (those stay visible, failing)."""
        return sorted({*self.counties, *(k for k in self.invalid if PARTITION_KEY.match(k))})


def county_disabled_reason(error: str) -> str:
    """What a run, a check and the CLI say about a county whose file (or the override applied to
    it, which the error then names) is invalid."""
    return f"county disabled: its configuration is invalid — {error}"


def read_county_files(directory: Path | None = None,
                      overrides: Mapping[str, CountyOverride] | None = None) -> CountyFiles:
    """The county files, each with its override from `overrides` (county → row of county_overrides)
    applied: the API shows the effective configuration. The code location loads without them (its
    partitions and schedules come from the files alone)."""
    directory = (directory or default_config_dir()) / "counties"
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigError(f"{directory}: no county files (*.yaml) found")
    counties, invalid = {}, {}
    for path in files:
        try:
            counties[path.stem] = load_county(path, (overrides or {}).get(path.stem))
        except ConfigError as exc:
            invalid[path.stem] = str(exc)
    return CountyFiles(counties, invalid)


# ----------------------------------------------------------------------------- scoring


class CompsSettings(Strict):
    """What counts as a comparable sale; the rule itself is `realestate_assets/market/comps.py`."""

    radius_m: float | None = Field(default=1200.0, gt=0, description="how far a comp may be (None: any distance)")
    max_comps: int = Field(default=10, ge=1, description="the nearest this many comps are used")
    min_comps: int = Field(default=3, ge=1, description="fewer comps give no estimate")
    window_months: int | None = Field(default=24, ge=1, description="sold within this many months before the "
                                                                    "as-of date (None: any earlier sale)")
    sqft_tolerance: float | None = Field(default=0.35, gt=0, lt=1, description="living area within ± this share "
                                                                               "(None: any size)")
    candidates: int = Field(default=24, ge=1, description="nearest sales of the target's size band "
                                                          "fetched before the filters (speed only: a row left "
                                                          "short is searched among its size band's sales)")
    chunk_rows: int = Field(default=50_000, ge=1, description="targets per KD-tree query (bounds memory)")

    @model_validator(mode="after")
    def _counts(self) -> CompsSettings:
        if self.min_comps > self.max_comps:
            raise ValueError("min_comps must not exceed max_comps")
        return self

    @classmethod
    def from_scoring(cls, scoring: ScoringConfig) -> CompsSettings:
        return scoring.comps


def _baseline_comps() -> CompsSettings:
    # The AVM's nearest-comps baseline: the k nearest same-type earlier sales at any distance,
    # size and age (its value is size-adjusted instead of size-filtered): a deliberately looser
    # rule than enrichment's, so it values every hold-out sale.
    return CompsSettings(radius_m=None, window_months=None, sqft_tolerance=None, min_comps=1)


class SuspectSaleRule(Strict):
    """When a parcel's last sale is "likely not at market value" (ml/scoring.py::suspect_sale)."""

    min_ratio_to_comps: float = Field(default=0.5, gt=0, lt=1, description="last sale, moved to today, below "
                                      "this share of the comparable-sales estimate is suspect")
    max_ratio_to_comps: float = Field(default=2.0, gt=1, description="... or above this multiple of it")
    non_market_terms: list[str] = Field(default_factory=list, description="words in the source's sale instrument, "
                                        "reason or warnings (case-insensitive) that mark a non-market sale")


class SearchRange(Strict):
    """One tuned LightGBM parameter: Optuna draws it from [low, high]."""

    low: float
    high: float
    log: bool = Field(default=False, description="draw on a log scale")
    integer: bool = Field(default=False, description="draw whole numbers")
    step: float | None = Field(default=None, gt=0, description="grid step (not with log)")

    @model_validator(mode="after")
    def _range(self) -> SearchRange:
        if self.low >= self.high:
            raise ValueError("low must be below high")
        if self.log and (self.low <= 0 or self.step is not None):
            raise ValueError("a log range needs low > 0 and no step")
        return self


def _ranges(**ranges: dict[str, Any]) -> dict[str, SearchRange]:
    return {name: SearchRange(**spec) for name, spec in ranges.items()}


class SearchSpaces(Strict):
    """Optuna search spaces, by model family: LightGBM parameter name → range."""

    avm: dict[str, SearchRange] = Field(default_factory=lambda: _ranges(
        learning_rate={"low": 0.02, "high": 0.2, "log": True}, num_leaves={"low": 7, "high": 63, "integer": True},
        min_data_in_leaf={"low": 5, "high": 60, "integer": True}, feature_fraction={"low": 0.5, "high": 1.0},
        lambda_l2={"low": 1e-3, "high": 10.0, "log": True},
        num_boost_round={"low": 100, "high": 600, "step": 50, "integer": True}))
    classifier: dict[str, SearchRange] = Field(default_factory=lambda: _ranges(
        learning_rate={"low": 0.01, "high": 0.2, "log": True}, num_leaves={"low": 3, "high": 31, "integer": True},
        min_data_in_leaf={"low": 5, "high": 80, "integer": True}, feature_fraction={"low": 0.5, "high": 1.0},
        lambda_l2={"low": 1e-3, "high": 30.0, "log": True},
        num_boost_round={"low": 50, "high": 400, "step": 50, "integer": True}))


class ScoringConfig(Strict):
    packet_threshold: float = Field(default=75.0, ge=0, le=100)
    explain_top_n: int = Field(default=25, ge=0, description="also explain this many best scores")
    holdout_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    num_boost_round: int = Field(default=300, ge=10)
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    num_leaves: int = Field(default=31, ge=2)
    min_data_in_leaf: int = Field(default=20, ge=1)
    seed: int = 7
    comps: CompsSettings = Field(default_factory=CompsSettings, description="the comparable-sales rule")
    baseline_comps: CompsSettings = Field(default_factory=_baseline_comps,
                                          description="comps of the AVM's nearest-comps baseline")
    # Issue 5: tuning budgets, training cadence, vectors.
    avm_trials: int = Field(default=10, ge=0, description="Optuna trials for the AVM (0 = configured settings)")
    deal_trials: int = Field(default=10, ge=0, description="Optuna trials for the deal model")
    propensity_trials: int = Field(default=5, ge=0, description="Optuna trials for the sale-propensity model")
    cv_folds: int = Field(default=3, ge=2, le=10, description="time-series cross-validation folds")
    search_spaces: SearchSpaces = Field(default_factory=SearchSpaces, description="Optuna ranges per model family")
    training_cron: str = Field(default="0 4 * * 0", description="weekly retraining (after which new sales count)")
    vectors_enabled: bool = Field(default=True, description="write property vectors to Qdrant")
    explain_max_rows: int = Field(default=5000, ge=0, description="reasons budget: SHAP-explained rows per run, "
                                  "best ranks first (0 = every packet candidate); the rest on demand")
    compiled_trees_min_rows: int = Field(
        default=200_000, ge=0, description="`scores` predicts with the models' compiled trees (ml/compiled.py) "
        "for a county of at least this many feature rows, else with LightGBM (0 = always); `ml_model` compiles "
        "them when it registers the models of a county with at least this many parcels")
    suspect_sale: SuspectSaleRule = Field(default_factory=SuspectSaleRule,
                                          description="last sales kept out of the equity component and value gap")
    data_stale_after_days: int = Field(default=120, ge=1, description="a memo generated this many days after its "
                                       "data's as-of date says plainly that the data are old")


# ----------------------------------------------------------------------------- outreach


CAMPAIGN_TYPES = ("new_opportunity", "daily_digest", "weekly_summary", "custom_alert")
# Tokens a subject line or intro may use; anything else is a configuration error.
PERSONALIZATION_TOKENS = {"first_name", "name", "county", "state", "parcel_id", "address", "score",
                          "estimated_value", "count", "alert", "date"}
# Campaign types that send one email per property (paced per recipient and day).
SINGLE_PROPERTY_CAMPAIGNS = ("new_opportunity", "custom_alert")


def normalize_email(value: str) -> str:
    """Validated, lower-cased address (syntax only: no DNS lookups at config load)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {value!r} ({exc})") from exc


class AlertCriteria(Strict):
    """Saved criteria of a custom alert: every given bound must hold."""

    min_score: float | None = Field(default=None, ge=0, le=100)
    min_value_gap_pct: float | None = None
    max_estimated_value: float | None = Field(default=None, gt=0)
    min_estimated_value: float | None = Field(default=None, ge=0)
    property_types: list[str] = Field(default_factory=list)
    waterfront: bool | None = None
    min_beds: float | None = Field(default=None, ge=0)

    def matches(self, item: dict[str, Any]) -> bool:
        def bound(value: Any, limit: float | None, upper: bool) -> bool:
            if limit is None:
                return True
            if value is None:
                return False
            return value <= limit if upper else value >= limit

        return (bound(item.get("bird_dog_score"), self.min_score, False)
                and bound(item.get("value_gap_pct"), self.min_value_gap_pct, False)
                and bound(item.get("estimated_value"), self.max_estimated_value, True)
                and bound(item.get("estimated_value"), self.min_estimated_value, False)
                and bound(item.get("beds"), self.min_beds, False)
                and (not self.property_types or item.get("use_type") in self.property_types)
                and (self.waterfront is None or bool(item.get("waterfront")) == self.waterfront))


class SavedAlert(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    criteria: AlertCriteria


class Recipient(Strict):
    name: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    counties: list[str] = Field(default_factory=list, description="empty means every county")
    min_score: float = Field(default=75.0, ge=0, le=100)
    property_types: list[str] = Field(default_factory=list, description="use types; empty means all")
    budget_min: float | None = Field(default=None, ge=0, description="estimated value at least")
    budget_max: float | None = Field(default=None, gt=0, description="estimated value at most")
    campaigns: list[Literal["new_opportunity", "daily_digest", "weekly_summary", "custom_alert"]] = Field(
        default_factory=lambda: ["new_opportunity"])
    alerts: list[SavedAlert] = Field(default_factory=list)

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        normalize_email(value)
        return value

    @model_validator(mode="after")
    def _budget(self) -> Recipient:
        if self.budget_min is not None and self.budget_max is not None and self.budget_min > self.budget_max:
            raise ValueError("budget_min must not exceed budget_max")
        return self

    @property
    def address(self) -> str:
        return normalize_email(self.email)

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else "there"

    def wants(self, county: str, score: float, *, use_type: str | None = None,
              estimated_value: float | None = None) -> bool:
        """The recipient's segment: counties, minimum score, property types and budget."""
        if self.counties and county not in self.counties:
            return False
        if score is None or score < self.min_score:
            return False
        if self.property_types and use_type not in self.property_types:
            return False
        if self.budget_min is not None and (estimated_value is None or estimated_value < self.budget_min):
            return False
        return not (self.budget_max is not None and (estimated_value is None or estimated_value > self.budget_max))


class Branding(Strict):
    company: str = "Real Estate OS"
    color: str = Field(default="#1f6f43", pattern=r"^#[0-9a-fA-F]{6}$")
    phone: str | None = None
    website: str | None = None
    tagline: str | None = None
    logo_url: str | None = Field(default=None, pattern=r"^https://\S+$",
                                 description="logo in the email header (https: mail clients load it)")


class Sender(Strict):
    """Who the email is from. `outreach.compliance` re-checks these values before any send."""

    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    postal_address: str = Field(min_length=10, description="CAN-SPAM: a valid physical postal address")
    unsubscribe_base_url: str = Field(pattern=r"^https?://")
    reply_to: str | None = Field(default=None, description="where replies go (empty: the sender's address)")
    branding: Branding = Field(default_factory=Branding)


# A tenant's feature switches (tenant_settings.feature_flags): name -> (default, what it does).
# Only switches something reads belong here; an unknown name is refused.
FEATURE_FLAGS: dict[str, tuple[bool, str]] = {
    "campaign_email": (True, "campaigns send email (off: nothing is planned or sent, as if every campaign "
                             "were paused)"),
}


class TenantSettings(Strict):
    """A tenant's own branding and sender (tenant_settings, migration 0028). None keeps the
    installation's value (config/recipients.yaml `sender`); the merged sender is validated again
    as a `Sender` (tenant_data.tenant_sender), so a tenant can only make a valid one."""

    display_name: str | None = Field(default=None, min_length=1, max_length=120)
    brand_color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    logo_url: str | None = Field(default=None, max_length=500, pattern=r"^https://\S+$")
    tagline: str | None = Field(default=None, max_length=200)
    from_name: str | None = Field(default=None, min_length=1, max_length=120)
    from_email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    reply_to: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    postal_address: str | None = Field(default=None, min_length=10, max_length=300,
                                       description="CAN-SPAM: a valid physical postal address")
    feature_flags: dict[str, bool] = Field(default_factory=dict)

    @field_validator("feature_flags")
    @classmethod
    def _known_flags(cls, value: dict[str, bool]) -> dict[str, bool]:
        unknown = sorted(set(value) - set(FEATURE_FLAGS))
        if unknown:
            raise ValueError(f"unknown feature flags {unknown}; known: {sorted(FEATURE_FLAGS)}")
        return value

    def flag(self, name: str) -> bool:
        return self.feature_flags.get(name, FEATURE_FLAGS[name][0])

    def apply(self, sender: Sender) -> Sender:
        """The installation's sender with this tenant's values in place of its own."""
        data = sender.model_dump()
        branding = data["branding"]
        for column, (where, key) in {"display_name": (branding, "company"), "brand_color": (branding, "color"),
                                     "logo_url": (branding, "logo_url"), "tagline": (branding, "tagline"),
                                     "from_name": (data, "name"), "from_email": (data, "email"),
                                     "reply_to": (data, "reply_to"),
                                     "postal_address": (data, "postal_address")}.items():
            if getattr(self, column) is not None:
                where[key] = getattr(self, column)
        return Sender.model_validate(data)


class OutreachConfig(Strict):
    sender: Sender
    recipients: list[Recipient] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> OutreachConfig:
        emails = [r.address for r in self.recipients]
        dupes = sorted({e for e in emails if emails.count(e) > 1})
        if dupes:
            raise ValueError(f"duplicate recipient addresses: {dupes}")
        return self


class SegmentCriteria(Strict):
    """Which of a tenant's recipients a segment holds (campaigns target one): every given
    condition must hold. A recipient with no counties (or no property types) wants every one,
    so they match any county (type) asked for."""

    counties: list[str] = Field(default_factory=list, description="recipients who want any of these counties")
    property_types: list[str] = Field(default_factory=list,
                                      description="recipients who want any of these use types")
    campaign_types: list[Literal["new_opportunity", "daily_digest", "weekly_summary", "custom_alert"]] = Field(
        default_factory=list, description="recipients subscribed to any of these campaign types")
    max_min_score: float | None = Field(default=None, ge=0, le=100,
                                        description="recipients whose min_score is at most this")
    email_domains: list[str] = Field(default_factory=list, description="addresses at any of these domains")

    def matches(self, recipient: Recipient) -> bool:
        def overlaps(asked: list[str], wanted: list[str]) -> bool:
            return not asked or not wanted or bool(set(asked) & set(wanted))

        domain = recipient.address.rsplit("@", 1)[-1]
        return (overlaps(self.counties, recipient.counties)
                and overlaps(self.property_types, recipient.property_types)
                and (not self.campaign_types or bool(set(self.campaign_types) & set(recipient.campaigns)))
                and (self.max_min_score is None or recipient.min_score <= self.max_min_score)
                and (not self.email_domains or domain in {d.lower().lstrip("@") for d in self.email_domains}))


class CampaignConfig(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["new_opportunity", "daily_digest", "weekly_summary", "custom_alert"]
    enabled: bool = True
    subjects: list[str] = Field(min_length=1, max_length=4,
                                description="A/B(/C/D) subject lines; the variant is recorded per email")
    intro: str = ""
    attach_pdf: bool = True
    max_items: int = Field(default=10, ge=1, le=100)
    categories: list[str] = Field(default_factory=list)
    link_ttl_days: float = Field(default=14.0, gt=0, le=366,
                                 description="how long the memo links in this campaign's emails keep working "
                                             "(each click gets a fresh short-lived object URL)")
    segment: SegmentCriteria | None = Field(default=None, description="the recipients targeted; none: everyone")
    properties: frozenset[str] | None = Field(
        default=None, description="the properties the campaign lists, as county:prospect_key (the API's "
                                  "`campaign_properties`); none: every property its recipients want")

    def reaches(self, recipient: Recipient) -> bool:
        """Whether the campaign targets this recipient (its segment; everyone without one)."""
        return self.segment is None or self.segment.matches(recipient)

    def lists(self, county_key: str, item: dict[str, Any]) -> bool:
        """Whether the campaign may list this property (its chosen properties; any without them)."""
        return self.properties is None or f"{county_key}:{item['prospect_key']}" in self.properties

    @field_validator("subjects", "intro")
    @classmethod
    def _known_tokens(cls, value: Any) -> Any:
        import string

        for text in value if isinstance(value, list) else [value]:
            for _, field, _, _ in string.Formatter().parse(text):
                if field is not None and field not in PERSONALIZATION_TOKENS:
                    raise ValueError(f"unknown personalization token {{{field}}}; "
                                     f"known: {sorted(PERSONALIZATION_TOKENS)}")
        return value


class FinancialAssumptions(Strict):
    """Stated in every memo next to the figures they produce."""

    down_payment_pct: float = Field(default=25.0, gt=0, le=100)
    interest_rate_pct: float = Field(default=7.0, ge=0, le=30)
    loan_term_years: int = Field(default=30, ge=1, le=50)
    closing_costs_pct: float = Field(default=3.0, ge=0, le=20)
    vacancy_pct: float = Field(default=5.0, ge=0, le=100)
    management_pct: float = Field(default=8.0, ge=0, le=100)
    maintenance_pct_of_value: float = Field(default=1.0, ge=0, le=20)
    insurance_pct_of_value: float = Field(default=0.35, ge=0, le=10)
    property_tax_pct_of_value: float = Field(default=1.0, ge=0, le=10,
                                             description="used only when the record has no tax amount")


MemoTemplate = Literal["investor_memo", "executive_summary", "detailed_analysis"]  # a property's documents


class PacketSettings(Strict):
    templates: list[MemoTemplate] = Field(default_factory=lambda: ["investor_memo", "executive_summary"])
    portfolio_overview: bool = True
    portfolio_max_properties: int = Field(default=25, ge=1, le=500)
    link_ttl_hours: float = Field(default=24.0, gt=0, le=24 * 7, description="pre-signed URL lifetime")
    render_workers: int = Field(default=2, ge=1, le=32)
    photo_max_px: int = Field(default=640, ge=64)

    def beyond(self, asked: Iterable[str]) -> list[str]:
        """Those of the `asked` templates that every request does not get already (what
        packet_requests.templates records), in a stable order."""
        return sorted(set(asked) - set(self.templates))

    def for_request(self, asked: Iterable[str] = ()) -> list[str]:
        """The documents a memo request gets: the configured templates, then those asked for
        beyond them (packet_requests.templates)."""
        return [*self.templates, *self.beyond(asked)]

    def for_property(self, asked: Iterable[str] = (), stored: Iterable[str] = ()) -> list[str]:
        """The documents a run makes of a property it renders (planned for today's emails, or
        asked for): those of a request (`for_request`, `asked` empty when none is open) and every
        other template the tenant has a document of already (`stored`). A document that exists
        because someone once asked for it is kept as current as the configured ones: its template's
        new version, or new inputs, render it again with them (docs/api.md "Memo requests")."""
        return self.for_request([*asked, *(t for t in stored if t in get_args(MemoTemplate))])


class PacingSettings(Strict):
    """How many emails one recipient gets: the rest wait in that day's digest."""

    max_single_emails_per_day: int = Field(
        default=3, ge=0, le=100, description="single-property emails (new opportunity, alerts) per recipient, "
                                             "county and UTC day, best score first; the rest go in the digest")


class CampaignsConfig(Strict):
    campaigns: list[CampaignConfig] = Field(default_factory=list)
    packets: PacketSettings = Field(default_factory=PacketSettings)
    pacing: PacingSettings = Field(default_factory=PacingSettings)
    financial_assumptions: FinancialAssumptions = Field(default_factory=FinancialAssumptions)
    sending_max_attempts: int = Field(default=3, ge=1, le=20)
    unconfirmed_after_hours: float = Field(
        default=24.0, gt=0, description="a SendGrid email left `sending` by a crash with no event after this "
                                        "long is marked failed (never resent automatically)")

    @model_validator(mode="after")
    def _unique(self) -> CampaignsConfig:
        keys = [c.key for c in self.campaigns]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate campaign keys: {dupes}")
        return self

    def enabled(self) -> list[CampaignConfig]:
        return [c for c in self.campaigns if c.enabled]


def _load_model(path: Path, model: type[BaseModel]) -> Any:
    data = read_yaml(path) if path.exists() else {}
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, exc)) from exc


def load_scoring(directory: Path | None = None) -> ScoringConfig:
    return _load_model((directory or default_config_dir()) / "scoring.yaml", ScoringConfig)


def load_outreach(directory: Path | None = None) -> OutreachConfig:
    return _load_model((directory or default_config_dir()) / "recipients.yaml", OutreachConfig)


def load_campaigns(directory: Path | None = None) -> CampaignsConfig:
    """campaigns.yaml of the config directory; the repository's own when that directory has none."""
    path = (directory or default_config_dir()) / "campaigns.yaml"
    return _load_model(path if path.exists() else repo_root() / "config" / "campaigns.yaml", CampaignsConfig)
