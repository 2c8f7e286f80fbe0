"""The market index lives in `realestate_assets.market.index`; this name stays for the assets that import it."""

from realestate_assets.market.index import AsOfIndexes, HedonicIndex, hedonic_design, month_start

__all__ = ["AsOfIndexes", "HedonicIndex", "hedonic_design", "month_start"]
