"""Account email: the password-reset, invitation and address-verification messages, the
digest of a saved search's new matches (outreach/search_alerts.py) and the notice that a quota is
nearly used up (accounts/quota_notices.py) — one mailer for a person's mail.

Each carries one one-time link into the dashboard (`/reset-password`, `/verify-email`). The token
travels in the URL's fragment (`#token=…`): browsers never send a fragment to a server, so it stays
out of access logs, proxies and the Referer of whatever the page loads; the page reads it and posts
it to the API. Transactional mail: no unsubscribe link, no tracking (realestate_assets.outreach.mailer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote

from realestate_assets.accounts.store import IssuedToken
from realestate_assets.outreach.mailer import Delivery, Mailer, Notice

Kind = Literal["reset", "invite", "verify"]

# How long each link works. A reset is asked for by the person reading it, now; an invitation or a
# verification may wait in an inbox over a weekend.
TTL: dict[Kind, timedelta] = {"reset": timedelta(hours=1), "invite": timedelta(days=7), "verify": timedelta(days=7)}
PURPOSE: dict[Kind, str] = {"reset": "reset_password", "invite": "reset_password", "verify": "verify_email"}
PAGE: dict[Kind, str] = {"reset": "reset-password", "invite": "reset-password", "verify": "verify-email"}


def _hours(ttl: timedelta) -> str:
    hours = int(ttl.total_seconds() // 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}" if hours < 48 else f"{hours // 24} days"


def link(base_url: str, kind: Kind, token: str) -> str:
    return f"{base_url.rstrip('/')}/{PAGE[kind]}#token={quote(token)}"


def compose(kind: Kind, issued: IssuedToken, *, base_url: str, product: str, from_email: str, from_name: str,
            inviter: str | None = None, tenant_name: str | None = None) -> Notice:
    url = link(base_url, kind, issued.token)
    expiry = _hours(TTL[kind])
    if kind == "reset":
        subject = f"Reset your {product} password"
        body = (f"Someone (hopefully you) asked to reset the password of the {product} account {issued.email}.\n\n"
                f"Choose a new password here (the link works once, for {expiry}):\n{url}\n\n"
                "Setting a new password logs this account out everywhere.\n"
                "If you did not ask for this, ignore this email: your password stays as it is.\n")
    elif kind == "invite":
        who = f"{inviter} invited you" if inviter else "You have been invited"
        where = f" to {tenant_name}" if tenant_name else ""
        subject = f"{who}{where} on {product}"
        body = (f"{who}{where} on {product}, as {issued.email}.\n\n"
                f"Choose your password here to start (the link works once, for {expiry}):\n{url}\n\n"
                "If you were not expecting this, ignore this email: no account is usable without that step.\n")
    else:
        subject = f"Confirm your email address for {product}"
        body = (f"Confirm that {issued.email} is your address on {product} (the link works once, for {expiry}):\n"
                f"{url}\n\nIf you did not sign up, ignore this email.\n")
    return Notice(to_email=issued.email, subject=subject, text=body, from_email=from_email, from_name=from_name)


# A digest lists this many properties at most (the best first); the rest are named by count, and
# the search's page in the dashboard lists them all.
DIGEST_LISTED = 50


def _money(value: Any) -> str:
    return f"${value:,.0f}" if isinstance(value, int | float) else "n/a"


def compose_search_digest(search_name: str, to_email: str, matches: Sequence[dict[str, Any]], *, base_url: str | None,
                          product: str, from_email: str, from_name: str, message_id: str = "") -> Notice:
    """One email listing a saved search's new matches (`matches`: best first, each with address,
    city, state, zip, bird_dog_score, estimated_value, property_id). Only what the tables hold:
    a missing value reads n/a, never an estimate made here."""
    count = len(matches)
    noun = "property" if count == 1 else "properties"
    lines = []
    for m in matches[:DIGEST_LISTED]:
        place = ", ".join(str(x) for x in (m.get("address"), m.get("city"), m.get("state")) if x) or m["prospect_key"]
        score = m.get("bird_dog_score")
        lines.append(f"* {place} — score {score:.0f}" if isinstance(score, int | float) else f"* {place} — score n/a")
        lines.append(f"  estimated value {_money(m.get('estimated_value'))}")
        if base_url and m.get("property_id") is not None:
            lines.append(f"  {base_url.rstrip('/')}/properties/{m['property_id']}")
    more = count - min(count, DIGEST_LISTED)
    if more:
        lines.append(f"… and {more} more: open the saved search in {product} to see them all.")
    body = (f"{count} new {noun} match your saved search “{search_name}” on {product}:\n\n" + "\n".join(lines)
            + "\n\nYou get this email because alerts are on for this search. Turn them off on the search, or "
              "every saved-search email in Settings › Notifications (search alert).\n")
    return Notice(to_email=to_email, subject=f"{count} new {noun} for “{search_name}”", text=body,
                  from_email=from_email, from_name=from_name, message_id=message_id)


def compose_quota_notice(usage: Any, to_email: str, tenant_name: str, *, base_url: str | None, product: str,
                         from_email: str, from_name: str) -> Notice:
    """The notice to a tenant's owner or admin that `usage` (accounts.quotas.Usage) is nearly used
    up: how much of which limit, when it resets, and what happens at the limit."""
    from realestate_assets.accounts.quotas import UNIT

    assert usage.limit is not None and usage.resets_at is not None
    share = round(100 * usage.used / usage.limit)
    unit = UNIT[usage.quota]
    at_limit = {"properties": "properties not received yet this month are refused (the API answers 402) and "
                              "the pipeline skips them",
                "emails": "campaign emails wait (the API answers 402 to a send) and the pipeline skips them"}
    body = (f"{tenant_name} has used {usage.used:,} of the {usage.limit:,} {unit} its {usage.plan} plan allows "
            f"this month ({share} %). It resets on {usage.resets_at:%Y-%m-%d %H:%M} UTC.\n\n"
            f"At the limit, {at_limit.get(usage.quota, 'more is refused')}. A bigger plan lifts it at once.\n"
            + (f"\nYour usage: {base_url.rstrip('/')}/settings (Usage)\n" if base_url else "")
            + "\nYou get this email as an owner or admin of the workspace, once per limit and month.\n")
    return Notice(to_email=to_email, subject=f"{tenant_name}: {share} % of this month's {unit} used on {product}",
                  text=body, from_email=from_email, from_name=from_name)


@dataclass(frozen=True)
class AccountMail:
    """Sends account email through the installation's mailer (the one the pipeline uses)."""

    mailer: Mailer
    from_email: str
    from_name: str
    product: str = "Real Estate OS"

    def send(self, kind: Kind, issued: IssuedToken, *, base_url: str, inviter: str | None = None,
             tenant_name: str | None = None) -> Delivery:
        """ProviderError when the mailer refused it."""
        return self.mailer.send_notice(compose(kind, issued, base_url=base_url, product=self.product,
                                               from_email=self.from_email, from_name=self.from_name,
                                               inviter=inviter, tenant_name=tenant_name))

    def send_search_digest(self, search_name: str, to_email: str, matches: Sequence[dict[str, Any]], *,
                           base_url: str | None) -> Delivery:
        """ProviderError when the mailer refused it."""
        return self.mailer.send_notice(compose_search_digest(
            search_name, to_email, matches, base_url=base_url, product=self.product, from_email=self.from_email,
            from_name=self.from_name))

    def send_quota_notice(self, usage: Any, to_email: str, tenant_name: str, *, base_url: str | None) -> Delivery:
        """ProviderError when the mailer refused it."""
        return self.mailer.send_notice(compose_quota_notice(
            usage, to_email, tenant_name, base_url=base_url, product=self.product, from_email=self.from_email,
            from_name=self.from_name))
