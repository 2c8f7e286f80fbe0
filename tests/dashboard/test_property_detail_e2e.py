"""The property page's market panels and the list's review workflow, in Debian Chromium against the
real API on the test PostgreSQL, with the bundled King County sales (data/king_wa, 5,348 real
sales) as the county's recorded sales and a real Qdrant local store for similar properties:
comps on the map and in the table, the price-history chart, email history, similar properties, a
375 px phone width without sideways scrolling, bulk "mark reviewed" and the review filter, and
axe-core. Screenshots go to $REOS_DASHBOARD_SCREENSHOTS (e.g. docs/dashboard) when set.

Skips when the app is not built or Chromium is missing (like test_dashboard_e2e.py)."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from psycopg2.extras import execute_values

from realestate_assets.config_models import load_scoring
from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.enrich.county_data import county_facts
from realestate_assets.enrich.stored_provenance import ProvenanceIds
from realestate_assets.market.index import HedonicIndex
from realestate_assets.market.stored import store_index
from realestate_assets.settings import repo_root
from tests.api.helpers_api import make_tenant, owner_cursor
from tests.dashboard.server import api_server
from tests.dashboard.test_dashboard_e2e import AXE, CHROMIUM, logged_in, pytestmark, rows, serious_violations  # noqa: F401

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
N = 24  # properties: King County parcels sold at least twice
SHOTS = os.environ.get("REOS_DASHBOARD_SCREENSHOTS")


def king_sales() -> pd.DataFrame:
    from tests.outreach.helpers_outreach import king_sales as bundled

    sales = bundled().rename(columns={"area": "neighborhood", "wfnt": "waterfront", "age": "age_at_sale",
                                      "eff_age": "eff_age_at_sale"})
    sales["sale_date"] = pd.to_datetime(sales["sale_date"])
    sales["source"] = "king_wa_sales"
    sales["use_type"] = sales["use_type"].map({"sfr": "single_family"}).fillna(sales["use_type"])
    return sales


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from realestate_assets.ml.vectors import open_store, write_partition

    tenant = make_tenant(database_url, "detail")
    county = f"kd_{uuid.uuid4().hex[:6]}"
    sales = king_sales()
    facts, as_of = county_facts(sales, load_scoring(repo_root() / "config").comps)
    chosen = facts[(facts["sale_count"] >= 2) & facts["comps_estimated_value"].notna()].head(N).reset_index()
    with owner_cursor(database_url) as cur:
        cur.execute("INSERT INTO tenants (id, name) VALUES ('default', 'default') ON CONFLICT DO NOTHING")
        ensure_county_partitions(cur, county)
        execute_values(cur, "INSERT INTO sales (county, source, sale_id, parcel_id, sale_price, sale_date, "
                       "use_type, neighborhood, lot_sqft, waterfront, bldg_grade, living_sqft, beds, baths, "
                       "age_at_sale, eff_age_at_sale, latitude, longitude) VALUES %s",
                       [(county, "king_wa_sales", r.sale_id, r.parcel_id, float(r.sale_price),
                         r.sale_date.date(), r.use_type, str(r.neighborhood), float(r.lot_sqft), bool(r.waterfront),
                         float(r.bldg_grade), float(r.living_sqft), float(r.beds), float(r.baths),
                         float(r.age_at_sale), float(r.eff_age_at_sale), float(r.latitude), float(r.longitude))
                        for r in sales.itertuples()])
        store_index(cur, county, HedonicIndex.from_sales(sales))  # what the pipeline stores for the market panel
        ids = []
        for i, r in enumerate(chosen.itertuples()):
            key = f"{county}-{r.parcel_id}"
            cur.execute("INSERT INTO prospects (county, prospect_key, parcel_id, city, state, use_type, "
                        "latitude, longitude) VALUES (%s, %s, %s, 'SEATTLE', 'WA', %s, "
                        "%s, %s) RETURNING id", (county, key, r.parcel_id, r.use_type, r.latitude, r.longitude))
            ids.append(cur.fetchone()[0])
            provenance = {"living_sqft": {"source": "king_wa_sales", "fetched_at": "2026-12-01T04:00:00+00:00",
                                          "confidence": 1.0}}
            (provenance_id,) = ProvenanceIds(cur.connection, county).ids([json.dumps(provenance)])  # 0063
            cur.execute("INSERT INTO enrichment (county, prospect_key, as_of_date, status, use_type, "
                        "living_sqft, beds, baths, comps_count, comps_estimated_value, last_sale_price, "
                        "last_sale_date, provenance_id) VALUES (%s, %s, %s, 'enriched', %s, %s, %s, %s, %s, "
                        "%s, %s, %s, %s)",
                        (county, key, as_of.date(), r.use_type, r.living_sqft, r.beds, r.baths, int(r.comps_count),
                         r.comps_estimated_value, r.last_sale_price, r.last_sale_date.date(), int(provenance_id)))
            cur.execute("INSERT INTO scores (county, prospect_key, as_of_date, estimated_value, "
                        "value_gap_pct, bird_dog_score, score_rank, model_version) VALUES "
                        "(%s, %s, %s, %s, 0, %s, %s, 'e2e')",
                        (county, key, as_of.date(), r.comps_estimated_value, 98.0 - 2 * i, i + 1))
        cur.execute("DELETE FROM subscriptions WHERE tenant_id = %s", (tenant.id,))
        cur.execute("INSERT INTO subscriptions (tenant_id, county) VALUES (%s, %s)", (tenant.id, county))
        cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, inputs_hash, "
                    "object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES (%s, %s, %s, "
                    "'investor_memo', '1', 'h', 'x.pdf', 's', 10, 98, now()) RETURNING id",
                    (tenant.id, county, f"{county}-{chosen['parcel_id'][0]}"))
        packet = cur.fetchone()[0]
        cur.execute("INSERT INTO emails (tenant_id, county, campaign, packet_id, packet_ids, recipient_email, subject, "
                    "provider, send_key, status, sent_at, delivered_at, opened_at) VALUES (%s, %s, 'new_opportunity', "
                    "%s, %s, 'investor@example.com', 'New deal: a King County house (score 98)', 'outbox', %s, 'sent', "
                    "now(), now(), now())", (tenant.id, county, packet, [packet], f"packet:{packet}"))
    vectors = tmp_path_factory.mktemp("vectors") / "qdrant"
    frame = chosen.assign(prospect_key=[f"{county}-{p}" for p in chosen["parcel_id"]], list_price=None,
                          estimated_value=chosen["comps_estimated_value"],
                          bird_dog_score=[98.0 - 2 * i for i in range(len(chosen))])
    with open_store(None, vectors) as client:
        write_partition(client, county, frame)
    return {"tenant": tenant, "county": county, "ids": ids, "vectors": vectors, "parcel": chosen["parcel_id"][0]}


@pytest.fixture(scope="module")
def base_url(database_url: str, tmp_path_factory: pytest.TempPathFactory, world) -> Iterator[str]:
    with api_server(database_url, tmp_path_factory.mktemp("detail-api"), qdrant_path=world["vectors"]) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


def open_property(page: Any, base_url: str, world: dict[str, Any]) -> None:
    page.goto(f"{base_url}/properties/{world['ids'][0]}")
    expect(page.get_by_role("heading", name=f"Parcel {world['parcel']}")).to_be_visible()
    expect(page.get_by_role("heading", name="Comparable sales")).to_be_visible()
    expect(page.get_by_role("table", name="Comparable sales, nearest first")).to_be_visible()


def test_property_page_shows_comps_history_emails_and_similar(browser, base_url: str, world) -> None:
    page = logged_in(browser, base_url, world["tenant"], "analyst")
    open_property(page, base_url, world)
    comps = page.get_by_role("table", name="Comparable sales, nearest first").locator("tbody tr")
    found = page.locator("dt:has-text('Comps found') + dd")
    count = int(found.inner_text())
    assert count >= 3
    expect(comps).to_have_count(count)
    # The map: MapLibre's canvas with a marker per comp and one for the property (the offline style
    # draws no tiles); without WebGL the page says so and the table stands alone.
    map_region = page.get_by_role("region", name=re.compile("^Map of the property"))
    webgl_missing = page.get_by_text("The map needs WebGL")
    expect(map_region.or_(webgl_missing)).to_be_visible()
    if map_region.is_visible():
        expect(map_region.locator("canvas")).to_have_count(1)
        expect(map_region.locator(".reos-marker")).to_have_count(count + 1)
    # The price history: the chart and the parcel's recorded sales (at least two: chosen so).
    history = page.locator("section[aria-labelledby=history-h]")
    expect(history.locator("svg.recharts-surface").first).to_be_visible()
    expect(history.get_by_role("list", name="Recorded sales").locator("li")).not_to_have_count(0)
    assert history.get_by_role("list", name="Recorded sales").locator("li").count() >= 2
    expect(page.get_by_role("list", name="Emails, newest first")).to_contain_text("New deal: a King County house")
    similar = page.get_by_role("list", name="Most similar first")
    expect(similar.get_by_role("link").first).to_be_visible()
    expect(similar).to_contain_text("% similar")
    page.wait_for_load_state("networkidle")
    shot(page, "property.png")


def test_phone_width_property_page_has_no_sideways_scroll(browser, base_url: str, world) -> None:
    page = logged_in(browser, base_url, world["tenant"], "viewer", viewport={"width": 375, "height": 812})
    open_property(page, base_url, world)
    expect(page.locator("section[aria-labelledby=history-h] svg.recharts-surface").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "property-phone.png")
    # A fact's provenance on focus stays on screen (the source is the last column), and Escape hides it.
    page.get_by_role("button", name="King wa sales").focus()
    expect(page.get_by_role("tooltip")).to_contain_text("confidence 100%")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.keyboard.press("Escape")
    expect(page.get_by_role("tooltip")).to_be_hidden()


def test_bulk_mark_reviewed_and_the_review_filter(browser, base_url: str, world, database_url: str) -> None:
    page = logged_in(browser, base_url, world["tenant"], "analyst")
    expect(rows(page)).to_have_count(N)
    for n in (0, 1):
        rows(page).nth(n).get_by_role("checkbox").check()
    expect(page.get_by_text("2 selected")).to_be_visible()
    page.get_by_role("button", name="Mark reviewed").click()
    expect(page.get_by_role("status").filter(has_text="Marked")).to_contain_text("Marked 2 of 2")
    expect(page.get_by_text("0 selected")).to_be_visible()
    page.get_by_label("Review status").select_option(label="Reviewed")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"reviewed=true"))
    expect(rows(page)).to_have_count(2)
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM property_reviews WHERE tenant_id = %s AND county = %s",
                    (world["tenant"].id, world["county"]))
        assert cur.fetchone()[0] == 2
    page.get_by_label("Review status").select_option(label="Not reviewed")
    page.get_by_role("button", name="Apply filters").click()
    expect(rows(page)).to_have_count(N - 2)
    page.get_by_label("Review status").select_option(label="Any")
    page.get_by_role("button", name="Apply filters").click()
    expect(rows(page)).to_have_count(N)
    shot(page, "properties.png")


def test_a_viewer_has_no_bulk_actions(browser, base_url: str, world) -> None:
    page = logged_in(browser, base_url, world["tenant"], "viewer")
    expect(rows(page)).to_have_count(N)
    expect(page.get_by_role("button", name="Mark reviewed")).to_have_count(0)
    expect(page.get_by_role("checkbox", name="Select every property on this page")).to_have_count(0)


@pytest.mark.skipif(not AXE.is_file(), reason="axe-core not installed (npm ci in dashboard/)")
def test_no_serious_accessibility_violation_on_the_changed_screens(browser, base_url: str, world) -> None:
    page = logged_in(browser, base_url, world["tenant"], "analyst")
    assert serious_violations(page, base_url, ["/properties", f"/properties/{world['ids'][0]}"]) == {}
    phone = logged_in(browser, base_url, world["tenant"], "viewer", viewport={"width": 375, "height": 812})
    assert serious_violations(phone, base_url, [f"/properties/{world['ids'][0]}"]) == {}
