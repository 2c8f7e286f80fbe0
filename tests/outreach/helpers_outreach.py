"""Shared helpers for the outreach tests: real King County contexts, local servers, keys, DB rows."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pandas as pd
import werkzeug

from realestate_assets.config_models import CountyConfig, FinancialAssumptions, Recipient, ScoringConfig, Sender
from realestate_assets.docs.context import MarketData, memo_context
from realestate_assets.settings import repo_root
from tests.local_http import base_url, serve
from tests.samples import SOURCE

SENDER = Sender(name="Deals Desk", email="deals@example.com",
                postal_address="Real Estate OS, 1301 Second Avenue, Suite 100, Seattle, WA 98101",
                unsubscribe_base_url="https://deals.example.com/unsubscribe")


def county() -> CountyConfig:
    from realestate_assets.config_models import load_county

    return load_county(repo_root() / "config" / "counties" / "king_wa.yaml")


@cache
def king_sales() -> pd.DataFrame:
    sales = pd.read_csv(SOURCE, dtype={"pinx": str})
    # Parcel ids as discovery stores them: the county file's field map strips the file's ".." prefix
    # (memos once showed "..0007600057" because this helper skipped it).
    spec = county().sources[0].fields["parcel_id"]
    sales["pinx"] = sales["pinx"].str.strip(spec.strip_chars or "")
    return sales.rename(columns={"pinx": "parcel_id", "lot_sf": "lot_sqft", "tot_sf": "living_sqft"})


@cache
def market() -> MarketData:
    return MarketData(king_sales(), ScoringConfig())


def real_rows(n: int = 3) -> list[dict[str, Any]]:
    """Rows shaped like MEMO_ROWS_SQL for real King County parcels sold at least twice.

    Property facts, sales and comps are the county's records. The model outputs (estimate,
    score, rank, reasons) are stand-ins derived from those records — the comparable-sales
    value — because these tests exercise rendering, not the model.
    """
    sales = king_sales()
    repeat = sales.groupby("parcel_id").filter(lambda g: len(g) >= 2)
    as_of = pd.Timestamp(sales["sale_date"].max())
    rows = []
    for rank, (parcel, group) in enumerate(repeat.groupby("parcel_id", sort=True), start=1):
        last = group.sort_values("sale_date").iloc[-1]
        comps = market().comps({"parcel_id": parcel, "latitude": last.latitude, "longitude": last.longitude,
                                "living_sqft": last.living_sqft, "use_type": last.use_type}, as_of)
        if len(comps) < 5:
            continue
        ppsf = sorted(c["price_per_sqft"] for c in comps)[len(comps) // 2]
        estimate = ppsf * last.living_sqft
        indexed = float(market().index.adjust(pd.Series([last.sale_price]), pd.Series([last.sale_date]), as_of)[0])
        gap = (estimate - indexed) / estimate * 100
        rows.append({
            "prospect_key": f"king_wa:{parcel}", "as_of_date": as_of.date().isoformat(), "estimated_value": estimate,
            "estimated_value_low": round(estimate * 0.86, -3), "estimated_value_high": round(estimate * 1.21, -3),
            "value_gap_pct": gap, "bird_dog_score": 95.0 - rank, "score_rank": rank, "model_version": "test-stand-in",
            "score_breakdown": {"reasons": [f"last sale, moved to today's market, is {gap:.0f}% below the estimate",
                                            f"{len(comps)} comparable sales nearby support the value"],
                                "value_factors": [
                                    {"feature": "living_sqft", "effect_pct": 11.5, "value": float(last.living_sqft),
                                     "text": f"living area of {last.living_sqft:,.0f} sqft raises it by 11.5%"},
                                    {"feature": "bldg_grade", "effect_pct": -4.2, "value": float(last.bldg_grade),
                                     "text": f"building grade of {last.bldg_grade:g} lowers the estimate by 4.2%"}]},
            "score_components": {"equity": 0.93, "tenure": 0.71, "confidence": 0.55, "upside": 0.4},
            "parcel_id": parcel, "address": None, "latitude": float(last.latitude), "longitude": float(last.longitude),
            "use_type": last.use_type, "living_sqft": float(last.living_sqft), "lot_sqft": float(last.lot_sqft),
            "beds": float(last.beds), "baths": float(last.baths), "bldg_grade": float(last.bldg_grade),
            "year_built": int(pd.Timestamp(last.sale_date).year - last.age),
            "effective_year_built": int(pd.Timestamp(last.sale_date).year - last.eff_age),
            "waterfront": bool(last.wfnt), "last_sale_price": float(last.sale_price), "last_sale_date": last.sale_date,
            "last_sale_price_indexed": indexed, "comps_count": len(comps), "comps_median_price_per_sqft": ppsf,
            "comps_estimated_value": estimate, "comps_value_spread_pct": 18.0, "market_trend_12m_pct":
                market().index.trend_pct(as_of), "model_mdape_pct": 11.2, "sources": ["king_county_sales"],
        })
        if len(rows) >= n:
            break
    return rows


def real_contexts(n: int = 3, **overrides: Any) -> list[dict[str, Any]]:
    out = []
    for row in real_rows(n):
        row.update(overrides)
        out.append(memo_context(pd.Series(row), county(), SENDER, market=market(),
                                assumptions=FinancialAssumptions()))
    return out


# ------------------------------------------------------------------ local HTTP servers


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ScriptedServer:
    """A local SendGrid v3 stand-in (pytest-httpserver, tests/local_http.py): each POST is answered
    from a script of (status, headers, body), then with 202 + X-Message-Id; GETs serve `files`."""

    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # GET path → (type, bytes)

    def _handle(self, request: werkzeug.Request) -> werkzeug.Response:
        if request.method == "GET":
            if request.path in self.files:
                kind, data = self.files[request.path]
                return werkzeug.Response(data, 200, {"Content-Type": kind})
            return werkzeug.Response(b"", 404)
        self.requests.append(Recorded(request.path, dict(request.headers), request.get_data()))
        status, headers, payload = self.script.pop(0) if self.script else (
            202, {"X-Message-Id": f"msg-{len(self.requests)}"}, b"")
        return werkzeug.Response(payload, status, headers)

    def __enter__(self) -> ScriptedServer:
        self.server = serve(self._handle)
        return self

    @property
    def url(self) -> str:
        return base_url(self.server)

    def __exit__(self, *exc: Any) -> None:
        self.server.stop()


def rate_limited(reset_in_s: float) -> tuple[int, dict[str, str], bytes]:
    return 429, {"X-RateLimit-Reset": str(int(time.time() + reset_in_s)), "X-RateLimit-Limit": "600",
                 "X-RateLimit-Remaining": "0"}, b'{"errors":[{"message":"too many requests"}]}'


# ------------------------------------------------------------------ webhook keys


class WebhookKeys:
    """A P-256 key pair: the public half as SendGrid shows it, the private half signs like SendGrid."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.private = ec.generate_private_key(ec.SECP256R1())
        der = self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_b64 = base64.b64encode(der).decode()

    def sign(self, body: str, timestamp: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        return base64.b64encode(self.private.sign((timestamp + body).encode(), ec.ECDSA(hashes.SHA256()))).decode()


def recipient(email: str, name: str = "Avery Investor", **kw: Any) -> Recipient:
    return Recipient(name=name, email=email, **kw)


# ------------------------------------------------------------------ delivery


def plan(send_key: str, recipients: list[Recipient], campaign: str = "daily_digest") -> list:
    from realestate_assets.outreach.delivery import PlannedEmail
    from realestate_assets.outreach.messages import Content

    content = Content(group_key=f"{campaign}|{send_key}", html="<p>Hello [%first_name%]</p>"
                      "<a href='[%unsubscribe_url%]'>Unsubscribe</a>", text="Hello [%first_name%]\n[%unsubscribe_url%]",
                      categories=(campaign,))
    return [PlannedEmail(campaign=campaign, send_key=send_key, county="king_wa", recipient=r,
                         subject=f"Digest {send_key}", variant="A", template="email_daily_digest", content=content)
            for r in recipients]


def deliverer(database_url: str, tenant: str, mailer: Any, **kw: Any) -> Any:
    from realestate_assets.db.warehouse import Warehouse
    from realestate_assets.outreach.delivery import Deliverer

    return Deliverer(Warehouse(database_url), mailer, tenant_id=tenant, county="king_wa", sender=SENDER,
                     secret="unsubscribe-secret", **kw)


def email_rows(database_url: str, tenant: str) -> list[dict[str, Any]]:
    from realestate_assets.db.warehouse import Warehouse

    wh = Warehouse(database_url)
    try:
        return wh.frame("SELECT id, campaign, send_key, recipient_email, status, attempts, retryable, error, "
                        "variant, opened_at, clicked_at FROM emails WHERE tenant_id = :t ORDER BY id",
                        {"t": tenant}).to_dict("records")
    finally:
        wh.dispose()
