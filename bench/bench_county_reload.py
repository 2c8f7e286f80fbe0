"""How long a platform admin waits for `PATCH /settings/counties/{county}` when the change reloads
Dagster's code location, and how long until the reload is known to have ended.

On a scratch database migrated to head (`reload_bench_…`, dropped at the end), the API in process
(FastAPI's TestClient) against a local HTTP server speaking Dagster's GraphQL (tests/fake_dagster.py)
whose reload answers after DELAY seconds (default 11: the wall time measured for a real
`dagster code-server start` reload, docs/api.md "Not done yet" item 4). N PATCHes of king_wa's
discovery cron, alternating two crons, each waited to its end before the next. Run it once per
code version to compare, e.g. `PYTHONPATH=/work/main python bench/bench_county_reload.py` (the
synchronous reload) and `PYTHONPATH=$PWD python bench/bench_county_reload.py` (the background
one). Prints the answer's wall time and the time until GET /settings/counties says the reload
ended (for the synchronous one: the answer itself).
Run: `python bench/bench_county_reload.py [N] [DELAY]`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from werkzeug import Request, Response

from tests.api.helpers_api import PASSWORD, api_client, bearer, login, make_tenant, owner_cursor
from tests.databases import scratch_database
from tests.fake_dagster import FakeDagster
from tests.local_http import base_url, serve

API = "/api/v1"


class SlowReload(FakeDagster):
    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    def __call__(self, request: Request) -> Response:
        if "reloadRepositoryLocation" in (request.get_json(silent=True) or {}).get("query", ""):
            time.sleep(self.delay_s)  # as long as a real reload took
        return super().__call__(request)


def main(n: int = 3, delay_s: float = 11.0) -> None:
    from realestate_assets.accounts import store

    work = Path(mkdtemp())
    fake = SlowReload(delay_s)
    answers: list[float] = []
    ended: list[float] = []
    with scratch_database(work, prefix="reload_bench") as url, serve(fake) as server:
        tenant = make_tenant(url, "bench")
        with owner_cursor(url) as cur:
            operator = store.create_user(cur, "bench-operator@reos.example", PASSWORD, platform_admin=True,
                                         verified=True)
        with api_client(url, work, dagster_url=base_url(server)) as api:
            op = bearer(login(api, operator["email"], tenant.id)["access_token"])
            version = 0
            for i in range(n):
                start = time.perf_counter()
                answer = api.patch(f"{API}/settings/counties/king_wa", headers=op, json={
                    "version": version, "reason": "bench", "changes": {"schedule.cron": f"0 {6 + i % 2} * * *"}})
                answers.append(time.perf_counter() - start)
                assert answer.status_code == 200, answer.text
                body: dict[str, Any] = answer.json()
                version = body["version"]
                while body["reload"].get("state") in ("pending", "running"):  # the background reload
                    time.sleep(0.1)
                    body = next(c for c in api.get(f"{API}/settings/counties", headers=op).json()
                                if c["key"] == "king_wa")
                ended.append(time.perf_counter() - start)
                assert body["reload"].get("ok", body["reload"].get("state") == "loaded"), body["reload"]
    load = os.getloadavg()
    print(f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; reload takes {delay_s:.1f} s; {n} PATCHes; "
          f"reloads asked: {len(fake.reloads)}")
    print("answer (s): " + ", ".join(f"{a:.3f}" for a in answers) + f"; median {statistics.median(answers):.3f}")
    print("reload known ended (s): " + ", ".join(f"{e:.2f}" for e in ended))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, float(sys.argv[2]) if len(sys.argv) > 2 else 11.0)
