"""`email_packets` (migration 0051): the packets each email lists as rows, written with the email by
a trigger, so the `emailed` status is an index lookup for the API role under row-level security."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from psycopg2 import sql

from realestate_assets.accounts import store
from realestate_assets.api.v1.property_query import TENANT_STATUS
from realestate_assets.db.lifecycle import PUBLIC_STATUS_JOINS
from realestate_assets.db.migrate import downgrade, upgrade
from realestate_assets.db.tenancy import act_as_api
from realestate_assets.outreach.erasure import erase_recipient
from realestate_assets.outreach.mailer import OutboxMailer
from tests.api.helpers_api import dsn, make_tenant, owner_cursor, seed_county
from tests.outreach.helpers_outreach import deliverer, plan, recipient

PACKET = ("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, inputs_hash, "
          "object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
          "(%s, %s, %s, 'investor_memo', '1', 'h', 'k', 's', 10, 80, now()) RETURNING id")
EMAIL = ("INSERT INTO emails (tenant_id, county, campaign, packet_id, packet_ids, recipient_email, subject, provider, "
         "send_key, status) VALUES (%s, %s, 'daily_digest', %s, %s, 'r@example.com', 'Deals', 'outbox', %s, %s) "
         "ON CONFLICT ON CONSTRAINT emails_once DO NOTHING RETURNING id")


def _packets(cur: Any, tenant_id: str, county: str, keys: list[str]) -> list[int]:
    ids = []
    for key in keys:
        cur.execute(PACKET, (tenant_id, county, key))
        ids.append(cur.fetchone()[0])
    return ids


def _listed(cur: Any, tenant_id: str) -> set[tuple[int, int]]:
    cur.execute("SELECT email_id, packet_id FROM email_packets WHERE tenant_id = %s", (tenant_id,))
    return set(cur.fetchall())


def _status(cur: Any, county: str) -> dict[str, str]:
    cur.execute(f"SELECT p.prospect_key, {TENANT_STATUS} FROM prospects p {PUBLIC_STATUS_JOINS} WHERE p.county = %s",
                (county,))
    return dict(cur.fetchall())


def test_the_pipelines_delivery_writes_the_rows_with_the_email_once(database_url: str, tmp_path: Path) -> None:
    """Deliverer._claim (the emails step, digests, alerts): the rows come with the email, and a
    re-run that claims the same email again (ON CONFLICT DO NOTHING) lists nothing twice."""
    tenant = make_tenant(database_url, "ep-deliver")
    county = f"ep_{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        ids = _packets(cur, tenant.id, county, [f"{county}-{i}" for i in range(3)])
        before = _listed(cur, tenant.id)
    digest = [dataclasses.replace(p, county=county, packet_ids=(ids[2], ids[0], ids[1], ids[0]))
              for p in plan("daily:ep:day1", [recipient("ep.one@example.com"), recipient("ep.two@example.com")])]
    outbox = OutboxMailer(tmp_path / "outbox")
    assert deliverer(database_url, tenant.id, outbox).deliver(digest)["sent"] == 2
    assert deliverer(database_url, tenant.id, outbox).deliver(digest)["already_sent"] == 2
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT id, packet_ids FROM emails WHERE tenant_id = %s AND send_key = 'daily:ep:day1'",
                    (tenant.id,))
        emails = cur.fetchall()
        assert len(emails) == 2 and all(listed == [ids[2], ids[0], ids[1], ids[0]] for _, listed in emails)
        assert _listed(cur, tenant.id) - before == {(e, p) for e, _ in emails for p in ids}
        cur.execute("SELECT count(*) FROM email_packets WHERE email_id = ANY(%s)", ([e for e, _ in emails],))
        assert cur.fetchone()[0] == 6  # a packet listed twice in one digest is one row


def test_an_email_written_as_the_api_role_lists_its_packets_in_its_own_tenant(database_url: str) -> None:
    """Row-level security applies to the trigger as to the email: the API role, scoped to its
    tenant, writes the rows under its own policy; an UPDATE of packet_ids follows."""
    a = make_tenant(database_url, "ep-api")
    county = f"ep_{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        ids = _packets(cur, a.id, county, [f"{county}-{i}" for i in range(3)])
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn.cursor() as cur:
            act_as_api(cur, a.id)
            cur.execute(EMAIL, (a.id, county, ids[0], ids[:2], "api:1", "sent"))
            (email_id,) = cur.fetchone()
            cur.execute(EMAIL, (a.id, county, ids[0], ids[:2], "api:1", "sent"))  # again: nothing new
            assert cur.fetchone() is None
            cur.execute("SELECT tenant_id, email_id, packet_id FROM email_packets WHERE packet_id = ANY(%s) "
                        "ORDER BY packet_id", (ids,))
            assert cur.fetchall() == [(a.id, email_id, ids[0]), (a.id, email_id, ids[1])]
            cur.execute("UPDATE emails SET packet_ids = %s WHERE id = %s", ([ids[1], ids[2]], email_id))
            cur.execute("SELECT packet_id FROM email_packets WHERE email_id = %s ORDER BY 1", (email_id,))
            assert [r[0] for r in cur.fetchall()] == [ids[1], ids[2]]
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):  # another tenant's row: refused
                cur.execute("INSERT INTO email_packets (tenant_id, email_id, packet_id) VALUES ('default', %s, %s)",
                            (email_id, ids[0]))
        conn.rollback()
    finally:
        conn.close()


def test_the_emailed_check_is_an_index_lookup_for_the_api_role(database_url: str) -> None:
    """The plan the API role gets: email_packets probed by its packet id, the email by its primary
    key. (Sequential scans are priced out so the small test tables do not hide it: with the array
    test, `k.id = ANY (m.packet_ids)`, no index could serve it under row-level security.)"""
    a = make_tenant(database_url, "ep-plan")
    county = f"ep_{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        seed_county(cur, county, 1)
        store.subscribe(cur, a.id, county)
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn.cursor() as cur:
            act_as_api(cur, a.id)
            cur.execute("SET LOCAL enable_seqscan = off")
            cur.execute(f"EXPLAIN (FORMAT JSON) SELECT {TENANT_STATUS} FROM prospects p {PUBLIC_STATUS_JOINS} "
                        "WHERE p.county = %s", (county,))
            raw = cur.fetchone()[0]
        conn.rollback()
    finally:
        conn.close()

    def scans(node: dict[str, Any]) -> Iterator[tuple[str, str]]:
        if "Relation Name" in node:
            yield node["Relation Name"], node["Node Type"]
        for child in node.get("Plans", []):
            yield from scans(child)

    found = list(scans((raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]))
    assert ("email_packets", "Index Scan") in found or ("email_packets", "Index Only Scan") in found, found
    assert not [t for t, kind in found if t in ("email_packets", "emails") and kind == "Seq Scan"], found


def test_erasure_keeps_the_rows_and_tenant_deletion_removes_them(database_url: str, tmp_path: Path) -> None:
    """Erasure keeps the email (its address replaced), so the property stays `emailed`; the rows
    hold no personal data. `reos tenant delete`'s store function removes them before their parents."""
    a, b = make_tenant(database_url, "ep-erase"), make_tenant(database_url, "ep-keep")
    county = f"ep_{uuid.uuid4().hex[:6]}"
    address = "ep.erasable@example.com"
    with owner_cursor(database_url) as cur:
        seed_county(cur, county, 1)
        store.subscribe(cur, a.id, county)
        (packet,) = _packets(cur, a.id, county, [f"{county}-0001"])
        cur.execute("INSERT INTO recipients (tenant_id, name, email) VALUES (%s, 'Erin Erasable', %s) RETURNING id",
                    (a.id, address))
        (recipient_id,) = cur.fetchone()
    single = [dataclasses.replace(p, county=county, packet_id=packet) for p in plan("packet:ep", [recipient(address)])]
    assert deliverer(database_url, a.id, OutboxMailer(tmp_path / "outbox")).deliver(single)["sent"] == 1
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn, conn.cursor() as cur:
            act_as_api(cur, a.id)
            assert _status(cur, county) == {f"{county}-0001": "emailed"}
            listed = _listed(cur, a.id)
            erased = erase_recipient(cur, a.id, recipient_id)
            assert erased is not None and erased.emails == 1
            assert _listed(cur, a.id) == listed and {p for _, p in listed} >= {packet}
            assert _status(cur, county) == {f"{county}-0001": "emailed"}
    finally:
        conn.close()
    with owner_cursor(database_url) as cur:
        kept = _listed(cur, b.id)
        assert kept  # make_tenant's email lists its packet
        deleted = store.delete_tenant(cur, a.id)
    assert deleted["email_packets"] == len(listed)
    with owner_cursor(database_url) as cur:  # unscoped again (delete_tenant scoped its cursor to a)
        assert _listed(cur, a.id) == set() and _listed(cur, b.id) == kept


@pytest.fixture
def database_at_0050(database_url: str) -> Iterator[str]:
    """A database of its own, migrated to 0050 (the backfill runs on rows written before 0051)."""
    name = f"reos_ep_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(dsn(database_url))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url, "0050")
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def test_the_migration_backfills_from_packet_ids(database_at_0050: str) -> None:
    url = database_at_0050
    with owner_cursor(url) as cur:
        for tenant in ("bf-a", "bf-b"):
            store.create_tenant(cur, tenant, tenant)
        a = _packets(cur, "bf-a", "king_wa", ["k1", "k2"])
        b = _packets(cur, "bf-b", "king_wa", ["k1"])
        cur.execute(EMAIL, ("bf-a", "king_wa", a[0], [a[0]], "packet:1", "sent"))
        one = cur.fetchone()[0]
        cur.execute(EMAIL, ("bf-a", "king_wa", None, [a[1], a[0], a[1], 999999], "daily:1", "sent"))
        digest = cur.fetchone()[0]  # a packet listed twice, and an id no packet has
        cur.execute(EMAIL, ("bf-b", "king_wa", b[0], [b[0]], "packet:2", "pending"))
        other = cur.fetchone()[0]
        cur.execute(EMAIL, ("bf-b", "king_wa", None, [], "weekly:1", "sent"))  # lists nothing
    upgrade(url)
    with owner_cursor(url) as cur:
        cur.execute("SELECT tenant_id, email_id, packet_id FROM email_packets ORDER BY 2, 3")
        assert cur.fetchall() == sorted([("bf-a", one, a[0]), ("bf-a", digest, a[0]), ("bf-a", digest, a[1]),
                                         ("bf-b", other, b[0])], key=lambda r: (r[1], r[2]))
    downgrade(url, "0050")
    with owner_cursor(url) as cur:
        cur.execute("SELECT to_regclass('email_packets'), to_regprocedure('reos_email_packets_write()')")
        assert cur.fetchone() == (None, None)
