"""Outreach: who gets which memo, and the compliant email that carries it. No Dagster imports."""
