"""What the outreach code needs of a mail provider, and the outbox one. No Dagster imports.

`Mailer` is the protocol `Deliverer` sends through: `send_batch` returns one outcome per email
(a `Delivery` or a `ProviderError`). `OutboxMailer` writes .eml files (the local dry run); the
SendGrid implementation lives with its resource (`resources.mailer`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
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


class Mailer(Protocol):
    provider: str
    confirms_synchronously: bool  # True: a delivered email can be proven afterwards (delivered_path)

    def send_batch(self, emails: Sequence[OutgoingEmail]) -> dict[int, Delivery | ProviderError]: ...
