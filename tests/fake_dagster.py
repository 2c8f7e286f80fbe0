"""Dagster's GraphQL endpoint as the dagster-graphql client uses it, on a local HTTP server: the
job lookup, the launch mutation, the run status query, adding a dynamic partition key, the
schedules and sensors with their start/stop mutations, and reloading the code location,
answered in Dagster 1.13's shapes (the documents themselves are validated against Dagster's own schema in
tests/api/test_dagster_graphql_documents.py). Real HTTP and the real client's
requests; the runs themselves are not executed, and switching only flips the state here."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from werkzeug import Request, Response


class FakeDagster:
    """Dagster's GraphQL endpoint as the client uses it: the job lookup, the launch mutation and the
    run status query, answered in the shapes Dagster 1.13 answers them."""

    def __init__(self) -> None:
        self.launches: list[dict[str, Any]] = []
        self.url = ""  # set by whoever serves it
        # name -> (kind, running); the instigation state id is "state-<name>" as Dagster's are opaque ids.
        self.instigators: dict[str, list[Any]] = {
            "discover_king_wa": ["schedule", True], "webhooks_sensor": ["sensor", True],
            "email_events_sensor": ["sensor", False]}
        self.switches: list[tuple[str, bool]] = []
        self.dynamic_keys: dict[str, list[str]] = {"tenant": []}  # partitions def name -> keys, in order added
        self.reloads: list[str] = []  # code locations asked to reload, in order
        self.reload_error: str | None = None  # set: the location fails to load again (a PythonError)
        # Cleared: a reload is answered only once it is set again (a slow reload, held by the test).
        self.reload_may_end = threading.Event()
        self.reload_may_end.set()

    def _state(self, name: str) -> dict[str, Any]:
        return {"id": f"state-{name}", "status": "RUNNING" if self.instigators[name][1] else "STOPPED"}

    def _listing(self) -> dict[str, Any]:
        schedules = [{"name": n, "description": f"Discovery for {n}.", "cronSchedule": "0 5 * * 1",
                      "executionTimezone": "America/Los_Angeles", "scheduleState": self._state(n)}
                     for n, (kind, _) in self.instigators.items() if kind == "schedule"]
        sensors = [{"name": n, "description": None, "sensorState": self._state(n)}
                   for n, (kind, _) in self.instigators.items() if kind == "sensor"]
        return {"repositoriesOrError": {"__typename": "RepositoryConnection", "nodes": [{
            "name": "__repository__", "location": {"name": "realestate_assets"},
            "schedules": schedules, "sensors": sensors}]}}

    def _switch(self, name: str, running: bool) -> dict[str, Any]:
        self.instigators[name][1] = running
        self.switches.append((name, running))
        return self._state(name)

    def __call__(self, request: Request) -> Response:
        if request.path != "/graphql" or request.method != "POST":
            return Response("not found", status=404)
        payload = request.get_json()
        query, variables = payload["query"], payload.get("variables") or {}
        if "repositoriesOrError" in query and "schedules" in query:
            data = self._listing()
        elif "startSchedule" in query:
            name = variables["selector"]["scheduleName"]
            data = {"startSchedule": {"__typename": "ScheduleStateResult", "scheduleState": self._switch(name, True)}}
        elif "stopRunningSchedule" in query:
            name = variables["id"].removeprefix("state-")
            data = {"stopRunningSchedule": {"__typename": "ScheduleStateResult",
                                            "scheduleState": self._switch(name, False)}}
        elif "startSensor" in query:
            name = variables["selector"]["sensorName"]
            data = {"startSensor": {"__typename": "Sensor", "sensorState": self._switch(name, True)}}
        elif "stopSensor" in query:
            name = variables["id"].removeprefix("state-")
            data = {"stopSensor": {"__typename": "StopSensorMutationResult",
                                   "instigationState": self._switch(name, False)}}
        elif "repositoriesOrError" in query:
            data = {"repositoriesOrError": {"__typename": "RepositoryConnection", "nodes": [{
                "name": "__repository__", "location": {"name": "realestate_assets"},
                "pipelines": [{"name": "__ASSET_JOB"}]}]}}
        elif "addDynamicPartition" in query:
            name, key = variables["partitionsDefName"], variables["partitionKey"]
            assert variables["repositorySelector"] == {"repositoryLocationName": "realestate_assets",
                                                       "repositoryName": "__repository__"}
            if key in self.dynamic_keys[name]:
                answer = {"__typename": "DuplicateDynamicPartitionError", "partitionName": key}
            else:
                self.dynamic_keys[name].append(key)
                answer = {"__typename": "AddDynamicPartitionSuccess", "partitionKey": key}
            data = {"addDynamicPartition": answer}
        elif "reloadRepositoryLocation" in query:
            name = variables["repositoryLocationName"]
            self.reloads.append(name)
            self.reload_may_end.wait(120)  # the real one takes 11-30 s; held, the test decides when it ends
            if name != "realestate_assets":
                answer = {"__typename": "RepositoryLocationNotFound", "message": f"Location {name} does not exist."}
            elif self.reload_error:
                answer = {"__typename": "WorkspaceLocationEntry", "name": name, "locationOrLoadError": {
                    "__typename": "PythonError", "message": self.reload_error}}
            else:
                answer = {"__typename": "WorkspaceLocationEntry", "name": name, "locationOrLoadError": {
                    "__typename": "RepositoryLocation", "isReloadSupported": True,
                    "repositories": [{"name": "__repository__"}]}}
            data = {"reloadRepositoryLocation": answer}
        elif "launchPipelineExecution" in query:
            params = variables["executionParams"]
            self.launches.append(params)
            run_id = str(uuid.uuid4())
            data = {"launchPipelineExecution": {"__typename": "LaunchRunSuccess", "run": {"runId": run_id}}}
        elif "pipelineRunOrError" in query:
            data = {"pipelineRunOrError": {"__typename": "Run", "status": "SUCCESS"}}
        else:
            return Response(json.dumps({"errors": [{"message": "unknown query"}]}), status=400,
                            content_type="application/json")
        return Response(json.dumps({"data": data}), content_type="application/json")
