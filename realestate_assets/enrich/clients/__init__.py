"""Enrichment clients (issue #4): ATTOM, Census geocoder + ACS, with retries, rate limits,
an HTTP cache and a circuit breaker (from realestate_assets.net) and a call log. Pure Python —
no Dagster imports.

Entry point: `Enricher.from_config(load_sources_config(), on_call=...).enrich_batch(prospects)`
or the one-shot `enrich_batch(prospects, config, on_call=...)`.
"""

from realestate_assets.enrich.clients.attom import AttomClient, AttomProperty, AttomQuery, AttomResult
from realestate_assets.enrich.clients.base import (
    CallLog,
    CircuitOpenError,
    ClientSettings,
    MalformedResponseError,
    QuotaExceededError,
    SourceCall,
    SourceClient,
    SourceError,
)
from realestate_assets.enrich.clients.batch import (
    Enricher,
    EnrichmentOutcome,
    ProspectRef,
    SkippedSource,
    SourceStatus,
    build_clients,
    enrich_batch,
)
from realestate_assets.enrich.clients.census import CensusAcsClient, CensusGeocoderClient, Tract
from realestate_assets.enrich.sources_config import SourcesConfig, SourcesConfigError, load_sources_config
from realestate_assets.net import CircuitBreaker, make_cache_storage, make_limiter

__all__ = [
    "AttomClient",
    "AttomProperty",
    "AttomQuery",
    "AttomResult",
    "CallLog",
    "CensusAcsClient",
    "CensusGeocoderClient",
    "CircuitBreaker",
    "CircuitOpenError",
    "ClientSettings",
    "Enricher",
    "EnrichmentOutcome",
    "MalformedResponseError",
    "ProspectRef",
    "QuotaExceededError",
    "SkippedSource",
    "SourceCall",
    "SourceClient",
    "SourceError",
    "SourceStatus",
    "SourcesConfig",
    "SourcesConfigError",
    "Tract",
    "build_clients",
    "enrich_batch",
    "load_sources_config",
    "make_cache_storage",
    "make_limiter",
]
