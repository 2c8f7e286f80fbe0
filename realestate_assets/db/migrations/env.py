"""Alembic environment: plain SQL migrations against PostgreSQL, URL from config or env."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from realestate_assets.db.urls import sqlalchemy_url

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
if not url:
    from realestate_assets.db.embedded import embedded_database_url

    url = embedded_database_url()

engine = create_engine(sqlalchemy_url(url))
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
