"""Build the investor email: memo attached, CAN-SPAM footer, RFC 8058 one-click unsubscribe."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from urllib.parse import quote

from realestate_assets.config_models import Recipient, Sender

CAMPAIGN_NEW_OPPORTUNITY = "new_opportunity"


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
    except ValueError:
        return None
    return (tenant_id, email) if hmac.compare_digest(unsubscribe_token(secret, tenant_id, email), token) \
        else None


def build_memo_email(
    *, email_id: int, sender: Sender, recipient: Recipient, subject: str, summary_lines: list[str],
    pdf: bytes, pdf_name: str, unsubscribe_url: str, sent_at: datetime | None = None,
) -> EmailMessage:
    domain = sender.email.split("@", 1)[1]
    # RFC 5322 allows 998-character lines; a shorter limit would RFC 2047-encode the long
    # List-Unsubscribe URL, which mailbox providers then cannot use.
    message = EmailMessage(policy=SMTP.clone(max_line_length=998))
    message["From"] = formataddr((sender.name, sender.email))
    message["To"] = formataddr((recipient.name, recipient.email))
    message["Subject"] = subject
    message["Date"] = format_datetime(sent_at or datetime.now(UTC))
    # Deterministic Message-ID: a resend after a crash is recognisably the same message.
    message["Message-ID"] = f"<reos-email-{email_id}@{domain}>"
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>, <mailto:{sender.email}?subject=unsubscribe>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    body = "\n".join([
        f"Hello {recipient.name},", "",
        *summary_lines, "",
        "The investor memo is attached as a PDF.", "",
        "--",
        f"{sender.name}", sender.postal_address,
        "You receive this because you subscribed to Real Estate OS deal alerts.",
        f"Unsubscribe (one click, no login): {unsubscribe_url}",
    ])
    message.set_content(body)
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=pdf_name)
    return message


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url}?token={quote(token)}"
