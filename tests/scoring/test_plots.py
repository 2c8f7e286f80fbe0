"""The metadata histogram drawn without matplotlib (issue 17): a valid PNG whose bars are the counts."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from realestate_assets.ml import plots


def test_histogram_png_is_a_png_whose_bars_are_the_counts() -> None:
    values = np.array([5.0] * 10 + [55.0] * 5 + [np.nan, np.inf])  # 10 in the first bin, 5 in the sixth
    image = np.asarray(Image.open(io.BytesIO(plots.histogram_png(values, range(0, 101, 10), "score"))).convert("RGB"))
    blue = (image == (0x4C, 0x72, 0xB0)).all(axis=2)
    heights = blue.sum(axis=0)  # per pixel column
    columns = np.flatnonzero(heights)
    first, sixth = heights[columns[0]], heights[columns[-1]]
    assert first == 2 * sixth and blue[:, columns[0]].any()
    assert plots.histogram_caption(values, range(0, 101, 10), "score") == \
        "**score**: 10 bins from 0 to 100; tallest bar 10 rows"
