"""The installation's schedules and sensors, read and switched on or off through Dagster's GraphQL
API (the same client and target as api/dagster_runs.py; 503 when Dagster is not configured).

Switching is Dagster's own instigator state (what its UI's toggle changes): the API keeps no copy,
so the answer is always what the daemon will do. A schedule or sensor is named by its Dagster
name (`discover_king_wa`, `webhooks_sensor`, ...); names are unique across the code location.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from realestate_assets.api.dagster_runs import DagsterTarget, DagsterUnavailable, execute

Kind = Literal["schedule", "sensor"]

LIST_QUERY = """
query ReosInstigators {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        schedules { name description cronSchedule executionTimezone scheduleState { id status } }
        sensors { name description sensorState { id status } }
      }
    }
    ... on PythonError { message }
  }
}
"""
START_SCHEDULE = """
mutation ReosStartSchedule($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on ScheduleNotFoundError { message }
  }
}
"""
STOP_SCHEDULE = """
mutation ReosStopSchedule($id: String!) {
  stopRunningSchedule(id: $id) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on ScheduleNotFoundError { message }
  }
}
"""
START_SENSOR = """
mutation ReosStartSensor($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on SensorNotFoundError { message }
  }
}
"""
STOP_SENSOR = """
mutation ReosStopSensor($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""


@dataclass(frozen=True)
class Instigator:
    """A schedule or sensor as Dagster reports it."""

    name: str
    kind: Kind
    running: bool
    description: str | None
    cron: str | None
    timezone: str | None
    location: str
    repository: str
    state_id: str

    def public(self) -> dict[str, Any]:
        """What the API shows (Dagster's internal ids stay here)."""
        return {k: v for k, v in asdict(self).items() if k not in ("location", "repository", "state_id")}


def instigators(target: DagsterTarget | None) -> list[Instigator]:
    """Every schedule and sensor of the target's repositories (of its location, when set), by name."""
    answer = execute(target, LIST_QUERY)["repositoriesOrError"]
    if answer["__typename"] != "RepositoryConnection":
        raise DagsterUnavailable(f"Dagster did not list the repositories: {answer.get('message', answer)}")
    found = []
    for repo in answer["nodes"]:
        location = repo["location"]["name"]
        if target is not None and target.location not in (None, location):
            continue
        if target is not None and target.repository not in (None, repo["name"]):
            continue
        for s in repo["schedules"]:
            found.append(Instigator(s["name"], "schedule", s["scheduleState"]["status"] == "RUNNING",
                                    s.get("description"), s.get("cronSchedule"), s.get("executionTimezone"),
                                    location, repo["name"], s["scheduleState"]["id"]))
        for s in repo["sensors"]:
            found.append(Instigator(s["name"], "sensor", s["sensorState"]["status"] == "RUNNING",
                                    s.get("description"), None, None, location, repo["name"], s["sensorState"]["id"]))
    return sorted(found, key=lambda i: (i.kind, i.name))


def switch(target: DagsterTarget | None, instigator: Instigator, running: bool) -> bool:
    """Start or stop it; whether it runs now, as Dagster answers."""
    if instigator.kind == "schedule":
        query, field = (START_SCHEDULE, "startSchedule") if running else (STOP_SCHEDULE, "stopRunningSchedule")
        selector = {"repositoryLocationName": instigator.location, "repositoryName": instigator.repository,
                    "scheduleName": instigator.name}
    else:
        query, field = (START_SENSOR, "startSensor") if running else (STOP_SENSOR, "stopSensor")
        selector = {"repositoryLocationName": instigator.location, "repositoryName": instigator.repository,
                    "sensorName": instigator.name}
    variables = {"selector": selector} if running else {"id": instigator.state_id}
    answer = execute(target, query, variables)[field]
    state = answer.get("scheduleState") or answer.get("sensorState") or answer.get("instigationState")
    if state is None:
        raise DagsterUnavailable(f"Dagster refused to {'start' if running else 'stop'} {instigator.name}: "
                                 f"{answer.get('message') or answer['__typename']}")
    return state["status"] == "RUNNING"
