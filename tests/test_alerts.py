"""Failure is loud: a failed run is mailed (outbox) and posted to a real local Slack-style webhook."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from werkzeug import Request, Response

from resources.mailer import MailerResource
from sensors.alerts import SENSOR_NAME, AlertsResource, alerts_resource, build_alert, deliver, run_failure_alerts
from tests.local_http import base_url, serve


class Webhook:
    """A local HTTP server speaking Slack's incoming-webhook protocol (POST JSON, 200 "ok")."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[dict] = []
        self.server = None

    def _answer(self, request: Request) -> Response:
        self.received.append({"path": request.path, "json": json.loads(request.get_data()),
                              "content_type": request.headers["Content-Type"]})
        return Response(b"ok" if self.status == 200 else b"invalid_payload", status=self.status)

    @property
    def url(self) -> str:
        return f"{base_url(self.server)}/services/T000/B000/XXXX"

    def __enter__(self) -> Webhook:
        self.server = serve(self._answer)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook() as hook:
        yield hook


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


COUNTIES = dg.StaticPartitionsDefinition(["king_wa", "cook_il"])


@dg.asset(partitions_def=COUNTIES)
def sales() -> None:
    raise ValueError("the county portal answered 503\nTraceback detail nobody reads first")


def failed_run_context(instance: dg.DagsterInstance, resources: dict) -> dg.RunFailureSensorContext:
    """The context the daemon gives the sensor for a real failed run (close it: it holds resources)."""
    result = dg.materialize([sales], instance=instance, partition_key="king_wa", raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    (failure,) = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return dg.build_run_status_sensor_context(
        sensor_name=SENSOR_NAME, dagster_event=failure.dagster_event, dagster_instance=instance,
        dagster_run=run, resources=resources).for_run_failure()


def test_failed_run_is_mailed_and_posted_with_county_step_and_first_error_line(outbox, webhook):
    alerts = AlertsResource(email_to=["oncall@example.com", "data@example.com"], email_from="alerts@example.com",
                            slack_webhook_url=webhook.url, dagster_ui_url="https://dagster.example.com")
    resources = {"alerts": alerts, "mailer": MailerResource(backend="outbox", outbox_dir=str(outbox))}
    with dg.instance_for_test() as instance, failed_run_context(instance, resources) as context:
        run_failure_alerts(context)
        run_id = context.dagster_run.run_id

    mails = sorted(outbox.glob("*.eml"))
    assert len(mails) == 2
    message = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    subject = message["Subject"]
    assert "king_wa" in subject and "sales" in subject
    assert "ValueError: the county portal answered 503" in subject
    assert "Traceback detail" not in subject
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert run_id in body and f"https://dagster.example.com/runs/{run_id}" in body
    assert "County: king_wa" in body

    (post,) = webhook.received
    assert post["content_type"] == "application/json"
    assert post["json"]["text"] == subject
    assert "sales: ValueError: the county portal answered 503" in json.dumps(post["json"]["blocks"])


def test_a_failing_slack_never_stops_the_mail_and_never_logs_the_url(outbox):
    with Webhook(status=500) as hook, dg.instance_for_test() as instance:
        alerts = AlertsResource(email_to=["oncall@example.com"], slack_webhook_url=hook.url)
        with failed_run_context(instance, {}) as context:
            alert = build_alert(context.dagster_run, context.get_step_failure_events(), context.failure_event)
        problems = deliver(alert, alerts, MailerResource(backend="outbox", outbox_dir=str(outbox)))
        assert problems == ["slack: HTTP 500"]
        assert hook.received  # it was tried
    assert len(list(outbox.glob("*.eml"))) == 1


def test_a_broken_mailer_still_posts_to_slack(webhook):
    alerts = AlertsResource(email_to=["oncall@example.com"], slack_webhook_url=webhook.url)
    with dg.instance_for_test() as instance, failed_run_context(instance, {}) as context:
        alert = build_alert(context.dagster_run, context.get_step_failure_events(), context.failure_event)
    problems = deliver(alert, alerts, MailerResource(backend="sendgrid"))  # no api_key: misconfigured
    assert len(problems) == 1 and problems[0].startswith("email: ") and "SENDGRID_API_KEY" in problems[0]
    assert len(webhook.received) == 1


def test_alerts_resource_reads_the_webhook_secret_through_envvar(webhook, outbox, monkeypatch):
    monkeypatch.setenv("REOS_ALERT_EMAILS", "oncall@example.com, data@example.com")
    monkeypatch.setenv("REOS_SLACK_WEBHOOK_URL", webhook.url)
    resource = alerts_resource()
    assert resource.email_to == ["oncall@example.com", "data@example.com"]
    assert isinstance(resource.slack_webhook_url, dg.EnvVar)
    with dg.instance_for_test() as instance:
        # Through Definitions, as the daemon evaluates it: the EnvVar resolves to the URL.
        resources = {"alerts": resource, "mailer": MailerResource(backend="outbox", outbox_dir=str(outbox))}
        defs = dg.Definitions(assets=[sales], sensors=[run_failure_alerts], resources=resources)
        with failed_run_context(instance, resources) as context:
            run_failure_alerts(context)
        dg.Definitions.validate_loadable(defs)
        assert run_failure_alerts.default_status == dg.DefaultSensorStatus.RUNNING
    assert len(webhook.received) == 1
    monkeypatch.delenv("REOS_SLACK_WEBHOOK_URL")
    assert alerts_resource().slack_webhook_url is None


def test_run_without_step_failure_reports_the_run_error():
    run = dg.DagsterRun(job_name="__ASSET_JOB", run_id="r-1", tags={"dagster/partition": "cook_il"})
    alert = build_alert(run, [], None)
    assert alert.county == "cook_il" and alert.subject == "[REOS] cook_il failed: run failed"


def test_a_county_tenant_run_names_both_and_how_to_rerun_it():
    tags = {"dagster/partition": "cook_il|acme", "dagster/partition/county": "cook_il",
            "dagster/partition/tenant": "acme"}
    alert = build_alert(dg.DagsterRun(job_name="__ASSET_JOB", run_id="r-2", tags=tags), [], None)
    assert (alert.county, alert.tenant) == ("cook_il", "acme")
    assert "reos materialize --county cook_il --tenant acme" in alert.text
