"""The county market kernel: one market index and one comparable-sales rule.

Pure pandas/NumPy/SciPy (no Dagster): enrichment, the models, the baselines, the backtest and
the memos all value a property against its market through these two modules.

* `index`: the monthly market index (hedonic, with a median-$/sqft fallback for thin data).
* `comps`: which recorded sales are comparable to a property as of a date, vectorized.
"""
