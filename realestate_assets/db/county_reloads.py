"""county_reloads (migration 0053): what became of the code-location reload a county's change asked
for. The PATCH writes `pending` in the change's transaction (`request`); the API's background
reload (api/code_reloads.py) takes every change not yet loaded (`claim`) before it asks Dagster,
and records the outcome for exactly those (`finish`): a change committed after the claim is left
pending for the next reload, so a change is marked loaded only by a reload that started after it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

_COLUMNS = "county, version, state, detail, requested_at, started_at, finished_at"


@dataclass(frozen=True)
class ReloadRow:
    county: str
    version: int
    state: str  # pending, running, loaded, failed
    detail: str | None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {"requested": True, "state": self.state, "detail": self.detail, "version": self.version,
                "requested_at": self.requested_at, "started_at": self.started_at, "finished_at": self.finished_at}


def request(cur: Any, county: str, version: int) -> ReloadRow:
    """Record that the county's change `version` waits for a reload (replacing its previous request)."""
    cur.execute(f"INSERT INTO county_reloads (county, version) VALUES (%s, %s) ON CONFLICT (county) DO UPDATE "
                f"SET version = EXCLUDED.version, state = 'pending', detail = NULL, requested_at = now(), "
                f"started_at = NULL, finished_at = NULL RETURNING {_COLUMNS}", (county, version))
    return ReloadRow(*cur.fetchone())


def read_reloads(cur: Any, county: str | None = None) -> dict[str, ReloadRow]:
    """Every county's latest reload request (or one county's), by county."""
    if county is None:
        cur.execute(f"SELECT {_COLUMNS} FROM county_reloads")
    else:
        cur.execute(f"SELECT {_COLUMNS} FROM county_reloads WHERE county = %s", (county,))
    return {row.county: row for row in (ReloadRow(*r) for r in cur.fetchall())}


def waiting(cur: Any) -> list[str]:
    """The counties whose change waits for a reload that has not ended (pending or running)."""
    cur.execute("SELECT county FROM county_reloads WHERE state IN ('pending', 'running') ORDER BY county")
    return [county for (county,) in cur.fetchall()]


def claim(cur: Any) -> list[tuple[str, int]]:
    """Mark every change not yet loaded as `running` (a failed one too: a reload that succeeds now
    loads it; one another process left running, e.g. it stopped mid-reload, as well): the
    (county, version) pairs the reload about to start will load. Commit before asking Dagster."""
    cur.execute("UPDATE county_reloads SET state = 'running', started_at = now(), finished_at = NULL "
                "WHERE state <> 'loaded' RETURNING county, version")
    return sorted((county, int(version)) for county, version in cur.fetchall())


def finish(cur: Any, claimed: list[tuple[str, int]], loaded: bool, detail: str) -> int:
    """Record the reload's outcome on the changes it claimed, unless a newer change of the county
    asked again meanwhile (its version differs) or another reload already ended it. Rows updated."""
    if not claimed:
        return 0
    cur.execute("UPDATE county_reloads r SET state = %s, detail = %s, finished_at = now() "
                "FROM unnest(%s::text[], %s::int[]) AS c(county, version) "
                "WHERE r.county = c.county AND r.version = c.version AND r.state = 'running'",
                ("loaded" if loaded else "failed", detail, [c for c, _ in claimed], [v for _, v in claimed]))
    return cur.rowcount
