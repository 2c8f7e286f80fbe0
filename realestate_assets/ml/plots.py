"""Small plots for asset metadata: PNG (matplotlib, Agg backend; a histogram drawn with NumPy)
and markdown embeddings."""

from __future__ import annotations

import base64
import io
import struct
import zlib
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
    """Bars of the counts per bin, drawn with NumPy into a PNG: matplotlib's import and first
    figure cost ≈1.3 CPU s, paid by every `scores` step for this one picture (issue 17). No text
    in the image: the caller's markdown says what it shows (`histogram_caption`)."""
    edges = list(bins)
    counts, _ = np.histogram(values[np.isfinite(values)], bins=edges)
    width, height, margin = 380, 240, 12
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    plot_w, plot_h = width - 2 * margin, height - 2 * margin
    peak = max(int(counts.max()), 1) if len(counts) else 1
    bar_w = plot_w / max(len(counts), 1)
    for i, count in enumerate(counts):
        top = height - margin - round(plot_h * count / peak)
        left, right = margin + round(i * bar_w) + 1, margin + round((i + 1) * bar_w) - 1
        image[top:height - margin, left:right] = (0x4C, 0x72, 0xB0)
    image[height - margin, margin:width - margin] = 0  # the axis
    image[margin:height - margin + 1, margin] = 0
    return _png_bytes(image)


def histogram_caption(values: np.ndarray, bins: Sequence[float], title: str) -> str:
    edges = list(bins)
    counts, _ = np.histogram(values[np.isfinite(values)], bins=edges)
    return (f"**{title}**: {len(counts)} bins from {edges[0]:g} to {edges[-1]:g}; "
            f"tallest bar {int(counts.max()) if len(counts) else 0} rows")


def _png_bytes(image: np.ndarray) -> bytes:
    """An RGB uint8 array (rows × columns × 3) as PNG: filter byte 0 per row, one IDAT."""
    height, width, _ = image.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = np.concatenate([np.zeros((height, 1), dtype=np.uint8), image.reshape(height, -1)], axis=1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


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
