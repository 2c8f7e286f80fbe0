"""Render PDF pages to pixels (poppler's pdftoppm) and measure them: visual regression and page fill."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

# Letter page and the @page margins of _base.html.j2 (16 mm top, 18 mm bottom): the running header
# and footer live in the margins, so fill is measured between them.
PAGE_MM = 279.4
TOP_MM, BOTTOM_MM = 16.0, 18.0
WHITE = 245  # a pixel this light or lighter counts as paper


def have_poppler() -> bool:
    return shutil.which("pdftoppm") is not None and shutil.which("pdftotext") is not None


def pages_png(pdf: bytes, dpi: int = 40, first: int | None = None, last: int | None = None) -> list[Image.Image]:
    """Every page (or first..last, 1-based) as a grey-scale image."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "doc.pdf"
        source.write_bytes(pdf)
        args = ["pdftoppm", "-r", str(dpi), "-gray", "-png"]
        if first:
            args += ["-f", str(first)]
        if last:
            args += ["-l", str(last)]
        subprocess.run([*args, str(source), str(Path(tmp) / "page")], check=True, capture_output=True)
        return [Image.open(io.BytesIO(p.read_bytes())).convert("L") for p in sorted(Path(tmp).glob("page*.png"))]


def pdf_text(pdf: bytes) -> str:
    """The text as pdftotext reads it (layout order), whitespace collapsed."""
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, check=True, capture_output=True).stdout
    return " ".join(out.decode().split())


def blank_share(page: Image.Image) -> float:
    """The share of the page's content area (between the margins) left blank below its last mark."""
    pixels = np.asarray(page)
    height = pixels.shape[0]
    top, bottom = int(height * TOP_MM / PAGE_MM), int(height * (1 - BOTTOM_MM / PAGE_MM))
    inked = np.flatnonzero((pixels[top:bottom] < WHITE).any(axis=1))
    last = inked[-1] + top if len(inked) else top
    return (bottom - last) / (bottom - top)


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute grey-level difference in [0, 1] (1.0 when the sizes differ)."""
    if a.size != b.size:
        return 1.0
    return float(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean() / 255.0)


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "visual"
# Mean grey-level difference of page 1 at 40 dpi. Measured on the memos: identical render 0.0;
# another property (other digits, same layout) 0.0035; one added callout box (everything below
# moves) 0.033. Digits are checked as text; this catches layout changes.
TOLERANCE = 0.01


def matches_reference(pdf: bytes, name: str) -> float:
    """Page 1 at 40 dpi against tests/fixtures/visual/<name>.png: the difference. `UPDATE_SNAPSHOTS=1`
    rewrites the reference (then look at it before committing); a missing one is written and fails."""
    import os

    import pytest

    (page,) = pages_png(pdf, dpi=40, first=1, last=1)
    reference = FIXTURES / f"{name}.png"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not reference.exists():
        FIXTURES.mkdir(parents=True, exist_ok=True)
        page.save(reference, optimize=True)
        if os.environ.get("UPDATE_SNAPSHOTS") != "1":
            pytest.fail(f"no reference for {name}: wrote {reference}; look at it and commit it")
    return difference(page, Image.open(reference).convert("L"))
