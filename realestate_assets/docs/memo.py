"""Render investor documents: context → HTML (Jinja2) → PDF (WeasyPrint).

Templates are versioned (`TEMPLATE_VERSIONS`): a packet is regenerated only when its inputs
(the memo context) or its template's version change. Charts (hand-written SVG, docs/charts.py)
and listing photos are derived from the context at render time, so they are covered by the
same hash.

Where the time goes (cProfile, 20 investor memos, before and after this module's charts
became plain SVG): font subsetting with fontTools, WeasyPrint's fallback when HarfBuzz's
subsetter (libharfbuzz-subset0) is missing, was 35-75% of a document (hence
`font_subsetter()`); matplotlib about a third of an investor memo, and drawing its SVG (about
150 nodes a chart) another sixth. What is left is WeasyPrint's own work: layout (about 40%,
tables and line breaking), the CSS cascade (about 15%) and drawing (about 30%, SVG text
included). Charts stay `<img>` data URIs: inline `<svg>` was about 8% slower, because every
SVG node then goes through the HTML cascade.

`render_many` renders a batch in a process pool: WeasyPrint is single-threaded and CPU-bound,
so two worker processes on two cores roughly double the throughput (bench/bench_outreach.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from realestate_assets.docs import charts, numbers
from realestate_assets.docs.dates import data_age

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Bump a template's version when its output changes: packets are regenerated only when this
# or their inputs change.
TEMPLATE_VERSIONS = {
    "investor_memo": "7",
    "executive_summary": "5",
    "detailed_analysis": "7",
    "portfolio_overview": "4",
    "email_notification": "2",
    "email_daily_digest": "2",
    "email_weekly_summary": "2",
    "email_custom_alert": "2",
}
PROPERTY_TEMPLATES = ("investor_memo", "executive_summary", "detailed_analysis")
# Which charts each property template shows (charts cost time: only draw what is shown).
TEMPLATE_CHARTS = {
    "investor_memo": ("comps_map", "price_history", "score_factors"),
    "executive_summary": (),  # one page, fast: factors as CSS bars (see _macros.factor_bars)
    "detailed_analysis": ("comps_map", "price_history", "score_factors"),
}


def _usd_short(v: Any) -> str:
    """$530k, $1.25M: a range that fits a KPI box on one line."""
    if v is not None and abs(float(v)) >= 1e6:
        return numbers.money(v, ",.2f", 1e6, "M")
    return numbers.money(v, ",.0f", 1e3, "k")


@cache
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    # Signs by one rule, the charts' too (docs/numbers.py): −4.2%, −$1,200.
    env.filters["usd"] = numbers.money
    env.filters["usd_short"] = _usd_short
    # Counts, areas, scores and coordinates: ASCII, so that a coordinate pastes into a map (numbers.py).
    env.filters["num"] = lambda v, d=0: "—" if v is None else f"{float(v):,.{d}f}"
    env.filters["pct"] = numbers.pct
    env.filters["signed_pct"] = lambda v, d=1: numbers.pct(v, d, signed=True)
    env.filters["share"] = lambda v, d=0: "—" if v is None else f"{float(v) * 100:.{d}f}%"
    return env


def inputs_hash(template: str, context: dict[str, Any]) -> str:
    from realestate_assets.db.warehouse import json_safe  # not needed in render workers

    payload = json.dumps({"template": template, "version": TEMPLATE_VERSIONS[template],
                          "context": json_safe(context)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def decorate(template: str, context: dict[str, Any], photo_cache: Path | None = None,
             photo_max_px: int = 640) -> dict[str, Any]:
    """The context plus what is derived at render time: chart SVGs and embedded photos."""
    accent = (context.get("sender") or {}).get("color") or "#1f6f43"
    # A context may pin the generation date (visual regression tests); otherwise it is today.
    generated_on = context.get("generated_on") or datetime.now(UTC).date().isoformat()
    score = context.get("score") or {}
    as_of = score.get("as_of_date") or context.get("as_of_date")
    extra: dict[str, Any] = {"charts": {}, "photos": [], "generated_on": generated_on,
                             "data_age": data_age(as_of, generated_on, score.get("stale_after_days")
                                                  or context.get("stale_after_days"))}
    if template == "portfolio_overview":
        extra["charts"]["portfolio_map"] = charts.data_uri(charts.portfolio_map(context["properties"]))
    for name in TEMPLATE_CHARTS.get(template, ()):
        extra["charts"][name] = charts.data_uri(getattr(charts, name)(context, accent=accent))
    urls = (context.get("property") or {}).get("photos") or []
    if urls and photo_cache is not None and template in ("investor_memo", "detailed_analysis", "executive_summary"):
        from realestate_assets.docs.photos import fetch_photos

        extra["photos"] = fetch_photos(urls, photo_cache, max_px=photo_max_px,
                                       limit=1 if template == "executive_summary" else 3).data_uris
    return {**context, **extra}


def render_html(template: str, context: dict[str, Any], photo_cache: Path | None = None) -> str:
    return _environment().get_template(f"{template}.html.j2").render(**decorate(template, context, photo_cache))


@cache
def _font_config() -> Any:
    """One font configuration per process. WeasyPrint otherwise builds one per document: it reloads
    Fontconfig's configuration and starts a new Pango font map with empty caches every time (about
    a tenth of an executive summary's render time). Safe to share: the templates declare no
    @font-face, so the configuration never changes."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def font_subsetter() -> str:
    """Which library WeasyPrint subsets fonts with. fontTools (its fallback when the system lacks
    libharfbuzz-subset0) costs 150-450 ms a document, several times the rest of a one-page memo."""
    from weasyprint.text.ffi import harfbuzz, harfbuzz_subset

    if harfbuzz_subset and harfbuzz.hb_version_atleast(4, 1, 0):
        return "HarfBuzz"
    return "fontTools (slow: install the Debian package libharfbuzz-subset0)"


_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


@lru_cache(maxsize=16)
def _stylesheet(css: str) -> Any:
    """A document's <style>, parsed once per process. The text is the same for every document of
    one sender, and parsing it (tokenizing, compiling each selector) is about a tenth of an
    executive summary. Passed as a user stylesheet: with no other author CSS than inline style
    attributes, which win either way, and no !important rules, the cascade is the same."""
    from weasyprint import CSS

    return CSS(string=css, font_config=_font_config())


def _render_pages(template: str, context: dict[str, Any], photo_cache: Path | None = None) -> tuple[bytes, int]:
    """The PDF and its page count, which WeasyPrint knows once the document is laid out."""
    from weasyprint import HTML  # heavy import, only where PDFs are made

    html = render_html(template, context, photo_cache)
    sheets = []
    style = _STYLE.search(html)
    if style is not None:
        sheets = [_stylesheet(style.group(1))]
        html = html[:style.start()] + html[style.end():]
    document = HTML(string=html, base_url=str(TEMPLATES)).render(font_config=_font_config(), stylesheets=sheets)
    return document.write_pdf(), len(document.pages)


def render_pdf(template: str, context: dict[str, Any], photo_cache: Path | None = None) -> bytes:
    pdf, pages = _render_pages(template, context, photo_cache)
    _remember_pages(pdf, pages)
    return pdf


def render_email_html(template: str, context: dict[str, Any]) -> str:
    return _environment().get_template(f"{template}.html.j2").render(**context)


# Page counts of the PDFs this process rendered or received from `render_many`, by digest.
# Reading the count back with pypdf means inflating WeasyPrint's object streams: about 8 ms a
# PDF, and the packets asset asks twice per packet (about 15 s of a county's 935 packets).
_PAGES: dict[bytes, int] = {}
_PAGES_MAX = 20_000


def _digest(pdf: bytes) -> bytes:
    return hashlib.blake2b(pdf, digest_size=16).digest()


def _remember_pages(pdf: bytes, pages: int) -> None:
    if len(_PAGES) >= _PAGES_MAX:  # bounded: long-lived processes (the API) render on demand
        del _PAGES[next(iter(_PAGES))]
    _PAGES[_digest(pdf)] = pages


def page_count(pdf: bytes) -> int:
    known = _PAGES.get(_digest(pdf))
    if known is not None:
        return known
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


@dataclass(frozen=True)
class RenderJob:
    key: str
    template: str
    context: dict[str, Any]


def _render_job(job: RenderJob, photo_cache: str | None) -> tuple[str, tuple[bytes, int] | str]:
    """(key, (PDF, pages)) or (key, the reason it failed): one document that cannot render costs only itself."""
    try:
        return job.key, _render_pages(job.template, job.context, Path(photo_cache) if photo_cache else None)
    except Exception as exc:  # a template error, a value WeasyPrint chokes on, …
        return job.key, f"{type(exc).__name__}: {exc}"[:1000]


def _warm() -> None:
    import gc

    import weasyprint  # noqa: F401 - import once per worker, not per document

    _font_config()
    # The imported modules are permanent: keep the cyclic garbage collector from rescanning them
    # on every full collection (layout allocates many short-lived cycles per document).
    gc.freeze()


def render_pool(workers: int = 2) -> ProcessPoolExecutor:
    """Worker processes for `render_many`; forkserver gives clean workers (no inherited database
    connections or Dagster threads). The fork server, started by the process's first pool and kept
    for its life, imports WeasyPrint once (its preload), and each pool's workers are forked from it
    with WeasyPrint in memory: each worker imported it again (≈0.5 CPU s) before."""
    context = get_context("forkserver")
    # '__main__' is the fork server's default preload; a server already running keeps its own.
    context.set_forkserver_preload(["__main__", "weasyprint"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_warm)


def render_many(jobs: Iterable[RenderJob], *, workers: int = 2, photo_cache: Path | None = None,
                pool_threshold: int = 24, pool: ProcessPoolExecutor | None = None,
                failures: dict[str, str] | None = None) -> dict[str, bytes]:
    """Render every job; in a process pool when there are enough of them to pay for starting it.

    A job that fails is left out of the result and its reason put in `failures` (the packets
    asset records it and goes on); without `failures` the first failure raises.
    """
    jobs = list(jobs)
    cache_arg = str(photo_cache) if photo_cache else None
    workers = max(1, min(workers, os.cpu_count() or 1, len(jobs)))
    if pool is None and (workers == 1 or len(jobs) < pool_threshold):
        results = dict(_render_job(job, cache_arg) for job in jobs)
    else:
        chunks = max(1, len(jobs) // (workers * 4))
        if pool is not None:
            results = dict(pool.map(_render_job, jobs, [cache_arg] * len(jobs), chunksize=chunks))
        else:
            with render_pool(workers) as own:
                results = dict(own.map(_render_job, jobs, [cache_arg] * len(jobs), chunksize=chunks))
    failed = {key: out for key, out in results.items() if isinstance(out, str)}
    if failed and failures is None:
        key, reason = next(iter(failed.items()))
        raise RuntimeError(f"could not render {key}: {reason}")
    if failures is not None:
        failures.update(failed)
    pdfs = {}
    for key, out in results.items():
        if not isinstance(out, str):
            pdfs[key] = out[0]
            _remember_pages(*out)
    return pdfs
