"""`make dev`: run `dagster dev` so that Ctrl-C or SIGTERM stops it within seconds, leaving no process.

    python -m realestate_assets.devserver dagster dev -w workspace.yaml ...

`dagster dev` runs in its own process group. The first SIGINT or SIGTERM this process receives
(from a terminal's Ctrl-C, from `kill` of make's process group, or forwarded by make) is passed
once to that whole group, so every Dagster service starts its own graceful shutdown at once; a
second signal is not repeated, because `dagster dev` would abandon its shutdown half-way. On a busy
machine the services can still spend many seconds tearing their interpreters down (measured:
garbage collection at exit), so whatever is left of the group after `GRACE_SECONDS` is killed.
Signals this process inherited as ignored (a background job of a script) are handled all the same.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType

import psutil

GRACE_SECONDS = 6.0


def run(command: list[str], grace: float = GRACE_SECONDS) -> int:
    stop_requested: list[float] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if not stop_requested:
            stop_requested.append(time.monotonic())
            _signal_group(child.pid, signum)

    # Handlers before the child starts: it then begins with default dispositions, never ignored ones.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)
    child = subprocess.Popen(command, start_new_session=True)
    while True:
        try:
            code = child.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if stop_requested and time.monotonic() - stop_requested[0] > grace:
                _signal_group(child.pid, signal.SIGKILL)
    # `dagster dev` is gone; its services (same group) may still be exiting. Without a stop request
    # it crashed: nothing is left to wait for.
    deadline = stop_requested[0] + grace if stop_requested else time.monotonic()
    while _group_alive(child.pid):
        if time.monotonic() > deadline:
            _signal_group(child.pid, signal.SIGKILL)
        time.sleep(0.1)
    return code if code >= 0 else 128 - code


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    """A process of the group still runs (zombies waiting for init to reap them do not count)."""
    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):  # gone meanwhile
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
    return False


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m realestate_assets.devserver COMMAND [ARGS...]")
    sys.exit(run(sys.argv[1:]))
