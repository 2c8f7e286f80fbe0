"""county_overrides (migration 0034): a platform admin's run-time changes to a county's file, read
by the pipeline (resources/platform.py) and the API, written by the API only. What a patch may
change and how it merges is config_models (EDITABLE_COUNTY_FIELDS, load_county)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from realestate_assets.config_models import CountyConfig, CountyOverride, load_county

_COLUMNS = "county, patch, version, reason, updated_by, updated_at"


@dataclass(frozen=True)
class OverrideRow:
    county: str
    override: CountyOverride
    reason: str
    updated_by: int | None
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        return {"patch": self.override.patch, "version": self.override.version, "reason": self.reason,
                "updated_by": self.updated_by, "updated_at": self.updated_at}


def _row(r: tuple[Any, ...]) -> OverrideRow:
    county, patch, version, reason, updated_by, updated_at = r
    return OverrideRow(county, CountyOverride(dict(patch), int(version)), reason, updated_by, updated_at)


def read_overrides(cur: Any, county: str | None = None) -> dict[str, OverrideRow]:
    """Every county's row (or one county's), by county."""
    if county is None:
        cur.execute(f"SELECT {_COLUMNS} FROM county_overrides")
    else:
        cur.execute(f"SELECT {_COLUMNS} FROM county_overrides WHERE county = %s", (county,))
    return {row.county: row for row in map(_row, cur.fetchall())}


def overrides_within(url: str, timeout_s: int = 3) -> dict[str, CountyOverride]:
    """Every county's override, read on a connection of its own that gives up after `timeout_s`
    to connect and to answer (libpq's connect_timeout counts whole seconds, at least 2): for the
    code location's load, which must not hang on a database that is down. Raises the driver's
    error (SQLAlchemyError / psycopg2.Error); the caller decides what to do without it."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from realestate_assets.db.urls import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool, connect_args={
        "connect_timeout": max(2, timeout_s), "options": f"-c statement_timeout={timeout_s * 1000}"})
    try:
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur:
                return {key: row.override for key, row in read_overrides(cur).items()}
        finally:
            raw.close()
    finally:
        engine.dispose()


def effective_county(cur: Any, config_dir: Path, key: str) -> CountyConfig:
    """The county as the pipeline runs it: its file with its override applied (ConfigError when
    either is invalid). PlatformResource.county and the API both read a county through here."""
    row = read_overrides(cur, key).get(key)
    return load_county(config_dir / "counties" / f"{key}.yaml", row.override if row is not None else None)


def write_override(cur: Any, county: str, patch: dict[str, Any], *, based_on: int, reason: str,
                   user_id: int | None) -> OverrideRow | None:
    """The county's new row, or None when `based_on` is not its current version (0: no row yet),
    i.e. someone else wrote it since the caller read it. Compare-and-set in one statement, so two
    concurrent writers based on the same version cannot both succeed."""
    if based_on == 0:
        cur.execute(f"INSERT INTO county_overrides (county, patch, reason, updated_by) VALUES (%s, %s, %s, %s) "
                    f"ON CONFLICT (county) DO NOTHING RETURNING {_COLUMNS}",
                    (county, json.dumps(patch), reason, user_id))
    else:
        cur.execute(f"UPDATE county_overrides SET patch = %s, version = version + 1, reason = %s, updated_by = %s "
                    f"WHERE county = %s AND version = %s RETURNING {_COLUMNS}",
                    (json.dumps(patch), reason, user_id, county, based_on))
    found = cur.fetchone()
    return _row(found) if found else None
