"""FastAPI app: SendGrid event webhook, unsubscribe (link and RFC 8058 one-click), object links.

The REST API under `/api/v1` (accounts, API keys, tenants, subscriptions) lives in
`realestate_assets/api/v1/` and is added by `install(app)` (docs/api.md).

* `POST /webhooks/sendgrid` — verifies the ECDSA P-256 signature over timestamp + raw body with
  the SDK's `EventWebhook` helper (public key: `SENDGRID_WEBHOOK_PUBLIC_KEY`), rejects a
  timestamp outside the replay window (`REOS_WEBHOOK_MAX_AGE_SECONDS`, default 300), then records
  the events once each (`sg_event_id`) and applies them (status, suppressions).
* `GET /unsubscribe?token=…` — the link in the email: a landing page with a confirm button
  (a GET never unsubscribes: link scanners prefetch URLs).
* `POST /unsubscribe?token=…` — one-click (RFC 8058 body `List-Unsubscribe=One-Click`) and the
  landing page's button: no cookie, no login, no redirect; the suppression is committed before
  the response, so the next send already skips the address.
* `GET /objects/{key}?expires=…&signature=…` — serves a local-store packet behind an HMAC link.
* `GET /metrics` — Prometheus metrics (`api/metrics.py`; the contract is docs/deployment/monitoring.md).
"""

from __future__ import annotations

import html
import json
import os
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from realestate_assets.api.metrics import ApiMetrics

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


@dataclass
class ApiSettings:
    """The API process's settings: given, else read from its environment when first needed (never
    at import time). The API is its own entry point: it imports neither Dagster nor `resources/`;
    the secrets it shares with the pipeline (unsubscribe, link) come from the same variables the
    production resource set names, or locally from the same files under the state directory."""

    database_url: str | None = None
    webhook_public_key: str | None = None
    webhook_max_age_s: float | None = None
    unsubscribe_secret: str | None = None
    link_secret: str | None = None
    objects_dir: str | None = None
    default_tenant: str | None = None
    jwt_secret: str | None = None
    config_dir: str | None = None

    def resolved(self) -> ApiSettings:
        from realestate_assets.settings import LocalSettings, local_secret

        local = LocalSettings.from_env()
        state = local.state_dir
        database_url = self.database_url or os.environ.get("DATABASE_URL")
        if not database_url:
            from realestate_assets.db.embedded import embedded_data_dir, embedded_database_url

            database_url = embedded_database_url(embedded_data_dir(state))
        return ApiSettings(
            database_url=database_url,
            webhook_public_key=self.webhook_public_key or os.environ.get("SENDGRID_WEBHOOK_PUBLIC_KEY"),
            webhook_max_age_s=self.webhook_max_age_s or float(os.environ.get("REOS_WEBHOOK_MAX_AGE_SECONDS", 300)),
            unsubscribe_secret=self.unsubscribe_secret or os.environ.get("REOS_UNSUBSCRIBE_SECRET")
            or local_secret(state / "unsubscribe.secret"),
            link_secret=self.link_secret or os.environ.get("REOS_LINK_SECRET") or local_secret(state / "link.secret"),
            objects_dir=self.objects_dir or str(state / "objects"),
            default_tenant=self.default_tenant or local.tenant_id,
            jwt_secret=self.jwt_secret or os.environ.get("REOS_JWT_SECRET") or local_secret(state / "jwt.secret"),
            config_dir=self.config_dir or str(local.config_dir))


class _State:
    def __init__(self, settings: ApiSettings) -> None:
        self._given = settings

    @cached_property
    def settings(self) -> ApiSettings:
        return self._given.resolved()

    @cached_property
    def warehouse(self) -> Any:
        from realestate_assets.db.warehouse import Warehouse

        return Warehouse(self.settings.database_url)

    @cached_property
    def verifier(self) -> Any:
        from sendgrid.helpers.eventwebhook import EventWebhook

        key = self.settings.webhook_public_key
        return EventWebhook(key) if key else None


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(status_code=status, content=(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
        f"content='width=device-width'><title>{html.escape(title)}</title></head>"
        "<body style='font-family:Arial,sans-serif;max-width:520px;margin:48px auto;color:#1d2733;'>"
        f"<h1 style='font-size:22px;'>{html.escape(title)}</h1>{body}</body></html>"))


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    app = FastAPI(title="Real Estate OS API", docs_url=None, redoc_url=None)
    state = _State(settings or ApiSettings())
    app.state.reos = state
    metrics = ApiMetrics(lambda: state.warehouse)
    app.add_middleware(metrics.middleware)
    app.add_api_route("/metrics", metrics.endpoint, methods=["GET"], include_in_schema=False)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/sendgrid")
    async def sendgrid_webhook(request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", errors="replace")
        signature = request.headers.get(SIGNATURE_HEADER)
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        verifier = state.verifier
        if verifier is None:
            return JSONResponse({"error": "webhook verification key not configured"}, status_code=503)
        if not signature or not timestamp:
            return JSONResponse({"error": "missing signature headers"}, status_code=401)
        try:
            age = abs(time.time() - float(timestamp))
        except ValueError:
            return JSONResponse({"error": "bad timestamp"}, status_code=401)
        try:
            valid = verifier.verify_signature(raw, signature, timestamp)
        except (ValueError, TypeError):
            valid = False
        if not valid:
            return JSONResponse({"error": "invalid signature"}, status_code=403)
        if age > state.settings.webhook_max_age_s:
            # A correctly signed but old request is a replay (or a badly skewed clock): refuse it.
            return JSONResponse({"error": "stale timestamp (replay window exceeded)"}, status_code=403)
        try:
            events = json.loads(raw)
        except json.JSONDecodeError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        if not isinstance(events, list):
            return JSONResponse({"error": "expected a JSON array of events"}, status_code=400)
        from realestate_assets.outreach.events import record_events

        with state.warehouse.transaction() as conn:
            counts = record_events(conn, events, default_tenant=state.settings.default_tenant)
        metrics.webhook_events("sendgrid", events)
        return JSONResponse({"received": len(events), **counts})

    def _verify(token: str | None) -> tuple[str, str] | None:
        from realestate_assets.outreach.messages import verify_unsubscribe_token

        return verify_unsubscribe_token(state.settings.unsubscribe_secret, token) if token else None

    @app.get("/unsubscribe")
    def unsubscribe_page(token: str | None = None) -> HTMLResponse:
        found = _verify(token)
        if found is None:
            return _page("Link not valid", "<p>This unsubscribe link is not valid. Reply to any of our emails "
                         "with the word unsubscribe and we will remove you.</p>", status=400)
        _, email = found
        return _page("Unsubscribe", (
            f"<p>Stop all deal emails to <b>{html.escape(email)}</b>?</p>"
            f"<form method='post' action='/unsubscribe?token={html.escape(token or '')}'>"
            "<input type='hidden' name='List-Unsubscribe' value='One-Click'>"
            "<button type='submit' style='padding:10px 18px;font-size:16px;'>Unsubscribe</button></form>"))

    @app.post("/unsubscribe")
    async def unsubscribe_one_click(request: Request, token: str | None = None) -> Response:
        found = _verify(token)
        if found is None:
            return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", status=400)
        tenant_id, email = found
        body = (await request.body()).decode(errors="replace")
        source = "one_click" if "List-Unsubscribe=One-Click" in body else "link"
        from realestate_assets.outreach.events import unsubscribe

        with state.warehouse.transaction() as conn:
            unsubscribe(conn, tenant_id, email, source)
        return _page("You are unsubscribed", f"<p>{html.escape(email)} will receive no more deal emails from us.</p>")

    @app.get("/objects/{key:path}")
    def get_object(key: str, expires: int, signature: str) -> Response:
        from pathlib import Path

        from realestate_assets.objects import LocalObjectStore, verify_local_link

        if not verify_local_link(state.settings.link_secret, key, expires, signature):
            return JSONResponse({"error": "link expired or not valid"}, status_code=403)
        store = LocalObjectStore(Path(state.settings.objects_dir))
        try:
            if not store.exists(key):
                return JSONResponse({"error": "not found"}, status_code=404)
            data = store.get(key)
        except ValueError:
            return JSONResponse({"error": "not found"}, status_code=404)
        media = "application/pdf" if key.endswith(".pdf") else "application/octet-stream"
        return Response(content=data, media_type=media,
                        headers={"Content-Disposition": f'inline; filename="{key.rsplit("/", 1)[-1]}"'})

    from realestate_assets.api.links import router as links_router  # GET /p/{token}: memo links in emails
    from realestate_assets.api.v1 import install

    app.include_router(links_router)
    install(app)
    return app


app = create_app()
