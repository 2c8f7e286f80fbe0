"""Account email: the password-reset, invitation and address-verification messages.

Each carries one one-time link into the dashboard (`/reset-password`, `/verify-email`). The token
travels in the URL's fragment (`#token=…`): browsers never send a fragment to a server, so it stays
out of access logs, proxies and the Referer of whatever the page loads; the page reads it and posts
it to the API. Transactional mail: no unsubscribe link, no tracking (realestate_assets.outreach.mailer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
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
