"""`GET /p/{token}`: the memo link in an email, which keeps working for the campaign's link lifetime.

The token (outreach.messages.packet_link_token) names the tenant and the packet's object key and
is signed with the link secret the pipeline signs with (REOS_LINK_SECRET, or locally the state
directory's link.secret). A valid, unexpired token is answered with a 303 redirect to a fresh
object URL that lives `OBJECT_URL_TTL` (an S3 pre-signed GET, or the API's own signed
`/objects/...` link for the local store): a link in a weekly summary works all week, while a PDF
URL copied out of a browser dies within minutes. Expired: 410 with a page that says so; forged or
malformed: 404 (it names nothing we serve).

The object store is the API's (`app._State.object_store`, from ApiSettings): S3 when `S3_BUCKET` is
set (with `S3_ENDPOINT_URL`, `AWS_REGION`, `S3_ADDRESSING_STYLE` and boto3's credential chain, as the
pipeline's production resources; one client per process), else the local directory the API already
serves `/objects` from. `GET /api/v1/properties/{id}/memo` redirects the same way.
"""

from __future__ import annotations

import html
import time
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

OBJECT_URL_TTL = timedelta(minutes=10)
# Nothing on the way may keep the redirect (its target expires) or pass the token on.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

router = APIRouter()


def _page(title: str, text: str, status: int) -> HTMLResponse:
    return HTMLResponse(status_code=status, headers=NO_STORE, content=(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
        f"content='width=device-width'><title>{html.escape(title)}</title></head>"
        "<body style='font-family:Arial,sans-serif;max-width:520px;margin:48px auto;color:#1d2733;'>"
        f"<h1 style='font-size:22px;'>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"))


def short_lived_redirect(request: Request, key: str) -> RedirectResponse | None:
    """A 303 to a link to `key` that lives `OBJECT_URL_TTL`, from the API's object store (module
    docstring); None when the store does not hold it (or the key is outside a local store)."""
    state = request.app.state.reos
    store = state.object_store(state.settings.public_base_url or str(request.base_url))
    try:
        found = store.exists(key)
    except ValueError:  # a key outside the local store: not something we serve
        found = False
    return RedirectResponse(store.link(key, OBJECT_URL_TTL).url, status_code=303, headers=NO_STORE) if found else None


@router.get("/p/{token}", include_in_schema=False)
def open_packet(token: str, request: Request) -> Response:
    from realestate_assets.outreach.messages import read_packet_link_token

    settings = request.app.state.reos.settings
    link = read_packet_link_token(settings.link_secret, token) if settings.link_secret else None
    if link is None:
        return _page("Link not found", "This link is not one of ours, or it was changed on the way.", 404)
    if link.expires < time.time():
        return _page("This link has expired",
                     "Links in our emails work for a limited time. Reply to the email and we will send the "
                     "memo again.", 410)
    redirect = short_lived_redirect(request, link.key)
    return redirect or _page("Memo not available", "This memo is no longer available.", 404)
