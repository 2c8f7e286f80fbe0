"""Server-side SVG charts for the memos (matplotlib, no display, no network).

Each function takes the memo context (plain data) and returns an SVG document as text, or
None when the data for the chart is missing: the template then says so instead of drawing
an empty or invented chart. Figures are built with `Figure` directly (no pyplot state), so
they are safe in worker processes; SVG output is deterministic (fixed hash salt, no date).
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker
from matplotlib.figure import Figure

matplotlib.rcParams.update({
    "svg.fonttype": "none",        # text stays text: small files, crisp in the PDF
    "svg.hashsalt": "reos",        # deterministic element ids
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#9aa8b6",
    "axes.labelcolor": "#3b4a5a",
    "xtick.color": "#3b4a5a",
    "ytick.color": "#3b4a5a",
})

INK = "#1d2733"
MUTED = "#9aa8b6"


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buffer.getvalue()


def data_uri(svg: str | None) -> str | None:
    return None if svg is None else "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def comps_map(context: dict[str, Any], accent: str = "#1f6f43", size: tuple[float, float] = (3.6, 3.0)) -> str | None:
    """Comparable sales around the property, placed by their coordinates, coloured by $/sqft."""
    subject = context["property"]
    comps = [c for c in context.get("comps") or [] if c.get("latitude") is not None]
    if subject.get("latitude") is None or not comps:
        return None
    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    ppsf = [c["price_per_sqft"] for c in comps]
    points = ax.scatter([c["longitude"] for c in comps], [c["latitude"] for c in comps], c=ppsf, cmap="viridis",
                        s=34, edgecolors="white", linewidths=0.6, zorder=2)
    ax.scatter([subject["longitude"]], [subject["latitude"]], marker="*", s=230, color=accent,
               edgecolors=INK, linewidths=0.7, zorder=3, label="this property")
    for i, c in enumerate(comps, start=1):
        ax.annotate(str(i), (c["longitude"], c["latitude"]), xytext=(3, 3), textcoords="offset points",
                    fontsize=6.5, color=INK)
    colorbar = fig.colorbar(points, ax=ax, shrink=0.8, pad=0.02)
    colorbar.set_label("sale $/sqft (time-adjusted)", fontsize=7)
    colorbar.ax.tick_params(labelsize=6.5)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.tick_params(labelsize=6.5)
    ax.ticklabel_format(useOffset=False)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    ax.set_aspect(1.0 / max(0.2, abs(math.cos(math.radians(subject["latitude"])))))
    ax.legend(loc="lower left", fontsize=6.5, frameon=False)
    return _svg(fig)


def price_history(context: dict[str, Any], accent: str = "#1f6f43",
                  size: tuple[float, float] = (4.2, 2.4)) -> str | None:
    """The property's recorded sales against the county market index (rebased to its first sale)."""
    history = context.get("price_history") or {}
    sales = history.get("sales") or []
    index = history.get("index") or []
    if not sales or not index:
        return None
    import pandas as pd

    months = pd.to_datetime([p["month"] for p in index])
    levels = [p["level"] for p in index]
    first = sales[0]
    first_month = pd.Timestamp(first["date"]).to_period("M").to_timestamp()
    base_level = next((lv for m, lv in zip(months, levels, strict=True) if m >= first_month), levels[0])
    path = [first["price"] * lv / base_level for m, lv in zip(months, levels, strict=True) if m >= first_month]
    path_months = [m for m in months if m >= first_month]
    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    if path:
        ax.plot(path_months, path, color=MUTED, linewidth=1.4,
                label="first sale moved along the county index")
    ax.scatter(pd.to_datetime([s["date"] for s in sales]), [s["price"] for s in sales], color=INK, s=22,
               zorder=3, label="recorded sales")
    estimate = context["valuation"].get("estimated_value")
    as_of = context["score"].get("as_of_date")
    if estimate and as_of:
        ax.scatter([pd.Timestamp(as_of)], [estimate], marker="D", color=accent, s=30, zorder=3,
                   label="estimated value today")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"${v / 1000:,.0f}k"))
    ax.legend(fontsize=6.5, frameon=False, loc="upper left")
    ax.tick_params(labelsize=6.5)
    fig.autofmt_xdate()
    return _svg(fig)


def score_factors(context: dict[str, Any], accent: str = "#1f6f43",
                  size: tuple[float, float] = (4.2, 1.9)) -> str | None:
    """The estimate's top factors (SHAP, % effect on the estimate), largest first."""
    factors = [f for f in (context["score"].get("value_factors") or []) if f.get("effect_pct") is not None]
    if not factors:
        return None
    factors = factors[:6][::-1]
    labels = [f.get("label") or str(f.get("feature", "")).replace("_", " ") for f in factors]
    effects = [f["effect_pct"] for f in factors]
    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    ax.barh(labels, effects, color=[accent if e >= 0 else "#b5483b" for e in effects], height=0.6)
    ax.axvline(0, color=MUTED, linewidth=0.8)
    for y, e in enumerate(effects):
        ax.annotate(f"{e:+.1f}%", (e, y), xytext=(3 if e >= 0 else -3, 0), textcoords="offset points",
                    ha="left" if e >= 0 else "right", va="center", fontsize=6.5, color=INK)
    ax.set_xlabel("effect on the estimated value (%)")
    ax.tick_params(labelsize=6.5)
    low, high = min([*effects, 0]), max([*effects, 0])
    pad = (high - low) * 0.25 or 1
    ax.set_xlim(low - pad, high + pad)
    return _svg(fig)


def portfolio_map(properties: list[dict[str, Any]], size: tuple[float, float] = (6.5, 3.2)) -> str | None:
    located = [p for p in properties if p.get("latitude") is not None and p.get("longitude") is not None]
    if not located:
        return None
    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    points = ax.scatter([p["longitude"] for p in located], [p["latitude"] for p in located],
                        c=[p["bird_dog_score"] for p in located], cmap="viridis", s=40, edgecolors="white",
                        linewidths=0.6)
    for p in located:
        ax.annotate(str(p["rank"]), (p["longitude"], p["latitude"]), xytext=(3, 3), textcoords="offset points",
                    fontsize=6.5, color=INK)
    fig.colorbar(points, ax=ax, shrink=0.85, pad=0.02).set_label("bird-dog score", fontsize=7)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.ticklabel_format(useOffset=False)
    ax.tick_params(labelsize=6.5)
    return _svg(fig)
