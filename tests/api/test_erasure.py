"""POST /api/v1/recipients/{id}/erase on real PostgreSQL: name and address leave every table (the
tenant's own export shows it), the address stays suppressed by hash, and importing it again never
gets it emailed."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

from realestate_assets.outreach.campaigns import read_suppressed
from realestate_assets.outreach.mailer import OutboxMailer
from tests.api.helpers_api import api_client, bearer, login, make_tenant, owner_cursor
from tests.outreach.helpers_outreach import deliverer, email_rows, plan, recipient

API = "/api/v1"
ADDRESS = "erin.erasable@example.com"
NAME = "Erinna Erasable"


def test_erase_removes_the_recipient_everywhere_and_keeps_the_address_suppressed(database_url: str,
                                                                                tmp_path: Path) -> None:
    a, b = make_tenant(database_url, "erase-a"), make_tenant(database_url, "erase-b")
    outbox = OutboxMailer(tmp_path / "outbox")
    with api_client(database_url, tmp_path / "state") as client:
        analyst = bearer(login(client, a.users["analyst"]["email"])["access_token"])
        admin = bearer(login(client, a.users["admin"]["email"])["access_token"])
        created = client.post(f"{API}/recipients", headers=analyst, json={"name": NAME, "email": ADDRESS})
        assert created.status_code == 201, created.text
        rid = created.json()["id"]
        # Tenant b has the same address: its row is not a's to erase, and stays as it was.
        client_b = bearer(login(client, b.users["admin"]["email"])["access_token"])
        assert client.post(f"{API}/recipients", headers=client_b, json={"name": NAME, "email": ADDRESS}
                           ).status_code == 201
        # An email sent to them, with their name in the subject, and a provider event carrying the address.
        first_email = plan("daily:king_wa:day1", [recipient(ADDRESS, NAME)])
        sent = deliverer(database_url, a.id, outbox).deliver(
            [dataclasses.replace(p, subject=f"{NAME.split()[0]}, new deals") for p in first_email])
        assert sent["sent"] == 1
        with owner_cursor(database_url) as cur:
            cur.execute("INSERT INTO email_events (tenant_id, email_id, sg_event_id, event, recipient_email, "
                        "occurred_at, payload) SELECT tenant_id, id, 'ev-erase-1', 'open', recipient_email, now(), "
                        "jsonb_build_object('email', recipient_email, 'ip', '203.0.113.9', 'event', 'open') "
                        "FROM emails WHERE tenant_id = %s AND recipient_email = %s", (a.id, ADDRESS))

        assert client.post(f"{API}/recipients/{rid}/erase", headers=analyst).status_code == 403
        erased = client.post(f"{API}/recipients/{rid}/erase", headers=admin)
        assert erased.status_code == 200, erased.text
        assert erased.json() == {"recipient_id": rid, "erased": True, "suppressed": True, "emails": 1,
                                 "events": 1, "audit_rows": 1}
        assert client.get(f"{API}/recipients/{rid}", headers=admin).status_code == 404
        assert client.post(f"{API}/recipients/{rid}/erase", headers=admin).status_code == 404

        # Nothing of them in anything the tenant holds: the export reads every tenant table.
        export = client.get(f"{API}/tenant/export", headers=bearer(login(client, a.users["owner"]["email"])
                                                                   ["access_token"]))
        archive = zipfile.ZipFile(io.BytesIO(export.content))
        everything = b"".join(archive.read(n) for n in archive.namelist()).lower()
        assert ADDRESS.encode() not in everything and b"erinna" not in everything
        assert b"203.0.113.9" not in everything
        with owner_cursor(database_url) as cur:
            cur.execute("SELECT before, after FROM audit_log WHERE tenant_id = %s AND entity = 'recipients' "
                        "AND action = 'erase'", (a.id,))
            (before, after), = cur.fetchall()
            assert before is None and after == {"emails": 1, "events": 1, "audit_rows": 1}
            cur.execute("SELECT email, reason FROM suppressions WHERE tenant_id = %s "
                        "AND email_hash = suppression_hash(%s, %s)", (a.id, a.id, ADDRESS))
            assert cur.fetchall() == [(None, "erased")]
            # Tenant b's recipient is untouched and not suppressed.
            cur.execute("SELECT count(*) FROM recipients WHERE tenant_id = %s AND email = %s", (b.id, ADDRESS))
            assert cur.fetchone()[0] == 1
            cur.execute("SELECT count(*) FROM suppressions WHERE tenant_id = %s AND email_hash = "
                        "suppression_hash(%s, %s)", (b.id, b.id, ADDRESS))
            assert cur.fetchone()[0] == 0

        # Imported again (a bought list, an old CSV): the row comes back, suppressed.
        imported = client.post(f"{API}/recipients/import", headers={**analyst, "Content-Type": "text/csv"},
                               content=f"name,email\n{NAME},{ADDRESS.upper()}\n".encode())
        assert imported.status_code == 200 and imported.json()["created"] == 1, imported.text
        page = client.get(f"{API}/recipients", headers=analyst, params={"q": "erasable"}).json()
        assert [(r["email"], r["suppressed"]) for r in page["items"]] == [(ADDRESS, True)]

    # The pipeline's planning and its last check before sending both see it suppressed: never emailed.
    from realestate_assets.db.warehouse import Warehouse

    wh = Warehouse(database_url)
    try:
        assert ADDRESS in read_suppressed(wh, a.id) and ADDRESS not in read_suppressed(wh, b.id)
    finally:
        wh.dispose()
    again = deliverer(database_url, a.id, outbox).deliver(plan("daily:king_wa:day2", [recipient(ADDRESS, NAME)]))
    assert again["sent"] == 0 and again["suppressed"] == 1
    assert not [r for r in email_rows(database_url, a.id) if r["recipient_email"] == ADDRESS]
    assert deliverer(database_url, a.id, outbox).sent_after_suppression() == 0
