"""Schedules, sensors and automation conditions: what makes the graph run by itself."""

from sensors.automation import automation_sensor
from sensors.billing import billing_reconcile_job, billing_reconcile_schedule
from sensors.email_events import email_events_sensor
from sensors.memo_requests import memo_requests_sensor
from sensors.schedules import discovery_job, discovery_sensors
from sensors.tenants import tenant_partitions_sensor
from sensors.webhooks import webhooks_sensor

__all__ = ["automation_sensor", "billing_reconcile_job", "billing_reconcile_schedule", "discovery_job",
           "discovery_sensors", "email_events_sensor", "memo_requests_sensor", "tenant_partitions_sensor",
           "webhooks_sensor"]
