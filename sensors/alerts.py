"""Failure is loud: every failed run is mailed to operators and, optionally, posted to Slack.

The alert names what an on-call engineer needs first: the county (partition key), the failed
step(s), the first line of each error, the run id and a link to the run. It goes out through the
project's mailer (`MailerResource`: the outbox directory locally, SendGrid in production) and a
Slack incoming webhook when `REOS_SLACK_WEBHOOK_URL` is set. One channel failing never stops the
other; a failed delivery is logged on the sensor tick (the run's own failure is already recorded).

Wiring (definitions.py): `sensors=[..., run_failure_alerts]`, `resources={..., "alerts": alerts_resource()}`.
"""

# No `from __future__ import annotations`: Dagster reads the sensor's parameter annotations to
# inject its resources.
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
import httpx

from realestate_assets.outreach.messages import Content, OutgoingEmail
from resources.mailer import MailerResource, ProviderError

SENSOR_NAME = "reos_run_failure_alerts"
CAMPAIGN = "ops_alert"


class AlertsResource(dg.ConfigurableResource):
    """Where failure alerts go. Secrets come from the environment (`dg.EnvVar`)."""

    email_to: list[str] = []
    email_from: str = "alerts@example.com"
    # Slack incoming-webhook URL (a secret): set through dg.EnvVar("REOS_SLACK_WEBHOOK_URL").
    slack_webhook_url: str | None = None
    # Base URL of the Dagster UI, for a link to the failed run (e.g. https://dagster.example.com).
    dagster_ui_url: str | None = None
    timeout_seconds: float = 10.0


def alerts_resource() -> AlertsResource:
    """The resource as configured by the environment: REOS_ALERT_EMAILS (comma-separated),
    REOS_ALERT_FROM, REOS_SLACK_WEBHOOK_URL (secret, read through dg.EnvVar), REOS_DAGSTER_UI_URL.
    Called when definitions load, never at import."""
    recipients = [a.strip() for a in os.environ.get("REOS_ALERT_EMAILS", "").split(",") if a.strip()]
    return AlertsResource(
        email_to=recipients,
        email_from=os.environ.get("REOS_ALERT_FROM", "alerts@example.com"),
        slack_webhook_url=dg.EnvVar("REOS_SLACK_WEBHOOK_URL") if os.environ.get("REOS_SLACK_WEBHOOK_URL") else None,
        dagster_ui_url=os.environ.get("REOS_DAGSTER_UI_URL") or None,
    )


# ----------------------------------------------------------------------------- the message (pure)


@dataclass(frozen=True)
class StepFailure:
    step: str
    error: str  # first line of the error message


@dataclass(frozen=True)
class Alert:
    run_id: str
    job: str
    county: str | None
    tenant: str | None
    failures: tuple[StepFailure, ...]
    run_error: str
    link: str | None

    @property
    def subject(self) -> str:
        where = self.county or "no county"
        if self.failures:
            first = self.failures[0]
            more = f" (+{len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
            what = f"{first.step}{more}: {first.error}"
        else:
            what = self.run_error
        return _one_line(f"[REOS] {where} failed: {what}", 200)

    @property
    def text(self) -> str:
        lines = [
            f"Run {self.run_id} ({self.job}) failed.",
            f"County: {self.county or '-'}",
            f"Tenant: {self.tenant or '-'}",
        ]
        if self.failures:
            lines.append("Failed steps:")
            lines += [f"  - {f.step}: {f.error}" for f in self.failures]
        else:
            lines.append(f"Run error: {self.run_error}")
        if self.link:
            lines.append(f"Run: {self.link}")
        lines.append("Re-run: reos materialize --county " + (self.county or "<county>")
                     + (f" --tenant {self.tenant}" if self.tenant else "") + "  (or re-execute from failure in the UI)")
        return "\n".join(lines)


def _one_line(text: str, limit: int = 300) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if first.endswith(":") and len(lines) > 1:  # "1 blocking asset check failed …:" names it next
        first = f"{first} {lines[1]}"
    return first if len(first) <= limit else first[: limit - 1] + "…"


def first_error_line(event: dg.DagsterEvent) -> str:
    """The first line of a step failure's error, else of the event message."""
    error = getattr(event.event_specific_data, "error", None)
    if error is not None:
        # A user error is wrapped ("Error occurred while executing op ..."): its cause says what broke.
        cause = error
        while getattr(cause, "cause", None) is not None and "Error occurred while" in (cause.message or ""):
            cause = cause.cause
        message = _one_line(cause.message)
        if not cause.cls_name:
            return message
        # "dagster._core.errors.DagsterAssetCheckFailedError: …" → "DagsterAssetCheckFailedError: …"
        message = re.sub(rf"^[\w.]+\.{re.escape(cause.cls_name)}:", f"{cause.cls_name}:", message)
        # Dagster's message is usually "ValueError: ..." already; add the class when it is not.
        return message if message.startswith(cause.cls_name) else f"{cause.cls_name}: {message}"
    return _one_line(event.message or "unknown error")


def build_alert(run: dg.DagsterRun, step_failures: Sequence[dg.DagsterEvent], run_failure: dg.DagsterEvent | None,
                ui_url: str | None = None) -> Alert:
    tags = run.tags
    failures = tuple(StepFailure(step=e.step_key or "?", error=first_error_line(e)) for e in step_failures)
    return Alert(
        run_id=run.run_id,
        job=run.job_name,
        # A (county, tenant) run (packets, emails) carries both dimensions as tags; a county run its key.
        county=tags.get("county") or tags.get("dagster/partition/county") or tags.get("dagster/partition"),
        tenant=tags.get("reos/tenant") or tags.get("dagster/partition/tenant"),
        failures=failures,
        run_error=first_error_line(run_failure) if run_failure is not None else "run failed",
        link=f"{ui_url.rstrip('/')}/runs/{run.run_id}" if ui_url else None,
    )


def alert_email(alert: Alert, to: str, sender: str) -> OutgoingEmail:
    # A stable id per (run, recipient): a re-evaluated tick writes the same outbox file.
    email_id = int(hashlib.sha256(f"{alert.run_id}|{to}".encode()).hexdigest()[:12], 16)
    html = "<pre>" + alert.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "</pre>"
    return OutgoingEmail(
        email_id=email_id, tenant_id=alert.tenant or "ops", campaign=CAMPAIGN, to_email=to, to_name="On-call",
        from_email=sender, from_name="Real Estate OS alerts", subject=alert.subject,
        content=Content(group_key=f"alert:{alert.run_id}", html=html, text=alert.text, categories=(CAMPAIGN,)),
        unsubscribe_url=f"mailto:{sender}?subject=unsubscribe", extra_args={"reos_run_id": alert.run_id})


def slack_payload(alert: Alert) -> dict[str, object]:
    return {"text": alert.subject, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": (
        f"*{alert.subject}*\n```{alert.text}```")}}]}


# ----------------------------------------------------------------------------- delivery


def deliver(alert: Alert, alerts: AlertsResource, mailer: MailerResource) -> list[str]:
    """Send through every configured channel; return one line per channel that failed."""
    problems: list[str] = []
    if alerts.email_to:
        try:
            outcomes = mailer.get().send_batch([alert_email(alert, to, alerts.email_from) for to in alerts.email_to])
            problems += [f"email: {o}" for o in outcomes.values() if isinstance(o, ProviderError)]
        except Exception as exc:  # a mailer misconfiguration must not silence Slack
            problems.append(f"email: {type(exc).__name__}: {exc}")
    if alerts.slack_webhook_url:
        try:
            response = httpx.post(alerts.slack_webhook_url, json=slack_payload(alert), timeout=alerts.timeout_seconds)
            response.raise_for_status()
        # Never log the exception text: it contains the webhook URL, which is the secret.
        except httpx.HTTPStatusError as exc:
            problems.append(f"slack: HTTP {exc.response.status_code}")
        except httpx.HTTPError as exc:
            problems.append(f"slack: {type(exc).__name__}")
    return problems


@dg.run_failure_sensor(
    name=SENSOR_NAME,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Mails (and posts to Slack) every failed run: county, failed step, first error line.",
)
def run_failure_alerts(context: dg.RunFailureSensorContext, alerts: AlertsResource, mailer: MailerResource) -> None:
    alert = build_alert(context.dagster_run, context.get_step_failure_events(), context.failure_event,
                        alerts.dagster_ui_url)
    if not alerts.email_to and not alerts.slack_webhook_url:
        context.log.warning(f"No alert channel configured (REOS_ALERT_EMAILS, REOS_SLACK_WEBHOOK_URL): {alert.subject}")
        return
    for problem in deliver(alert, alerts, mailer):
        context.log.error(f"Alert for run {alert.run_id} not delivered by {problem}")
