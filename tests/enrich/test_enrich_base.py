"""The shared HTTP machinery: retries, Retry-After, timeouts, malformed JSON, cache, limiter,
circuit breaker, call log, key hygiene — all against a local server."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from realestate_assets.enrich.clients.base import (
    CallLog,
    CircuitOpenError,
    ClientSettings,
    MalformedResponseError,
    QuotaExceededError,
    SourceClient,
    SourceError,
)
from realestate_assets.net import classify, make_cache_storage, make_limiter, parse_retry_after
from tests.enrich.fakes import Response


def settings(url: str, **kw) -> ClientSettings:
    # A generous timeout: on a busy machine a local answer can take longer than a real API's budget, and
    # a spurious timeout would add an attempt; the timeout test sets its own short one.
    base = dict(name="svc", base_url=url, timeout_s=5.0, retries=3, cost_per_call_usd=0.25,
                rate_limit_per_s=None, cache_ttl_s=None, backoff_initial_s=0.01, backoff_max_s=0.05,
                breaker_threshold=3)
    base.update(kw)
    return ClientSettings(**base)


class Scripted:
    """Answers each request with the next scripted Response; then with 200 {"ok": n}."""

    def __init__(self, *responses: Response) -> None:
        self.queue = list(responses)
        self.lock = threading.Lock()
        self.n = 0

    def __call__(self, req):
        with self.lock:
            self.n += 1
            if self.queue:
                return self.queue.pop(0)
            return Response.json({"ok": self.n, "path": req.path})


def test_retries_500_then_succeeds_and_logs_every_attempt(serve):
    srv = serve(Scripted(Response(500, b"boom"), Response(503, b"busy")))
    log = CallLog()
    with SourceClient(settings(srv.url), on_call=log) as c:
        resp = c.get_json("/thing", {"a": 1})
    assert resp.body["ok"] == 3 and resp.status_code == 200 and not resp.cache_hit
    assert srv.count() == 3
    assert [call.status_code for call in log.calls] == [500, 503, 200]
    assert [call.error is None for call in log.calls] == [False, False, True]
    # only the successful attempt is billed
    assert log.total_cost_usd() == pytest.approx(0.25)
    assert all(call.source == "svc" and call.endpoint == "/thing" and call.latency_ms >= 0 for call in log.calls)


def test_429_honours_retry_after_seconds(serve):
    srv = serve(Scripted(Response.json({}, 429, headers={"Retry-After": "0.4"})))
    with SourceClient(settings(srv.url)) as c:
        c.get_json("/q")
    t = srv.times()
    assert len(t) == 2
    assert t[1] - t[0] >= 0.38  # waited what the server asked, not the 10 ms backoff


def test_retry_after_http_date_parsing():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(90)
    assert parse_retry_after("7") == 7
    assert parse_retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_classify_is_the_one_rule_for_answers():
    now = 1_800_000_000.0
    assert classify(200, {}).action == "ok" and classify(204, {}).action == "ok"
    assert [classify(s, {}).action for s in (429, 500, 502, 503, 504)] == ["retry"] * 5
    assert [classify(s, {}).action for s in (301, 400, 401, 403, 404, 418)] == ["reject"] * 6
    asked = classify(429, {"Retry-After": "7"}, max_retry_after_s=60)
    assert (asked.action, asked.wait_s) == ("retry", 7)
    # SendGrid names the epoch second its window resets instead of Retry-After
    reset = classify(429, {"X-RateLimit-Reset": str(int(now) + 30)}, max_retry_after_s=60, now=now)
    assert (reset.action, reset.wait_s) == ("retry", 30)
    long = classify(503, {"retry-after": "3600"}, max_retry_after_s=60)
    assert long.action == "give_up" and "3600s" in long.reason and not long.error().retryable
    assert classify(500, {}).error("body").retryable and classify(500, {}).error("body").text == "body"


def test_429_with_long_retry_after_fails_fast_as_quota(serve):
    srv = serve(Scripted(*[Response.json({}, 429, headers={"Retry-After": "3600"})] * 5))
    log = CallLog()
    t0 = time.monotonic()
    with SourceClient(settings(srv.url), on_call=log) as c, pytest.raises(QuotaExceededError, match="3600s"):
        c.get_json("/q")
    assert srv.count() == 1 and time.monotonic() - t0 < 60  # did not wait the hour (nor retry)
    assert log.calls[0].status_code == 429 and log.calls[0].cost_usd == 0


def test_timeout_is_retried_then_reported(serve):
    slow = Response.json({"late": True}, delay_s=0.5)
    srv = serve(Scripted(slow, slow, slow, slow))
    log = CallLog()
    with SourceClient(settings(srv.url, timeout_s=0.1, retries=1), on_call=log) as c, \
            pytest.raises(SourceError, match=r"timeout after 0\.1s"):
        c.get_json("/slow")
    assert [x.status_code for x in log.calls] == [None, None]
    assert all("timeout" in x.error for x in log.calls)


def test_malformed_json_is_an_error_and_is_not_cached(serve, tmp_path):
    srv = serve(Scripted(Response(200, b'{"property": [{"ide', {"Content-Type": "application/json"})))
    storage = make_cache_storage("svc", cache_dir=tmp_path)
    with SourceClient(settings(srv.url, cache_ttl_s=60), cache_storage=storage) as c:
        with pytest.raises(MalformedResponseError, match="not JSON"):
            c.get_json("/bad")
        ok = c.get_json("/bad")  # the broken body was evicted: asked again, good answer now
    assert ok.body["ok"] == 2 and not ok.cache_hit and srv.count() == 2


def test_second_call_is_a_cache_hit_with_zero_requests_and_zero_cost(serve, tmp_path):
    srv = serve(Scripted())
    log = CallLog()
    storage = make_cache_storage("svc", cache_dir=tmp_path)
    with SourceClient(settings(srv.url, cache_ttl_s=60), on_call=log, cache_storage=storage) as c:
        first = c.get_json("/x", {"id": 1})
        second = c.get_json("/x", {"id": 1})
    # a new client on the same directory (the next run) is served from disk as well
    with SourceClient(settings(srv.url, cache_ttl_s=60), on_call=log,
                      cache_storage=make_cache_storage("svc", cache_dir=tmp_path)) as c2:
        third = c2.get_json("/x", {"id": 1})
    assert srv.count() == 1
    assert (first.cache_hit, second.cache_hit, third.cache_hit) == (False, True, True)
    assert second.body == first.body == third.body
    assert [x.cache_hit for x in log.calls] == [False, True, True]
    assert [x.cost_usd for x in log.calls] == [0.25, 0.0, 0.0]
    # cache hits keep the source's original Date as the fetch time
    assert third.fetched_at == first.fetched_at


def test_cache_ttl_expires(serve, tmp_path):
    srv = serve(Scripted())
    with SourceClient(settings(srv.url, cache_ttl_s=1.0),
                      cache_storage=make_cache_storage("svc", cache_dir=tmp_path)) as c:
        c.get_json("/x")
        assert c.get_json("/x").cache_hit
        time.sleep(1.2)
        assert not c.get_json("/x").cache_hit
    assert srv.count() == 2


def test_circuit_breaker_opens_and_fails_fast(serve):
    srv = serve(lambda req: Response(500, b"down"))
    log = CallLog()
    with SourceClient(settings(srv.url, retries=1, breaker_threshold=3), on_call=log) as c:
        for _ in range(3):
            with pytest.raises(SourceError, match="HTTP 500"):
                c.get_json("/x")
        assert srv.count() == 6  # 3 calls x (1 + 1 retry)
        with pytest.raises(CircuitOpenError, match="circuit open after 3 consecutive failures"):
            c.get_json("/x")
    assert srv.count() == 6  # nothing more reached the server
    assert [x.status_code for x in log.calls[-2:]] == [500, None]  # failed at once: no attempt, no retry
    assert log.calls[-1].status_code is None and "circuit open" in log.calls[-1].error


def test_breaker_resets_on_success(serve):
    srv = serve(Scripted(Response(500, b""), Response(500, b"")))
    with SourceClient(settings(srv.url, retries=0, breaker_threshold=2)) as c:
        with pytest.raises(SourceError):
            c.get_json("/x")
        c.breaker.record_success()
        with pytest.raises(SourceError):
            c.get_json("/x")
        assert c.get_json("/x").body["ok"] == 3  # one failure after a success: still closed


def granted_within(limiters: list, name: str, seconds: float) -> tuple[int, float]:
    """Each limiter (one thread each, like two pods) asks for permits without waiting for
    `seconds`: (permits granted in all, wall seconds from the first ask to the last)."""
    granted = [0] * len(limiters)
    start = time.monotonic()

    def ask(i: int) -> None:
        while time.monotonic() - start < seconds:
            granted[i] += bool(limiters[i].try_acquire(name, blocking=False))
            time.sleep(0.002)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(limiters))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(granted), time.monotonic() - start


def at_most(rate: float, wall_s: float) -> float:
    """The most permits a limiter of `rate` (burst 1) may grant in `wall_s`, with slack for the
    clock reads around the window (generous: a busy machine only makes the window longer)."""
    return 1 + rate * wall_s * 1.2 + 2


def test_limiter_holds_the_configured_rate():
    rate = 20.0
    granted, wall = granted_within([make_limiter("svc", rate)], "svc", 1.0)
    assert 1 <= granted <= at_most(rate, wall)


def test_client_spends_a_limiter_token_per_request(serve):
    srv = serve(Scripted())
    rate = 20.0
    with SourceClient(settings(srv.url), limiter=make_limiter("svc", rate)) as c, \
            ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: c.get_json("/x", {"i": i}), range(21)))
    times = sorted(srv.times())
    # 21 calls at 20/s, evenly spaced (burst 1), need >= 1.0 s; half of it allows for a thread
    # that got its token early but reached the server late on a busy machine.
    assert len(times) == 21 and times[-1] - times[0] >= 20 / rate * 0.5


def test_cache_hits_do_not_spend_rate_limit_tokens(serve, tmp_path):
    srv = serve(Scripted())
    with SourceClient(settings(srv.url, cache_ttl_s=60), limiter=make_limiter("svc", 1.0),
                      cache_storage=make_cache_storage("svc", cache_dir=tmp_path)) as c:
        c.get_json("/x")
        t0 = time.monotonic()
        for _ in range(10):
            assert c.get_json("/x").cache_hit
        assert time.monotonic() - t0 < 5  # 10 limited calls at 1/s would take 10 s
    assert srv.count() == 1


def test_api_key_never_logged_cached_or_in_errors(serve, tmp_path):
    secret = "sekret-" + uuid.uuid4().hex
    srv = serve(Scripted(Response(500, b"err"), Response(418, b"teapot")))
    log = CallLog()
    with SourceClient(settings(srv.url, retries=1, cache_ttl_s=60), on_call=log, api_key=secret,
                      api_key_header="apikey", cache_storage=make_cache_storage("svc", cache_dir=tmp_path)) as c:
        with pytest.raises(SourceError) as err:
            c.get_json("/x")
        assert secret not in str(err.value)
        c.get_json("/x")  # 200, stored in the cache
    with SourceClient(settings(srv.url, cache_ttl_s=60), api_key=secret, api_key_param="key",
                      cache_storage=make_cache_storage("svc2", cache_dir=tmp_path)) as c:
        c.get_json("/y", {"q": 1})
    assert srv.requests[0].headers["apikey"] == secret  # it was sent...
    assert srv.requests[-1].query["key"] == secret
    assert all(secret not in repr(call) for call in log.calls)  # ...but never logged
    for f in tmp_path.iterdir():  # ...nor stored in the cache (header or query string)
        assert secret.encode() not in f.read_bytes(), f


def test_sink_errors_do_not_break_calls(serve):
    srv = serve(Scripted())

    def bad_sink(call):
        raise RuntimeError("db down")

    with SourceClient(settings(srv.url), on_call=bad_sink) as c:
        assert c.get_json("/x").status_code == 200


# --------------------------------------------------------------------------- Redis


def test_redis_limiter_is_shared_by_two_pods(redis_url):
    """Two limiters on one Redis key grant one budget between them: at most ~rate x window
    permits (separate budgets would grant about twice that). Load only lengthens the window."""
    prefix = f"reos-test-{uuid.uuid4().hex}"
    rate = 10.0
    pods = [make_limiter("svc", rate, redis_url=redis_url, key_prefix=prefix) for _ in range(2)]
    granted, wall = granted_within(pods, "svc", 1.5)
    assert 1 <= granted <= at_most(rate, wall)
    assert at_most(rate, wall) < 2 * rate * wall  # the bound does tell one budget from two


def test_redis_cache_is_shared_by_two_pods(serve, redis_url):
    srv = serve(Scripted())
    prefix = f"reos-test-{uuid.uuid4().hex}"
    a = SourceClient(settings(srv.url, cache_ttl_s=60),
                     cache_storage=make_cache_storage("svc", redis_url=redis_url, key_prefix=prefix))
    b = SourceClient(settings(srv.url, cache_ttl_s=60),
                     cache_storage=make_cache_storage("svc", redis_url=redis_url, key_prefix=prefix))
    first = a.get_json("/x", {"id": 7})
    second = b.get_json("/x", {"id": 7})
    a.close()
    b.close()
    assert not first.cache_hit and second.cache_hit and second.body == first.body
    assert srv.count() == 1
