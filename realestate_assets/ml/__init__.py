"""Features, the automated valuation model and the bird-dog score. No Dagster imports."""
