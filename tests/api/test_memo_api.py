"""GET /api/v1/properties/{id}/memo: a short-lived link to a rendered memo, else the request that
makes the pipeline render it (202), recorded once per property and tenant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers_api import bearer, login, owner_cursor


def test_a_memo_is_a_short_lived_link_or_a_recorded_request(client: TestClient, world: dict[str, Any],
                                                            database_url: str) -> None:
    a = world["a"]
    viewer = bearer(login(client, a.users["viewer"]["email"])["access_token"])
    first, second = world["ids"][world["ca"]][:2]
    asked = client.get(f"/api/v1/properties/{first}/memo", headers=viewer, follow_redirects=False)
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "requested" and world["ca"] in asked.json()["detail"]
    again = client.get(f"/api/v1/properties/{first}/memo", headers=viewer, follow_redirects=False)
    assert again.status_code == 202
    # A document beyond the configured ones (campaigns.yaml packets.templates) is remembered with the
    # request, gathered while it is open; a configured one adds nothing (every request gets those).
    for template in ("detailed_analysis", "executive_summary"):
        more = client.get(f"/api/v1/properties/{first}/memo?template={template}", headers=viewer,
                          follow_redirects=False)
        assert more.status_code == 202, more.text
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT tenant_id, rendered_at, templates FROM packet_requests WHERE county = %s", (world["ca"],))
        assert cur.fetchall() == [(a.id, None, ["detailed_analysis"])]  # one request, the tenant's
        # The second property's memo exists for tenant A (rendered by the pipeline).
        cur.execute("SELECT prospect_key FROM prospects WHERE id = %s", (second,))
        key = cur.fetchone()[0]
        cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, inputs_hash, "
                    "object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES (%s, %s, %s, "
                    "'investor_memo', '5', 'h', %s, 's', 9, 80, now())",
                    (a.id, world["ca"], key, f"tenants/{a.id}/packets/{world['ca']}/{key}/memo.pdf"))
    stored = Path(client.app.state.reos.settings.objects_dir) / f"tenants/{a.id}/packets/{world['ca']}/{key}/memo.pdf"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(b"%PDF-1.7 memo")
    link = client.get(f"/api/v1/properties/{second}/memo", headers=viewer, follow_redirects=False)
    assert link.status_code == 303 and link.headers["cache-control"] == "no-store"
    assert f"/objects/tenants/{a.id}/packets/" in link.headers["location"] and "signature=" in link.headers["location"]
    # Tenant B: not its county (404), and its own packet rows would never be A's.
    other = bearer(login(client, world["b"].users["viewer"]["email"])["access_token"])
    assert client.get(f"/api/v1/properties/{second}/memo", headers=other).status_code == 404
