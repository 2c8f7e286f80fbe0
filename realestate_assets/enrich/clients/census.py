"""US Census clients: the geocoder (coordinates -> tract) and the ACS 5-year tract tables.

Geocoder: `GET /geocoder/geographies/coordinates?x=<lon>&y=<lat>&benchmark=Public_AR_Current
&vintage=Current_Current&format=json` ->
`{"result": {"input": {...}, "geographies": {"Census Tracts": [{"GEOID": "53033005100",
"STATE": "53", "COUNTY": "033", "TRACT": "005100", "NAME": "Census Tract 51", ...}], ...}}}`.
An empty "Census Tracts" list (a point in the sea, outside the US) is a no-match.

ACS: `GET /data/{year}/acs/acs5?get=NAME,B01003_001E,...&for=tract:*&in=state:53 county:033`
-> JSON array of arrays, header row first, every value a string, the geography columns
(`state`, `county`, `tract`) appended. At most 50 variables a call, so variables are batched
and the batches joined on the geography. One call (per batch) fetches every tract of a county;
the client keeps each county's table for the run, so thousands of prospects in one county
cost one or two calls. Negative sentinels (-666666666 "not computable", -999999999,
-888888888, -555555555, -333333333, -222222222) mean "not available" and become None; every
variable used here is a count or a dollar amount, so any negative value is treated so.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from realestate_assets.enrich.clients.base import (
    ApiResponse,
    MalformedResponseError,
    SourceClient,
    SourceError,
    chunked,
)

GEOCODER_PATH = "/geocoder/geographies/coordinates"
MAX_VARS_PER_CALL = 50
SENTINELS = frozenset({-999999999, -888888888, -666666666, -555555555, -333333333, -222222222})

# ACS variable -> canonical field name.
ACS_VARIABLES: dict[str, str] = {
    "B01003_001E": "tract_population",
    "B19013_001E": "tract_median_household_income",
    "B25077_001E": "tract_median_home_value",
    "B25064_001E": "tract_median_gross_rent",
    "B25002_001E": "tract_housing_units",
    "B25002_003E": "tract_vacant_units",
    "B25003_001E": "tract_occupied_units",
    "B25003_002E": "tract_owner_occupied_units",
    "B25003_003E": "tract_renter_occupied_units",
}


@dataclass(frozen=True)
class Tract:
    geoid: str  # 11 digits: state(2) county(3) tract(6)
    state: str
    county: str
    tract: str
    name: str | None = None


def parse_geocoder(body: Any) -> Tract | None:
    if not isinstance(body, Mapping) or not isinstance(body.get("result"), Mapping):
        raise MalformedResponseError("census_geocoder", "no `result` object in the geocoder answer")
    geos = body["result"].get("geographies")
    if not isinstance(geos, Mapping):
        raise MalformedResponseError("census_geocoder", "no `geographies` in the geocoder answer")
    tracts = geos.get("Census Tracts") or []
    if not tracts:
        return None
    t = tracts[0]
    state, county, tract = str(t.get("STATE", "")), str(t.get("COUNTY", "")), str(t.get("TRACT", ""))
    geoid = str(t.get("GEOID") or f"{state}{county}{tract}")
    if len(geoid) != 11 or not geoid.isdigit():
        raise MalformedResponseError("census_geocoder", f"unexpected tract GEOID {geoid!r}")
    return Tract(geoid, geoid[:2], geoid[2:5], geoid[5:], t.get("NAME"))


def acs_number(raw: Any) -> float | None:
    """An ACS cell (a string) -> number, or None for null, blanks and negative sentinels."""
    if raw is None:
        return None
    try:
        x = float(str(raw).strip())
    except ValueError:
        return None
    if int(x) in SENTINELS or x < 0:
        return None
    return x


def parse_acs_table(body: Any, variables: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Array-of-arrays -> {tract GEOID: {variable: number|None, "NAME": str}}."""
    if not isinstance(body, list) or not body or not all(isinstance(r, list) for r in body):
        raise MalformedResponseError("census_acs", "expected a JSON array of arrays with a header row")
    header = [str(h) for h in body[0]]
    try:
        si, ci, ti = header.index("state"), header.index("county"), header.index("tract")
    except ValueError:
        raise MalformedResponseError("census_acs", f"no state/county/tract columns in header {header}") from None
    missing = [v for v in variables if v not in header]
    if missing:
        raise MalformedResponseError("census_acs", f"variables missing from the answer: {missing}")
    out: dict[str, dict[str, Any]] = {}
    for row in body[1:]:
        if len(row) != len(header):
            raise MalformedResponseError("census_acs", "a row's length differs from the header's")
        geoid = f"{row[si]}{row[ci]}{row[ti]}"
        rec: dict[str, Any] = {v: acs_number(row[header.index(v)]) for v in variables}
        if "NAME" in header:
            rec["NAME"] = row[header.index("NAME")]
        out[geoid] = rec
    return out


def tract_fields(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """ACS row -> canonical fields, plus the shares an analyst actually reads."""
    if not row:
        return {}
    vals = {name: row.get(var) for var, name in ACS_VARIABLES.items() if row.get(var) is not None}

    def share(num: str, den: str) -> float | None:
        n, d = vals.get(num), vals.get(den)
        return round(n / d, 4) if n is not None and d else None

    derived = {
        "tract_vacancy_rate": share("tract_vacant_units", "tract_housing_units"),
        "tract_owner_occupied_share": share("tract_owner_occupied_units", "tract_occupied_units"),
        "tract_renter_occupied_share": share("tract_renter_occupied_units", "tract_occupied_units"),
    }
    vals.update({k: v for k, v in derived.items() if v is not None})
    return vals


class CensusGeocoderClient(SourceClient):
    def tract_for(self, latitude: float, longitude: float) -> tuple[Tract | None, ApiResponse]:
        parsed: list[Tract | None] = []
        resp = self.get_json(GEOCODER_PATH, {
            "x": f"{longitude:.6f}", "y": f"{latitude:.6f}",
            "benchmark": "Public_AR_Current", "vintage": "Current_Current", "format": "json",
        }, validate=lambda r: parsed.append(parse_geocoder(r.body)))
        return parsed[0], resp


class CensusAcsClient(SourceClient):
    """County tables of ACS 5-year tract estimates, fetched once per county per run."""

    def __init__(self, settings, *, year: int = 2023, variables: Sequence[str] | None = None,  # type: ignore[no-untyped-def]
                 **kw: Any) -> None:
        kw.setdefault("api_key_param", "key")
        super().__init__(settings, **kw)
        self.year = year
        self.variables = list(variables or ACS_VARIABLES)
        self._tables: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._fetched_at: dict[tuple[str, str], datetime] = {}
        self._failures: dict[tuple[str, str], SourceError] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def county_table(self, state: str, county: str) -> dict[str, dict[str, Any]]:
        key = (state, county)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one fetch per county even when many workers ask at once
            if key in self._failures:  # a county that failed once this run fails fast after
                raise self._failures[key]
            if key not in self._tables:
                try:
                    self._tables[key] = self._fetch_county(state, county)
                except SourceError as exc:
                    self._failures[key] = exc
                    raise
            return self._tables[key]

    def _fetch_county(self, state: str, county: str) -> dict[str, dict[str, Any]]:
        path = f"/data/{self.year}/acs/acs5"
        merged: dict[str, dict[str, Any]] = {}
        fetched: datetime | None = None
        # NAME counts toward the 50; it rides in the first batch only.
        batches = chunked(["NAME", *self.variables], MAX_VARS_PER_CALL)
        for batch in batches:
            wanted = [v for v in batch if v != "NAME"]
            parts: list[dict[str, dict[str, Any]]] = []
            resp = self.get_json(path, {"get": ",".join(batch), "for": "tract:*",
                                        "in": f"state:{state} county:{county}"},
                                 # 204 (no body) means no data for this geography
                                 validate=lambda r, w=wanted, sink=parts: sink.append(
                                     parse_acs_table(r.body, w) if r.body is not None else {}))
            fetched = resp.fetched_at if fetched is None else min(fetched, resp.fetched_at)
            part = parts[0]
            for geoid, rec in part.items():
                merged.setdefault(geoid, {}).update(rec)
        if fetched is not None:
            self._fetched_at[(state, county)] = fetched
        return merged

    def tract_row(self, tract: Tract) -> tuple[dict[str, Any] | None, datetime | None]:
        """The tract's ACS row (None if the county table has no such tract) and its fetch time."""
        row = self.county_table(tract.state, tract.county).get(tract.geoid)
        return row, self._fetched_at.get((tract.state, tract.county))
