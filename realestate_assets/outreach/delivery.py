"""Exactly-once email delivery: an outbox-pattern state machine in PostgreSQL. No Dagster imports.

    (claim)                 (commit)             (provider 202)      (commit)
    ──► pending ──────────► sending ─────────────► provider ─────────► sent
                              │  ╲ provider error ──────────────────► failed (retryable or not)
                              │   ╲ opted out since claim ──────────► suppressed
                              ╰─ crash here: reconciled on the next run
                                                     events ────────► bounced

* One row per (tenant, campaign, send_key, recipient) — a unique constraint — so two runs, or
  a re-run, can never create a second email. The row's id is the idempotency key: it is the
  Message-ID of the .eml and `custom_args.reos_email_id` at SendGrid.
* `pending → sending` is committed *before* the provider is called, by an UPDATE that only
  matches `pending`/retryable `failed` rows: a concurrent run cannot take the same row.
* Suppressions are re-checked in that same transaction, so an unsubscribe that lands after
  the claim still stops the send.
* A row found `sending` at start was interrupted between our commit and the provider's answer
  (or between the answer and our commit). Outbox: the atomic .eml file is the proof — present
  means sent, absent means not sent (back to `pending`). SendGrid: there is no synchronous way
  to ask whether a request was accepted, so the row is treated as *possibly sent*: a webhook
  event carrying its id marks it sent; with no event after `unconfirmed_after` it becomes
  `failed` with `retryable = false`. It is never resent automatically: a missed email is
  better than a duplicate.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from realestate_assets.config_models import Recipient, Sender
from realestate_assets.outreach.compliance import suppressed_among, suppressed_sql
from realestate_assets.outreach.mailer import Mailer, ProviderError
from realestate_assets.outreach.messages import (
    Content,
    OutgoingEmail,
    header_text,
    list_id,
    unsubscribe_token,
    unsubscribe_url,
)


@dataclass(frozen=True)
class PlannedEmail:
    campaign: str
    send_key: str
    county: str
    recipient: Recipient
    subject: str
    variant: str
    template: str
    content: Content
    packet_id: int | None = None
    packet_ids: tuple[int, ...] = ()  # every property the email lists (a digest's whole list)

    def __post_init__(self) -> None:
        # The subject is stored and sent as a header: never with a line break or control character.
        object.__setattr__(self, "subject", header_text(self.subject))


def choose_variant(subjects: Sequence[str], campaign: str, send_key: str, address: str) -> tuple[str, str]:
    """Deterministic A/B assignment: the same email always gets the same subject line."""
    digest = int(hashlib.sha256(f"{campaign}|{send_key}|{address}".encode()).hexdigest(), 16)
    index = digest % len(subjects)
    return "ABCD"[index], subjects[index]


class Deliverer:
    def __init__(self, wh: Any, mailer: Mailer, *, tenant_id: str, county: str, sender: Sender, secret: str,
                 max_attempts: int = 3, unconfirmed_after: timedelta = timedelta(hours=24),
                 log: Callable[[str], None] = lambda _: None) -> None:
        self.wh, self.mailer = wh, mailer
        self.tenant_id, self.county, self.sender, self.secret = tenant_id, county, sender, secret
        self.max_attempts, self.unconfirmed_after, self.log = max_attempts, unconfirmed_after, log

    # ---------------------------------------------------------------- reconciliation

    def reconcile(self) -> Counter:
        """Settle rows an earlier run left `sending` (see the module docstring)."""
        counts: Counter = Counter()
        with self.wh.transaction() as conn, conn.cursor() as cur:
            cur.execute("SELECT id, last_attempt_at < now() - %s AS stale, "
                        "EXISTS (SELECT 1 FROM email_events v WHERE v.email_id = e.id) AS has_events "
                        "FROM emails e WHERE tenant_id = %s AND county = %s AND status = 'sending' FOR UPDATE",
                        (self.unconfirmed_after, self.tenant_id, self.county))
            for email_id, stale, has_events in cur.fetchall():
                if self.mailer.confirms_synchronously:
                    domain = self.sender.email.split("@", 1)[1]
                    path = self.mailer.delivered_path(f"<reos-email-{email_id}@{domain}>")
                    if path is not None:
                        cur.execute("UPDATE emails SET status = 'sent', sent_at = coalesce(sent_at, now()), "
                                    "provider_message_id = %s, outbox_path = %s, error = NULL WHERE id = %s",
                                    (f"<reos-email-{email_id}@{domain}>", str(path), email_id))
                        counts["reconciled"] += 1
                    else:
                        cur.execute("UPDATE emails SET status = 'pending' WHERE id = %s", (email_id,))
                        counts["reconciled_not_sent"] += 1
                elif has_events:
                    cur.execute("UPDATE emails SET status = 'sent', sent_at = coalesce(sent_at, now()), "
                                "error = NULL WHERE id = %s", (email_id,))
                    counts["reconciled"] += 1
                elif stale:
                    cur.execute("UPDATE emails SET status = 'failed', retryable = false, error = %s WHERE id = %s",
                                ("unconfirmed: interrupted after the send request and no provider event arrived; "
                                 "not resent automatically (possibly delivered)", email_id))
                    counts["unconfirmed"] += 1
                else:
                    counts["possibly_sent"] += 1
        return counts

    def sent_after_suppression(self) -> int:
        """Emails of this county sent to an address after it was suppressed (should always be 0)."""
        with self.wh.transaction() as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM emails e JOIN suppressions s ON s.tenant_id = e.tenant_id "
                        "AND s.email_hash = suppression_hash(e.tenant_id, e.recipient_email) "
                        "WHERE e.tenant_id = %s AND e.county = %s "
                        "AND e.status = 'sent' AND e.sent_at >= s.created_at", (self.tenant_id, self.county))
            return int(cur.fetchone()[0])

    # ---------------------------------------------------------------- sending

    def _claim(self, planned: Sequence[PlannedEmail]) -> dict[tuple[str, str, str], tuple[int, str, int, bool]]:
        rows = [(self.tenant_id, self.county, p.campaign, p.send_key, p.packet_id,
                 list(p.packet_ids or ([p.packet_id] if p.packet_id is not None else [])), p.recipient.address,
                 header_text(p.recipient.name), p.subject, p.variant, p.template, self.mailer.provider)
                for p in planned]
        with self.wh.transaction() as conn, conn.cursor() as cur:
            from psycopg2.extras import execute_values

            execute_values(cur, (
                "INSERT INTO emails (tenant_id, county, campaign, send_key, packet_id, packet_ids, recipient_email, "
                "recipient_name, subject, variant, template, provider, status) VALUES %s "
                "ON CONFLICT ON CONSTRAINT emails_once DO NOTHING"), rows,
                template="(%s, %s, %s, %s, %s, %s::bigint[], %s, %s, %s, %s, %s, %s, 'pending')", page_size=1000)
            cur.execute(
                "SELECT campaign, send_key, recipient_email, id, status, attempts, retryable FROM emails "
                "WHERE tenant_id = %s AND (campaign, send_key, recipient_email) IN "
                "(SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]))",
                (self.tenant_id, [p.campaign for p in planned], [p.send_key for p in planned],
                 [p.recipient.address for p in planned]))
            return {(c, k, r): (i, s, a, rt) for c, k, r, i, s, a, rt in cur.fetchall()}

    def _start_sending(self, ids: list[int]) -> list[int]:
        """pending/failed → sending, committed before the provider is called; opted-out → suppressed."""
        with self.wh.transaction() as conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE emails e SET status = 'suppressed', error = 'address suppressed before sending' "
                "WHERE e.id = ANY(%s) AND e.status IN ('pending', 'failed') AND "
                + suppressed_sql("e.tenant_id", "e.recipient_email"), (ids,))
            cur.execute(
                "UPDATE emails SET status = 'sending', attempts = attempts + 1, last_attempt_at = now() "
                "WHERE id = ANY(%s) AND (status = 'pending' OR (status = 'failed' AND retryable "
                "AND attempts < %s)) RETURNING id", (ids, self.max_attempts))
            return [r[0] for r in cur.fetchall()]

    def _mark_sent(self, deliveries: dict[int, Any]) -> None:
        """sending → sent. A crash before this commit is what `reconcile` settles."""
        with self.wh.transaction() as conn, conn.cursor() as cur:
            for email_id, d in deliveries.items():
                cur.execute("UPDATE emails SET status = 'sent', provider = %s, provider_message_id = %s, "
                            "outbox_path = %s, sent_at = now(), error = NULL WHERE id = %s AND status = 'sending'",
                            (d.provider, d.provider_message_id, d.outbox_path, email_id))

    def _mark_failed(self, ids: list[int], error: str, retryable: bool) -> None:
        with self.wh.transaction() as conn, conn.cursor() as cur:
            cur.execute("UPDATE emails SET status = 'failed', error = %s, retryable = %s "
                        "WHERE id = ANY(%s) AND status = 'sending'", (error[:1000], retryable, ids))

    def outgoing(self, email_id: int, p: PlannedEmail) -> OutgoingEmail:
        token = unsubscribe_token(self.secret, self.tenant_id, p.recipient.address)
        return OutgoingEmail(
            email_id=email_id, tenant_id=self.tenant_id, campaign=p.campaign, to_email=p.recipient.address,
            to_name=header_text(p.recipient.name), from_email=self.sender.email,
            from_name=header_text(self.sender.name), subject=p.subject,
            content=p.content, unsubscribe_url=unsubscribe_url(self.sender.unsubscribe_base_url, token),
            reply_to=self.sender.reply_to or self.sender.email, list_id=list_id(self.sender, p.campaign),
            extra_args={"reos_county": self.county})

    def deliver(self, planned: Sequence[PlannedEmail], batch_size: int = 1000) -> Counter:
        counts: Counter = Counter()
        if not planned:
            return counts
        with self.wh.transaction() as conn, conn.cursor() as cur:
            suppressed = suppressed_among(cur, self.tenant_id, (p.recipient.address for p in planned))
        live = [p for p in planned if p.recipient.address not in suppressed]
        counts["suppressed"] += len(planned) - len(live)
        claimed = self._claim(live) if live else {}
        to_send: list[tuple[int, PlannedEmail]] = []
        for p in live:
            email_id, status, attempts, retryable = claimed[(p.campaign, p.send_key, p.recipient.address)]
            if status in ("sent", "bounced"):
                counts["already_sent"] += 1
            elif status == "sending":
                counts["possibly_sent"] += 1  # an interrupted send awaiting its event: never resent
            elif status == "suppressed":
                counts["suppressed"] += 1
            elif status == "failed" and (not retryable or attempts >= self.max_attempts):
                counts["gave_up"] += 1
            else:
                to_send.append((email_id, p))
        # Batches keep emails of the same content together (one SendGrid request each).
        to_send.sort(key=lambda item: (item[1].content.group_key, item[0]))
        for start in range(0, len(to_send), batch_size):
            batch = dict(to_send[start:start + batch_size])
            started = self._start_sending(list(batch))
            counts["suppressed"] += len(batch) - len(started)
            if not started:
                continue
            emails = [self.outgoing(i, batch[i]) for i in started]
            try:
                outcomes = self.mailer.send_batch(emails)
            except ProviderError as exc:
                outcomes = {i: exc for i in started}
            errors = {i: o for i, o in outcomes.items() if isinstance(o, ProviderError)}
            deliveries = {i: o for i, o in outcomes.items() if not isinstance(o, ProviderError)}
            for error in {id(e): e for e in errors.values()}.values():
                ids = [i for i, e in errors.items() if e is error]
                self._mark_failed(ids, str(error), error.retryable)
                self.log(f"send failed for {len(ids)} emails: {error}")
            counts["failed"] += len(errors)
            self._mark_sent(deliveries)
            counts["sent"] += len(deliveries)
        return counts
