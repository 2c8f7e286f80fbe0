"""Database URLs: one place that decides which driver SQLAlchemy uses."""

from __future__ import annotations

from sqlalchemy.engine import make_url


def sqlalchemy_url(url: str) -> str:
    """Force psycopg2 for plain `postgresql://` URLs.

    SQLAlchemy 2.1 maps `postgresql://` to psycopg 3; dagster-postgres then fails with
    `NOTIFY run_events, $1`. We install psycopg2 and name it explicitly everywhere.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)
