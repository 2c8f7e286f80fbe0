"""Enrichment: facts about each prospect from the county's data and outside sources. No Dagster."""
