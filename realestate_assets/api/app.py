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
import logging
import math
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from anyio import CapacityLimiter
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from realestate_assets.api.body_limits import DEFAULT_API_MAX_BODY_BYTES, body_limit_for
from realestate_assets.api.layer import DatabaseSlots, RequestLayer
from realestate_assets.api.metrics import ApiMetrics
from realestate_assets.api.v1.throttle import RateLimits, Throttle

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
# Database connections per API process, and so database requests in flight (layer.DatabaseSlots):
# REOS_API_DB_POOL_SIZE.
DB_POOL_SIZE = 16
# Worker threads per process for the property detail (security.Authorize.run):
# REOS_API_ROUTE_THREADS. A few keep the database busy while the process's one core's worth of Python
# (the GIL) serves the rest in turn; sixteen (one per connection) made requests wait for the GIL in no
# particular order: the detail's p95 twice its p50 at 50 closed-loop clients (docs/api.md, "Not done yet" 1).
ROUTE_THREADS = 4
# Property list/detail bodies kept per API process, MB (api/v1/response_cache.py): REOS_API_RESPONSE_CACHE_MB
# (0: no cache).
RESPONSE_CACHE_MB = 64.0
# Rate limits of /api/v1 (api/v1/throttle.py), e.g. REOS_RATE_LIMIT_LOGIN="5/minute".
RATE_LIMIT_VARIABLES = {"ip": "REOS_RATE_LIMIT_IP", "principal": "REOS_RATE_LIMIT_PRINCIPAL",
                        "login": "REOS_RATE_LIMIT_LOGIN"}


@dataclass
class ApiSettings:
    """The API process's settings: given, else read from its environment when first needed (never
    at import time). The API is its own entry point: it imports neither Dagster nor `resources/`;
    the secrets it shares with the pipeline (unsubscribe, link) come from the same variables the
    production resource set names, or — only where `settings.secrets_required_because` allows —
    from the same invented files under the state directory."""

    database_url: str | None = None
    webhook_public_key: str | None = None
    webhook_max_age_s: float | None = None
    unsubscribe_secret: str | None = None
    link_secret: str | None = None
    objects_dir: str | None = None
    jwt_secret: str | None = None
    config_dir: str | None = None
    redis_url: str | None = None  # shared rate-limit counters across replicas; memory when unset
    db_pool_size: int | None = None  # database connections (= database requests in flight) per process
    route_threads: int | None = None  # worker threads of the property detail per process
    # Property list/detail bodies kept per process (api/v1/response_cache.py), MB; 0: no cache.
    response_cache_mb: float | None = None
    rate_limits: RateLimits | None = None
    api_max_body_bytes: int | None = None
    # Where people reach the API (links it hands out); None: the address a request came to.
    public_base_url: str | None = None
    # The object store the pipeline writes (S3/MinIO when a bucket is set, else objects_dir).
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_addressing_style: str | None = None
    # Account email (password reset, invitations, verification): the pipeline's mailer rule
    # (settings.sends_real_email): SendGrid in production, else .eml files in outbox_dir.
    sendgrid_api_key: str | None = None
    sendgrid_api_host: str | None = None
    outbox_dir: str | None = None
    # Property vectors (similar properties): a Qdrant server, else the pipeline's local-mode storage.
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    qdrant_path: str | None = None
    # Dagster's webserver, whose GraphQL API launches runs (campaign sends); None: no launches (503).
    dagster_url: str | None = None
    dagster_location: str | None = None  # code location of the assets; None: asked of the webserver
    dagster_repository: str | None = None
    # Billing through Stripe (api/v1/billing.py): without a key the billing routes answer 503 and
    # platform admins set plans as before. Prices: plan name -> Stripe price id (STRIPE_PRICE_<PLAN>);
    # the API base: Stripe's, or another server speaking its REST API (tests, self-hosters).
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_prices: dict[str, str] | None = None
    stripe_api_base: str | None = None

    # Names of the secrets taken from the environment: their fingerprints are compared with the
    # pipeline's at start-up (db/fingerprints.py). Invented local ones live in the state
    # directory both read; secrets passed in code are the caller's business.
    fingerprinted: tuple[str, ...] = ()

    def resolved(self) -> ApiSettings:
        """Every field filled; MissingSecret when a secret that must be configured is not
        (settings.shared_secret: the one rule, shared with the pipeline's resources)."""
        from realestate_assets.accounts.billing import StripeSettings
        from realestate_assets.settings import (
            LocalSettings,
            MissingSecret,
            configured_secret,
            environment_name,
            sends_real_email,
            shared_secret,
        )

        local = LocalSettings.from_env()
        state = local.state_dir
        stripe = StripeSettings.from_env(os.environ)  # the one reading of billing's variables
        database_url = self.database_url or os.environ.get("DATABASE_URL")
        if not database_url:
            from realestate_assets.db.embedded import embedded_data_dir, embedded_database_url

            database_url = embedded_database_url(embedded_data_dir(state))
        # Read once; outside production the key is ignored (account email goes to the outbox).
        sendgrid_api_key = (self.sendgrid_api_key or os.environ.get("SENDGRID_API_KEY")
                            if sends_real_email(environment_name()) else None)
        if sends_real_email(environment_name()) and not sendgrid_api_key:
            raise MissingSecret("SENDGRID_API_KEY is required in production: the API sends account email "
                                "(password resets, invitations) through SendGrid")
        given = {"unsubscribe": self.unsubscribe_secret, "link": self.link_secret, "jwt": self.jwt_secret}
        secrets = {name: value or shared_secret(name, state) for name, value in given.items()}
        return ApiSettings(
            database_url=database_url,
            webhook_public_key=self.webhook_public_key or os.environ.get("SENDGRID_WEBHOOK_PUBLIC_KEY"),
            webhook_max_age_s=self.webhook_max_age_s or float(os.environ.get("REOS_WEBHOOK_MAX_AGE_SECONDS", 300)),
            unsubscribe_secret=secrets["unsubscribe"],
            link_secret=secrets["link"],
            objects_dir=self.objects_dir or str(state / "objects"),
            jwt_secret=secrets["jwt"],
            config_dir=self.config_dir or str(local.config_dir),
            redis_url=self.redis_url or os.environ.get("REDIS_URL"),
            db_pool_size=self.db_pool_size or int(os.environ.get("REOS_API_DB_POOL_SIZE") or DB_POOL_SIZE),
            route_threads=self.route_threads or int(os.environ.get("REOS_API_ROUTE_THREADS") or ROUTE_THREADS),
            response_cache_mb=_first_set(self.response_cache_mb, os.environ.get("REOS_API_RESPONSE_CACHE_MB"),
                                         RESPONSE_CACHE_MB),
            rate_limits=self.rate_limits or RateLimits(**{kind: os.environ[variable] for kind, variable
                                                          in RATE_LIMIT_VARIABLES.items() if os.environ.get(variable)}),
            api_max_body_bytes=self.api_max_body_bytes
            or int(os.environ.get("REOS_API_MAX_BODY_BYTES") or DEFAULT_API_MAX_BODY_BYTES),
            public_base_url=self.public_base_url or os.environ.get("REOS_PUBLIC_BASE_URL") or None,
            s3_bucket=self.s3_bucket or os.environ.get("S3_BUCKET") or None,
            s3_endpoint_url=self.s3_endpoint_url or os.environ.get("S3_ENDPOINT_URL") or None,
            s3_region=self.s3_region or os.environ.get("AWS_REGION") or "us-east-1",
            s3_addressing_style=self.s3_addressing_style or os.environ.get("S3_ADDRESSING_STYLE") or None,
            sendgrid_api_key=sendgrid_api_key,
            sendgrid_api_host=self.sendgrid_api_host or os.environ.get("SENDGRID_API_HOST") or "https://api.sendgrid.com",
            outbox_dir=self.outbox_dir or str(state / "outbox"),
            qdrant_url=self.qdrant_url or os.environ.get("QDRANT_URL") or None,
            qdrant_api_key=self.qdrant_api_key or os.environ.get("QDRANT_API_KEY") or None,
            qdrant_path=self.qdrant_path or str(state / "qdrant"),  # where the local resource set writes
            dagster_url=self.dagster_url or os.environ.get("REOS_DAGSTER_URL") or None,
            dagster_location=self.dagster_location or os.environ.get("REOS_DAGSTER_LOCATION") or None,
            dagster_repository=self.dagster_repository or os.environ.get("REOS_DAGSTER_REPOSITORY") or None,
            stripe_api_key=self.stripe_api_key or stripe.api_key,
            stripe_webhook_secret=self.stripe_webhook_secret or stripe.webhook_secret,
            stripe_prices=self.stripe_prices if self.stripe_prices is not None else stripe.prices,
            stripe_api_base=self.stripe_api_base or stripe.api_base,
            fingerprinted=tuple(name for name, value in given.items() if not value and configured_secret(name)))


def _first_set(given: float | None, variable: str | None, default: float) -> float:
    """The value given in code, else the environment's, else the default; 0 is a value (off)."""
    if given is not None:
        return given
    return float(variable) if variable not in (None, "") else default


NO_TELEMETRY: Any = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


class _State:
    def __init__(self, settings: ApiSettings) -> None:
        self._given = settings

    @cached_property
    def settings(self) -> ApiSettings:
        return self._given.resolved()

    @cached_property
    def warehouse(self) -> Any:
        from realestate_assets.db.idle_ping import PING_IDLE_S
        from realestate_assets.db.warehouse import Warehouse

        # No overflow: `layer.DatabaseSlots` lets no more requests in than there are connections.
        return Warehouse(self.settings.database_url, pool_size=self.settings.db_pool_size or DB_POOL_SIZE,
                         max_overflow=0, ping_idle_s=PING_IDLE_S)

    @cached_property
    def scoring(self) -> Any:
        """config/scoring.yaml, read once per process (the packet threshold analytics count deals by)."""
        from pathlib import Path

        from realestate_assets.config_models import load_scoring

        return load_scoring(Path(self.settings.config_dir))

    @cached_property
    def campaigns(self) -> Any:
        """config/campaigns.yaml, read once per process (the documents a memo request makes)."""
        from pathlib import Path

        from realestate_assets.config_models import load_campaigns

        return load_campaigns(Path(self.settings.config_dir))

    @cached_property
    def market(self) -> Any:
        """Each followed county's sales, market index and comps pool, loaded once while unchanged."""
        from realestate_assets.api.v1.property_market import MarketCache

        return MarketCache(self.scoring)

    @cached_property
    def explainer(self) -> Any:
        """Reasons on demand (api/v1/property_reasons.py): models and explanations kept per process."""
        from realestate_assets.ml.on_demand import Explainer

        return Explainer(self.scoring)

    @cached_property
    def live(self) -> Any:
        """The NOTIFY listener behind the WebSocket (api/live.py); it connects with the first socket."""
        from sqlalchemy.engine import make_url

        from realestate_assets.api.live import LiveHub

        url = make_url(self.settings.database_url).set(drivername="postgresql")
        return LiveHub(url.render_as_string(hide_password=False))

    @cached_property
    def dagster(self) -> Any:
        """Where runs are launched (api/dagster_runs.py), None when Dagster is not configured."""
        from realestate_assets.api.dagster_runs import DagsterTarget

        settings = self.settings
        if not settings.dagster_url:
            return None
        return DagsterTarget(settings.dagster_url, settings.dagster_location, settings.dagster_repository)

    @cached_property
    def reloader(self) -> Any:
        """Reloads the code location in the background after a county change (api/code_reloads.py)."""
        from realestate_assets.api.code_reloads import CodeReloader

        return CodeReloader(self.warehouse, self.dagster)

    @cached_property
    def stripe(self) -> Any:
        """A Stripe client (the `stripe` SDK's StripeClient, on STRIPE_API_BASE when set), None
        without STRIPE_API_KEY: billing is then not configured (api/v1/billing.py answers 503)."""
        from realestate_assets.accounts.billing import stripe_client

        return stripe_client(self.settings.stripe_api_key, self.settings.stripe_api_base)

    @cached_property
    def s3_store(self) -> Any:
        """The pipeline's S3/MinIO store when a bucket is configured (one client per process), else None."""
        settings = self.settings
        if not settings.s3_bucket:
            return None
        import boto3
        from botocore.config import Config

        from realestate_assets.objects import S3ObjectStore

        style = settings.s3_addressing_style or ("path" if settings.s3_endpoint_url else "auto")
        client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region,
                              config=Config(s3={"addressing_style": style}, signature_version="s3v4"))
        return S3ObjectStore(client, settings.s3_bucket)

    def object_store(self, base_url: str) -> Any:
        """Where packets are: the S3 store, else the local directory, whose links are served by this
        API under `base_url` (`GET /objects/...`)."""
        from pathlib import Path

        from realestate_assets.objects import LocalObjectStore

        return self.s3_store or LocalObjectStore(Path(self.settings.objects_dir), base_url,
                                                 secret=self.settings.link_secret)

    @cached_property
    def account_mail(self) -> Any:
        """Account email through the installation's mailer, from the configured sender
        (config/recipients.yaml `sender`, the address campaign email comes from)."""
        from pathlib import Path

        from realestate_assets.accounts.notices import AccountMail
        from realestate_assets.config_models import load_outreach
        from realestate_assets.outreach.mailer import OutboxMailer
        from realestate_assets.outreach.sendgrid import SendGridMailer

        settings = self.settings
        sender = load_outreach(Path(settings.config_dir)).sender
        mailer = (SendGridMailer(settings.sendgrid_api_key, settings.sendgrid_api_host)
                  if settings.sendgrid_api_key else OutboxMailer(Path(settings.outbox_dir or "outbox")))
        return AccountMail(mailer, from_email=sender.email, from_name=sender.name)

    @cached_property
    def responses(self) -> Any:
        """Property list/detail bodies this process computed (api/v1/response_cache.py)."""
        from realestate_assets.api.v1.response_cache import ResponseCache

        return ResponseCache(int(float(self.settings.response_cache_mb or 0) * 1024 * 1024))

    @cached_property
    def route_threads(self) -> CapacityLimiter:
        """The property detail's worker threads (ROUTE_THREADS), taken in the order asked."""
        return CapacityLimiter(self.settings.route_threads or ROUTE_THREADS)

    @cached_property
    def throttle(self) -> Throttle:
        return Throttle(self.settings.rate_limits or RateLimits(), self.settings.redis_url or "memory://")

    @cached_property
    def call_ledger(self) -> Any:
        """The API calls counted for billing history, written in batches (api/v1/call_ledger.py)."""
        from realestate_assets.api.v1.call_ledger import CallLedger

        return CallLedger(self.warehouse.transaction)

    @cached_property
    def verifier(self) -> Any:
        """The SDK's verifier; None without a key; `MISCONFIGURED` (logged once) for a key that
        is not an ECDSA P-256 public key — the webhook then answers 503, never 500."""
        key = self.settings.webhook_public_key
        if not key:
            return None
        try:
            return load_webhook_verifier(key)
        except ValueError as exc:
            log.error("SENDGRID_WEBHOOK_PUBLIC_KEY is not usable (%s): the SendGrid webhook answers 503 until it is "
                      "fixed; copy the verification key from SendGrid's Mail Settings > Signed Event Webhook", exc)
            return MISCONFIGURED


MISCONFIGURED = object()


def load_webhook_verifier(key: str) -> Any:
    """The SDK's `EventWebhook` for a base64 DER public key; ValueError saying what is wrong."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from sendgrid.helpers.eventwebhook import EventWebhook

    try:
        verifier = EventWebhook(key.strip())
    except (ValueError, TypeError) as exc:  # cryptography: "Could not deserialize key data…"
        raise ValueError(f"not a PEM/DER public key: {str(exc).split('.')[0]}") from None
    public = verifier.public_key
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise ValueError(f"a {type(public).__name__.lstrip('_')} key, not an ECDSA P-256 key")
    return verifier


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(status_code=status, content=(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
        f"content='width=device-width'><title>{html.escape(title)}</title></head>"
        "<body style='font-family:Arial,sans-serif;max-width:520px;margin:48px auto;color:#1d2733;'>"
        f"<h1 style='font-size:22px;'>{html.escape(title)}</h1>{body}</body></html>"))


def start_up(state: _State) -> None:
    """What the API checks before it serves: its settings resolve (a required secret that is
    missing is an error naming its variable), the webhook key loads (logged once if not), and
    the secrets it took from the environment agree with the pipeline's (secret_fingerprints)."""
    settings = state.settings
    _ = state.verifier
    if settings.fingerprinted:
        from realestate_assets.db.fingerprints import agree_secrets

        with state.warehouse.transaction() as conn:
            agree_secrets(conn, {name: getattr(settings, f"{name}_secret") for name in settings.fingerprinted},
                          recorded_by="api")


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    state = _State(settings or ApiSettings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start_up(state)  # raises: the server does not start (uvicorn: "Application startup failed")
        if state.dagster is not None:  # county changes whose code-location reload never ended
            state.reloader.resume()
        yield
        if "live" in state.__dict__:  # the listener thread, if a socket ever started it
            state.live.stop()
        if "call_ledger" in state.__dict__:  # what was counted since the last flush
            state.call_ledger.close()
        if "warehouse" in state.__dict__:  # its pooled connections closed now, not when collected
            state.warehouse.dispose()

    # FastAPI's native OpenTelemetry off: the API exports no traces (its metrics are /metrics,
    # api/metrics.py), and the check whether any provider is configured read the environment on every
    # request — a tenth of a cached property list's Python time in bench_api's profile.
    app = FastAPI(title="Real Estate OS API", docs_url=None, redoc_url=None, lifespan=lifespan, telemetry=NO_TELEMETRY)
    app.state.reos = state
    metrics = ApiMetrics(lambda: state.warehouse, lambda: state.responses)
    # Request id, database slots, body limit, idempotency keys and metrics: one ASGI layer (api/layer.py).
    app.add_middleware(RequestLayer, metrics=metrics, slots=DatabaseSlots(lambda: state.warehouse.pool_size),
                       limit_for=lambda path: body_limit_for(path, state.settings.api_max_body_bytes))
    app.add_api_route("/metrics", metrics.endpoint, methods=["GET"], include_in_schema=False)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/sendgrid")
    async def sendgrid_webhook(request: Request) -> Response:
        verifier = state.verifier
        if verifier is None:
            return JSONResponse({"error": "webhook verification key not configured"}, status_code=503)
        if verifier is MISCONFIGURED:
            return JSONResponse({"error": "webhook verification key misconfigured"}, status_code=503)
        signature = request.headers.get(SIGNATURE_HEADER)
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            return JSONResponse({"error": "missing signature headers"}, status_code=401)
        try:
            age = abs(time.time() - float(timestamp))
        except ValueError:
            return JSONResponse({"error": "bad timestamp"}, status_code=401)
        if not math.isfinite(age):  # "nan" would compare as inside any replay window
            return JSONResponse({"error": "bad timestamp"}, status_code=401)
        # The body limit (limits.py) was enforced before this read.
        raw = (await request.body()).decode("utf-8", errors="replace")
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
        # ValueError: not JSON, or an integer over Python's 4,300 digits; RecursionError: nesting
        # deeper than Python's stack. Both are a sender's error, not ours.
        except (ValueError, RecursionError):
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        if not isinstance(events, list):
            return JSONResponse({"error": "expected a JSON array of events"}, status_code=400)
        from realestate_assets.outreach.events import record_events

        with state.warehouse.transaction() as conn:
            counts = record_events(conn, events)
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

    from realestate_assets.api import dashboard
    from realestate_assets.api.links import router as links_router  # GET /p/{token}: memo links in emails
    from realestate_assets.api.v1 import install

    app.include_router(links_router)
    install(app)
    dashboard.install(app)  # last: GET / and the app's client routes (api/dashboard.py)
    return app


app = create_app()
