"""SendGrid v3 (`POST /v3/mail/send`) behind the outreach `Mailer` protocol. No Dagster imports:
the pipeline's resource (`resources.mailer`) and the API (account email) both build it.

Campaign email goes out in batches: grouped by shared content, up to 1,000 personalizations a
request, each with our email id in `custom_args`. Account email (`send_notice`) is one message to
one person, with click tracking off so the one-time link in it is not rewritten. Retries go
through the shared HTTP stack (`realestate_assets.net`): a 429 waits until `X-RateLimit-Reset`
and resends the same request (nothing was accepted), a 5xx is retried with backoff; when the
attempts run out (or the reset is further off than we wait) every email in the request fails.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence

from realestate_assets.net import HttpError, RetryPolicy, classify, retrying
from realestate_assets.outreach.mailer import Delivery, Notice, ProviderError
from realestate_assets.outreach.messages import OutgoingEmail

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

    def notice_body(self, notice: Notice) -> dict:
        """One account email: no categories, no unsubscribe group (it is not marketing: RFC 8058
        headers and ASM suppression would let someone block their own password resets) and no
        click tracking (SendGrid would rewrite the one-time link through its own domain)."""
        return {
            "from": {"email": notice.from_email, "name": notice.from_name},
            "personalizations": [{"to": [{"email": notice.to_email}], "subject": notice.subject}],
            "content": [{"type": "text/plain", "value": notice.text}],
            "headers": {"Auto-Submitted": "auto-generated"},
            "tracking_settings": {"click_tracking": {"enable": False, "enable_text": False},
                                  "open_tracking": {"enable": False}},
        }

    def send_notice(self, notice: Notice) -> Delivery:
        message_id = self._post(self.notice_body(notice))
        return Delivery(self.provider, message_id or notice.message_id, None)
