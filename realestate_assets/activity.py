"""Whether a county partition can produce anything, and why not. Pure: no Dagster imports.

A county whose every source is disabled would otherwise run, write 0 rows and turn green: an
empty partition that looks healthy. `county_activity` is the one rule: the source assets record
it in metadata and a WARN `county_active` check, `reos materialize` refuses an inactive county with
its reason, the discovery schedule starts stopped and the freshness sensor skips the county.
`discovery_cadence` is what the asset freshness policies take from a county (here, not under
partitions/, so that the API, which imports no Dagster, decides with the same rule when a county
change must reload the code location).
"""

from __future__ import annotations

from dataclasses import dataclass

from realestate_assets.config_models import CountyConfig

# What discovery turns into prospects; assessor and parcel files only enrich them.
DISCOVERY_KINDS = ("sales", "listings")


def county_activity(county: CountyConfig) -> tuple[bool, str]:
    """(active, reason) — the reason is one line, fit for a CLI message or asset metadata."""
    enabled = [s for s in county.sources if s.enabled]
    if not enabled:
        names = ", ".join(s.name for s in county.sources)
        return False, (f"{county.key}: inactive — every source is disabled ({names}); "
                       f"set `enabled: true` on one in config/counties/{county.key}.yaml")
    discovering = [s for s in enabled if s.provides in DISCOVERY_KINDS]
    if not discovering:
        kinds = ", ".join(sorted({s.provides for s in enabled}))
        return False, (f"{county.key}: inactive — enabled sources only provide {kinds}; "
                       "no source provides sales or listings to discover properties from")
    names = ", ".join(s.name for s in discovering)
    return True, f"{county.key}: active — discovers from {names}"


def active_counties(counties: dict[str, CountyConfig]) -> dict[str, CountyConfig]:
    return {key: county for key, county in counties.items() if county_activity(county)[0]}


@dataclass(frozen=True)
class Cadence:
    cron: str
    timezone: str


def discovery_cadence(county: CountyConfig | None) -> Cadence | None:
    """All the asset-level freshness policies take from one county (sensors/freshness.cadences):
    its discovery cron and time zone while it is active; None when it is inactive or invalid
    (passed as None), i.e. not expected to refresh anything. The county settings PATCH compares it before
    and after a change to decide whether the code location must reload (api/v1/settings.py)."""
    if county is None or not county_activity(county)[0]:
        return None
    return Cadence(county.schedule.cron, county.schedule.timezone)
