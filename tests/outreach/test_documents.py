"""Every template renders from real King County properties: pages, text, charts, photos, honesty."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from pypdf import PdfReader

from realestate_assets.docs.context import portfolio_context
from realestate_assets.docs.memo import (
    TEMPLATE_VERSIONS,
    RenderJob,
    decorate,
    inputs_hash,
    render_many,
    render_pdf,
)
from tests.outreach.helpers_outreach import SENDER, ScriptedServer, county, real_contexts


def pdf_text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), " ".join(" ".join(page.extract_text() for page in reader.pages).split())


@pytest.fixture(scope="module")
def contexts() -> list[dict]:
    return real_contexts(3)


def test_investor_memo_has_every_section_from_real_records(contexts: list[dict]) -> None:
    ctx = contexts[0]
    pages, text = pdf_text(render_pdf("investor_memo", ctx))
    assert pages >= 2
    parcel = ctx["property"]["parcel_id"]
    for expected in (f"Parcel {parcel}", "Property", "Estimated value and comparable sales", "Comparable sales",
                     "Price history and market trend", "Financial analysis", "Neighborhood", "Risks",
                     "Why this property scores", f"${ctx['valuation']['estimated_value']:,.0f}",
                     ctx["comps"][0]["parcel_id"], SENDER.postal_address.split(",")[1].strip(),
                     f"page 1 of {pages}", f"page {pages} of {pages}"):
        assert expected in text, expected
    # Enrichment has no ACS or rent data for the sample: the memo says so instead of inventing it.
    assert "Neighborhood data (US Census ACS) is not available" in text
    assert "Rent data is not available" in text and "We do not assume a rent" in text
    # No tax amount on record: the estimate is labelled as assumed where it is shown.
    assert "Property tax (yearly, assumed)" in text
    charts = decorate("investor_memo", ctx)["charts"]
    assert all(uri and uri.startswith("data:image/svg+xml") for uri in charts.values()), charts.keys()


def test_rent_and_neighborhood_from_data_produce_cash_flow_and_cap_rate(contexts: list[dict]) -> None:
    (ctx,) = real_contexts(1, rent_estimate_monthly=None, tract_median_gross_rent=2150.0, tract_name="Tract 53.01",
                           tract_median_household_income=98000.0, tract_vacancy_rate=0.04)
    f = ctx["financials"]
    assert f["rent_available"] and f["rent_source"] == "ACS median gross rent of the census tract"
    assert f["cap_rate_pct"] == pytest.approx(f["noi"] / f["price"] * 100)
    _, text = pdf_text(render_pdf("investor_memo", ctx))
    for expected in ("Cap rate", "Cash-on-cash ROI", "Tract 53.01", "$98,000", "$2,150", "Assumptions:",
                     "25% down", "vacancy 5%"):
        assert expected in text, expected
    assert "not available" in text  # the tract fields the data lacks stay "not available"


def test_executive_summary_is_one_page_and_detailed_analysis_is_long(contexts: list[dict]) -> None:
    pages, text = pdf_text(render_pdf("executive_summary", contexts[0]))
    assert pages == 1 and "Executive summary" in text and "Top value factors" in text and "page 1 of 1" in text
    pages, text = pdf_text(render_pdf("detailed_analysis", contexts[0]))
    assert pages >= 3
    for expected in ("1. Property record", "3. Valuation model explanation", "5. Price history",
                     "9. Method and sources", "Renovation upside"):
        assert expected in text, expected


def test_portfolio_overview_lists_many_properties(contexts: list[dict]) -> None:
    portfolio = portfolio_context(contexts, county(), SENDER)
    pages, text = pdf_text(render_pdf("portfolio_overview", portfolio))
    assert pages >= 1 and "Portfolio overview: King County, WA" in text
    assert all(c["property"]["parcel_id"] in text for c in contexts)
    assert decorate("portfolio_overview", portfolio)["charts"]["portfolio_map"].startswith("data:image/svg+xml")


def test_email_notification_renders_as_html_and_pdf(contexts: list[dict]) -> None:
    from realestate_assets.docs.context import sender_context
    from realestate_assets.docs.memo import render_email_html

    item = {"parcel_id": contexts[0]["property"]["parcel_id"], "address": None, "bird_dog_score": 91.0,
            "estimated_value": 650000.0, "value_gap_pct": 22.0, "comps_count": 7, "use_type": "sfr",
            "living_sqft": 1800.0, "county_name": "King County, WA", "reasons": ["owned for 9.0 years"],
            "link": "https://objects.example.com/memo.pdf", "link_expires": "2026-11-30 08:00 UTC"}
    context = {"sender": sender_context(SENDER), "county": {"name": "King County", "state": "WA"},
               "intro": "A property scored 91/100.", "items": [item], "first_name": "Avery",
               "unsubscribe_url": "https://deals.example.com/unsubscribe?token=t",
               "campaign_label": "new opportunities",
               "attached": True}
    html = render_email_html("email_notification", context)
    assert "https://deals.example.com/unsubscribe?token=t" in html and SENDER.postal_address in html
    pages, text = pdf_text(render_pdf("email_notification", context))
    assert pages == 1 and f"Parcel {item['parcel_id']}" in text and "Unsubscribe" in text


def test_listing_photos_are_downloaded_resized_cached_and_missing_ones_skipped(tmp_path: Path,
                                                                                contexts: list[dict]) -> None:
    from PIL import Image

    raw = io.BytesIO()
    Image.new("RGB", (1600, 1200), (40, 120, 90)).save(raw, format="JPEG")
    with ScriptedServer(files={"/house.jpg": ("image/jpeg", raw.getvalue())}) as server:
        ctx = {**contexts[0], "property": {**contexts[0]["property"],
                                           "photos": [f"{server.url}/missing.jpg", f"{server.url}/house.jpg"]}}
        photos = decorate("investor_memo", ctx, photo_cache=tmp_path)["photos"]
        pages, _ = pdf_text(render_pdf("investor_memo", ctx, photo_cache=tmp_path))
    assert len(photos) == 1 and photos[0].startswith("data:image/jpeg;base64,")
    (cached,) = tmp_path.glob("*.jpg")
    assert max(Image.open(cached).size) == 640
    # Cached: the photo renders again with the server gone.
    assert decorate("investor_memo", ctx, photo_cache=tmp_path)["photos"] == photos
    assert pages >= 2


def test_inputs_hash_changes_with_inputs_and_template_version_only(contexts: list[dict],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = contexts[0]
    assert inputs_hash("investor_memo", ctx) == inputs_hash("investor_memo", real_contexts(1)[0])
    changed = {**ctx, "score": {**ctx["score"], "bird_dog_score": 12.0}}
    assert inputs_hash("investor_memo", changed) != inputs_hash("investor_memo", ctx)
    before = inputs_hash("investor_memo", ctx)
    monkeypatch.setitem(TEMPLATE_VERSIONS, "investor_memo", "999")
    assert inputs_hash("investor_memo", ctx) != before


def test_render_many_in_a_process_pool_matches_sequential_rendering(contexts: list[dict]) -> None:
    jobs = [RenderJob(f"k{i}", "executive_summary", contexts[i % len(contexts)]) for i in range(6)]
    pooled = render_many(jobs, workers=2, pool_threshold=2)
    assert set(pooled) == {j.key for j in jobs}
    for key, pdf in pooled.items():
        pages, text = pdf_text(pdf)
        assert pages == 1 and "Executive summary" in text, key


def _parent_pid(_: object) -> int:
    return os.getppid()


def test_the_pool_s_workers_fork_from_a_server_that_imported_weasyprint_once() -> None:
    """A pool's workers are forked from the process's fork server, which imported WeasyPrint
    (its libraries mapped) when it started: a packets run's workers do not import it again."""
    from realestate_assets.docs.memo import render_pool

    with render_pool(2) as pool:
        servers = set(pool.map(_parent_pid, range(4)))
    assert len(servers) == 1 and servers != {os.getpid()}
    server = servers.pop()
    assert "libpango" in Path(f"/proc/{server}/maps").read_text()


def test_page_count_is_known_from_rendering_and_read_from_other_pdfs(contexts: list[dict]) -> None:
    from realestate_assets.docs import memo

    jobs = [RenderJob(f"k{i}", template, contexts[0]) for i, template in
            enumerate(("investor_memo", "executive_summary"))]
    pdfs = render_many(jobs, workers=1)
    for pdf in pdfs.values():
        # What rendering recorded is what the PDF holds.
        assert memo.page_count(pdf) == len(PdfReader(io.BytesIO(pdf)).pages)
        assert memo._digest(pdf) in memo._PAGES
    foreign = pdfs["k0"] + b"\n%not rendered here"  # a PDF this process did not render: read with pypdf
    assert memo._digest(foreign) not in memo._PAGES
    assert memo.page_count(foreign) == len(PdfReader(io.BytesIO(pdfs["k0"])).pages) >= 2
