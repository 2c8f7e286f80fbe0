"""One entry point for every source type: `iter_source(source) -> Iterator[Page | Reject]`."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from realestate_assets.config_models import ArcGISSource, BulkFileSource, ListingSiteSource, SocrataSource
from realestate_assets.discovery.records import Page, Reject

# A listing source's canonical field map when its county file gives none: ListingItem's columns
# already carry the canonical names (list price has no canonical field yet; see the report).
LISTING_FIELDS = {name: name for name in ("address", "city", "state", "zip", "beds", "baths", "living_sqft",
                                          "lot_sqft", "latitude", "longitude")}
LISTING_REQUIRED = ("address",)


def iter_source(source: BulkFileSource | SocrataSource | ArcGISSource | ListingSiteSource, *,
                work_dir: Path | None = None, listing_timeout_s: float = 3600,
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
        yield from _iter_listing(source, work_dir, listing_timeout_s)
    else:  # pragma: no cover - the config's discriminated union makes this unreachable
        yield Reject(getattr(source, "name", "?"), "", None, f"unknown source type {type(source).__name__}")


def _iter_listing(source: ListingSiteSource, work_dir: Path | None, timeout_s: float) -> Iterator[Page | Reject]:
    from realestate_assets.discovery.listing.read import read_listing_output
    from realestate_assets.discovery.listing.run import crawl_in_subprocess

    with tempfile.TemporaryDirectory(prefix=f"listing_{source.name}_") as scratch:
        directory = work_dir or Path(scratch)
        try:
            stats = crawl_in_subprocess(source, directory, timeout_s=timeout_s)
        except Exception as exc:  # the crawl process died or timed out: report, never crash
            yield Reject(source.name, ",".join(source.start_urls), None, f"crawl failed: {exc}")
            return
        yield from read_listing_output(source.name, Path(stats.items_path), Path(stats.rejects_path))
