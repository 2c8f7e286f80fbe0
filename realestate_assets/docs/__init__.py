"""Investor documents: Jinja2 templates rendered to PDF with WeasyPrint. No Dagster imports."""
