"""One JSON object per log line, for production (deploy/dagster.yaml `python_logs`, Helm `pythonLogs`).

Dagster hands its handlers records carrying `dagster_meta` (run id, job tags, step key); this
formatter flattens what an on-call engineer filters on: run id, county (the partition key, or
its county dimension), tenant (of a (county, tenant) run: packets, emails; public county runs
have none), asset (the step), plus level, logger and message. Log aggregators (Loki, CloudWatch,
Elasticsearch) index these fields without parsing text.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Dagster's own attribute on records that went through its log manager (dagster._core.log_manager).
DAGSTER_META = "dagster_meta"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        meta: dict[str, Any] = getattr(record, DAGSTER_META, None) or {}
        tags = meta.get("job_tags") or {}
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": meta.get("orig_message") or record.getMessage(),
            "run_id": meta.get("run_id"),
            "job": meta.get("job_name"),
            "county": tags.get("county") or tags.get("dagster/partition/county") or tags.get("dagster/partition"),
            # The run's tenant, from its partition: a deployment serves every tenant (partitions/tenants.py).
            "tenant": tags.get("reos/tenant") or tags.get("dagster/partition/tenant"),
            "asset": meta.get("step_key"),
        }
        event = meta.get("dagster_event")
        if event is not None:
            entry["event"] = getattr(event, "event_type_value", None)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps({k: v for k, v in entry.items() if v is not None}, default=str)
