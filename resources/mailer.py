"""Email delivery: an outbox directory of .eml files (default, a dry run), or SendGrid.

`REOS_MAILER=outbox` writes each message to `REOS_OUTBOX_DIR` (default `.reos/outbox`).
`REOS_MAILER=sendgrid` is the production backend (issue #6); until it lands, choosing it
fails loudly rather than pretending to send.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import dagster as dg

from realestate_assets.settings import state_dir


@dataclass(frozen=True)
class Delivery:
    provider: str
    provider_message_id: str
    outbox_path: str | None


class OutboxMailer:
    provider = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, message: EmailMessage) -> Path:
        message_id = re.sub(r"[^A-Za-z0-9@._-]", "", message["Message-ID"] or "")
        return self.directory / f"{message_id}.eml"

    def already_delivered(self, message: EmailMessage) -> Delivery | None:
        """Reconciliation after a crash: the file is the proof of delivery."""
        path = self.path_for(message)
        return Delivery(self.provider, message["Message-ID"], str(path)) if path.exists() else None

    def send(self, message: EmailMessage) -> Delivery:
        path = self.path_for(message)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(message.as_bytes())
        partial.replace(path)
        return Delivery(self.provider, message["Message-ID"], str(path))


class MailerResource(dg.ConfigurableResource):
    backend_env: str = "REOS_MAILER"

    def get(self) -> OutboxMailer:
        backend = os.environ.get(self.backend_env, "outbox")
        if backend == "outbox":
            return OutboxMailer(Path(os.environ.get("REOS_OUTBOX_DIR") or state_dir() / "outbox"))
        raise dg.DagsterInvariantViolationError(
            f"{self.backend_env}={backend!r} is not available yet; use 'outbox'")
