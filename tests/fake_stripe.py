"""Stripe's REST API as the `stripe` SDK uses it for billing, on a local HTTP server: customers,
Checkout Sessions, Billing Portal sessions and subscriptions, answered in Stripe's shapes
(form-encoded requests, `Authorization: Bearer sk_…`, JSON objects with `id` and `object`,
errors as `{"error": {"type", "message"}}`, `Idempotency-Key` honoured for creates). Real HTTP and
the real SDK's requests; nothing is charged and no event is sent (tests sign their own events)."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug import Request, Response

API_KEY = "sk_test_reos_fake"
# The webhook signing secret and the plan prices the billing tests configure the API with.
WEBHOOK_SECRET = "whsec_reos_test_secret"
PRICES = {"professional": "price_pro_month", "enterprise": "price_ent_month"}


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json",
                    headers={"Request-Id": f"req_{time.monotonic_ns()}"})


def _error(status: int, message: str, kind: str = "invalid_request_error") -> Response:
    return _json({"error": {"type": kind, "message": message}}, status)


class FakeStripe:
    """What billing uses, and the subscriptions list reconciliation reads; `requests` keeps every
    (method, path, form)."""

    def __init__(self) -> None:
        self.url = ""  # the base URL for STRIPE_API_BASE once served (`served`)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.customers: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.idempotent: dict[str, Response] = {}
        # Ids unique across fakes: modules sharing a test database each have their own.
        self.tag = uuid.uuid4().hex[:6]
        self.fail_next: str | None = None  # a path whose next request answers 500 (an outage)
        self.failing_customers: set[str] = set()  # listing these customers' subscriptions always answers 500
        self._created = itertools.count(1_790_000_000, 60)  # subscriptions' `created`, later each time

    def created(self, path: str) -> list[dict[str, str]]:
        return [form for method, p, form in self.requests if method == "POST" and p == path]

    def subscription(self, sub_id: str, customer: str, price: str, status: str = "active",
                     period_end: int = 1_798_934_400, tenant_id: str | None = None) -> dict[str, Any]:
        """Make (or replace) a subscription as Stripe would return it (API 2025-03-31 and later:
        the period on the item)."""
        created = (self.subscriptions.get(sub_id) or {}).get("created") or next(self._created)
        sub = {"id": sub_id, "object": "subscription", "customer": customer, "status": status, "created": created,
               "cancel_at_period_end": False, "metadata": {"tenant_id": tenant_id} if tenant_id else {},
               "items": {"object": "list", "data": [{
                   "id": f"si_{sub_id}", "object": "subscription_item", "current_period_end": period_end,
                   "price": {"id": price, "object": "price", "recurring": {"interval": "month"}}}]}}
        self.subscriptions[sub_id] = sub
        return sub

    def __call__(self, request: Request) -> Response:
        # A GET's query (a list's customer and status) is kept as its form.
        form = {k: v for k, v in (request.form if request.method == "POST" else request.args).items()}
        self.requests.append((request.method, request.path, form))
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return _error(401, "Invalid API Key provided")
        if self.fail_next == request.path:
            self.fail_next = None
            return _error(500, "An unknown error occurred", "api_error")
        key = request.headers.get("Idempotency-Key")
        if request.method == "POST" and key and key in self.idempotent:
            return self.idempotent[key]
        response = self._answer(request, form)
        if request.method == "POST" and key:
            self.idempotent[key] = response
        return response

    def _answer(self, request: Request, form: dict[str, str]) -> Response:
        n = f"{self.tag}{len(self.requests)}"
        if request.method == "POST" and request.path == "/v1/customers":
            customer = {"id": f"cus_fake{n}", "object": "customer", "name": form.get("name"),
                        "email": form.get("email"), "metadata": _nested(form, "metadata")}
            self.customers[customer["id"]] = customer
            return _json(customer)
        if request.method == "POST" and request.path == "/v1/checkout/sessions":
            if form.get("customer") not in self.customers:
                return _error(400, f"No such customer: '{form.get('customer')}'")
            session = {"id": f"cs_test_fake{n}", "object": "checkout.session", "mode": form.get("mode"),
                       "customer": form.get("customer"), "client_reference_id": form.get("client_reference_id"),
                       "subscription": None, "status": "open", "metadata": _nested(form, "metadata"),
                       "success_url": form.get("success_url"), "cancel_url": form.get("cancel_url"),
                       "url": f"https://checkout.stripe.test/c/pay/cs_test_fake{n}"}
            self.sessions[session["id"]] = session
            return _json(session)
        if request.method == "POST" and request.path == "/v1/billing_portal/sessions":
            if form.get("customer") not in self.customers:
                return _error(400, f"No such customer: '{form.get('customer')}'")
            return _json({"id": f"bps_fake{n}", "object": "billing_portal.session", "customer": form["customer"],
                          "return_url": form.get("return_url"),
                          "url": f"https://billing.stripe.test/p/session/bps_fake{n}"})
        if request.method == "GET" and request.path == "/v1/subscriptions":
            return self._list_subscriptions(request)
        if request.method == "GET" and request.path.startswith("/v1/subscriptions/"):
            sub = self.subscriptions.get(request.path.rsplit("/", 1)[-1])
            return _json(sub) if sub else _error(404, "No such subscription")
        return _error(404, f"Unrecognized request URL ({request.method}: {request.path})")


    def _list_subscriptions(self, request: Request) -> Response:
        """`GET /v1/subscriptions?customer=&status=&limit=&starting_after=`: Stripe's list shape,
        newest first; without `status` every subscription but the canceled ones (`status=all`: every
        one). A page holds `limit` (1 to 100, default 10) objects after the `starting_after` one
        (an id; an unknown one is a 400); `has_more` says whether another page follows."""
        customer, status = request.args.get("customer"), request.args.get("status")
        if customer in self.failing_customers:
            return _error(500, "An unknown error occurred", "api_error")
        limit = request.args.get("limit") or "10"
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            return _error(400, f"Invalid integer: {limit} (limit must be between 1 and 100)")
        subs = [sub for sub in self.subscriptions.values()
                if (customer is None or sub["customer"] == customer)
                and (status == "all" or (sub["status"] == status if status else sub["status"] != "canceled"))]
        def order(sub: dict[str, Any]) -> tuple[int, str]:
            return sub["created"], sub["id"]

        subs.sort(key=order, reverse=True)
        after = request.args.get("starting_after")
        if after:  # a cursor: the objects listed after that one, whichever list it was in
            if after not in self.subscriptions:
                return _error(400, f"No such subscription: '{after}'")
            subs = [sub for sub in subs if order(sub) < order(self.subscriptions[after])]
        page = subs[:int(limit)]
        return _json({"object": "list", "url": "/v1/subscriptions", "has_more": len(subs) > len(page),
                      "data": page})


def _nested(form: dict[str, str], name: str) -> dict[str, str]:
    """`metadata[tenant_id]=acme` form fields as {"tenant_id": "acme"}."""
    prefix = f"{name}["
    return {k[len(prefix):-1]: v for k, v in form.items() if k.startswith(prefix) and k.endswith("]")}


@contextmanager
def served() -> Iterator[FakeStripe]:
    """A FakeStripe behind a local HTTP server, its `url` set; stopped on exit."""
    from tests.local_http import base_url, serve

    stripe_api = FakeStripe()
    server = serve(stripe_api)
    stripe_api.url = base_url(server)
    try:
        yield stripe_api
    finally:
        server.stop()
