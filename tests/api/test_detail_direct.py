"""The property detail's direct route (api/v1/direct.py) answers exactly as its FastAPI declaration:
the same request sent with the direct route in place and with it taken out gets the same status,
body and headers — valid, absent and out-of-county ids, ids the declaration refuses (422), other
methods (405), missing, wrong and JWT credentials — and the address limit still applies first."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from realestate_assets.api.v1.direct import DirectDetail
from realestate_assets.api.v1.throttle import RateLimits
from tests.api.helpers_api import UNLIMITED, api_client, bearer, login

KEPT_HEADERS = ("content-type", "etag", "cache-control", "x-request-id", "content-length", "allow")


def _answers(client: TestClient, requests: list[tuple[str, str, dict[str, str]]]) -> list[tuple[Any, ...]]:
    found = []
    for method, path, headers in requests:
        answer = client.request(method, path, headers={**headers, "X-Request-ID": "same-id"})
        found.append((method, path, answer.status_code, answer.content,
                      {k: answer.headers.get(k) for k in KEPT_HEADERS}))
    return found


def _without_direct(client: TestClient) -> list[Any]:
    routes = client.app.router.routes  # type: ignore[attr-defined]
    (direct,) = [r for r in routes if isinstance(r, DirectDetail)]
    routes.remove(direct)
    return [direct, routes]


def test_the_direct_route_answers_as_the_declaration(database_url: str, world: dict[str, Any], tmp_path: Any) -> None:
    mine, theirs = world["ids"][world["ca"]], world["ids"][world["cb"]]
    key = {"X-API-Key": world["a"].keys["read"]}
    with api_client(database_url, tmp_path) as client:
        jwt = bearer(login(client, world["a"].users["viewer"]["email"])["access_token"])
        base = "/api/v1/properties/"
        requests = [("GET", f"{base}{mine[0]}", key), ("GET", f"{base}{mine[0]}", key),  # a miss, then cached
                    ("GET", f"{base}{mine[1]}", jwt), ("GET", f"{base}{mine[2]}", {**key, "Authorization": "Basic x"}),
                    ("GET", f"{base}{theirs[0]}", key), ("GET", f"{base}999999999", key),
                    ("GET", f"{base}0", key), ("GET", f"{base}abc", key), ("GET", f"{base}-1", key),
                    ("GET", f"{base}{2**63}", key), ("GET", f"{base}00{mine[3]}", key),
                    ("HEAD", f"{base}{mine[0]}", key), ("POST", f"{base}{mine[0]}", key),
                    ("GET", f"{base}{mine[0]}", {}), ("GET", f"{base}{mine[0]}", {"X-API-Key": "reos_nothere_x"})]
        direct = _answers(client, requests)
        taken = _without_direct(client)
        declared = _answers(client, requests)
        taken[1].insert(0, taken[0])
    for one, other in zip(direct, declared, strict=True):
        assert one == other, one[:2]
    assert [a[2] for a in direct] == [200, 200, 200, 200, 404, 404, 422, 422, 422, 422, 200, 405, 405, 401, 401]
    assert direct[0][4]["content-type"] == "application/json" and direct[4][4]["content-type"].startswith(
        "application/problem+json")


def test_the_direct_route_serves_the_detail_and_keeps_the_address_limit(database_url: str, world: dict[str, Any],
                                                                          tmp_path: Any) -> None:
    mine = world["ids"][world["ca"]]
    key = {"X-API-Key": world["a"].keys["read"]}
    served: list[Any] = []
    with api_client(database_url, tmp_path, rate_limits=RateLimits(ip="2/minute", principal=UNLIMITED,
                                                                    login=UNLIMITED)) as client:
        direct = next(r for r in client.app.router.routes if isinstance(r, DirectDetail))  # type: ignore[attr-defined]
        endpoint = direct.app

        async def watched(scope: Any, receive: Any, send: Any) -> None:
            served.append(scope["route"])
            await endpoint(scope, receive, send)

        direct.app = watched
        answers = [client.get(f"/api/v1/properties/{mine[0]}", headers=key).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    assert served == [direct] * 3
