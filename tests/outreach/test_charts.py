"""Memo charts read well: ticks that never overlap, legends outside the data, one point per sale,
counts that match the memo's text. Checked on the SVG itself, from real King County properties."""

from __future__ import annotations

import copy
import io
import re
import xml.etree.ElementTree as ET
from itertools import pairwise

import pytest
from pypdf import PdfReader

from realestate_assets.docs import charts
from realestate_assets.docs.memo import render_pdf
from tests.outreach.helpers_outreach import real_contexts

NS = {"s": "http://www.w3.org/2000/svg"}


@pytest.fixture(scope="module")
def contexts() -> list[dict]:
    return real_contexts(4)


def texts(svg: str, cls: str) -> list[tuple[float, float, str, str]]:
    """(x, y, anchor, text) of the chart's text elements of one class."""
    root = ET.fromstring(svg)
    return [(float(t.get("x")), float(t.get("y")), t.get("text-anchor"), t.text or "")
            for t in root.iterfind(".//s:text", NS) if t.get("class") == cls]


def box(x: float, anchor: str, label: str) -> tuple[float, float]:
    width = charts.text_width(label)
    left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
    return left, left + width


def assert_no_horizontal_overlap(labels: list[tuple[float, float, str, str]]) -> None:
    boxes = sorted(box(x, anchor, text) for x, _, anchor, text in labels)
    for (_, right), (left, _) in pairwise(boxes):
        assert left - right >= charts.GAP_PT - 0.2, boxes


def plot_area(svg: str) -> tuple[float, float, float, float]:
    """The first rect of a map is its plot area."""
    rect = ET.fromstring(svg).find(".//s:rect", NS)
    x, y = float(rect.get("x")), float(rect.get("y"))
    return x, y, x + float(rect.get("width")), y + float(rect.get("height"))


@pytest.mark.parametrize("length", [40, 80, 150, 300, 500])
@pytest.mark.parametrize(("low", "high", "fmt"), [
    (412_000, 1_318_000, charts.money_label), (-4.2, 11.5, charts.signed_pct_label),
    (87, 94, lambda v: f"{v:g}"), (203.7, 489.2, lambda v: f"${v:,.0f}")])
def test_horizontal_ticks_fit_their_axis(length: float, low: float, high: float, fmt) -> None:
    ticks = charts.axis_ticks(low, high, length, fmt, horizontal=True)
    assert ticks and all(low - 1e-9 <= value <= high + 1e-9 for value, _ in ticks)
    span = high - low
    labels = [(length * (value - low) / span, 0.0, "middle", label) for value, label in ticks]
    assert_no_horizontal_overlap(labels)
    # Longer axes get at least as many ticks: the count follows the width.
    assert len(charts.axis_ticks(low, high, length * 2, fmt, horizontal=True)) >= len(ticks)


def test_tick_count_follows_the_axis_length() -> None:
    counts = [len(charts.axis_ticks(0, 1_000_000, length, charts.money_label, horizontal=True))
              for length in (30, 60, 120, 240, 480)]
    assert counts == sorted(counts) and counts[0] <= 2 and counts[-1] >= 6
    vertical = [len(charts.axis_ticks(0, 1_000_000, length, charts.money_label, horizontal=False))
                for length in (30, 120)]
    assert vertical[0] < vertical[1]


def test_price_history_axes_and_legend(contexts: list[dict]) -> None:
    for ctx in contexts:
        svg = charts.price_history(ctx)
        assert svg is not None
        x_ticks, y_ticks = texts(svg, "tick-x"), texts(svg, "tick-y")
        assert len(x_ticks) >= 2 and len(y_ticks) >= 2
        assert_no_horizontal_overlap(x_ticks)
        ys = sorted(y for _, y, _, _ in y_ticks)
        assert min(b - a for a, b in pairwise(ys)) >= charts.TICK_PT * 1.2
        # The legend sits above the plot: every legend line is above the highest tick label.
        legend = texts(svg, "legend")
        assert [t for *_, t in legend] == ["first sale moved along the county index", "recorded sales",
                                           "estimated value today"]
        assert max(y for _, y, _, _ in legend) < min(ys) - charts.TICK_PT
        # One dot per recorded sale.
        dots = ET.fromstring(svg).findall(".//s:circle", NS)
        assert len(dots) == len(ctx["price_history"]["sales"]) + 1  # + the legend's marker


def test_comps_map_one_point_per_sale_legend_outside_count_matches_table(contexts: list[dict]) -> None:
    ctx = copy.deepcopy(contexts[0])
    comps = ctx["comps"]
    ctx["comps"] = [*comps, dict(comps[2])]  # the same sale listed twice
    svg = charts.comps_map(ctx)
    assert svg is not None
    root = ET.fromstring(svg)
    circles = [c for c in root.iterfind(".//s:circle", NS) if c.get("r") == "3.4"]
    locations = {(round(c["latitude"], 6), round(c["longitude"], 6)) for c in comps}
    assert len(circles) == len(locations)
    labels = texts(svg, "point-label")
    numbers = sorted(int(n) for *_, text in labels for n in text.split(", "))
    assert numbers == list(range(1, len(comps) + 1))  # numbered as in the table, the duplicate left out
    legend = [text for *_, text in texts(svg, "legend")]
    assert legend == ["this property", f"{len(comps)} comparable sales"]
    x0, y0, x1, y1 = plot_area(svg)
    for c in circles:
        assert x0 <= float(c.get("cx")) <= x1 and y0 <= float(c.get("cy")) <= y1
    for x, y, anchor, text in labels:
        left, right = box(x, anchor, text)
        assert x0 <= left and right <= x1 and y0 <= y - charts.TICK_PT and y <= y1
    for _, y, _, _ in [*texts(svg, "legend"), *texts(svg, "tick-c"), *texts(svg, "title")]:
        assert y > y1  # legend and colour scale below the map, never over the points
    assert_no_horizontal_overlap(texts(svg, "tick-c"))


def test_point_labels_do_not_overlap_each_other(contexts: list[dict]) -> None:
    for ctx in contexts:
        labels = texts(charts.comps_map(ctx), "point-label")
        boxes = [(*box(x, anchor, t), y - charts.TICK_PT, y) for x, y, anchor, t in labels]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                overlap_x = min(a[1], b[1]) - max(a[0], b[0])
                overlap_y = min(a[3], b[3]) - max(a[2], b[2])
                assert overlap_x <= 0 or overlap_y <= 0, (a, b)


def test_score_factors_labels_and_values(contexts: list[dict]) -> None:
    ctx = copy.deepcopy(contexts[0])
    ctx["score"]["value_factors"] = [
        {"feature": "living_sqft", "effect_pct": 11.5}, {"feature": "bldg_grade", "effect_pct": -4.2},
        {"feature": "a_very_long_feature_name_that_would_run_into_the_bars", "effect_pct": 2.0},
        {"feature": "no_effect", "effect_pct": None}]
    svg = charts.score_factors(ctx)
    bars = [t for *_, t in texts(svg, "bar-label")]
    assert bars[:2] == ["living sqft", "bldg grade"] and bars[2].endswith("…") and len(bars) == 3
    assert all(charts.text_width(b) <= 3.6 * 72 * 0.38 + 0.01 for b in bars)
    assert_no_horizontal_overlap(texts(svg, "tick-x"))
    assert {"+11.5%", "−4.2%", "+2.0%"} <= set(re.findall(r">([+−][\d.]+%)<", svg))
    assert charts.score_factors({**ctx, "score": {"value_factors": []}}) is None


def test_charts_are_deterministic_and_missing_data_gives_none(contexts: list[dict]) -> None:
    ctx = contexts[1]
    assert charts.comps_map(ctx) == charts.comps_map(copy.deepcopy(ctx))
    assert charts.comps_map({**ctx, "comps": []}) is None
    assert charts.price_history({**ctx, "price_history": {"sales": [], "index": []}}) is None
    assert charts.portfolio_map([]) is None


def test_the_memo_states_the_same_number_of_comparable_sales_as_its_table(contexts: list[dict]) -> None:
    ctx = contexts[0]
    reader = PdfReader(io.BytesIO(render_pdf("investor_memo", ctx)))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert f"{len(ctx['comps'])} comparable sales" in text  # the map's legend, as drawn in the PDF
    assert "this property" in text and "sale $/sqft, moved to today's market" in text
