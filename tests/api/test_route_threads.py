"""The property detail runs in the process's few route threads (app.ROUTE_THREADS,
security.Authorize.run): never more at once than configured, each request waiting its turn in the
event loop, and a thread given back whatever the answer (200, 404, 401, 422). The list, beside it,
keeps AnyIO's default threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.api.helpers_api import api_client


def test_the_detail_takes_a_few_threads_and_gives_them_back(database_url: str, world, tmp_path) -> None:
    headers = {"X-API-Key": world["a"].keys["read"]}
    mine = world["ids"][world["ca"]]
    paths = [*(f"/api/v1/properties/{i}" for i in mine), "/api/v1/properties/999999999", "/api/v1/properties/0",
             "/api/v1/properties?limit=5"] * 4
    with api_client(database_url, tmp_path, route_threads=2) as client:
        limiter = client.app.state.reos.route_threads
        assert limiter.total_tokens == 2
        alone = {path: client.get(path, headers=headers) for path in set(paths)}
        most, done = [0], threading.Event()

        def watch() -> None:  # the threads in use, sampled while 8 clients call at once
            while not done.is_set():
                most[0] = max(most[0], limiter.borrowed_tokens)
                done.wait(0.0005)

        watcher = threading.Thread(target=watch)
        watcher.start()
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(lambda path: (path, client.get(path, headers=headers)), paths))
        done.set()
        watcher.join()
        unauthenticated = client.get(f"/api/v1/properties/{mine[0]}", headers={"X-API-Key": "reos_nothere_x"})
        assert 1 <= most[0] <= 2
        assert limiter.borrowed_tokens == 0  # every thread given back, errors included
    for path, answer in together:
        assert (answer.status_code, answer.content) == (alone[path].status_code, alone[path].content), path
    assert {a.status_code for _, a in together} == {200, 404, 422}
    assert unauthenticated.status_code == 401


def test_the_default_is_a_few_threads(database_url: str, tmp_path: Any) -> None:
    from realestate_assets.api.app import ROUTE_THREADS

    with api_client(database_url, tmp_path) as client:
        assert client.app.state.reos.route_threads.total_tokens == ROUTE_THREADS
