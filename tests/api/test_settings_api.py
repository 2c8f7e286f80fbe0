"""Settings through /api/v1 on real PostgreSQL: the configured counties (their run-time settings
changed by platform admins only), schedules and sensors switched in Dagster through its GraphQL API
(a small local server speaking it), the tenant's branding and sender — and that the pipeline's one
loader puts them in the tenant's memos and emails — and the caller's profile."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from realestate_assets.accounts import store
from realestate_assets.config_models import load_outreach
from realestate_assets.docs.context import sender_context
from realestate_assets.outreach.tenant_data import load_tenant_outreach
from realestate_assets.settings import repo_root
from tests.api.helpers_api import PASSWORD, api_client, bearer, dsn, login, owner_cursor
from tests.fake_dagster import FakeDagster
from tests.local_http import base_url, serve

API = "/api/v1"


@pytest.fixture(scope="module")
def operator(database_url: str) -> dict[str, Any]:
    with owner_cursor(database_url) as cur:
        return store.create_user(cur, "settings-operator@reos.example", PASSWORD, platform_admin=True,
                                 verified=True)


def _as(client: TestClient, world: dict[str, Any], tenant: str, role: str) -> dict[str, str]:
    return bearer(login(client, world[tenant].users[role]["email"])["access_token"])


def test_counties_are_listed_read_only_with_what_the_tenant_follows(client: TestClient,
                                                                     world: dict[str, Any]) -> None:
    listed = client.get(f"{API}/settings/counties", headers=_as(client, world, "a", "viewer"))
    assert listed.status_code == 200, listed.text
    counties = {c["key"]: c for c in listed.json()}
    king = counties["king_wa"]
    assert king["followed"] and king["valid"] and king["name"] and king["schedule"]["cron"]
    assert king["sources"] and {"name", "type", "provides", "enabled"} <= set(king["sources"][0])
    assert not any(c["followed"] for k, c in counties.items() if k != "king_wa")
    assert client.patch(f"{API}/settings/counties", json={}, headers=_as(client, world, "a", "owner")
                        ).status_code == 405  # a county is changed one at a time: PATCH …/counties/{county}


def test_schedules_read_by_admins_switched_by_platform_admins(world: dict[str, Any], operator: dict[str, Any],
                                                              database_url: str,
                                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    fake = FakeDagster()
    with serve(fake) as server, api_client(database_url, tmp_path_factory.mktemp("schedules"),
                                           dagster_url=base_url(server)) as api:
        admin = _as(api, world, "a", "admin")
        assert api.get(f"{API}/settings/schedules", headers=_as(api, world, "a", "analyst")).status_code == 403
        listed = api.get(f"{API}/settings/schedules", headers=admin)
        assert listed.status_code == 200, listed.text
        states = {s["name"]: s for s in listed.json()}
        assert states["discover_king_wa"] == {"name": "discover_king_wa", "kind": "schedule", "running": True,
                                              "description": "Discovery for discover_king_wa.",
                                              "cron": "0 5 * * 1", "timezone": "America/Los_Angeles"}
        assert states["email_events_sensor"]["kind"] == "sensor" and not states["email_events_sensor"]["running"]

        url = f"{API}/settings/schedules/discover_king_wa"
        assert api.patch(url, json={"running": False}, headers=admin).status_code == 403
        op = bearer(login(api, operator["email"], world["a"].id)["access_token"])
        stopped = api.patch(url, json={"running": False}, headers=op)
        assert stopped.status_code == 200 and stopped.json()["running"] is False
        started = api.patch(f"{API}/settings/schedules/email_events_sensor", json={"running": True}, headers=op)
        assert started.json()["running"] is True
        stopped_sensor = api.patch(f"{API}/settings/schedules/webhooks_sensor", json={"running": False}, headers=op)
        assert stopped_sensor.json()["running"] is False
        # Already in that state: nothing sent to Dagster, no audit row.
        assert api.patch(url, json={"running": False}, headers=op).json()["running"] is False
        assert fake.switches == [("discover_king_wa", False), ("email_events_sensor", True),
                                 ("webhooks_sensor", False)]
        assert api.patch(f"{API}/settings/schedules/nope", json={"running": True}, headers=op).status_code == 404
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT action, entity, entity_key FROM audit_log WHERE tenant_id = %s "
                    "AND entity IN ('schedules', 'sensors') ORDER BY id", (world["a"].id,))
        assert cur.fetchall() == [("stop", "schedules", "discover_king_wa"),
                                  ("start", "sensors", "email_events_sensor"), ("stop", "sensors", "webhooks_sensor")]


def test_schedules_without_dagster_are_503(client: TestClient, world: dict[str, Any]) -> None:
    answer = client.get(f"{API}/settings/schedules", headers=_as(client, world, "a", "admin"))
    assert answer.status_code == 503 and answer.headers["content-type"] == "application/problem+json"


def test_tenant_settings_change_the_tenants_memos_and_emails(client: TestClient, world: dict[str, Any],
                                                             database_url: str) -> None:
    installation = load_outreach(repo_root() / "config").sender
    viewer, admin = _as(client, world, "a", "viewer"), _as(client, world, "a", "admin")
    seeded = client.get(f"{API}/tenant/settings", headers=viewer).json()
    assert seeded["display_name"].startswith("Tenant ") and seeded["effective"]["company"] == seeded["display_name"]
    assert seeded["effective"]["from_email"] == installation.email and seeded["flags"]["campaign_email"]["enabled"]

    change = {"display_name": "Acme Capital", "brand_color": "#aa3300", "logo_url": "https://acme.example/l.png",
              "from_name": "Acme Deals", "from_email": "deals@acme.example",
              "postal_address": "500 Pine St, Seattle, WA 98101"}
    assert client.patch(f"{API}/tenant/settings", json=change, headers=_as(client, world, "a", "analyst")
                        ).status_code == 403
    changed = client.patch(f"{API}/tenant/settings", json=change, headers=admin)
    assert changed.status_code == 200, changed.text
    effective = changed.json()["effective"]
    assert effective["company"] == "Acme Capital" and effective["from_email"] == "deals@acme.example"
    assert effective["reply_to"] == "deals@acme.example" and effective["color"] == "#aa3300"
    # Invalid values are refused whole (422 problem), nothing written.
    for bad in ({"brand_color": "red"}, {"from_email": "not-an-address"}, {"postal_address": "short"},
                {"feature_flags": {"no_such_flag": True}}, {"logo_url": "http://insecure.example/l.png"}):
        refused = client.patch(f"{API}/tenant/settings", json=bad, headers=admin)
        assert refused.status_code == 422, (bad, refused.text)
    # null gives a field back to the installation's value; only the fields sent change.
    back = client.patch(f"{API}/tenant/settings", json={"from_name": None}, headers=admin).json()
    assert back["from_name"] is None and back["effective"]["from_name"] == installation.name
    assert back["display_name"] == "Acme Capital"

    # The pipeline's loader: the tenant's sender in its memos and emails; tenant B keeps its own.
    import psycopg2

    conn = psycopg2.connect(dsn(database_url))
    try:
        mine = load_tenant_outreach(conn, world["a"].id, installation)
        theirs = load_tenant_outreach(conn, world["b"].id, installation)
    finally:
        conn.close()
    context = sender_context(mine.sender)
    assert context["company"] == "Acme Capital" and context["email"] == "deals@acme.example"
    assert context["postal_address"] == "500 Pine St, Seattle, WA 98101" and context["name"] == installation.name
    assert context["logo_url"] == "https://acme.example/l.png" and context["color"] == "#aa3300"
    assert theirs.sender.email == installation.email and theirs.sender.branding.company != "Acme Capital"

    # The campaign_email flag off: the loader gives no campaign to plan or send.
    client.patch(f"{API}/tenant/settings", json={"feature_flags": {"campaign_email": False}}, headers=admin)
    conn = psycopg2.connect(dsn(database_url))
    try:
        assert load_tenant_outreach(conn, world["a"].id, installation).campaigns == []
    finally:
        conn.close()
    client.patch(f"{API}/tenant/settings", json={"feature_flags": {"campaign_email": True}}, headers=admin)
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM audit_log WHERE tenant_id = %s AND entity = 'tenant_settings'",
                    (world["a"].id,))
        assert cur.fetchone()[0] == 4  # the change, the reset, the flag off and on; refusals left none


def test_profile_and_notification_preferences_are_the_callers_own(client: TestClient,
                                                                  world: dict[str, Any]) -> None:
    analyst = _as(client, world, "a", "analyst")
    mine = client.get(f"{API}/me/profile", headers=analyst).json()
    assert mine["email"] == world["a"].users["analyst"]["email"] and mine["display_name"] is None
    assert mine["notification_preferences"] == {"new_deal": True, "campaign_send": True, "campaign_progress": True,
                                                 "run_finished": True, "search_alert": True}
    changed = client.patch(f"{API}/me/profile", json={"display_name": " Casey ",
                                                      "notification_preferences": {"campaign_send": False}},
                           headers=analyst).json()
    assert changed["display_name"] == "Casey" and changed["notification_preferences"]["campaign_send"] is False
    assert client.patch(f"{API}/me/profile", json={"notification_preferences": {"nope": True}},
                        headers=analyst).status_code == 422
    # Only the preferences sent change; another person's profile is untouched.
    again = client.patch(f"{API}/me/profile", json={"notification_preferences": {"new_deal": False}},
                         headers=analyst).json()
    assert again["notification_preferences"] == {"new_deal": False, "campaign_send": False,
                                                 "campaign_progress": True, "run_finished": True,
                                                 "search_alert": True}
    assert again["display_name"] == "Casey"
    assert client.get(f"{API}/me/profile", headers=_as(client, world, "a", "viewer")).json()["display_name"] is None
    assert client.get(f"{API}/me/profile", headers={"X-API-Key": world["a"].keys["read"]}).status_code == 409


VIEWER = "https://detroit.example/parcel/{parcel_id}"


@pytest.fixture
def clean_overrides(database_url: str):
    """county_overrides is the installation's, shared by every test on this database: left empty."""
    yield
    with owner_cursor(database_url) as cur:
        cur.execute("DELETE FROM county_overrides")


def test_county_settings_changed_by_platform_admins_applied_and_audited(
        client: TestClient, world: dict[str, Any], operator: dict[str, Any], database_url: str,
        clean_overrides: None) -> None:
    url, viewer = f"{API}/settings/counties/wayne_mi", _as(client, world, "a", "viewer")
    op = bearer(login(client, operator["email"], world["a"].id)["access_token"])

    def wayne(headers: dict[str, str]) -> dict[str, Any]:
        return next(c for c in client.get(f"{API}/settings/counties", headers=headers).json() if c["key"] == "wayne_mi")

    start = wayne(viewer)
    assert start["version"] == 0 and start["overridden"] == {} and start["last_change"] is None
    assert start["editable"] == {"quality.max_reject_rate": 0.05, "quality.min_enrichment_coverage": 0.9,
                                 "parcel_viewer_url": start["parcel_viewer_url"],
                                 "sources.detroit_parcels.enabled": False,
                                 "schedule.cron": "0 5 * * 1", "schedule.timezone": "America/Detroit"}
    change = {"version": 0, "reason": "the 2026 file has more unparseable dates",
              "changes": {"quality.max_reject_rate": "0.2", "parcel_viewer_url": VIEWER}}
    for role in ("owner", "admin"):  # a tenant's own admins: read-only
        assert client.patch(url, json=change, headers=_as(client, world, "a", role)).status_code == 403

    changed = client.patch(url, json=change, headers=op)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["version"] == 1 and body["quality"]["max_reject_rate"] == 0.2
    assert body["overridden"] == {"quality.max_reject_rate": 0.2, "parcel_viewer_url": VIEWER}
    assert body["parcel_viewer_url"] == VIEWER and body["last_change"]["reason"] == change["reason"]
    assert body["last_change"]["updated_by"] == operator["id"]
    seen = wayne(viewer)  # every tenant reads the effective configuration
    assert seen["quality"]["max_reject_rate"] == 0.2 and seen["overridden"] == body["overridden"]

    stale = client.patch(url, json={**change, "changes": {"quality.max_reject_rate": 0.3}}, headers=op)
    assert stale.status_code == 409 and "version 0 (now 1)" in stale.json()["detail"]
    for bad, where in (({"quality.max_reject_rate": 2}, "quality.max_reject_rate"),
                       ({"parcel_viewer_url": "ftp://no-placeholder"}, "parcel_viewer_url"),
                       ({"sources.detroit_parcels.enabled": "perhaps"}, "sources.detroit_parcels.enabled"),
                       # An unverified source stays off whatever the API is asked (docs/counties.md).
                       ({"sources.detroit_parcels.enabled": True}, "sources.detroit_parcels.enabled"),
                       ({"state": "CA"}, "state"), ({"sources.nope.enabled": False}, "sources.nope.enabled")):
        refused = client.patch(url, json={"version": 1, "reason": "try", "changes": bad}, headers=op)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["errors"][0]["loc"] == ["body", "changes", where], refused.json()
    assert client.patch(f"{API}/settings/counties/no_such_county", json=change, headers=op).status_code == 404

    # null gives a field back to the file; the same change again writes nothing.
    back = client.patch(url, json={"version": 1, "reason": "dates fixed upstream",
                                   "changes": {"quality.max_reject_rate": None}}, headers=op).json()
    assert back["version"] == 2 and back["overridden"] == {"parcel_viewer_url": VIEWER}
    assert back["quality"]["max_reject_rate"] == 0.05
    same = client.patch(url, json={"version": 2, "reason": "again",
                                   "changes": {"parcel_viewer_url": VIEWER}}, headers=op).json()
    assert same["version"] == 2

    with owner_cursor(database_url) as cur:
        cur.execute("SELECT action, entity_key, user_id, before, after FROM audit_log WHERE tenant_id = %s "
                    "AND entity = 'county_overrides' ORDER BY id", (world["a"].id,))
        rows = cur.fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("update", "wayne_mi", operator["id"])] * 2
    assert rows[0][3] == {"patch": {}, "version": 0}
    assert rows[1][4] == {"patch": {"parcel_viewer_url": VIEWER}, "version": 2,
                          "reason": "dates fixed upstream"}


def test_the_discovery_cron_is_changed_by_platform_admins_validated_and_audited(
        client: TestClient, world: dict[str, Any], operator: dict[str, Any], database_url: str,
        clean_overrides: None) -> None:
    """The cron and its time zone are county settings like the others: the discovery sensor reads
    the effective ones (tests/test_discovery_sensor.py); a cron Dagster would refuse or an unknown
    time zone is a 422 naming the path, and nothing is written."""
    url = f"{API}/settings/counties/wayne_mi"
    op = bearer(login(client, operator["email"], world["a"].id)["access_token"])
    for bad, where, says in ((" ", "schedule.cron", "not a valid cron expression"),
                             ("0 5 * *", "schedule.cron", "five fields"),
                             ("0 5 31 2 *", "schedule.cron", "not a valid cron expression"),
                             ("0 0 31 4 *", "schedule.cron", "never falls on a date that exists"),
                             ("*/5 * * * * *", "schedule.cron", "not a valid cron expression")):
        refused = client.patch(url, json={"version": 0, "reason": "try", "changes": {where: bad}}, headers=op)
        assert refused.status_code == 422, (bad, refused.text)
        error = refused.json()["errors"][0]
        assert error["loc"] == ["body", "changes", where] and says in error["msg"], error
    for zone in ("Mars/Olympus", "Pacific", ""):
        refused = client.patch(url, json={"version": 0, "reason": "try", "changes": {"schedule.timezone": zone}},
                               headers=op)
        assert refused.status_code == 422, (zone, refused.text)
        assert refused.json()["errors"][0]["loc"] == ["body", "changes", "schedule.timezone"]
        assert "not an IANA time zone name" in refused.json()["errors"][0]["msg"]
    assert client.patch(url, json={"version": 0, "reason": "daily", "changes": {"schedule.cron": "0 6 * * *"}},
                        headers=_as(client, world, "a", "owner")).status_code == 403

    daily = client.patch(url, json={"version": 0, "reason": "the county now publishes daily",
                                    "changes": {"schedule.cron": "0 6 * * *", "schedule.timezone": "UTC"}},
                         headers=op)
    assert daily.status_code == 200, daily.text
    body = daily.json()
    assert body["schedule"] == {"cron": "0 6 * * *", "timezone": "UTC"} and body["version"] == 1
    assert body["overridden"] == {"schedule.cron": "0 6 * * *", "schedule.timezone": "UTC"}
    seen = next(c for c in client.get(f"{API}/settings/counties", headers=_as(client, world, "b", "viewer")).json()
                if c["key"] == "wayne_mi")
    assert seen["schedule"] == {"cron": "0 6 * * *", "timezone": "UTC"}  # every tenant reads the effective cron
    back = client.patch(url, json={"version": 1, "reason": "weekly again",
                                   "changes": {"schedule.cron": None, "schedule.timezone": None}}, headers=op).json()
    assert back["schedule"] == {"cron": "0 5 * * 1", "timezone": "America/Detroit"} and back["overridden"] == {}
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT before, after FROM audit_log WHERE tenant_id = %s AND entity = 'county_overrides' "
                    "AND entity_key = 'wayne_mi' ORDER BY id DESC LIMIT 2", (world["a"].id,))
        rows = cur.fetchall()[::-1]  # this test's two changes (the module's other tests wrote before)
    assert [r[1]["patch"] for r in rows] == [{"schedule.cron": "0 6 * * *", "schedule.timezone": "UTC"}, {}]
    assert rows[0][0] == {"patch": {}, "version": 0} and rows[1][1]["reason"] == "weekly again"


def test_a_change_the_freshness_policies_depend_on_reloads_the_code_location_in_the_background(
        world: dict[str, Any], operator: dict[str, Any], database_url: str,
        tmp_path_factory: pytest.TempPathFactory, clean_overrides: None) -> None:
    """The asset-level freshness policies are built at load from the effective counties
    (realestate_assets/definitions.counties_for_policies): a change of what they take from a county
    (its discovery cron or time zone, the county active or not) asks Dagster, through its GraphQL API
    (a small local server speaking it), to reload the code location, after the change is committed;
    any other change does not. The PATCH answers with the reload pending, before it ends (the fake
    holds it); changes made while one runs make one more reload after it; GET /settings/counties and
    the WebSocket tell the outcome. A failed reload is reported, the change stays made, and the next
    reload loads it."""
    fake = FakeDagster()
    audited = "SELECT count(*) FROM audit_log WHERE entity = 'county_overrides' AND entity_key = 'king_wa'"
    with owner_cursor(database_url) as cur:
        cur.execute(audited)
        audited_before = cur.fetchone()[0]
    with serve(fake) as server, api_client(database_url, tmp_path_factory.mktemp("reload"),
                                           dagster_url=base_url(server)) as api:
        op = bearer(login(api, operator["email"], world["a"].id)["access_token"])

        def patch(version: int, changes: dict[str, Any], county: str = "king_wa") -> dict[str, Any]:
            answer = api.patch(f"{API}/settings/counties/{county}", headers=op,
                               json={"version": version, "reason": "test", "changes": changes})
            assert answer.status_code == 200, answer.text
            return answer.json()

        def listed(county: str = "king_wa") -> dict[str, Any]:
            return next(c for c in api.get(f"{API}/settings/counties", headers=op).json() if c["key"] == county)

        def settled(county: str, version: int) -> dict[str, Any]:
            """The county's reload once it ended (polled, generous deadline: the machine is shared)."""
            return _poll(lambda: (r := listed(county)["reload"]) and r["version"] == version
                         and r["state"] in ("loaded", "failed") and r)

        tuned = patch(0, {"quality.max_reject_rate": 0.2})
        assert tuned["reload"]["requested"] is False and tuned["reload"]["state"] == "not_needed"
        assert "not needed" in tuned["reload"]["detail"]
        assert fake.reloads == [] and listed()["reload"] is None

        fake.reload_may_end.clear()  # a slow reload: Dagster answers when the test says so
        daily = patch(1, {"schedule.cron": "0 6 * * *"})
        assert daily["schedule"]["cron"] == "0 6 * * *" and daily["version"] == 2
        assert daily["reload"]["requested"] is True and daily["reload"]["state"] == "pending"
        assert daily["reload"]["version"] == 2 and daily["reload"]["finished_at"] is None
        _poll(lambda: fake.reloads == ["realestate_assets"])  # under way, held by the fake
        assert listed()["reload"]["state"] == "running" and listed()["reload"]["started_at"] is not None

        # Two changes while it runs: both wait for one more reload, after this one.
        utc = patch(2, {"schedule.timezone": "UTC"})
        assert utc["reload"]["state"] == "pending" and listed()["reload"]["version"] == 3
        assert patch(3, {"schedule.cron": "0 7 * * *"})["reload"]["state"] == "pending"
        with api.websocket_connect(f"{API}/ws") as socket:
            socket.send_json({"token": op["Authorization"].removeprefix("Bearer ")})
            assert socket.receive_json()["kind"] == "ready"
            assert api.app.state.reos.live.listening.wait(30)
            fake.reload_may_end.set()
            # The first reload ended when king_wa's row was already version 4: not marked by it.
            loaded = settled("king_wa", 4)
            assert loaded["state"] == "loaded" and loaded["detail"] == "code location realestate_assets reloaded"
            at = {k: datetime.fromisoformat(loaded[k]) for k in ("requested_at", "started_at", "finished_at")}
            assert at["finished_at"] >= at["started_at"] >= at["requested_at"]
            events = [socket.receive_json(), socket.receive_json()]  # one per reload, to the asking tenant
        assert events == [{"kind": "county_reload", "state": "loaded", "counties": ["king_wa"],
                           "detail": "code location realestate_assets reloaded"}] * 2
        assert fake.reloads == ["realestate_assets"] * 2  # the first, and one for both later changes

        fake.reload_error = "ImportError: no module named realestate_assets"
        back = patch(4, {"schedule.timezone": None, "schedule.cron": None})
        assert back["reload"]["state"] == "pending"
        assert back["version"] == 5 and back["schedule"]["cron"] == "0 5 * * 1"  # made at once
        failed = settled("king_wa", 5)
        assert failed["state"] == "failed" and "did not reload: PythonError: ImportError" in failed["detail"]
        assert listed()["schedule"] == {"cron": "0 5 * * 1", "timezone": "America/Los_Angeles"}  # made all the same

        same = patch(5, {"quality.max_reject_rate": 0.2})  # nothing changes: nothing written, nothing reloaded
        assert same["version"] == 5 and same["reload"]["state"] == "not_needed" and len(fake.reloads) == 3
        assert listed()["reload"]["state"] == "failed"  # still king_wa's latest reload

        # A change another API process recorded and never saw loaded (it stopped mid-reload) is
        # loaded by the next reload of any process, as is the failed one.
        with owner_cursor(database_url) as cur:
            cur.execute("INSERT INTO county_overrides (county, patch, reason) VALUES ('wayne_mi', '{}', 'test')")
            cur.execute("INSERT INTO county_reloads (county, version, state) VALUES ('wayne_mi', 1, 'running')")
        fake.reload_error = None
        # Switching its only discovery source off makes king_wa inactive: out of the policies.
        off = patch(5, {"sources.kc_assessor_sales.enabled": False})
        assert off["reload"]["state"] == "pending"
        assert settled("king_wa", 6)["state"] == "loaded" and listed("wayne_mi")["reload"]["state"] == "loaded"
        assert len(fake.reloads) == 4
    with owner_cursor(database_url) as cur:
        cur.execute(audited)
        assert cur.fetchone()[0] == audited_before + 6  # audited as before: one row a change made


def test_an_api_process_that_starts_reloads_for_changes_left_waiting(
        world: dict[str, Any], database_url: str, tmp_path_factory: pytest.TempPathFactory,
        clean_overrides: None) -> None:
    """A process that stopped before its reload ended left the change pending (or running): the
    next API process to start with Dagster configured reloads for it, without another change."""
    with owner_cursor(database_url) as cur:
        cur.execute("INSERT INTO county_overrides (county, patch, version, reason) "
                    "VALUES ('king_wa', '{\"schedule.cron\": \"0 6 * * *\"}', 1, 'test')")
        cur.execute("INSERT INTO county_reloads (county, version) VALUES ('king_wa', 1)")
    fake = FakeDagster()
    with serve(fake) as server, api_client(database_url, tmp_path_factory.mktemp("resume"),
                                           dagster_url=base_url(server)) as api:
        viewer = _as(api, world, "b", "viewer")
        loaded = _poll(lambda: (r := next(c for c in api.get(f"{API}/settings/counties", headers=viewer).json()
                                          if c["key"] == "king_wa")["reload"])["state"] == "loaded" and r)
        assert loaded["version"] == 1 and fake.reloads == ["realestate_assets"]


def _poll(check: Any, deadline_s: float = 90) -> Any:
    """`check()`'s first truthy value, asked again until the deadline (a shared, busy machine)."""
    give_up = time.monotonic() + deadline_s
    while not (found := check()):
        assert time.monotonic() < give_up, "not reached before the deadline"
        time.sleep(0.05)
    return found


def test_without_dagster_the_change_is_made_and_no_reload_is_requested(
        client: TestClient, world: dict[str, Any], operator: dict[str, Any], clean_overrides: None) -> None:
    op = bearer(login(client, operator["email"], world["a"].id)["access_token"])
    answer = client.patch(f"{API}/settings/counties/king_wa", headers=op, json={
        "version": 0, "reason": "the county now publishes daily", "changes": {"schedule.cron": "0 6 * * *"}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["version"] == 1 and body["schedule"]["cron"] == "0 6 * * *"
    assert body["reload"]["requested"] is False and body["reload"]["state"] == "not_configured"
    assert "REOS_DAGSTER_URL" in body["reload"]["detail"]
