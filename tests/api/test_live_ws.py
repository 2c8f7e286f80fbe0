"""`/api/v1/ws` on real PostgreSQL: writes notify (triggers, NOTIFY at commit), the API forwards each
event to the sockets of its tenant only; credentials come in the first message."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.api.helpers_api import login, owner_cursor

WS = "/api/v1/ws"


def _email(database_url: str, tenant: str, campaign: str, status: str = "pending") -> None:
    with owner_cursor(database_url) as cur:
        cur.execute("INSERT INTO emails (tenant_id, county, campaign, recipient_email, subject, provider, send_key, "
                    "status) VALUES (%s, 'king_wa', %s, 'live@example.com', 's', 'outbox', %s, %s)",
                    (tenant, campaign, f"live:{campaign}:{status}", status))


def test_a_tenant_hears_its_own_writes_only(client: TestClient, world: dict[str, Any], database_url: str) -> None:
    token = login(client, world["a"].users["viewer"]["email"])["access_token"]
    with client.websocket_connect(WS) as socket:
        socket.send_json({"token": token})
        assert socket.receive_json() == {"kind": "ready", "tenant": world["a"].id}
        assert client.app.state.reos.live.listening.wait(10)
        _email(database_url, world["b"].id, "b_only")  # another tenant's write: never forwarded
        _email(database_url, world["a"].id, "live_digest", "sent")
        event = socket.receive_json()
        assert event == {"kind": "campaign_progress", "campaign": "live_digest", "county": "king_wa",
                         "status": "sent"}
        with owner_cursor(database_url) as cur:
            cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, "
                        "inputs_hash, object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
                        "(%s, 'king_wa', 'live-deal', 'investor_memo', '1', 'h', 'k', 's', 1, 91.5, now())",
                        (world["a"].id,))
        assert socket.receive_json() == {"kind": "new_deal", "county": "king_wa", "prospect_key": "live-deal",
                                         "bird_dog_score": 91.5}


@pytest.mark.parametrize("first", [{"token": "garbage"}, {"nothing": 1}, "not json"])
def test_a_socket_without_valid_credentials_is_closed(client: TestClient, first: Any) -> None:
    with client.websocket_connect(WS) as socket:
        if isinstance(first, str):
            socket.send_text(first)
        else:
            socket.send_json(first)
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 4401


def test_a_finished_run_reaches_the_tenants_following_its_county(
        client: TestClient, world: dict[str, Any], database_url: str) -> None:
    token = login(client, world["a"].users["viewer"]["email"])["access_token"]
    with client.websocket_connect(WS) as socket:
        socket.send_json({"token": token})
        assert socket.receive_json()["kind"] == "ready"
        assert client.app.state.reos.live.listening.wait(10)
        with owner_cursor(database_url) as cur:
            # Tenant B's county: A never hears of it. Then one run of two assets in A's, written in one
            # statement as the sensor writes them: one event.
            for rows in ([("ws-b", world["cb"], "prospects")], [("ws-a", world["ca"], "prospects"),
                                                                ("ws-a", world["ca"], "sales")]):
                cur.execute("INSERT INTO pipeline_runs (run_id, county, asset, job_name, run_status, status, "
                            "started_at, ended_at, duration_s) SELECT r.*, 'discovery_job', 'success', 'success', "
                            "now(), now(), 0 FROM unnest(%s::text[], %s::text[], %s::text[]) AS r",
                            [list(c) for c in zip(*rows, strict=True)])
        event = socket.receive_json()
        assert event == {"kind": "run_finished", "run_id": "ws-a", "county": world["ca"], "job": "discovery_job",
                         "status": "success", "assets": ["prospects", "sales"], "ended_at": event["ended_at"]}
