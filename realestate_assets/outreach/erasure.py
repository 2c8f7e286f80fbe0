"""Erasing a recipient on request (issue #11, privacy): their name and address leave every table,
and their address stays suppressed.

What is kept is a suppression holding `suppression_hash(tenant, address)` alone (migration 0031):
every suppression check compares that hash (`compliance.suppressed_sql`), so importing or
emailing the same address later finds it suppressed, and the hash cannot be read back into the
address. What goes:

* the `recipients` row (name, address, segment fields, saved alerts);
* the address on earlier suppressions of it (their hash stays);
* on their `emails` rows: the address (replaced by `erased:<hash>`, which keeps each row's
  uniqueness and the campaign statistics), the name, the name in a personalized subject, any
  provider error text;
* on their `email_events` rows: the address, and the provider's payload (which holds the address,
  IP and user agent) down to the event name;
* in the audit trail: the address and the name wherever a row quoted them as a JSON value.

The emails outbox directory (local dry runs only) keeps its `.eml` files: it is not the API's to
reach; `make clean` or the operator's retention removes them.

Runs on the caller's cursor and transaction (the API's, under row-level security: another
tenant's rows are not even visible).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ERASED = "[erased]"


@dataclass(frozen=True)
class Erasure:
    recipient_id: int
    emails: int
    events: int
    suppressions: int
    audit_rows: int


def erase_recipient(cur: Any, tenant_id: str, recipient_id: int) -> Erasure | None:
    """Erase one recipient of the tenant; None when there is no such recipient."""
    cur.execute("SELECT name, email, suppression_hash(tenant_id, email) FROM recipients WHERE id = %s "
                "FOR UPDATE", (recipient_id,))
    row = cur.fetchone()
    if row is None:
        return None
    name, address, digest = row
    # The suppression first: from here on the address is suppressed by hash alone.
    cur.execute("UPDATE suppressions SET email = NULL WHERE tenant_id = %s AND email_hash = %s", (tenant_id, digest))
    suppressions = cur.rowcount
    cur.execute("INSERT INTO suppressions (tenant_id, email, email_hash, reason, source) "
                "VALUES (%s, NULL, %s, 'erased', 'erasure request')", (tenant_id, digest))
    first = name.split()[0] if name.split() else name
    cur.execute(
        "UPDATE emails SET recipient_email = %(erased_address)s, recipient_name = NULL, error = NULL, "
        "subject = CASE WHEN length(%(first)s) >= 2 THEN replace(replace(subject, %(name)s, %(mark)s), "
        "%(first)s, %(mark)s) ELSE replace(subject, %(name)s, %(mark)s) END "
        "WHERE tenant_id = %(tenant)s AND recipient_email = %(address)s RETURNING id",
        {"erased_address": f"erased:{digest}", "first": first, "name": name, "mark": ERASED, "tenant": tenant_id,
         "address": address})
    email_ids = [r[0] for r in cur.fetchall()]
    cur.execute("UPDATE email_events SET recipient_email = NULL, "
                "payload = jsonb_build_object('event', payload->'event', 'erased', true) "
                "WHERE tenant_id = %s AND (recipient_email = %s OR email_id = ANY(%s))",
                (tenant_id, address, email_ids))
    events = cur.rowcount
    # Wherever an audit row quoted the address or the name as a JSON string (create, import, update …).
    quoted = ("to_json(%(a)s::text)::text", "to_json(%(n)s::text)::text")

    def scrubbed(column: str) -> str:
        return f"replace(replace({column}::text, {quoted[0]}, %(m)s), {quoted[1]}, %(m)s)::jsonb"

    found = " OR ".join(f"strpos({c}::text, {q}) > 0" for c in ("before", "after") for q in quoted)
    cur.execute(f"UPDATE audit_log SET before = {scrubbed('before')}, after = {scrubbed('after')} "
                f"WHERE tenant_id = %(t)s AND ({found})", {"a": address, "n": name, "m": f'"{ERASED}"', "t": tenant_id})
    audit_rows = cur.rowcount
    cur.execute("DELETE FROM recipients WHERE id = %s", (recipient_id,))
    return Erasure(recipient_id=recipient_id, emails=len(email_ids), events=events, suppressions=suppressions,
                   audit_rows=audit_rows)
