"""One entry point for every source type: `iter_source(source) -> Iterator[Page | Reject]`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from realestate_assets.config_models import ArcGISSource, BulkFileSource, ListingSiteSource, SocrataSource
from realestate_assets.discovery.records import Page, Reject

LISTING_REQUIRED = ("address",)


def iter_source(source: BulkFileSource | SocrataSource | ArcGISSource | ListingSiteSource, *,
                credentials: Mapping[str, str] | None = None) -> Iterator[Page | Reject]:
    """Pages and Rejects of one source; a source that fails entirely yields a Reject saying why.

    `credentials` maps the names a county file gives its secrets (`app_token_env`) to their values.
    """
    if isinstance(source, BulkFileSource):
        from realestate_assets.discovery.bulk_file import read_bulk_file

        yield from read_bulk_file(source)
    elif isinstance(source, SocrataSource):
        from realestate_assets.discovery.socrata import read_socrata

        yield from read_socrata(source, app_token=(credentials or {}).get(source.app_token_env))
    elif isinstance(source, ArcGISSource):
        from realestate_assets.discovery.arcgis import read_arcgis

        yield from read_arcgis(source)
    elif isinstance(source, ListingSiteSource):
        # A crawl runs one way, through Dagster Pipes (resources/scraper.py's ScraperResource.crawl).
        raise TypeError(f"listing_site source {source.name!r} is crawled by the scraper resource, not read here")
    else:  # pragma: no cover - the config's discriminated union makes this unreachable
        yield Reject(getattr(source, "name", "?"), "", None, f"unknown source type {type(source).__name__}")
