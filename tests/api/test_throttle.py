"""Rate limits of /api/v1: per client address, per principal, login attempts per account and
address; 429 problem+json with Retry-After; shared through Redis between API replicas."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from realestate_assets.api.v1.problems import Problem
from realestate_assets.api.v1.throttle import RateLimits, Throttle
from tests.api.helpers_api import PASSWORD, UNLIMITED, api_client, make_tenant


def _statuses(responses: list[Any]) -> list[int]:
    return [r.status_code for r in responses]


def _clear_of_a_window_end(window_s: int, margin_s: float = 10.0) -> None:
    """Start a test's hits clear of a window's end. The limiter's sliding-window counter floors
    the previous window's weighted hits (`limits`' SlidingWindowCounter), so hits that straddle a
    window's end count one fewer and one more gets through (a run at 09:00 UTC let a fourth login
    attempt pass a 3/hour limit)."""
    left = window_s - time.time() % window_s
    if left < margin_s:
        time.sleep(left + 0.05)


def test_login_attempts_are_limited_per_account_and_address(database_url: str, tmp_path: Path) -> None:
    tenant = make_tenant(database_url, "throttle")
    email = tenant.users["viewer"]["email"]
    # An hour's window: the limiter's sliding-window counter weighs the previous window's hits by
    # the time left of it, so three attempts just before a window's end and a fourth just after
    # could pass (a minute's window was crossed in a loaded CI run); an hour makes that ~1000× rarer.
    limits = RateLimits(ip=UNLIMITED, principal=UNLIMITED, login="3/hour")
    with api_client(database_url, tmp_path, rate_limits=limits) as client:
        _clear_of_a_window_end(3600)
        wrong = [client.post("/api/v1/auth/login", json={"email": email, "password": "not the password"})
                 for _ in range(3)]
        assert _statuses(wrong) == [401, 401, 401]
        # The right password does not help once the account's attempts are spent: guessing stops here.
        blocked = client.post("/api/v1/auth/login", json={"email": email.upper(), "password": PASSWORD})
        assert blocked.status_code == 429
        assert blocked.headers["content-type"] == "application/problem+json"
        assert 1 <= int(blocked.headers["Retry-After"]) <= 3600 and blocked.headers["RateLimit-Limit"] == "3"
        assert "login attempts" in blocked.json()["detail"] and "3 per hour" in blocked.json()["detail"]
        # Asking for a verification link (no login needed) spends the same attempts.
        resend = client.post("/api/v1/auth/verify-email/resend", json={"email": email})
        assert resend.status_code == 429


def test_requests_are_limited_per_principal_and_per_address(database_url: str, tmp_path: Path) -> None:
    tenant = make_tenant(database_url, "throttle")
    read, write = ({"X-API-Key": tenant.keys[scope]} for scope in ("read", "write"))
    with api_client(database_url, tmp_path, rate_limits=RateLimits(ip=UNLIMITED, principal="2/minute",
                                                                   login=UNLIMITED)) as client:
        _clear_of_a_window_end(60)
        assert _statuses([client.get("/api/v1/me", headers=read) for _ in range(3)]) == [200, 200, 429]
        assert client.get("/api/v1/me", headers=write).status_code == 200  # another key, its own budget
    with api_client(database_url, tmp_path, rate_limits=RateLimits(ip="2/minute", principal=UNLIMITED,
                                                                   login=UNLIMITED)) as client:
        _clear_of_a_window_end(60)
        answers = [client.get("/api/v1/me", headers=key) for key in (read, write, read)]
        assert _statuses(answers) == [200, 200, 429]
        assert "requests from testclient" in answers[-1].json()["detail"]
        assert client.get("/api/v1/me").status_code == 429  # before authentication too
        assert client.get("/healthz").status_code == 200  # outside /api/v1: the webhook, links, probes


def test_replicas_share_one_budget_through_redis(redis_url: str) -> None:
    prefix = f"reos-test-{uuid.uuid4().hex[:8]}"
    limits = RateLimits(ip="3/minute")
    replicas = [Throttle(limits, redis_url, key_prefix=prefix) for _ in range(2)]
    _clear_of_a_window_end(60)
    for i in range(3):
        replicas[i % 2].check("ip", "203.0.113.9", "requests from 203.0.113.9")
    with pytest.raises(Problem) as over:
        replicas[1].check("ip", "203.0.113.9", "requests from 203.0.113.9")
    assert over.value.status == 429 and over.value.headers["RateLimit-Remaining"] == "0"
    replicas[0].check("ip", "198.51.100.7", "requests from 198.51.100.7")  # another address: its own budget


def test_every_v1_route_documents_429(database_url: str, tmp_path: Path) -> None:
    with api_client(database_url, tmp_path) as client:
        spec = client.app.openapi()
    operations = [op for path, ops in spec["paths"].items() if path.startswith("/api/v1") for op in ops.values()]
    assert operations and all("429" in op["responses"] for op in operations)


def test_the_address_limit_holds_with_redis_counters(database_url: str, tmp_path: Path, redis_url: str) -> None:
    """With Redis the address check leaves the event loop for a worker thread (limit_by_address):
    same answers as in memory."""
    import redis

    tenant = make_tenant(database_url, "throttle")
    read = {"X-API-Key": tenant.keys["read"]}
    client_ = redis.Redis.from_url(redis_url)
    try:
        with api_client(database_url, tmp_path, redis_url=redis_url,
                        rate_limits=RateLimits(ip="2/minute", principal=UNLIMITED, login=UNLIMITED)) as client:
            _clear_of_a_window_end(60)
            assert _statuses([client.get("/api/v1/me", headers=read) for _ in range(3)]) == [200, 200, 429]
    finally:  # the app's counters (prefix reos:api): a rerun within the minute starts from zero
        for key in client_.scan_iter("reos:api*"):
            client_.delete(key)
        client_.close()


def test_in_memory_counters_expire_when_read_and_are_swept_once_a_second() -> None:
    """throttle.SweptMemory: no timer thread per 10 ms of writes; a window's count still ends with it."""
    throttle = Throttle(RateLimits(principal="3/second"))
    item = throttle.items["principal"]
    throttle.storage.timer.join()  # the library's first timer (10 ms, started by its constructor)
    _clear_of_a_window_end(1, margin_s=0.5)
    assert [throttle.limiter.hit(item, "principal", "k") for _ in range(4)] == [True, True, True, False]
    timer = throttle.storage.timer
    assert timer.interval == throttle.storage.SWEEP_S and timer.daemon and timer.is_alive()
    assert [throttle.limiter.hit(item, "principal", "k") for _ in range(50)] == [False] * 50
    assert throttle.storage.timer is timer  # one sweep pending, not a thread per write
    timer.join()
    assert throttle.limiter.hit(item, "principal", "k")  # a later window: counted afresh


def test_counters_written_from_many_threads_at_once_schedule_one_daemon_sweep(monkeypatch) -> None:
    """The event loop and the worker threads write the counters at the same time: scheduling the
    sweep never touches a timer another thread may have started (it raised "cannot set daemon
    status of active thread", a 500, under bench_api's closed loop)."""
    import threading
    import time

    from realestate_assets.api.v1.throttle import SweptMemory

    class SlowTimer(threading.Timer):
        """A timer whose `daemon` takes a moment to set: widens the window in which another writer
        may start the timer being set up."""

        @property
        def daemon(self) -> bool:
            return threading.Thread.daemon.fget(self)  # type: ignore[attr-defined]

        @daemon.setter
        def daemon(self, value: bool) -> None:
            time.sleep(0.0005)
            threading.Thread.daemon.fset(self, value)  # type: ignore[attr-defined]

    class Quick(SweptMemory):
        SWEEP_S = 0.001  # timers end all the time: many chances for two writers to reschedule at once

    memory = Quick()
    # The library's own first timer (10 ms, not a daemon, started by MemoryStorage.__init__) ends
    # first: on a busy machine it could still be alive when every write is done, and it is not ours.
    memory.timer.join()
    monkeypatch.setattr(threading, "Timer", SlowTimer)
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def write(n: int) -> None:
        start.wait()
        try:
            for i in range(2000):
                memory.incr(f"k{n}/{i % 7}", 60)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert memory.timer.daemon
    assert sum(memory.get(f"k{n}/{i}") for n in range(8) for i in range(7)) == 8 * 2000
