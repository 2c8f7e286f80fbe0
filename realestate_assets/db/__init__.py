"""The warehouse schema (Alembic migrations) and the SQL helpers the assets write through."""
