"""Email delivery: an outbox directory of .eml files (default, a dry run), or SendGrid v3.

`REOS_MAILER=outbox` writes each message to `REOS_OUTBOX_DIR` (default `.reos/outbox`).
`REOS_MAILER=sendgrid` sends through the official SDK (`SendGridAPIClient(api_key, host=...)`)
with `SENDGRID_API_KEY`, `SENDGRID_API_HOST` (default https://api.sendgrid.com; tests point it at
a local server) and `SENDGRID_UNSUBSCRIBE_GROUP_ID` (optional ASM group).

Both take a batch of `OutgoingEmail`s. SendGrid groups a batch by shared content and sends up
to 1,000 personalizations per request, each with our email id in `custom_args`. Retries go
through the shared HTTP stack (`realestate_assets.net`): a 429 waits until `X-RateLimit-Reset`
and resends the same request (nothing was accepted), a 5xx is retried with backoff; when the
attempts run out (or the reset is further off than we wait) every email in the request fails.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from realestate_assets.net import HttpError, RetryPolicy, classify, retrying
from realestate_assets.outreach.messages import OutgoingEmail
from realestate_assets.settings import state_dir

MAX_PERSONALIZATIONS = 1000


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

    def path_for(self, message_id: str) -> Path:
        return self.directory / f"{re.sub(r'[^A-Za-z0-9@._-]', '', message_id)}.eml"

    def already_delivered(self, email: OutgoingEmail) -> Delivery | None:
        path = self.path_for(email.message_id)
        return Delivery(self.provider, email.message_id, str(path)) if path.exists() else None

    def send_batch(self, emails: Sequence[OutgoingEmail]) -> dict[int, Delivery | ProviderError]:
        out: dict[int, Delivery | ProviderError] = {}
        for email in emails:
            path = self.path_for(email.message_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            partial.write_bytes(email.to_mime().as_bytes())
            partial.replace(path)  # atomic: the file exists only for a complete message
            out[email.email_id] = Delivery(self.provider, email.message_id, str(path))
        return out


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
                    message_id = self._post(self.request_body(chunk))
                except ProviderError as exc:
                    out.update({email.email_id: exc for email in chunk})
                    continue
                for email in chunk:
                    out[email.email_id] = Delivery(self.provider, message_id or f"sendgrid:{email.email_id}", None)
        return out


Mailer = OutboxMailer | SendGridMailer


class MailerResource(dg.ConfigurableResource):
    backend_env: str = "REOS_MAILER"

    def get(self) -> Mailer:
        backend = os.environ.get(self.backend_env, "outbox")
        if backend == "outbox":
            return OutboxMailer(Path(os.environ.get("REOS_OUTBOX_DIR") or state_dir() / "outbox"))
        if backend == "sendgrid":
            api_key = os.environ.get("SENDGRID_API_KEY")
            if not api_key:
                raise dg.DagsterInvariantViolationError("REOS_MAILER=sendgrid needs SENDGRID_API_KEY")
            group = os.environ.get("SENDGRID_UNSUBSCRIBE_GROUP_ID")
            return SendGridMailer(api_key, os.environ.get("SENDGRID_API_HOST") or "https://api.sendgrid.com",
                                  asm_group_id=int(group) if group else None)
        raise dg.DagsterInvariantViolationError(
            f"{self.backend_env}={backend!r}: expected 'outbox' or 'sendgrid'")
