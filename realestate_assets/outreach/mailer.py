"""What the outreach code needs of a mail provider, and the outbox one. No Dagster imports.

`Mailer` is the protocol `Deliverer` sends through: `send_batch` returns one outcome per email
(a `Delivery` or a `ProviderError`). `send_notice` sends one account email (a `Notice`: password
reset, address verification, invitation) — transactional, so no unsubscribe headers and no
tracking. `OutboxMailer` writes .eml files (the local dry run); the SendGrid implementation is
`realestate_assets.outreach.sendgrid`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Protocol

from realestate_assets.outreach.messages import OutgoingEmail


@dataclass(frozen=True)
class Delivery:
    provider: str
    provider_message_id: str
    outbox_path: str | None


class ProviderError(RuntimeError):
    def __init__(self, message: str, *, status: int | None = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class Notice:
    """One transactional email to one person (account mail). Plain text only: it carries one
    link, and a text part is what every client shows the same way."""

    to_email: str
    subject: str
    text: str
    from_email: str
    from_name: str
    message_id: str = ""

    def __post_init__(self) -> None:
        if not self.message_id:
            object.__setattr__(self, "message_id", make_msgid(domain=self.from_email.split("@", 1)[-1]))

    def to_mime(self) -> EmailMessage:
        message = EmailMessage()
        message["From"] = formataddr((self.from_name, self.from_email))
        message["To"] = self.to_email
        message["Subject"] = self.subject
        message["Message-ID"] = self.message_id
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
        message.set_content(self.text)
        return message


class OutboxMailer:
    provider = "outbox"
    # The outbox file is proof of delivery: a `sending` row without its file was never sent.
    confirms_synchronously = True

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def _digest(message_id: str) -> str:
        return hashlib.sha256(message_id.encode()).hexdigest()[:16]

    def path_for(self, message_id: str, day: date | None = None) -> Path:
        """`<date>-<hash of the Message-ID>.eml`: sorts by day, and names no address (a file
        called `someone@example.com.eml` reads as an address to every tool that scans the disk)."""
        return self.directory / f"{(day or datetime.now(UTC).date()).isoformat()}-{self._digest(message_id)}.eml"

    def delivered_path(self, message_id: str) -> Path | None:
        """The outbox file of a message, whatever day it was written; None when it was never sent."""
        return next(iter(sorted(self.directory.glob(f"*-{self._digest(message_id)}.eml"))), None)

    def already_delivered(self, email: OutgoingEmail) -> Delivery | None:
        path = self.delivered_path(email.message_id)
        return Delivery(self.provider, email.message_id, str(path)) if path is not None else None

    def send_batch(self, emails: Sequence[OutgoingEmail]) -> dict[int, Delivery | ProviderError]:
        out: dict[int, Delivery | ProviderError] = {}
        for email in emails:
            # Only unsent rows reach here (`Deliverer.reconcile` settled the rest by their file).
            path = self.path_for(email.message_id)
            try:
                data = email.to_mime().as_bytes()
            except Exception as exc:  # one email that cannot be built fails alone, with the reason
                out[email.email_id] = ProviderError(f"could not build the message: {type(exc).__name__}: {exc}",
                                                    retryable=False)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            partial.write_bytes(data)
            partial.replace(path)  # atomic: the file exists only for a complete message
            out[email.email_id] = Delivery(self.provider, email.message_id, str(path))
        return out

    def send_notice(self, notice: Notice) -> Delivery:
        path = self.path_for(notice.message_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(notice.to_mime().as_bytes())
        partial.replace(path)
        return Delivery(self.provider, notice.message_id, str(path))


class Mailer(Protocol):
    provider: str
    confirms_synchronously: bool  # True: a delivered email can be proven afterwards (delivered_path)

    def send_batch(self, emails: Sequence[OutgoingEmail]) -> dict[int, Delivery | ProviderError]: ...

    def send_notice(self, notice: Notice) -> Delivery: ...  # ProviderError when it could not be sent
