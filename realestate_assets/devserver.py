"""`make dev`: run `dagster dev` and the API together so that Ctrl-C or SIGTERM stops both within
seconds, leaving no process.

    python -m realestate_assets.devserver dagster dev -w workspace.yaml ... --and uvicorn ...

Each command runs in its own process group. The first SIGINT or SIGTERM this process receives
(from a terminal's Ctrl-C, from `kill` of make's process group, or forwarded by make) is passed
once to every group, so every service starts its own graceful shutdown at once; a second signal is
not repeated, because `dagster dev` would abandon its shutdown half-way. On a busy machine the
services can still spend many seconds tearing their interpreters down (measured: garbage
collection at exit), so whatever is left of a group after `GRACE_SECONDS` is killed. When one
command ends by itself (a crash, a port in use), the others are stopped the same way: a half-up
`make dev` would look healthy while it is not. Signals this process inherited as ignored (a
background job of a script) are handled all the same.
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
SEPARATOR = "--and"


def split_commands(argv: list[str]) -> list[list[str]]:
    """`A a1 --and B b1` → [[A, a1], [B, b1]]; empty commands are a usage error."""
    commands: list[list[str]] = [[]]
    for arg in argv:
        if arg == SEPARATOR:
            commands.append([])
        else:
            commands[-1].append(arg)
    if any(not command for command in commands):
        raise ValueError(f"usage: python -m realestate_assets.devserver COMMAND [ARGS...] [{SEPARATOR} COMMAND ...]")
    return commands


def run(commands: list[list[str]], grace: float = GRACE_SECONDS) -> int:
    """Run the commands until a signal arrives or one of them ends; the first ending's exit code
    (128 + signal number when it was killed by one)."""
    stop_requested: list[float] = []
    children: list[subprocess.Popen] = []

    def stop(signum: int) -> None:
        if not stop_requested:
            stop_requested.append(time.monotonic())
            for child in children:
                _signal_group(child.pid, signum)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop(signum)

    # Handlers before the children start: they then begin with default dispositions, never ignored ones.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    children.extend(subprocess.Popen(command, start_new_session=True) for command in commands)
    code: int | None = None
    while code is None or any(child.poll() is None for child in children):
        for child in children:
            if code is None and child.poll() is not None:
                code = child.returncode
                stop(signal.SIGTERM)  # one ended: stop the others
        if stop_requested and time.monotonic() - stop_requested[0] > grace:
            for child in children:
                _signal_group(child.pid, signal.SIGKILL)
        time.sleep(0.1)
    # The commands are gone; their services (same groups) may still be exiting.
    deadline = stop_requested[0] + grace if stop_requested else time.monotonic()
    while any(_group_alive(child.pid) for child in children):
        if time.monotonic() > deadline:
            for child in children:
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
    try:
        commands = split_commands(sys.argv[1:])
    except ValueError as exc:
        sys.exit(str(exc))
    sys.exit(run(commands))
