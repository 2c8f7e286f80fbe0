"""Server-side SVG charts for the memos, written as plain SVG text (no matplotlib, no network).

Each function takes the memo context (plain data) and returns an SVG document as text, or
None when the data for the chart is missing: the template then says so instead of drawing
an empty or invented chart.

Why by hand: matplotlib cost about a third of an investor memo's render time (figure
set-up, tick layout, savefig) and drawing its SVG (about 150 nodes a chart) another sixth.
These charts are a few dozen nodes each, deterministic, and readable by
construction: the number of ticks on an axis follows from its length and its labels'
widths (`axis_ticks`), legends and colour scales sit outside the plot area, and each
comparable sale is one point (`unique_comps`). Lengths are in points (1/72 in).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from html import escape
from typing import Any

from realestate_assets.docs import numbers

FONT = "DejaVu Sans"  # the memos' font (templates/_base.html.j2)
INK = "#1d2733"
TEXT = "#3b4a5a"
MUTED = "#9aa8b6"
GRID = "#e4e9ef"
NEGATIVE = "#b5483b"
TICK_PT = 6.5  # tick and label font size
# Each <text> costs WeasyPrint about 0.8 ms to draw (a Pango layout of its own), a shape about
# 0.2 ms: the charts say what they need in few nodes.
GAP_PT = 4.0  # the least white space between two labels of one axis
# matplotlib's viridis at nine even stops (perceptually uniform, readable in grey).
VIRIDIS = ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725")

# Advance widths of DejaVu Sans Book (em units, from the font's hmtx table): labels are measured,
# not guessed, so axes can space them without overlap.
_WIDTHS = {
    **dict.fromkeys("0123456789$", 0.636), **dict.fromkeys(" .,·", 0.318), "%": 0.95, "-": 0.361, "+": 0.838,
    "−": 0.838, "(": 0.39, ")": 0.39, "/": 0.337, ":": 0.337, "#": 0.838, "–": 0.5, "—": 1.0,
    "a": 0.613, "b": 0.635, "c": 0.55, "d": 0.635, "e": 0.615, "f": 0.352, "g": 0.635, "h": 0.634, "i": 0.278,
    "j": 0.278, "k": 0.579, "l": 0.278, "m": 0.974, "n": 0.634, "o": 0.612, "p": 0.635, "q": 0.635, "r": 0.411,
    "s": 0.521, "t": 0.392, "u": 0.634, "v": 0.592, "w": 0.818, "x": 0.592, "y": 0.592, "z": 0.525,
    "A": 0.684, "B": 0.686, "C": 0.698, "D": 0.77, "E": 0.632, "F": 0.575, "G": 0.775, "H": 0.752, "I": 0.295,
    "J": 0.295, "K": 0.656, "L": 0.557, "M": 0.863, "N": 0.748, "O": 0.787, "P": 0.603, "Q": 0.787, "R": 0.695,
    "S": 0.635, "T": 0.611, "U": 0.732, "V": 0.684, "W": 0.989, "X": 0.685, "Y": 0.611, "Z": 0.685,
}


def data_uri(svg: str | None) -> str | None:
    return None if svg is None else "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def text_width(text: str, size: float = TICK_PT) -> float:
    """Width of `text` set in DejaVu Sans at `size` points."""
    return sum(_WIDTHS.get(ch, 0.65) for ch in text) * size


# ------------------------------------------------------------------ scales and ticks


def nice_ticks(low: float, high: float, count: int) -> list[float]:
    """At most `count` round values (1, 2, 2.5, 5 × 10^k apart) covering [low, high] from inside."""
    if high < low:
        low, high = high, low
    if high == low:
        return [low]
    count = max(2, count)
    raw = (high - low) / (count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for step in (m * magnitude for m in (1, 2, 2.5, 5, 10, 20)):
        first = math.ceil(low / step - 1e-9) * step
        ticks = [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]
        if len(ticks) <= count:
            return [round(t, 10) + 0.0 for t in ticks]
    return [low, high]


def axis_ticks(low: float, high: float, length_pt: float, fmt: Callable[[float], str], *,
               horizontal: bool, size: float = TICK_PT, max_count: int = 12) -> list[tuple[float, str]]:
    """The most ticks whose labels fit along an axis `length_pt` long without touching.

    Horizontal axes need room for each label's width, vertical ones for its height; the
    test is exact for evenly spaced ticks: the spacing must hold the wider neighbour's half
    widths plus GAP_PT."""
    span = high - low
    for count in range(min(max_count, max(2, int(length_pt / (size + GAP_PT)) + 1)), 1, -1):
        ticks = nice_ticks(low, high, count)
        labels = [fmt(t) for t in ticks]
        if len(ticks) < 2 or span <= 0:
            return list(zip(ticks, labels, strict=True))
        spacing = (ticks[1] - ticks[0]) / span * length_pt
        need = max(text_width(label, size) for label in labels) if horizontal else size * 1.2
        if spacing >= need + GAP_PT:
            return list(zip(ticks, labels, strict=True))
    middle = nice_ticks(low, high, 2)[:1]
    return [(t, fmt(t)) for t in middle]


def year_ticks(first: date, last: date, length_pt: float, size: float = TICK_PT) -> list[tuple[date, str]]:
    """1 January of every 1st, 2nd, 5th… year between two dates, as many as fit along the axis."""
    days = max(1, (last - first).days)
    for step in (1, 2, 5, 10, 20, 50):
        years = [y for y in range((first.year + step - 1) // step * step, last.year + 1, step)
                 if first <= date(y, 1, 1) <= last]
        if len(years) < 2 or 365.25 * step / days * length_pt >= text_width("0000", size) + GAP_PT:
            return [(date(y, 1, 1), str(y)) for y in years]
    return []


def money_label(value: float) -> str:
    if abs(value) >= 1_000_000:
        return numbers.money(value, f",.{1 if value % 1_000_000 else 0}f", 1e6, "M")
    return numbers.money(value, ",.0f", 1e3, "k")


def signed_pct_label(value: float) -> str:
    return numbers.number(value, "+g") + "%"  # 0 reads "0%" (numbers.number: no sign on zero)


def effect_label(effect: float) -> str:
    """A factor's effect on the estimate, as the factor tables print it too (the `signed_pct` filter)."""
    return numbers.pct(effect, 1, signed=True)


def color_scale(value: float, low: float, high: float) -> str:
    """Viridis colour of `value` on [low, high] (the middle colour when all values are equal)."""
    t = 0.5 if high <= low else min(1.0, max(0.0, (value - low) / (high - low)))
    position = t * (len(VIRIDIS) - 1)
    i = min(int(position), len(VIRIDIS) - 2)
    a, b = VIRIDIS[i], VIRIDIS[i + 1]
    mix = position - i
    rgb = [round(int(a[k:k + 2], 16) * (1 - mix) + int(b[k:k + 2], 16) * mix) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


# ------------------------------------------------------------------ SVG text


@dataclass
class Svg:
    """An SVG document under construction; coordinates in points, text in the memo's font."""

    width: float
    height: float
    parts: list[str] = field(default_factory=list)
    ids: str = "c"  # prefix of element ids: charts inlined in one page must not share ids

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(self, x: float, y: float, content: str, *, size: float = TICK_PT, anchor: str = "start",
             color: str = TEXT, rotate: bool = False, cls: str = "") -> None:
        turn = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
        klass = f' class="{cls}"' if cls else ""
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" text-anchor="{anchor}" fill="{color}"'
                 f'{turn}{klass}>{escape(content)}</text>')

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str = MUTED, width: float = 0.8) -> None:
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
                 f'stroke-width="{width:g}"/>')

    def document(self) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:g}pt" height="{self.height:g}pt" '
                f'viewBox="0 0 {self.width:g} {self.height:g}" font-family="{FONT}">' + "".join(self.parts) + "</svg>")


def star(x: float, y: float, r: float) -> str:
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.45
        angle = math.pi / 2 + i * math.pi / 5
        points.append(f"{x + radius * math.cos(angle):.1f},{y - radius * math.sin(angle):.1f}")
    return " ".join(points)


def legend_row(svg: Svg, x: float, y: float, entries: Sequence[tuple[str, str]], max_width: float) -> float:
    """Legend entries (marker SVG at (0,0), label) left to right, wrapping; returns the height used."""
    cursor, line_y = x, y
    for marker, label in entries:
        entry = 10 + text_width(label) + 10
        if cursor > x and cursor + entry > x + max_width:
            cursor, line_y = x, line_y + 10
        svg.add(f'<g transform="translate({cursor + 4:.1f} {line_y - 2.2:.1f})">{marker}</g>')
        svg.text(cursor + 10, line_y, label, cls="legend")
        cursor += entry
    return line_y - y + 10


def colorbar(svg: Svg, x: float, y: float, width: float, low: float, high: float, title: str,
             fmt: Callable[[float], str]) -> None:
    """A horizontal colour scale with its own ticks and title, below the plot it explains."""
    # Stepped, not an SVG gradient: WeasyPrint does not paint gradients inside SVG images.
    steps = 12  # each shape costs WeasyPrint about 0.2 ms to draw; 12 steps read as a smooth scale
    for i in range(steps):
        svg.add(f'<rect x="{x + i * width / steps:.2f}" y="{y:.1f}" width="{width / steps + 0.3:.2f}" height="5" '
                f'fill="{color_scale(i / (steps - 1), 0, 1)}"/>')
    ticks = axis_ticks(low, high, width, fmt, horizontal=True, max_count=5) if high > low else [(low, fmt(low))]
    for value, label in ticks:
        tx = x + (width / 2 if high <= low else (value - low) / (high - low) * width)
        svg.line(tx, y + 5, tx, y + 7.5, TEXT, 0.6)
        svg.text(tx, y + 14, label, anchor="middle", cls="tick-c")
    svg.text(x + width / 2, y + 23, title, anchor="middle", cls="title")


# ------------------------------------------------------------------ charts


def unique_comps(comps: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(number in the memo's table, sale) for each distinct sale: a sale listed twice is one point.

    A sale is identified by its `sale_id` when the context carries it, otherwise by parcel,
    date and price. Numbers are the table's (1-based) so the map and the table agree."""
    seen: set[Any] = set()
    out = []
    for number, comp in enumerate(comps, start=1):
        key = comp.get("sale_id") or (comp.get("parcel_id"), comp.get("sale_date"), comp.get("sale_price"))
        if key in seen:
            continue
        seen.add(key)
        out.append((number, comp))
    return out


def _scale_bar_m(span_m: float) -> float:
    """A round distance about a quarter of the plot's width."""
    target = span_m / 4
    magnitude = 10 ** math.floor(math.log10(max(target, 1)))
    return max(m * magnitude for m in (1, 2, 2.5, 5) if m * magnitude <= target) if target >= 1 else 1


def _point_map(points: list[tuple[float, float, float, str]], subject: tuple[float, float] | None, *,
               size: tuple[float, float], color_title: str, color_fmt: Callable[[float], str],
               legend: list[tuple[str, str]], ids: str, subject_fill: str = INK) -> str:
    """Points (lat, lon, colour value, label) on a locally flat map with a scale bar, a colour scale
    and a legend below it. No degree ticks: distances (the scale bar) are what a reader compares."""
    width, height = size[0] * 72, size[1] * 72
    svg = Svg(width, height, ids=ids)
    legend_h = legend_row(Svg(width, height), 0, 0, legend, width - 8)  # measure first
    bottom = legend_h + 30  # legend + colour scale under the plot
    plot = (4.0, 4.0, width - 8, height - bottom - 8)  # x, y, w, h
    lats = [p[0] for p in points] + ([subject[0]] if subject else [])
    lons = [p[1] for p in points] + ([subject[1]] if subject else [])
    mid_lat = (min(lats) + max(lats)) / 2
    kx = 111_320 * max(0.2, math.cos(math.radians(mid_lat)))  # metres per degree of longitude
    ky = 110_540.0
    span_x = max((max(lons) - min(lons)) * kx, 50.0)
    span_y = max((max(lats) - min(lats)) * ky, 50.0)
    inner_w, inner_h = plot[2] - 24, plot[3] - 24  # room for markers and labels at the edges
    scale = min(inner_w / span_x, inner_h / span_y)  # points per metre, same both ways
    cx, cy = (max(lons) + min(lons)) / 2, (max(lats) + min(lats)) / 2
    ox, oy = plot[0] + plot[2] / 2, plot[1] + plot[3] / 2

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return ox + (lon - cx) * kx * scale, oy - (lat - cy) * ky * scale

    svg.add(f'<rect x="{plot[0]:.1f}" y="{plot[1]:.1f}" width="{plot[2]:.1f}" height="{plot[3]:.1f}" '
            f'fill="#f7f9fb" stroke="{GRID}" stroke-width="0.8"/>')
    values = [p[2] for p in points]
    low, high = min(values), max(values)
    # Points that share a location (one parcel sold twice) are drawn once, labelled "3, 4".
    grouped: dict[tuple[float, float], list[tuple[float, str]]] = {}
    for lat, lon, value, label in points:
        grouped.setdefault((round(lat, 6), round(lon, 6)), []).append((value, label))
    placed: list[tuple[float, float, float, float]] = []  # boxes taken by markers and labels
    marks = []
    for (lat, lon), entries in grouped.items():
        x, y = xy(lat, lon)
        placed.append((x - 3.5, y - 3.5, x + 3.5, y + 3.5))
        marks.append((x, y, entries))
        fill = color_scale(sum(v for v, _ in entries) / len(entries), low, high)
        svg.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.4" fill="{fill}" stroke="white" stroke-width="0.6"/>')
    if subject:
        sx, sy = xy(*subject)
        placed.append((sx - 7, sy - 7, sx + 7, sy + 7))
        svg.add(f'<polygon points="{star(sx, sy, 7)}" fill="{subject_fill}" stroke="{INK}" stroke-width="0.7"/>')
    for x, y, entries in marks:
        label = ", ".join(lbl for _, lbl in entries)
        w, h = text_width(label), TICK_PT
        best, best_overlap = None, math.inf
        for dx, dy in ((4, -4), (4, 4 + h), (-4 - w, -4), (-4 - w, 4 + h), (5, h / 2 - 1), (-5 - w, h / 2 - 1),
                       (-w / 2, -6), (-w / 2, 6 + h)):
            box = (x + dx, y + dy - h + 1, x + dx + w, y + dy + 1)
            if box[0] < plot[0] or box[2] > plot[0] + plot[2] or box[1] < plot[1] or box[3] > plot[1] + plot[3]:
                continue
            overlap = sum(max(0, min(box[2], b[2]) - max(box[0], b[0])) * max(0, min(box[3], b[3]) - max(box[1], b[1]))
                          for b in placed)
            if overlap < best_overlap:
                best, best_overlap = box, overlap
            if overlap == 0:
                break
        if best is None:
            best = (x + 4, y - 4 - h + 1, x + 4 + w, y - 3)
        placed.append(best)
        svg.text(best[0], best[3] - 1, label, color=INK, cls="point-label")
    bar_m = _scale_bar_m(plot[2] / scale)
    bar_pt = bar_m * scale
    bx, by = plot[0] + plot[2] - bar_pt - 6, plot[1] + plot[3] - 6
    svg.line(bx, by, bx + bar_pt, by, INK, 1.2)
    svg.line(bx, by - 2, bx, by + 0.6, INK, 0.8)
    svg.line(bx + bar_pt, by - 2, bx + bar_pt, by + 0.6, INK, 0.8)
    distance = f"{bar_m / 1000:g} km" if bar_m >= 1000 else f"{bar_m:g} m"
    svg.text(bx + bar_pt / 2, by - 3, distance, anchor="middle", color=INK)
    legend_y = plot[1] + plot[3] + 10
    used = legend_row(svg, plot[0], legend_y, legend, plot[2])
    colorbar(svg, plot[0] + plot[2] * 0.15, legend_y + used - 4, plot[2] * 0.7, low, high, color_title, color_fmt)
    return svg.document()


def _marker_circle(fill: str) -> str:
    return f'<circle cx="0" cy="0" r="3" fill="{fill}" stroke="white" stroke-width="0.5"/>'


def _marker_star(fill: str) -> str:
    return f'<polygon points="{star(0, 0, 4.5)}" fill="{fill}" stroke="{INK}" stroke-width="0.5"/>'


def comps_map(context: dict[str, Any], accent: str = "#1f6f43", size: tuple[float, float] = (3.6, 3.2)) -> str | None:
    """Comparable sales around the property, placed by their coordinates, coloured by $/sqft today.

    One point per sale, numbered as in the memo's comps table; the legend's count is the
    number of sales drawn, so it matches the table."""
    subject = context["property"]
    comps = [(n, c) for n, c in unique_comps(context.get("comps") or [])
             if c.get("latitude") is not None and c.get("longitude") is not None and c.get("price_per_sqft")]
    if subject.get("latitude") is None or subject.get("longitude") is None or not comps:
        return None
    points = [(c["latitude"], c["longitude"], c["price_per_sqft"], str(n)) for n, c in comps]
    legend = [(_marker_star(accent), "this property"),
              (_marker_circle(VIRIDIS[4]), f"{len(comps)} comparable sale{'s' if len(comps) != 1 else ''}")]
    return _point_map(points, (subject["latitude"], subject["longitude"]), size=size,
                      color_title="sale $/sqft, moved to today's market", color_fmt=lambda v: f"${v:,.0f}",
                      legend=legend, ids="comps", subject_fill=accent)


def portfolio_map(properties: list[dict[str, Any]], size: tuple[float, float] = (6.5, 3.4)) -> str | None:
    located = [p for p in properties if p.get("latitude") is not None and p.get("longitude") is not None
               and p.get("bird_dog_score") is not None]
    if not located:
        return None
    points = [(p["latitude"], p["longitude"], p["bird_dog_score"], str(p["rank"])) for p in located]
    legend = [(_marker_circle(VIRIDIS[4]), f"{len(located)} properties, numbered by rank")]
    return _point_map(points, None, size=size, color_title="bird-dog score", color_fmt=lambda v: f"{v:g}",
                      legend=legend, ids="portfolio")


def _parse_day(value: str) -> date:
    return date.fromisoformat(str(value)[:10])


def price_history(context: dict[str, Any], accent: str = "#1f6f43",
                  size: tuple[float, float] = (5.2, 2.5)) -> str | None:
    """The property's recorded sales against the county market index (rebased to its first sale)."""
    history = context.get("price_history") or {}
    sales = sorted(((_parse_day(s["date"]), float(s["price"])) for s in history.get("sales") or []
                    if s.get("price")), key=lambda s: s[0])
    index = sorted((_parse_day(p["month"]), float(p["level"])) for p in history.get("index") or [] if p.get("level"))
    if not sales or not index:
        return None
    first_day, first_price = sales[0]
    first_month = first_day.replace(day=1)
    base = next((level for month, level in index if month >= first_month), index[0][1])
    path = [(month, first_price * level / base) for month, level in index if month >= first_month]
    estimate = context["valuation"].get("estimated_value")
    as_of = context["score"].get("as_of_date")
    today = (_parse_day(as_of), float(estimate)) if estimate and as_of else None

    width, height = size[0] * 72, size[1] * 72
    svg = Svg(width, height, ids="history")
    legend = [('<line x1="-4" y1="0" x2="4" y2="0" stroke="#9aa8b6" stroke-width="1.4"/>',
               "first sale moved along the county index"),
              (_marker_circle(INK), "recorded sales")]
    if today:
        legend.append((f'<rect x="-2.6" y="-2.6" width="5.2" height="5.2" fill="{accent}" '
                       f'transform="rotate(45)"/>', "estimated value today"))
    legend_h = legend_row(svg, 4, 8, legend, width - 8)  # above the plot, never over the data

    values = [p for _, p in path] + [p for _, p in sales] + ([today[1]] if today else [])
    days = [d for d, _ in path] + [d for d, _ in sales] + ([today[0]] if today else [])
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or high * 0.05 or 1.0
    low, high = max(0.0, low - pad), high + pad
    top = legend_h + 6
    plot_h = height - top - 16
    # At most six values: enough to read a price off, and each label is a text WeasyPrint lays out.
    y_ticks = axis_ticks(low, high, plot_h, money_label, horizontal=False, max_count=6)
    left = 6 + max(text_width(label) for _, label in y_ticks)
    plot_w = width - left - 8
    first, last = min(days), max(days)
    span_days = max(1, (last - first).days)
    x0, x1 = first.toordinal() - span_days * 0.03, last.toordinal() + span_days * 0.03

    def x(d: date) -> float:
        return left + (d.toordinal() - x0) / (x1 - x0) * plot_w

    def y(v: float) -> float:
        return top + (high - v) / (high - low) * plot_h

    for value, label in y_ticks:
        svg.line(left, y(value), left + plot_w, y(value), GRID, 0.6)
        svg.text(left - 3, y(value) + TICK_PT * 0.35, label, anchor="end", cls="tick-y")
    svg.line(left, top + plot_h, left + plot_w, top + plot_h, MUTED, 0.8)
    for day, label in year_ticks(date.fromordinal(math.ceil(x0)), date.fromordinal(math.floor(x1)), plot_w):
        svg.line(x(day), top + plot_h, x(day), top + plot_h + 2.5, MUTED, 0.6)
        svg.text(x(day), top + plot_h + 10, label, anchor="middle", cls="tick-x")
    if len(path) > 1:
        d = " ".join(f"{'M' if i == 0 else 'L'}{x(m):.1f},{y(v):.1f}" for i, (m, v) in enumerate(path))
        svg.add(f'<path d="{d}" fill="none" stroke="{MUTED}" stroke-width="1.4" stroke-linejoin="round"/>')
    for day, price in sales:
        svg.add(f'<circle cx="{x(day):.1f}" cy="{y(price):.1f}" r="2.8" fill="{INK}"/>')
    if today:
        tx, ty = x(today[0]), y(today[1])
        svg.add(f'<rect x="{tx - 3:.1f}" y="{ty - 3:.1f}" width="6" height="6" fill="{accent}" '
                f'transform="rotate(45 {tx:.1f} {ty:.1f})"/>')
    return svg.document()


def score_factors(context: dict[str, Any], accent: str = "#1f6f43",
                  size: tuple[float, float] = (3.6, 0)) -> str | None:
    """The estimate's top factors (SHAP, % effect on the estimate), largest first.

    The height follows the number of bars (size[1] = 0); labels longer than the label column
    are shortened with an ellipsis rather than run into the bars."""
    factors = [f for f in (context["score"].get("value_factors") or []) if f.get("effect_pct") is not None][:6]
    if not factors:
        return None
    labels = [str(f.get("label") or str(f.get("feature", "")).replace("_", " ")) for f in factors]
    effects = [float(f["effect_pct"]) for f in factors]
    row = 14.0
    width = size[0] * 72
    height = size[1] * 72 or len(factors) * row + 30
    svg = Svg(width, height, ids="factors")
    label_w = min(max(text_width(label) for label in labels), width * 0.38)
    labels = [_shorten(label, label_w) for label in labels]
    value_w = max(text_width(effect_label(e)) for e in effects) + 4
    left, right = 4 + label_w + 6, width - 4
    low, high = min([*effects, 0.0]), max([*effects, 0.0])
    span = high - low or 1.0
    # Room for the value labels at the bars' ends, outside the bars.
    plot_w = right - left - value_w * ((low < 0) + (high > 0))
    unit = plot_w / span
    zero = left + (value_w if low < 0 else 0) + -low * unit
    top, bottom = 4.0, 4 + len(factors) * row
    ticks = axis_ticks(low, high, plot_w, signed_pct_label, horizontal=True)
    for value, label in ticks:
        tx = zero + value * unit
        svg.line(tx, top, tx, bottom, GRID, 0.6)
        svg.text(tx, bottom + 9, label, anchor="middle", cls="tick-x")
    for i, (label, effect) in enumerate(zip(labels, effects, strict=True)):
        cy = top + i * row + row / 2
        bar_x, bar_w = (zero, effect * unit) if effect >= 0 else (zero + effect * unit, -effect * unit)
        svg.text(4 + label_w, cy + TICK_PT * 0.35, label, anchor="end", cls="bar-label")
        svg.add(f'<rect x="{bar_x:.1f}" y="{cy - row * 0.3:.1f}" width="{max(bar_w, 0.8):.1f}" '
                f'height="{row * 0.6:.1f}" fill="{accent if effect >= 0 else NEGATIVE}"/>')
        value = effect_label(effect)
        if effect >= 0:
            svg.text(bar_x + bar_w + 3, cy + TICK_PT * 0.35, value, color=INK)
        else:
            svg.text(bar_x - 3, cy + TICK_PT * 0.35, value, anchor="end", color=INK)
    svg.line(zero, top - 1, zero, bottom, MUTED, 0.8)
    svg.text(left + plot_w / 2 + (value_w if low < 0 else 0), bottom + 20, "effect on the estimated value",
             anchor="middle", cls="title")
    return svg.document()


def _shorten(label: str, width: float) -> str:
    if text_width(label) <= width:
        return label
    while label and text_width(label + "…") > width:
        label = label[:-1]
    return label.rstrip() + "…"
