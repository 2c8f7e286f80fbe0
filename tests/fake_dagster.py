"""Dagster's GraphQL endpoint as the dagster-graphql client uses it, on a local HTTP server: the
job lookup, the launch mutation and the run status query, answered in Dagster 1.13's shapes.
Real HTTP and the real client's requests; the runs themselves are not executed."""

from __future__ import annotations

import json
import uuid
from typing import Any

from werkzeug import Request, Response


class FakeDagster:
    """Dagster's GraphQL endpoint as the client uses it: the job lookup, the launch mutation and the
    run status query, answered in the shapes Dagster 1.13 answers them."""

    def __init__(self) -> None:
        self.launches: list[dict[str, Any]] = []
        self.url = ""  # set by whoever serves it

    def __call__(self, request: Request) -> Response:
        if request.path != "/graphql" or request.method != "POST":
            return Response("not found", status=404)
        payload = request.get_json()
        query, variables = payload["query"], payload.get("variables") or {}
        if "repositoriesOrError" in query:
            data = {"repositoriesOrError": {"__typename": "RepositoryConnection", "nodes": [{
                "name": "__repository__", "location": {"name": "realestate_assets"},
                "pipelines": [{"name": "__ASSET_JOB"}]}]}}
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
