"""`GET /p/{token}`: the memo link in an email, which keeps working for the campaign's link lifetime.

The token (outreach.messages.packet_link_token) names the tenant and the packet's object key and
is signed with the link secret the pipeline signs with (REOS_LINK_SECRET, or locally the state
directory's link.secret). A valid, unexpired token is answered with a 303 redirect to a fresh
object URL that lives `OBJECT_URL_TTL` (an S3 pre-signed GET, or the API's own signed
`/objects/...` link for the local store): a link in a weekly summary works all week, while a PDF
URL copied out of a browser dies within minutes. Expired: 410 with a page that says so; forged or
malformed: 404 (it names nothing we serve).

The object store is the API's: S3 when `S3_BUCKET` is set (with `S3_ENDPOINT_URL`, `AWS_REGION`,
`S3_ADDRESSING_STYLE` and boto3's credential chain, as the pipeline's production resources), else
the local directory the API already serves `/objects` from.
"""

from __future__ import annotations

import html
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

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


def object_store(settings: Any, base_url: str) -> Any:
    """The store the API links into (module docstring)."""
    from realestate_assets.objects import LocalObjectStore, S3ObjectStore

    bucket = os.environ.get("S3_BUCKET")
    if bucket:
        import boto3
        from botocore.config import Config

        endpoint = os.environ.get("S3_ENDPOINT_URL") or None
        style = os.environ.get("S3_ADDRESSING_STYLE") or ("path" if endpoint else "auto")
        client = boto3.client("s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION") or "us-east-1",
                              config=Config(s3={"addressing_style": style}, signature_version="s3v4"))
        return S3ObjectStore(client, bucket)
    return LocalObjectStore(Path(settings.objects_dir), base_url, secret=settings.link_secret)


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
    public = os.environ.get("REOS_PUBLIC_BASE_URL") or str(request.base_url)
    store = object_store(settings, public)
    try:
        found = store.exists(link.key)
    except ValueError:  # a key outside the local store: not something we serve
        found = False
    if not found:
        return _page("Memo not available", "This memo is no longer available.", 404)
    return RedirectResponse(store.link(link.key, OBJECT_URL_TTL).url, status_code=303, headers=NO_STORE)
