"""The email we send, provider-neutral: content shared by a batch, personalized per recipient.

An `OutgoingEmail` carries the HTML/text bodies with per-recipient placeholders
(`[%first_name%]`, `[%unsubscribe_url%]`, …) and the values for one recipient. The outbox
backend substitutes them and writes an .eml; SendGrid receives the shared content once per
request and the values as `substitutions` of each personalization (≤ 1,000 per request).

Every email carries a CAN-SPAM footer (sender identity, postal address, opt-out) and the RFC
8058 one-click headers; the unsubscribe URL holds a signed token (`unsubscribe_token`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import Any
from urllib.parse import quote

from realestate_assets.db.tenancy import TENANT_ID
from realestate_assets.docs import numbers

CAMPAIGN_NEW_OPPORTUNITY = "new_opportunity"
PLACEHOLDERS = ("first_name", "name", "unsubscribe_url")


# Characters that must never reach a header or a file name: C0/C1 controls (CR, LF, NUL, ESC, …)
# and Unicode line/paragraph separators. A run of them becomes one space.
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_FILENAME = 100


def header_text(value: str | None) -> str:
    """A value fit for an email header (subject, display name): no line breaks or control
    characters, so a parcel id or subject token can neither inject a header nor break the message."""
    return " ".join(_HEADER_UNSAFE.sub(" ", value or "").split())


def safe_filename(name: str) -> str:
    """An attachment or file name from data: only letters, digits, `.`, `_`, `-` (other runs become
    `_`), no path separators, no leading dot, at most MAX_FILENAME characters with the extension kept."""
    cleaned = _FILENAME_UNSAFE.sub("_", name).strip("._") or "file"  # never "", "." or ".."
    if len(cleaned) > MAX_FILENAME:
        stem, dot, ext = cleaned.rpartition(".")
        ext = f".{ext}" if dot and len(ext) <= 10 else ""
        cleaned = (stem if ext else cleaned)[:MAX_FILENAME - len(ext)] + ext
    return cleaned


def placeholder(name: str) -> str:
    return f"[%{name}%]"


def unsubscribe_token(secret: str, tenant_id: str, email: str) -> str:
    """Signed, URL-safe token naming the tenant and address; verified by the API later."""
    payload = f"{tenant_id}:{email.lower()}".encode()
    signature = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
    return (base64.urlsafe_b64encode(payload).decode().rstrip("=") + "."
            + base64.urlsafe_b64encode(signature).decode().rstrip("="))


def verify_unsubscribe_token(secret: str, token: str) -> tuple[str, str] | None:
    try:
        body, _ = token.split(".", 1)
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        tenant_id, email = payload.split(":", 1)
    except (ValueError, UnicodeDecodeError):
        return None
    if not hmac.compare_digest(unsubscribe_token(secret, tenant_id, email), token):
        return None
    return (tenant_id, email) if _could_be_ours(tenant_id, email, 320) else None


def _could_be_ours(tenant_id: str, text: str, max_length: int) -> bool:
    """A signed token whose tenant id or text no email of ours carries (a NUL byte, a control
    character, an id outside the tenant rule) is not valid, rather than a database or file error."""
    return bool(TENANT_ID.match(tenant_id)) and text.isprintable() and 0 < len(text) <= max_length


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url}?token={quote(token)}"


# ------------------------------------------------------------------ memo links (`/p/<token>`)
# An email links to the API, never to a raw object URL: the token names the tenant and the object
# key and lives as long as the campaign's `link_ttl_days`; the API checks it and redirects to a
# fresh object URL that lives minutes (realestate_assets/api/links.py). Signed with the object
# store's link secret by the same function as local object links (`objects.local_link_signature`),
# over a string no object link can take (it starts with "packet-link"), so one is never the other.


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _packet_link_message(tenant_id: str, key: str) -> str:
    return f"packet-link\n{tenant_id}\n{key}"


def packet_link_token(secret: str, tenant_id: str, key: str, expires: int) -> str:
    from realestate_assets.objects import local_link_signature

    body = _b64(f"{tenant_id}\n{key}\n{int(expires)}".encode())
    return f"{body}.{local_link_signature(secret, _packet_link_message(tenant_id, key), int(expires))}"


@dataclass(frozen=True)
class PacketLink:
    tenant_id: str
    key: str
    expires: int


def read_packet_link_token(secret: str, token: str) -> PacketLink | None:
    """The token's tenant, object key and expiry when its signature is ours (expired or not:
    the caller tells an expired link from a forged one); None otherwise."""
    from realestate_assets.objects import local_link_signature

    try:
        body, signature = token.split(".", 1)
        tenant_id, key, expires = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode().split("\n")
        link = PacketLink(tenant_id, key, int(expires))
    except (ValueError, UnicodeDecodeError):
        return None
    expected = local_link_signature(secret, _packet_link_message(link.tenant_id, link.key), link.expires)
    if not hmac.compare_digest(expected, signature):
        return None
    return link if _could_be_ours(link.tenant_id, link.key, 1024) else None


def packet_link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/p/{token}"


def list_id(sender: Any, campaign: str) -> str:
    """RFC 2919 List-Id: one list per campaign of this sender (mailbox filters and one-click
    unsubscribe tools group by it)."""
    domain = sender.email.split("@", 1)[1].lower()
    label = header_text(f"{sender.branding.company} {campaign.replace('_', ' ')}").replace('"', "")
    return f'"{label}" <{re.sub(r"[^a-z0-9-]", "-", campaign.lower())}.{domain}>'


def personalize(text: str, tokens: dict[str, Any]) -> str:
    """`{token}` substitution for subjects and intros; unknown tokens are left visible, never crash."""
    class _Safe(dict):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    formatter = string.Formatter()
    return formatter.vformat(text, (), _Safe({k: ("" if v is None else v) for k, v in tokens.items()}))


def _safe_value(value: str) -> str:
    # Substitutions go into HTML unescaped (SendGrid does not escape them): keep them inert.
    return "".join(ch for ch in value if ch not in '<>&"\'')


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Content:
    """What every recipient of one batch shares."""

    group_key: str
    html: str
    text: str
    attachments: tuple[Attachment, ...] = ()
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutgoingEmail:
    email_id: int
    tenant_id: str
    campaign: str
    to_email: str
    to_name: str
    from_email: str
    from_name: str
    subject: str
    content: Content
    unsubscribe_url: str
    reply_to: str | None = None
    list_id: str | None = None
    extra_args: dict[str, str] = field(default_factory=dict)

    @property
    def substitutions(self) -> dict[str, str]:
        first = self.to_name.split()[0] if self.to_name.strip() else "there"
        return {placeholder("first_name"): _safe_value(first), placeholder("name"): _safe_value(self.to_name),
                placeholder("unsubscribe_url"): self.unsubscribe_url}

    @property
    def custom_args(self) -> dict[str, str]:
        """Our idempotency key travels with the message and comes back on every provider event."""
        return {"reos_email_id": str(self.email_id), "reos_tenant": self.tenant_id, "reos_campaign": self.campaign,
                **{k: str(v) for k, v in self.extra_args.items()}}

    @property
    def message_id(self) -> str:
        # Deterministic: a resend after a crash is recognisably the same message.
        return f"<reos-email-{self.email_id}@{self.from_email.split('@', 1)[1]}>"

    def headers(self) -> dict[str, str]:
        headers = {"List-Unsubscribe": f"<{self.unsubscribe_url}>, <mailto:{self.from_email}?subject=unsubscribe>",
                   "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        if self.list_id:
            headers["List-Id"] = self.list_id
        return headers

    def _fill(self, text: str) -> str:
        for key, value in self.substitutions.items():
            text = text.replace(key, value)
        return text

    def html(self) -> str:
        return self._fill(self.content.html)

    def text(self) -> str:
        return self._fill(self.content.text)

    def to_mime(self, sent_at: datetime | None = None) -> EmailMessage:
        # RFC 5322 allows 998-character lines; a shorter limit would RFC 2047-encode the long
        # List-Unsubscribe URL, which mailbox providers then cannot use.
        message = EmailMessage(policy=SMTP.clone(max_line_length=998))
        message["From"] = formataddr((self.from_name, self.from_email))
        message["To"] = formataddr((self.to_name, self.to_email))
        if self.reply_to:
            message["Reply-To"] = self.reply_to
        message["Subject"] = self.subject
        message["Date"] = format_datetime(sent_at or datetime.now(UTC))
        message["Message-ID"] = self.message_id
        for name, value in self.headers().items():
            message[name] = value
        message["X-REOS-Email-Id"] = str(self.email_id)
        message["X-REOS-Campaign"] = self.campaign
        message.set_content(self.text())
        message.add_alternative(self.html(), subtype="html")
        for attachment in self.content.attachments:
            maintype, subtype = attachment.content_type.split("/", 1)
            message.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
        return message


def text_body(*, greeting_name: str, intro: str, items: list[dict[str, Any]], attached: str | None,
              sender: dict[str, Any], campaign_label: str, heading: str | None = None) -> str:
    """The plain-text alternative: the same facts as the HTML, with the same footer."""
    lines = [f"Hello {greeting_name},", ""] + ([intro, ""] if intro else []) + ([heading, ""] if heading else [])
    for item in items:
        value = item.get("estimated_value")
        gap = item.get("value_gap_pct")
        lines.append(f"* Parcel {item['parcel_id']} ({item.get('address') or 'address not in the county file'}): "
                     f"score {item['bird_dog_score']:.0f}/100"
                     + (f", estimated value {numbers.money(value)}" if value is not None else "")
                     + (f", value gap {numbers.pct(gap, 1)}" if gap is not None else ""))  # as the HTML
        for reason in (item.get("reasons") or [])[:3]:
            lines.append(f"    - {reason}")
        if item.get("link"):
            lines.append(f"    memo: {item['link']}"
                         + (f" (link valid until {item['link_expires']})" if item.get("link_expires") else ""))
    if attached:
        lines += ["", attached]
    lines += ["", "--", f"{sender['company']} · {sender['name']} · {sender['email']}", sender["postal_address"],
              f"You receive this because you subscribed to {sender['company']} deal alerts ({campaign_label}).",
              f"Unsubscribe (one click, no login): {placeholder('unsubscribe_url')}"]
    return "\n".join(lines)
