"""Email delivery resource: an outbox directory of .eml files (default, a dry run), or SendGrid v3.

`backend="outbox"` writes each message to `outbox_dir`. `backend="sendgrid"` sends through the
official SDK (`SendGridAPIClient(api_key, host=...)`) with `api_key`, `api_host` (tests point it
at a local server) and `unsubscribe_group_id` (optional ASM group). The unsubscribe links in
every email are signed with `unsubscribe_secret`, shared with the API.

Both take a batch of `OutgoingEmail`s. SendGrid groups a batch by shared content and sends up
to 1,000 personalizations per request, each with our email id in `custom_args`. Retries go
through the shared HTTP stack (`realestate_assets.net`): a 429 waits until `X-RateLimit-Reset`
and resends the same request (nothing was accepted), a 5xx is retried with backoff; when the
attempts run out (or the reset is further off than we wait) every email in the request fails.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from realestate_assets.net import HttpError, RetryPolicy, classify, retrying
from realestate_assets.outreach.mailer import Delivery, Mailer, OutboxMailer, ProviderError
from realestate_assets.outreach.messages import OutgoingEmail
from realestate_assets.settings import local_secret, missing_secret_message, validated_secret

__all__ = ["Delivery", "Mailer", "MailerResource", "OutboxMailer", "ProviderError", "SendGridMailer"]

MAX_PERSONALIZATIONS = 1000


class SendGridMailer:
    provider = "sendgrid"
    # A 202 is confirmed later by events carrying our email id; a crash after the 202 leaves the
    # row `sending`, which is treated as possibly sent (never resent automatically).
    confirms_synchronously = False

    def __init__(self, api_key: str, host: str = "https://api.sendgrid.com", *, asm_group_id: int | None = None,
                 max_personalizations: int = MAX_PERSONALIZATIONS, max_rate_limit_wait_s: float = 120.0,
                 server_error_retries: int = 2, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        from sendgrid import SendGridAPIClient

        self.client = SendGridAPIClient(api_key=api_key, host=host)
        self.asm_group_id = asm_group_id
        self.max_personalizations = min(max_personalizations, MAX_PERSONALIZATIONS)
        # One policy for 429s and 5xx: attempts in all, backoff when SendGrid names no reset time.
        self.retry_policy = RetryPolicy(attempts=server_error_retries + 1, initial_wait_s=0.5, max_wait_s=30.0,
                                        max_retry_after_s=max_rate_limit_wait_s)
        self.sleep, self.clock = sleep, clock
        self.requests_sent = 0

    def request_body(self, emails: Sequence[OutgoingEmail]) -> dict:
        first = emails[0]
        content = first.content
        body: dict = {
            "from": {"email": first.from_email, "name": first.from_name},
            "personalizations": [{
                "to": [{"email": e.to_email, "name": e.to_name}],
                "subject": e.subject,
                "custom_args": e.custom_args,  # strings only (SendGrid rejects other types)
                "substitutions": e.substitutions,
                "headers": e.headers(),
            } for e in emails],
            "content": [{"type": "text/plain", "value": content.text}, {"type": "text/html", "value": content.html}],
            "categories": list(content.categories)[:10],
        }
        if first.reply_to:
            body["reply_to"] = {"email": first.reply_to}
        if content.attachments:
            body["attachments"] = [{"content": base64.b64encode(a.data).decode(), "type": a.content_type,
                                    "filename": a.filename, "disposition": "attachment"} for a in content.attachments]
        if self.asm_group_id is not None:
            body["asm"] = {"group_id": int(self.asm_group_id)}
        return body

    def _post(self, body: dict) -> str:
        """POST one request through the shared retry loop; the X-Message-Id of the 202."""
        try:
            return retrying(self.retry_policy, sleep=self.sleep)(self._post_once, body)
        except HttpError as exc:
            detail = f"SendGrid {exc}: {exc.text[:300]}" if exc.text else f"SendGrid {exc}"
            # 429 and 5xx may pass later (the delivery retries them on a later run); other 4xx will not.
            raise ProviderError(detail, status=exc.status, retryable=exc.status is not None
                                and (exc.status == 429 or exc.status >= 500)) from exc

    def _post_once(self, body: dict) -> str:
        from python_http_client.exceptions import HTTPError

        try:
            response = self.client.client.mail.send.post(request_body=body)
        except HTTPError as exc:
            self.requests_sent += 1
            # 429 waits for X-RateLimit-Reset and resends the same request (nothing was accepted).
            verdict = classify(exc.status_code, dict(exc.headers or {}),
                               max_retry_after_s=self.retry_policy.max_retry_after_s, now=self.clock())
            detail = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body)
            raise verdict.error(detail) from exc
        self.requests_sent += 1
        headers = {k.lower(): v for k, v in dict(response.headers or {}).items()}
        return headers.get("x-message-id", "")

    def send_batch(self, emails: Sequence[OutgoingEmail]) -> dict[int, Delivery | ProviderError]:
        """One outcome per email: a request that failed fails only its own emails."""
        out: dict[int, Delivery | ProviderError] = {}
        groups: dict[str, list[OutgoingEmail]] = {}
        for email in emails:
            groups.setdefault(email.content.group_key, []).append(email)
        for group in groups.values():
            for start in range(0, len(group), self.max_personalizations):
                chunk = group[start:start + self.max_personalizations]
                try:
                    body = self.request_body(chunk)
                except Exception as exc:  # nothing was sent: these emails fail with the reason, the rest go
                    failure = ProviderError(f"could not build the request: {type(exc).__name__}: {exc}",
                                            retryable=False)
                    out.update({email.email_id: failure for email in chunk})
                    continue
                try:
                    message_id = self._post(body)
                except ProviderError as exc:
                    out.update({email.email_id: exc for email in chunk})
                    continue
                for email in chunk:
                    out[email.email_id] = Delivery(self.provider, message_id or f"sendgrid:{email.email_id}", None)
        return out


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
