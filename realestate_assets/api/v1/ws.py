"""`/api/v1/ws`: the tenant's live updates over a WebSocket (issue #11, plan §7.5).

The browser cannot set an Authorization header on a WebSocket, and a token in the URL ends up in
access logs: the client sends its credentials as the first message, `{"token": "<access token or
API key>"}`, within `AUTH_TIMEOUT_S`. They are checked like any request's (`security.resolve_principal`,
`read` needed); a refused socket is closed with 4401 / 4403. Then the server sends `{"kind": "ready"}`
and every event of the principal's tenant (api/live.py): `campaign_progress` (campaign, county,
status), `new_deal` (county, prospect_key, bird_dog_score), `campaign_send` (campaign, run ids),
`run_finished` (run_id, county, job, status, assets, ended_at: a pipeline run of a followed county
ended, recorded by the run-history sensor, migration 0029), `county_reload` (state, counties, detail:
the code-location reload a county change of the tenant's platform admin asked for ended,
api/code_reloads.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from realestate_assets.accounts.roles import Principal
from realestate_assets.api.v1.problems import PREFIX, Problem
from realestate_assets.api.v1.security import client_ip, resolve_principal

AUTH_TIMEOUT_S = 10
UNAUTHORIZED, FORBIDDEN, TOO_MANY = 4401, 4403, 4429


def _principal(state: Any, token: str) -> Principal | None:
    with state.warehouse.transaction() as conn, conn.cursor() as cur:
        return resolve_principal(cur, token, state.settings.jwt_secret)


async def live_socket(websocket: WebSocket) -> None:
    state = websocket.app.state.reos
    await websocket.accept()
    try:
        address = client_ip(websocket) or "unknown"  # type: ignore[arg-type]  # same .client as a Request
        state.throttle.check("ip", address, f"requests from {address}")
    except Problem:  # 429: the address's budget is spent
        await websocket.close(code=TOO_MANY, reason="rate limited")
        return
    try:
        first = await asyncio.wait_for(websocket.receive_json(), AUTH_TIMEOUT_S)
        token = first.get("token") if isinstance(first, dict) else None
    except (TimeoutError, ValueError, WebSocketDisconnect):
        token = None
    principal = await run_in_threadpool(_principal, state, token) if isinstance(token, str) and token else None
    if principal is None or principal.tenant_id is None:
        await websocket.close(code=UNAUTHORIZED, reason="send {\"token\": ...} with valid credentials first")
        return
    if not principal.may("read"):
        await websocket.close(code=FORBIDDEN, reason="needs the read permission")
        return
    queue = state.live.subscribe(principal.tenant_id)
    try:
        await websocket.send_json({"kind": "ready", "tenant": principal.tenant_id})
        closed = asyncio.ensure_future(_until_closed(websocket))
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
            if closed in done:
                getter.cancel()
                break
            event = getter.result()
            await websocket.send_json({k: v for k, v in event.items() if k != "tenant"})
    except WebSocketDisconnect:
        pass
    finally:
        state.live.unsubscribe(principal.tenant_id, queue)
        with contextlib.suppress(Exception):
            await websocket.close()


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it goes away."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


def install_ws(app: FastAPI) -> None:
    app.add_api_websocket_route(f"{PREFIX}/ws", live_socket)
