"""Fakes that replay the real shapes of ATTOM and the Census APIs (test helpers).

`LocalServer(app)` serves `app(Request) -> Response` on a local pytest-httpserver server
(tests/local_http.py) and records every request with its arrival time, so tests can count
outbound calls and measure the rate. `FakeAttom` and `FakeCensus` are apps; scripted
behaviours ("429", "500", "slow", "malformed", "nomatch") are queued per address or per
coordinate. conftest.py wraps them in fixtures; bench/bench_enrich.py imports them too.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import werkzeug

from tests.local_http import base_url, serve

# --------------------------------------------------------------------------- server


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival


@dataclass
class Response:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None, **kw: Any) -> Response:
        return cls(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})}, **kw)


App = Callable[[Request], Response]


class LocalServer:
    def __init__(self, app: App) -> None:
        self.app = app
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self.httpserver = serve(self._handle)

    def _handle(self, raw: werkzeug.Request) -> werkzeug.Response:
        req = Request(raw.method, raw.path, {k: raw.args[k] for k in raw.args},
                      {k.lower(): v for k, v in raw.headers.items()}, time.monotonic())
        with self._lock:
            self.requests.append(req)
        try:
            resp = self.app(req)
        except Exception as exc:  # a bug in a fake shows up as a 599, not a hang
            resp = Response(599, f"fake server error: {exc!r}".encode())
        if resp.delay_s:
            time.sleep(resp.delay_s)
        body = resp.body if isinstance(resp.body, bytes) else str(resp.body).encode()
        # The server adds Date (the clients read it as the fetch time) and Content-Length.
        return werkzeug.Response(body, status=resp.status, headers=resp.headers)

    @property
    def url(self) -> str:
        return base_url(self.httpserver)

    def count(self, path_contains: str = "") -> int:
        with self._lock:
            return sum(1 for r in self.requests if path_contains in r.path)

    def times(self, path_contains: str = "") -> list[float]:
        with self._lock:
            return [r.at for r in self.requests if path_contains in r.path]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
        self.httpserver.clear_log()

    def close(self) -> None:
        self.httpserver.stop()


# --------------------------------------------------------------------------- shapes

ATTOM_KEY = "test-attom-key-0123456789"


def attom_record(n: int, *, camel: bool = False, owner: str = "SMITH JOHN D", mailing: str | None = None,
                 corporate: bool = False) -> dict[str, Any]:
    """A property as ATTOM returns it across its endpoints (lower-case keys like the live API;
    `camel=True` uses the camelCase some endpoints/docs show, to prove the parser copes)."""
    street = f"{100 + n} NE {n % 90 + 1}TH ST"
    rec = {
        "identifier": {"Id": 1000 + n, "fips": "53033", "apn": f"{n:010d}", "attomId": 150000000 + n},
        "address": {"country": "US", "countrySubd": "WA", "line1": street, "line2": "SEATTLE, WA 98115",
                    "locality": "SEATTLE", "oneLine": f"{street}, SEATTLE, WA 98115", "postal1": "98115"},
        "location": {"latitude": f"{47.6 + n * 1e-4:.6f}", "longitude": f"{-122.3 - n * 1e-4:.6f}"},
        "summary": {"propclass": "Single Family Residence / Townhouse", "yearbuilt": 1950 + n % 60},
        "building": {"size": {"livingsize": 1500 + n, "universalsize": 1500 + n},
                     "rooms": {"bathstotal": 2.5, "beds": 3}},
        "lot": {"lotsize1": 0.1148, "lotsize2": 5000},
        "assessment": {
            "assessed": {"assdttlvalue": 400_000 + n, "assdimprvalue": 250_000, "assdlandvalue": 150_000 + n},
            "market": {"mktttlvalue": 500_000 + n},
            "tax": {"taxamt": 4_321.5, "taxyear": 2024},
            "owner": {
                "corporateindicator": "Y" if corporate else "N",
                "owner1": {"fullname": owner, "lastname": owner.split()[0]},
                "owner2": {"fullname": ""},
                "absenteeownerstatus": "A" if mailing else "O",
                "mailingaddressoneline": mailing or f"{street}, SEATTLE, WA 98115-1234",
            },
        },
        "sale": {"saleTransDate": "2015-06-10", "amount": {"saleamt": 350_000 + n, "salerecdate": "2015-06-15"}},
        "salehistory": [
            {"saleTransDate": "2015-06-10", "amount": {"saleamt": 350_000 + n, "salerecdate": "2015-06-15"}},
            {"saleTransDate": "2005-04-20", "amount": {"saleamt": 125_000, "salerecdate": "2005-04-22"}},
        ],
        "avm": {"eventDate": "2025-01-15",
                "amount": {"scr": 87, "value": 610_000 + n, "high": 650_000 + n, "low": 570_000 + n, "fsd": 7}},
    }
    if camel:
        a = rec["assessment"]
        a["assessed"] = {"assdTtlValue": a["assessed"]["assdttlvalue"]}
        a["market"] = {"mktTtlValue": a["market"]["mktttlvalue"]}
        a["owner"]["mailingAddressOneLine"] = a["owner"].pop("mailingaddressoneline")
        rec["building"]["size"] = {"livingSize": rec["building"]["size"]["livingsize"]}
    return rec


ENDPOINT_SECTIONS = {
    "/propertyapi/v1.0.0/property/detail": ("identifier", "address", "location", "summary", "building", "lot"),
    "/propertyapi/v1.0.0/assessment/detail": ("identifier", "address", "assessment"),
    "/propertyapi/v1.0.0/attomavm/detail": ("identifier", "address", "avm"),
    "/propertyapi/v1.0.0/saleshistory/detail": ("identifier", "address", "salehistory"),
}


def attom_envelope(props: list[dict[str, Any]]) -> dict[str, Any]:
    return {"status": {"version": "1.0.0", "code": 0, "msg": "SuccessWithResult", "total": len(props),
                       "page": 1, "pagesize": 10, "transactionID": "0123abcd"},
            "echoed_fields": {}, "property": props}


def attom_no_match(as_400: bool = False) -> Response:
    # Seen in the wild both ways: HTTP 400 / code 400, and HTTP 200 / code 1.
    body = {"status": {"version": "1.0.0", "code": 400 if as_400 else 1, "msg": "SuccessWithoutResult",
                       "total": 0, "page": 0, "pagesize": 0, "transactionID": "0123abcd"}}
    return Response.json(body, 400 if as_400 else 200)


class Behaviours:
    """Per-key queues of scripted behaviours, plus an optional seeded random failure rate."""

    def __init__(self, failure_rate: float = 0.0, seed: int = 7, slow_s: float = 0.5) -> None:
        self.queues: dict[str, deque[str]] = defaultdict(deque)
        self.seed = seed
        self.seen: dict[str, int] = defaultdict(int)
        self.failure_rate = failure_rate
        self.slow_s = slow_s
        self._lock = threading.Lock()

    def script(self, key: str, *behaviours: str) -> None:
        with self._lock:
            self.queues[key].extend(behaviours)

    def next(self, key: str) -> str | None:
        with self._lock:
            q = self.queues.get(key)
            if q:
                return q.popleft()
            if self.failure_rate:
                # Seeded per key and per attempt, so the same requests fail whatever the thread order.
                self.seen[key] += 1
                if random.Random(f"{self.seed}:{key}:{self.seen[key]}").random() < self.failure_rate:
                    return "500"
            return None

    def response(self, b: str | None) -> Response | None:
        if b is None:
            return None
        if b == "429":
            return Response.json({"status": {"code": 429, "msg": "Too Many Requests"}}, 429,
                                 headers={"Retry-After": "0"})
        if b == "429-date":
            return Response.json({}, 429, headers={"Retry-After": formatdate(time.time() + 1, usegmt=True)})
        if b == "429-long":
            return Response.json({}, 429, headers={"Retry-After": "3600"})
        if b == "500":
            return Response(500, b"<html>Internal Server Error</html>", {"Content-Type": "text/html"})
        if b == "slow":
            return Response.json({"late": True}, delay_s=self.slow_s)
        if b == "malformed":
            return Response(200, b'{"status": {"code": 0, "msg": "SuccessWithResult"}, "property": [{"ident',
                            {"Content-Type": "application/json"})
        if b == "html":
            return Response(200, b"<html><body>Invalid Key</body></html>", {"Content-Type": "text/html"})
        raise ValueError(b)


class FakeAttom:
    """Answers the four ATTOM endpoints by address1 / attomid / apn."""

    def __init__(self, records: dict[str, dict[str, Any]] | None = None, *, failure_rate: float = 0.0,
                 seed: int = 7, slow_s: float = 0.5) -> None:
        self.records = records or {}
        self.by_id = {str(r["identifier"]["attomId"]): r for r in self.records.values()}
        self.by_id.update({str(r["identifier"]["apn"]): r for r in self.records.values()})
        self.behaviours = Behaviours(failure_rate, seed, slow_s)
        self.no_match_as_400 = True

    def add(self, address1: str, record: dict[str, Any]) -> None:
        self.records[address1.upper()] = record
        self.by_id[str(record["identifier"]["attomId"])] = record
        self.by_id[str(record["identifier"]["apn"])] = record

    def __call__(self, req: Request) -> Response:
        if req.headers.get("apikey") != ATTOM_KEY:
            return Response.json({"status": {"code": 401, "msg": "Invalid API key"}}, 401)
        sections = ENDPOINT_SECTIONS.get(req.path)
        if sections is None:
            return Response.json({"status": {"code": 404, "msg": "no such endpoint"}}, 404)
        key = (req.query.get("address1") or req.query.get("attomid") or req.query.get("apn") or "").upper()
        scripted = self.behaviours.response(self.behaviours.next(key))
        if scripted is not None:
            return scripted
        rec = self.records.get(key) or self.by_id.get(key)
        if rec is None:
            return attom_no_match(as_400=self.no_match_as_400)
        return Response.json(attom_envelope([{k: rec[k] for k in sections if k in rec}]))


KING_TRACTS = [("53", "033", f"{5100 + i * 100:06d}") for i in range(20)]


def acs_row(i: int) -> dict[str, str]:
    vals = {
        "B01003_001E": str(4000 + i * 10), "B19013_001E": str(95_000 + i * 1000),
        "B25077_001E": str(750_000 + i * 5000), "B25064_001E": str(1900 + i),
        "B25002_001E": "2000", "B25002_003E": str(100 + i),
        "B25003_001E": str(1900 - i), "B25003_002E": str(1100), "B25003_003E": str(800 - i),
    }
    if i == 3:  # sentinels, as the API sends them for suppressed medians
        vals["B19013_001E"] = "-666666666"
        vals["B25077_001E"] = "-999999999"
        vals["B25064_001E"] = None  # type: ignore[assignment]
    return vals


class FakeCensus:
    """Geocoder (coordinates -> tract) and ACS (county table, header row first, strings)."""

    def __init__(self, *, failure_rate: float = 0.0, seed: int = 11, slow_s: float = 0.5) -> None:
        self.behaviours = Behaviours(failure_rate, seed, slow_s)

    @staticmethod
    def tract_index(lat: float, lon: float) -> int | None:
        if not (47.0 < lat < 48.0 and -123.0 < lon < -121.0):
            return None  # "in the sea": no tract
        return round((lat - 47.6) * 1e4) % len(KING_TRACTS)

    def __call__(self, req: Request) -> Response:
        if req.path == "/geocoder/geographies/coordinates":
            key = f"{req.query.get('y')},{req.query.get('x')}"
            scripted = self.behaviours.response(self.behaviours.next(key))
            if scripted is not None:
                return scripted
            for p in ("x", "y", "benchmark", "vintage", "format"):
                if p not in req.query:
                    return Response.json({"errors": [f"{p} is required"], "status": "400"}, 400)
            idx = self.tract_index(float(req.query["y"]), float(req.query["x"]))
            tracts = []
            if idx is not None:
                s, c, t = KING_TRACTS[idx]
                tracts = [{"GEOID": f"{s}{c}{t}", "STATE": s, "COUNTY": c, "TRACT": t, "BASENAME": str(int(t) / 100),
                           "NAME": f"Census Tract {int(t) / 100:g}", "CENTLAT": "+47.6", "CENTLON": "-122.3",
                           "MTFCC": "G5020", "OID": "207903717", "FUNCSTAT": "S", "AREALAND": 1, "AREAWATER": 0}]
            return Response.json({"result": {
                "input": {"location": {"x": float(req.query["x"]), "y": float(req.query["y"])},
                          "benchmark": {"benchmarkName": "Public_AR_Current"},
                          "vintage": {"vintageName": "Current_Current"}},
                "geographies": {"Census Tracts": tracts, "Counties": [], "States": []}}})
        if req.path.startswith("/data/") and req.path.endswith("/acs/acs5"):
            key = "acs:" + req.query.get("in", "")
            scripted = self.behaviours.response(self.behaviours.next(key))
            if scripted is not None:
                return scripted
            get = req.query.get("get", "").split(",")
            if len(get) > 50:
                return Response(400, b"error: Maximum of 50 variables allowed.")
            if req.query.get("for") != "tract:*":
                return Response(400, b"error: unsupported geography")
            in_ = req.query.get("in", "")  # "state:53 county:033"
            parts = dict(p.split(":") for p in in_.split())
            rows = [[*get, "state", "county", "tract"]]
            for i, (s, c, t) in enumerate(KING_TRACTS):
                if s != parts.get("state") or c != parts.get("county"):
                    continue
                vals = acs_row(i)
                row = [f"Census Tract {int(t) / 100:g}; King County; Washington" if v == "NAME" else vals.get(v)
                       for v in get]
                rows.append([*row, s, c, t])
            if len(rows) == 1:
                return Response(204)
            return Response.json(rows)
        return Response(404, b"not found")
