"""Compliance enforced before any send: sender identity, postal address, unsubscribe link.

CAN-SPAM asks for a valid physical postal address, a working opt-out honoured promptly and a
truthful From line; RFC 8058 asks for one-click unsubscribe headers. `sending_problems`
returns what is missing; the `emails` asset refuses to send while the list is not empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from realestate_assets.config_models import Sender
from realestate_assets.settings import is_public_url

# A street number and a ZIP (US) or a postal-code-like token: a real mailing address, not "TBD".
_STREET_NUMBER = re.compile(r"\b\d{1,6}\b|\bP\.?\s?O\.?\s+Box\b", re.IGNORECASE)
_POSTAL_CODE = re.compile(r"\b\d{5}(?:-\d{4})?\b|\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b|\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b")
_PLACEHOLDER = re.compile(r"\b(tbd|todo|changeme|placeholder|address here|example street)\b", re.IGNORECASE)


class ComplianceError(RuntimeError):
    """Sending refused: the message names every missing piece."""


def sending_problems(sender: Sender, *, require_https: bool = True) -> list[str]:
    problems = []
    if not (sender.name or "").strip():
        problems.append("sender.name is empty (CAN-SPAM: a truthful sender identity)")
    if not sender.email or "@" not in sender.email:
        problems.append("sender.email is missing")
    address = (sender.postal_address or "").strip()
    if not address:
        problems.append("sender.postal_address is missing (CAN-SPAM: a valid physical postal address)")
    elif _PLACEHOLDER.search(address) or not (_STREET_NUMBER.search(address) and _POSTAL_CODE.search(address)):
        problems.append(f"sender.postal_address {address!r} does not look like a physical postal address "
                        "(a street number or PO Box and a postal code are required)")
    base = sender.unsubscribe_base_url or ""
    if not base:
        problems.append("sender.unsubscribe_base_url is missing (working opt-out)")
    elif require_https and not base.startswith("https://"):
        problems.append("sender.unsubscribe_base_url must be https:// (RFC 8058 one-click)")
    return problems


def require_sendable(sender: Sender, *, require_https: bool = True) -> None:
    problems = sending_problems(sender, require_https=require_https)
    if problems:
        raise ComplianceError("sending refused: " + "; ".join(problems))


def link_problems(*, provider: str, public_base_url: str, link_secret_given: bool) -> list[str]:
    """What stops the memo links in an email from working where the email is read. Mail that stays
    on this machine (the outbox) may link to a local API; mail that leaves it needs the API's public
    address (REOS_PUBLIC_BASE_URL) and the link secret that API checks (REOS_LINK_SECRET), not a
    random one made by this process."""
    if provider == "outbox":
        return []
    problems = []
    if not public_base_url:
        problems.append("REOS_PUBLIC_BASE_URL is not set: the memo links in emails sent through "
                        f"{provider} need the API's public address (e.g. https://api.example.com)")
    elif not is_public_url(public_base_url) or not public_base_url.startswith("https://"):
        problems.append(f"REOS_PUBLIC_BASE_URL={public_base_url!r} is not a public https:// address: "
                        f"the memo links in emails sent through {provider} would not open")
    if not link_secret_given:
        problems.append("REOS_LINK_SECRET is not set: the API could not verify the memo links in the emails")
    return problems


# ---- suppressions ----------------------------------------------------------------------------
# An address is suppressed (opt-out, bounce, spam report, erasure on request) when the tenant has
# a suppression with its hash: `suppression_hash(tenant, email)` (migration 0031) is the one
# definition, in the database, so an erased recipient — whose suppression keeps the hash alone —
# stays suppressed for every check below, whatever later imports the same address.

def suppressed_sql(tenant: str, address: str) -> str:
    """SQL truth value: `address` (an SQL expression) is suppressed in `tenant` (an SQL expression)."""
    return (f"EXISTS (SELECT 1 FROM suppressions s WHERE s.tenant_id = {tenant} "
            f"AND s.email_hash = suppression_hash({tenant}, {address}))")


def suppressed_among(cur: Any, tenant_id: str, addresses: Iterable[str]) -> set[str]:
    """Which of `addresses` are suppressed in the tenant."""
    cur.execute(f"SELECT a FROM unnest(%s::text[]) AS a WHERE {suppressed_sql('%s', 'a')}",
                (sorted(set(addresses)), tenant_id, tenant_id))
    return {row[0] for row in cur.fetchall()}
