"""Email delivery resource: an outbox directory of .eml files (default, a dry run), or SendGrid v3.

`backend="outbox"` writes each message to `outbox_dir`. `backend="sendgrid"` sends through the
official SDK (`SendGridAPIClient(api_key, host=...)`) with `api_key`, `api_host` (tests point it
at a local server) and `unsubscribe_group_id` (optional ASM group). The unsubscribe links in
every email are signed with `unsubscribe_secret`, shared with the API.

Both take a batch of `OutgoingEmail`s; the SendGrid client itself (batching, retries) is
`realestate_assets.outreach.sendgrid`, which the API uses too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from realestate_assets.outreach.mailer import Delivery, Mailer, OutboxMailer, ProviderError
from realestate_assets.outreach.sendgrid import SendGridMailer
from realestate_assets.settings import local_secret, missing_secret_message, validated_secret

__all__ = ["Delivery", "Mailer", "MailerResource", "OutboxMailer", "ProviderError", "SendGridMailer"]


class MailerResource(dg.ConfigurableResource):
    backend: Literal["outbox", "sendgrid"] = Field(default="outbox", description="outbox (dry run) or sendgrid")
    outbox_dir: str = Field(default="", description=".eml directory (backend=outbox)")
    api_key: str = Field(default="", description="SendGrid API key (backend=sendgrid)")
    api_host: str = Field(default="https://api.sendgrid.com", description="SendGrid API host")
    unsubscribe_group_id: int | None = Field(default=None, description="SendGrid ASM group (optional)")
    unsubscribe_secret: str = Field(default="", description="signs unsubscribe links, shared with the API "
                                                            "(empty: a random one kept in unsubscribe_secret_file)")
    unsubscribe_secret_file: str = Field(default="", description="file holding the local random secret (empty: "
                                                                 "unsubscribe_secret is required)")

    def get(self) -> Mailer:
        if self.backend == "outbox":
            if not self.outbox_dir:
                raise dg.DagsterInvariantViolationError("mailer backend=outbox needs outbox_dir")
            return OutboxMailer(Path(self.outbox_dir))
        if not self.api_key:
            raise dg.DagsterInvariantViolationError("mailer backend=sendgrid needs api_key (SENDGRID_API_KEY)")
        return SendGridMailer(self.api_key, self.api_host or "https://api.sendgrid.com",
                              asm_group_id=self.unsubscribe_group_id)

    def signing_secret(self) -> str:
        """The secret unsubscribe tokens are signed with: configured, or the local invented one
        where `settings.secrets_required_because` allows a file (resources_for decides)."""
        if self.unsubscribe_secret:
            return validated_secret("unsubscribe", self.unsubscribe_secret)
        if not self.unsubscribe_secret_file:
            raise dg.DagsterInvariantViolationError(missing_secret_message("unsubscribe"))
        return local_secret(Path(self.unsubscribe_secret_file))

    def configured_secrets(self) -> dict[str, str]:
        """The configured (not invented) secrets, whose fingerprints a run compares with the API's."""
        return {"unsubscribe": self.signing_secret()} if self.unsubscribe_secret else {}
