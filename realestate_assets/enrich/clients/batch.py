"""The batch entry point: prospects in, one `EnrichmentOutcome` per prospect out.

    config = load_sources_config()
    with Enricher.from_config(config, on_call=sink, cache_dir=..., redis_url=...) as enricher:
        outcomes = enricher.enrich_batch(prospects)

Every prospect comes back, in input order, either `enriched` (values + provenance + owner
signals + what each source did) or `failed` (with the reason). Optional sources that fail
leave their fields NULL with provenance; a required source that fails, is unconfigured, or
cannot be asked (no coordinates for a required geocoder) fails the prospect. Nothing here
raises for one bad prospect or source: the partition always gets a full set of outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from realestate_assets.enrich.clients.attom import AttomClient, AttomProperty, AttomQuery
from realestate_assets.enrich.clients.base import (
    CallSink,
    ClientSettings,
    SourceClient,
    SourceError,
)
from realestate_assets.enrich.clients.census import (
    ACS_VARIABLES,
    CensusAcsClient,
    CensusGeocoderClient,
    Tract,
    tract_fields,
)
from realestate_assets.enrich.owner_signals import compute_owner_signals
from realestate_assets.enrich.provenance import SourceValues, kept_values, merge_fields
from realestate_assets.enrich.sources_config import SourceConfig, SourcesConfig, resolve_api_key
from realestate_assets.net import make_cache_storage, make_limiter

SourceState = Literal["ok", "no_match", "failed", "skipped", "not_applicable"]
ATTOM_FIELDS = tuple(f.name for f in fields(AttomProperty) if f.name != "endpoints")
TRACT_FIELDS = ("tract_geoid", "tract_name", *ACS_VARIABLES.values(), "tract_vacancy_rate",
                "tract_owner_occupied_share", "tract_renter_occupied_share")
MarketFn = Callable[["ProspectRef", Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class ProspectRef:
    """What enrichment needs to know about one prospect (a row of `prospects`)."""

    prospect_id: str
    address_line1: str | None = None  # "1234 N Division St"
    city: str | None = None
    state: str | None = None  # two-letter
    zip: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    parcel_id: str | None = None  # the county APN
    county_fips: str | None = None  # 5 digits, e.g. "53033"
    attom_id: str | None = None
    tract_geoid: str | None = None  # skip the geocoder when already known
    assessor_values: Mapping[str, Any] = field(default_factory=dict)  # from the county's own files
    assessor_fetched_at: datetime | None = None
    # The prospect's last enrichment row (column values) and its provenance: what a source that
    # fails or is skipped this time said before (kept, never erased; see provenance.kept_values).
    previous_values: Mapping[str, Any] = field(default_factory=dict)
    previous_provenance: Mapping[str, Any] = field(default_factory=dict)

    def attom_query(self) -> AttomQuery | None:
        if self.attom_id:
            return AttomQuery(attom_id=self.attom_id)
        if self.parcel_id and self.county_fips:
            return AttomQuery(apn=self.parcel_id, fips=self.county_fips)
        if self.address_line1 and self.city and self.state:
            line2 = f"{self.city}, {self.state}" + (f" {self.zip}" if self.zip else "")
            return AttomQuery(address1=self.address_line1, address2=line2)
        return None


@dataclass(frozen=True)
class SkippedSource:
    """A source not used in this run, and why (disabled, key unset...)."""

    source: str
    reason: str


@dataclass(frozen=True)
class SourceStatus:
    status: SourceState
    reason: str | None = None
    cache_hit: bool = False

    def as_dict(self) -> dict[str, Any]:
        """As stored in `enrichment.source_status`: the defaults (no reason, not a cache hit) left
        out — most rows hold the same five statuses, and the server parses each row's jsonb
        (issue 17); `from_dict` puts them back."""
        out: dict[str, Any] = {"status": self.status}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.cache_hit:
            out["cache_hit"] = True
        return out

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> SourceStatus:
        """A stored status, with or without its defaults (rows written before held them all)."""
        return cls(stored["status"], stored.get("reason"), bool(stored.get("cache_hit", False)))


@dataclass(frozen=True)
class EnrichmentOutcome:
    prospect_id: str
    status: Literal["enriched", "failed"]
    values: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    signals: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, SourceStatus] = field(default_factory=dict)
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "enriched"

    def row(self) -> dict[str, Any]:
        """Flat dict for the `enrichment` table (provenance/sources as JSON-ready dicts)."""
        return {
            "prospect_id": self.prospect_id,
            "status": self.status,
            "reason": self.reason,
            **self.values,
            **self.signals,
            "provenance": self.provenance,
            "source_status": {k: v.as_dict() for k, v in self.sources.items()},
        }


OK = SourceStatus("ok")
NO_ASSESSOR_VALUES = "no assessor values on the prospect"
NO_MARKET_VALUES = "market estimator returned nothing"


@dataclass(frozen=True)
class LocalSource:
    type: Literal["county_assessor", "market"]
    name: str
    confidence: float  # as the provenance records it (rounded)
    no_match: str  # the status reason when it has nothing for a prospect


@dataclass(frozen=True)
class LocalPlan:
    """The local sources that answer, in `enrich_one`'s order, and the statuses of the skipped."""

    sources: tuple[LocalSource, ...]
    skipped: dict[str, SourceStatus]

    def entries(self, fetched_at: str) -> dict[str, dict[str, Any]]:
        """Each local source's provenance entry for values fetched at `fetched_at`: one object per
        source shared by a batch's prospects (entries are never mutated; issue 17: memory per row)."""
        return {s.name: {"source": s.name, "fetched_at": fetched_at, "confidence": s.confidence}
                for s in self.sources}


# --------------------------------------------------------------------------- building clients


def client_settings(name: str, src: SourceConfig) -> ClientSettings:
    assert src.base_url is not None
    return ClientSettings(
        name=name, base_url=src.base_url, timeout_s=src.timeout_s, retries=src.retries,
        cost_per_call_usd=src.cost_per_call_usd, rate_limit_per_s=src.rate_limit_per_s,
        rate_burst=src.rate_burst, cache_ttl_s=src.cache_ttl_s or None,
        breaker_threshold=src.breaker_threshold, max_retry_after_s=src.max_retry_after_s,
        backoff_initial_s=src.backoff_initial_s, backoff_max_s=src.backoff_max_s,
    )


def build_clients(
    config: SourcesConfig,
    *,
    on_call: CallSink | None = None,
    cache_dir: str | Path | None = None,
    redis_url: str | None = None,
    env: Mapping[str, str] | None = None,
    base_url_overrides: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    use_limiter: bool = True,
    use_cache: bool = True,
    settings_overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[dict[str, SourceClient], dict[str, SkippedSource]]:
    """One client per enabled HTTP source whose key is available; the rest as SkippedSource.

    `redis_url` switches both the limiter buckets and the HTTP cache to Redis.
    `base_url_overrides` / `settings_overrides` exist for tests and benchmarks.
    """
    env = {} if env is None else env  # credentials are parameters, never read from os.environ here
    clients: dict[str, SourceClient] = {}
    skipped: dict[str, SkippedSource] = {}
    for name, src in config.sources.items():
        if not src.enabled:
            skipped[name] = SkippedSource(name, "disabled in config")
            continue
        if not src.is_http:
            continue
        key, why = resolve_api_key(src, env)
        if why:
            skipped[name] = SkippedSource(name, why)
            continue
        settings = client_settings(name, src)
        if base_url_overrides and name in base_url_overrides:
            settings = replace(settings, base_url=base_url_overrides[name])
        if settings_overrides and name in settings_overrides:
            settings = replace(settings, **settings_overrides[name])
        limiter = (make_limiter(name, settings.rate_limit_per_s, burst=settings.rate_burst, redis_url=redis_url)
                   if use_limiter and settings.rate_limit_per_s else None)
        storage = (make_cache_storage(name, cache_dir=cache_dir or config.runtime.cache_dir, redis_url=redis_url)
                   if use_cache and settings.cache_ttl_s else None)
        common: dict[str, Any] = {"on_call": on_call, "api_key": key, "cache_storage": storage,
                                  "limiter": limiter, "transport": transport}
        if src.type == "attom":
            clients[name] = AttomClient(settings, endpoints=src.endpoints, **common)
        elif src.type == "census_geocoder":
            clients[name] = CensusGeocoderClient(settings, **common)
        elif src.type == "census_acs":
            clients[name] = CensusAcsClient(settings, year=src.acs_year or 2023, **common)
    return clients, skipped


# --------------------------------------------------------------------------- the enricher


class MergedLater(Mapping[str, Any]):
    """`merge_fields(sources)`'s values, computed on first read: a market estimator that does not
    look at what the other sources said (the county comps do not) costs no second merge per
    prospect — half of `merge_fields`' time at 47k prospects (issue 17)."""

    def __init__(self, sources: list[SourceValues]) -> None:
        self._sources = sources
        self._values: dict[str, Any] | None = None

    def _merged(self) -> dict[str, Any]:
        if self._values is None:
            self._values = merge_fields(self._sources)[0]
        return self._values

    def __getitem__(self, key: str) -> Any:
        return self._merged()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged())

    def __len__(self) -> int:
        return len(self._merged())


class Enricher:
    """Holds the clients of one run; thread-safe; `enrich_batch` is the entry point."""

    def __init__(self, config: SourcesConfig, clients: Mapping[str, SourceClient],
                 skipped: Mapping[str, SkippedSource] | None = None, *, market_fn: MarketFn | None = None,
                 max_workers: int | None = None, as_of: date | None = None) -> None:
        self.config = config
        self.clients = dict(clients)
        self.skipped = dict(skipped or {})
        self.market_fn = market_fn
        self.max_workers = max_workers or config.runtime.max_workers
        self.as_of = as_of
        self._secrets = [c.api_key for c in self.clients.values() if c.api_key]

    @classmethod
    def from_config(cls, config: SourcesConfig, *, on_call: CallSink | None = None,
                    cache_dir: str | Path | None = None, redis_url: str | None = None,
                    env: Mapping[str, str] | None = None, market_fn: MarketFn | None = None,
                    max_workers: int | None = None, as_of: date | None = None, **build_kw: Any) -> Enricher:
        clients, skipped = build_clients(config, on_call=on_call, cache_dir=cache_dir, redis_url=redis_url,
                                         env=env, **build_kw)
        if market_fn is None and "market" not in skipped and config.by_type("market"):
            mname = config.by_type("market")[0]  # type: ignore[index]
            skipped[mname] = SkippedSource(mname, "no local market estimator was supplied (market_fn)")
        return cls(config, clients, skipped, market_fn=market_fn, max_workers=max_workers, as_of=as_of)

    def close(self) -> None:
        for c in self.clients.values():
            c.close()

    def __enter__(self) -> Enricher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers -----------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    def _client(self, type_: str) -> tuple[str, SourceConfig, SourceClient | None] | None:
        found = self.config.by_type(type_)
        if found is None:
            return None
        name, src = found
        return name, src, self.clients.get(name)

    def _values(self, name: str, src: SourceConfig, values: Mapping[str, Any], fetched_at: datetime | None,
                field_confidence: Mapping[str, float] | None = None) -> SourceValues:
        return SourceValues(source=name, values=values, fetched_at=fetched_at or datetime.now(UTC),
                            priority=src.priority, confidence=src.confidence, staleness_days=src.staleness_days,
                            field_confidence=field_confidence or {})

    def _guard(self, name: str, fn: Callable[[], tuple[SourceStatus, SourceValues | None]]
               ) -> tuple[SourceStatus, SourceValues | None]:
        try:
            return fn()
        except SourceError as exc:
            return SourceStatus("failed", self._scrub(str(exc))), None
        except Exception as exc:  # a parser bug must cost one source of one prospect, not the run
            return SourceStatus("failed", self._scrub(f"{name}: {type(exc).__name__}: {exc}")), None

    # -- one source each ---------------------------------------------------------------

    def _assessor(self, p: ProspectRef, name: str, src: SourceConfig) -> tuple[SourceStatus, SourceValues | None]:
        if not p.assessor_values:
            return SourceStatus("no_match", NO_ASSESSOR_VALUES), None
        return SourceStatus("ok"), self._values(name, src, dict(p.assessor_values), p.assessor_fetched_at)

    def _attom(self, p: ProspectRef, name: str, src: SourceConfig, client: AttomClient
               ) -> tuple[SourceStatus, SourceValues | None]:
        query = p.attom_query()
        if query is None:
            return SourceStatus("not_applicable", "prospect has no attom_id, apn+fips, or street+city+state"), None
        result = client.lookup(query)
        if result.property is None:
            return SourceStatus("no_match", "ATTOM: SuccessWithoutResult", result.cache_hits == result.calls), None
        vals = result.property.values()
        conf: dict[str, float] = {}
        if result.property.avm_confidence_score is not None:  # ATTOM's own 0-100 score
            score = max(0.0, min(1.0, result.property.avm_confidence_score / 100.0))
            conf = {k: score for k in ("avm_value", "avm_high", "avm_low")}
        status = SourceStatus("ok", None, result.cache_hits == result.calls)
        return status, self._values(name, src, vals, result.fetched_at, conf)

    def _geocoder(self, p: ProspectRef, name: str, src: SourceConfig, client: CensusGeocoderClient | None
                  ) -> tuple[SourceStatus, SourceValues | None, Tract | None]:
        if p.tract_geoid and len(p.tract_geoid) == 11:
            g = p.tract_geoid
            return SourceStatus("not_applicable", "tract already known"), None, Tract(g, g[:2], g[2:5], g[5:])
        if client is None:
            return SourceStatus("skipped", self.skipped.get(name, SkippedSource(name, "no client")).reason), None, None
        if p.latitude is None or p.longitude is None:
            return SourceStatus("not_applicable", "prospect has no coordinates"), None, None
        holder: dict[str, Tract | None] = {}

        def run() -> tuple[SourceStatus, SourceValues | None]:
            tract, resp = client.tract_for(p.latitude, p.longitude)  # type: ignore[arg-type]
            holder["tract"] = tract
            if tract is None:
                return SourceStatus("no_match", "no census tract at these coordinates", resp.cache_hit), None
            return (SourceStatus("ok", None, resp.cache_hit),
                    self._values(name, src, {"tract_geoid": tract.geoid, "tract_name": tract.name}, resp.fetched_at))

        status, values = self._guard(name, run)
        return status, values, holder.get("tract")

    def _acs(self, tract: Tract | None, name: str, src: SourceConfig, client: CensusAcsClient,
             geocoder: SourceStatus | None = None) -> tuple[SourceStatus, SourceValues | None]:
        if tract is None:
            if geocoder is not None and geocoder.status in ("failed", "skipped"):
                # Unknown because the geocoder is down, not because there is no tract: the ACS
                # values are down with it, so its last good ones are kept (keep_if_down).
                return SourceStatus("failed", f"no census tract: census_geocoder {geocoder.status}: "
                                              f"{geocoder.reason}"), None
            return SourceStatus("not_applicable", "no census tract for this prospect"), None
        row, fetched_at = client.tract_row(tract)
        if row is None:
            return SourceStatus("no_match", f"tract {tract.geoid} not in the ACS county table"), None
        return SourceStatus("ok"), self._values(name, src, tract_fields(row), fetched_at)

    def _market(self, p: ProspectRef, name: str, src: SourceConfig, so_far: Mapping[str, Any]
                ) -> tuple[SourceStatus, SourceValues | None]:
        assert self.market_fn is not None
        vals = dict(self.market_fn(p, so_far) or {})
        if not vals:
            return SourceStatus("no_match", NO_MARKET_VALUES), None
        return SourceStatus("ok"), self._values(name, src, vals, datetime.now(UTC))

    # -- one prospect ------------------------------------------------------------------

    def enrich_one(self, p: ProspectRef) -> EnrichmentOutcome:
        statuses: dict[str, SourceStatus] = {}
        collected: list[SourceValues] = []
        expected: list[str] = []

        def take(name: str, result: tuple[SourceStatus, SourceValues | None]) -> None:
            statuses[name] = result[0]
            if result[1] is not None:
                collected.append(result[1])
            keep_if_down(name)

        def keep_if_down(name: str) -> None:
            """A source that failed or was skipped: its last good values stay, marked kept."""
            status, src = statuses[name], self.config.sources.get(name)
            if status.status in ("failed", "skipped") and src is not None and p.previous_provenance:
                collected.extend(kept_values(
                    name, f"{status.status}: {status.reason}", p.previous_values, p.previous_provenance,
                    priority=src.priority, confidence=src.confidence, staleness_days=src.staleness_days))

        for name, reason in self.skipped.items():
            statuses[name] = SourceStatus("skipped", reason.reason)
            keep_if_down(name)

        found = self._client("county_assessor")
        if found and found[1].enabled:
            name, src, _ = found
            take(name, self._guard(name, lambda: self._assessor(p, name, src)))

        found = self._client("attom")
        if found and found[2] is not None:
            name, src, client = found
            expected += ATTOM_FIELDS
            take(name, self._guard(name, lambda: self._attom(p, name, src, client)))  # type: ignore[arg-type]

        tract: Tract | None = None
        geocoded: SourceStatus | None = None
        found = self._client("census_geocoder")
        if found and (found[2] is not None or p.tract_geoid):
            name, src, client = found
            geocoded, values, tract = self._geocoder(p, name, src, client)  # type: ignore[arg-type]
            take(name, (geocoded, values))
        elif "census_geocoder" in statuses:  # skipped (no client): known before this prospect
            geocoded = statuses["census_geocoder"]
        found = self._client("census_acs")
        if found and found[2] is not None:
            name, src, client = found
            expected += TRACT_FIELDS
            take(name, self._guard(name, lambda: self._acs(tract, name, src, client, geocoded)))  # type: ignore[arg-type]

        found = self._client("market")
        if found and found[1].enabled and self.market_fn is not None:
            name, src, _ = found
            so_far = MergedLater(list(collected))  # the sources so far, merged only if read
            take(name, self._guard(name, lambda: self._market(p, name, src, so_far)))

        values, provenance = merge_fields(collected, expected_fields=expected)
        signals = compute_owner_signals(
            values, property_address=p.address_line1, property_city=p.city, property_state=p.state,
            property_zip=p.zip, as_of=self.as_of or date.today()).as_dict()

        return self._outcome(p.prospect_id, values, provenance, signals, statuses)

    def _outcome(self, prospect_id: str, values: dict[str, Any], provenance: dict[str, Any],
                 signals: dict[str, Any], statuses: dict[str, SourceStatus]) -> EnrichmentOutcome:
        """Enriched, or failed when a required source did not answer (ok or a definite no-match)."""
        reason = self.required_failure(statuses)
        if reason is not None:
            return EnrichmentOutcome(prospect_id, "failed", values, provenance, signals, statuses, reason=reason)
        return EnrichmentOutcome(prospect_id, "enriched", values, provenance, signals, statuses)

    def required_failure(self, statuses: Mapping[str, SourceStatus]) -> str | None:
        """Why a prospect with these source statuses fails: the first required source (in the
        config's order) that did not answer (ok or a definite no-match); None when none."""
        for name, src in self.config.sources.items():
            st = statuses.get(name)
            if not src.required or (st is not None and st.status in ("ok", "no_match")):
                continue
            why = st.reason if st else "not run"
            label = st.status if st else "missing"
            return f"required source {name} {label}: {why}"
        return None

    # -- local sources only (issue 17) ---------------------------------------------------

    def local_plan(self) -> LocalPlan | None:
        """What `enrich_one` does for every prospect when no HTTP source is called, or None when the
        shortcut (`enrich/local_columns.py`) does not apply: an HTTP client exists, or a local source's values
        would be stale the moment they are fetched (`staleness_days: 0`)."""
        if self.clients:
            return None
        plan = []
        local: tuple[tuple[Literal["county_assessor", "market"], bool, str], ...] = (
            ("county_assessor", True, NO_ASSESSOR_VALUES), ("market", self.market_fn is not None, NO_MARKET_VALUES))
        for type_, runs, no_match in local:
            found = self._client(type_)
            if found and found[1].enabled and runs:
                name, src, _ = found
                if src.staleness_days is not None and src.staleness_days <= 0:
                    return None
                plan.append(LocalSource(type_, name, round(float(src.confidence), 4), no_match))
        return LocalPlan(tuple(plan), {name: SourceStatus("skipped", s.reason) for name, s in self.skipped.items()})

    def enrich_batch(self, prospects: Sequence[ProspectRef]) -> list[EnrichmentOutcome]:
        """All prospects, in input order; concurrency bounded by max_workers (rate by the limiters)."""
        if not prospects:
            return []

        def safe(p: ProspectRef) -> EnrichmentOutcome:
            try:
                return self.enrich_one(p)
            except Exception as exc:  # last line of defence: the prospect fails, the batch goes on
                return EnrichmentOutcome(p.prospect_id, "failed", reason=self._scrub(f"{type(exc).__name__}: {exc}"))

        # Threads only pay while prospects wait on outside calls; with no HTTP client every step is
        # local Python under one GIL, where 8 threads cost ~15-40% in lock hand-offs (issue 17).
        if self.max_workers <= 1 or len(prospects) == 1 or not self.clients:
            return [safe(p) for p in prospects]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(prospects)),
                                thread_name_prefix="enrich") as pool:
            return list(pool.map(safe, prospects))


def enrich_batch(prospects: Sequence[ProspectRef], sources_config: SourcesConfig, *,
                 clients: Mapping[str, SourceClient] | None = None,
                 skipped: Mapping[str, SkippedSource] | None = None,
                 on_call: CallSink | None = None, **kw: Any) -> list[EnrichmentOutcome]:
    """One-shot form: builds clients from config (unless given), enriches, closes what it built."""
    if clients is not None:
        return Enricher(sources_config, clients, skipped, **kw).enrich_batch(prospects)
    enricher_kw = {k: kw.pop(k) for k in ("market_fn", "max_workers", "as_of") if k in kw}
    with Enricher.from_config(sources_config, on_call=on_call, **enricher_kw, **kw) as enricher:
        return enricher.enrich_batch(prospects)
