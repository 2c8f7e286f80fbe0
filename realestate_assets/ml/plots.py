"""Small plots for asset metadata: PNG (matplotlib, Agg backend) and markdown embeddings."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np


def _figure():  # -> (figure, axes)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(4.2, 3.4), dpi=90)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def calibration_png(points: Sequence[dict[str, float]], title: str) -> bytes:
    """Predicted vs observed rate per bin, with the diagonal of perfect calibration."""
    fig, ax = _figure()
    predicted = [p["predicted"] for p in points]
    observed = [p["observed"] for p in points]
    top = max([*predicted, *observed, 0.05]) * 1.1
    ax.plot([0, top], [0, top], linestyle="--", color="grey", linewidth=1, label="perfect")
    ax.plot(predicted, observed, marker="o", label="model")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return _png(fig)


def histogram_png(values: np.ndarray, bins: Sequence[float], title: str) -> bytes:
    fig, ax = _figure()
    ax.hist(values[np.isfinite(values)], bins=list(bins), color="#4c72b0")
    ax.set_title(title, fontsize=9)
    return _png(fig)


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def metrics_table(columns: dict[str, dict[str, float]], keys: Sequence[str]) -> str:
    """Markdown table: one row per metric, one column per model."""
    names = list(columns)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key in keys:
        cells = []
        for name in names:
            value = columns[name].get(key)
            cells.append("" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def importance_table(importance: dict[str, float], n: int = 10) -> str:
    ranked = sorted(importance.items(), key=lambda kv: -kv[1])[:n]
    return "\n".join(["| feature | gain share |", "|---|---:|"] + [f"| {k} | {v:.3f} |" for k, v in ranked])
