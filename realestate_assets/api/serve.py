"""The API server's one launch: `python -m realestate_assets.api.serve [uvicorn's options]`.

deploy/k8s/api.yaml, `make dev` and bench/bench_api.py all start the API this way: uvicorn serving
`realestate_assets.api.app:app` in this process (one process, one event loop), after
`settle_heap()`:

* Python's cyclic garbage collector otherwise rescans every object the imports made (~233,000:
  FastAPI, pydantic, SQLAlchemy, the routes' models) on each full (generation 2) collection, and
  finds nothing to free there: at 50 closed-loop clients the bench saw about one full collection
  per worker every 10 s, **114–148 ms of CPU each** (collected: 0), a pause in which every request
  of the process waits. Frozen once after the imports (`gc.freeze()`, as docs/memo.py's render
  workers do), a full collection scans only what was made since: 4–9 ms (docs/api.md, "Not done
  yet" 1).

One process each: more processes are more pods (the Kubernetes Service spreads connections among
them). `--workers` is refused: uvicorn's workers are new processes that import the app again and
would skip `settle_heap`, and they share one listening socket, which let the first worker to wake
accept most or all 50 of the bench's connections. The bench runs N processes of this launch instead, each
on its own `SO_REUSEPORT` socket (`--fd`), the kernel spreading connections among them as a
Service spreads them among pods.

Either spreads *connections*, at random: 50 keep-alive clients land 25/25 … 33/17 on two processes
(bench/bench_api.py prints the split). Measured (docs/api.md, "The split of connections"), both
processes still serve about half the requests each, so the throughput is unchanged, but the crowded
process's clients wait longer: p95 median 85 ms at 25/25 against 123 ms at 33/17
(bench/bench_split.py). In production an L7 proxy in front of the pods (the ingress) picks a pod per
request and makes the split moot; no balancing among processes is built here (one process a pod).
"""

from __future__ import annotations

import gc
import socket
import sys

APP = "realestate_assets.api.app:app"
REFUSED = ("--workers", "--reload")


def settle_heap() -> int:
    """Free what is garbage now, then move every object left (the imported code, the app) to the
    collector's permanent generation, which no later collection scans; the number frozen.

    Only in a serving process, once, after the imports: a frozen object is never collected, so
    freezing repeatedly (or in a process that keeps making and dropping apps, as the tests do)
    would keep cyclic garbage alive."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def inherited_socket(args: list[str]) -> int | None:
    """The file descriptor given with `--fd N` / `--fd=N`, else None."""
    for i, arg in enumerate(args):
        if arg == "--fd" and i + 1 < len(args):
            return int(args[i + 1])
        if arg.startswith("--fd="):
            return int(arg.split("=", 1)[1])
    return None


def no_delay(fd: int) -> None:
    """TCP_NODELAY on an inherited listening TCP socket, which the connections it accepts inherit
    (Linux). uvicorn wraps a `--fd` socket as AF_UNIX whatever it is, so uvloop does not set it on
    them as it does for sockets uvicorn binds itself: the response's headers and body are two
    writes, and Nagle's algorithm held the second until the client's delayed ACK, 40 ms later — a
    single bench client saw 44–52 ms a request instead of 1.5–4 (docs/api.md, "Under load")."""
    sock = socket.socket(fileno=fd)  # the family and type read from the descriptor
    try:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    finally:
        sock.detach()  # the descriptor stays open, uvicorn's


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = list(sys.argv[1:] if argv is None else argv)
    refused = [a for a in args if a.split("=", 1)[0] in REFUSED]
    if refused:
        raise SystemExit(f"{' '.join(refused)}: one process per launch (docs: realestate_assets/api/serve.py); "
                         "start more processes (pods, or bench/bench_api.py's SO_REUSEPORT sockets) instead")
    fd = inherited_socket(args)
    if fd is not None:
        no_delay(fd)
    import realestate_assets.api.app  # noqa: F401 - imported here so the freeze covers it; uvicorn reuses it

    settle_heap()
    uvicorn.main.main(args=[APP, "--workers", "1", *args], prog_name="python -m realestate_assets.api.serve")


if __name__ == "__main__":
    main()
