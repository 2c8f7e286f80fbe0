"""Great Expectations' required-features check, run in a worker process of its own.

Why a process: GE's import is ≈1.9 CPU s after the definitions (≈1,000 modules, nearly all of it
pure-Python class creation holding the GIL), and at 43k parcels in one process it was most of the
`features` step: in a thread of the step it took turns with the step's own Python for the GIL
(issue 17; docs/scale.md, twenty-third round (e), twenty-fifth round (a)). In a process of its own
it runs on the other core, and it can be started before the step: `GreatExpectationsResource`
(resources/great_expectations.py) marks the process's run as wanting it (`want`) when Dagster
initializes the run's resources, which the in-process executor does once, at the run's start, for
every step of the run, and a per-step executor when the `features` step's process starts; the
run's first step that computes starts it (`prefetch`: `sales`, or a stage whose inputs changed),
so GE is set up while `sales`, `prospects` and `enrichment` run, and a run that recomputes nothing
never starts it.

The parent's side is `Worker` and `take`; `RequiredFeatures` (assets/features.py) takes the
process's worker for one check, sends it the required columns of each chunk and reads back the
unexpected counts. The worker serves one check after another (a test process's, a run's one).

This module imports only the standard library at its top: the parent imports it for `Worker`, and
the worker's own start is only this package's empty `__init__`, `gc_pause`, then GE.

The protocol, in both directions: messages are pickled (protocol 5) with their arrays' memory sent
out of band, so a chunk's float block is written to the pipe from the frame's own buffer and read
into one buffer on the other side (no pickled copy of it on either side). The worker sets GE up
first thing, then answers `("ready", None)`, or `("error", exception)` and exits. To the worker,
per check: `("columns", (columns, block_rows))`, then `("rows", frame)` per chunk and
`("result", None)`, which it answers with `("counts", {column: unexpected})` or
`("error", exception)`; EOF on its stdin ends it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import traceback
import weakref
from pathlib import Path
from typing import Any, BinaryIO

_HEAD = struct.Struct("!QI")  # the pickle's length, how many out-of-band buffers follow it
_LENGTH = struct.Struct("!Q")


def send(stream: BinaryIO, message: tuple[str, Any]) -> None:
    """Write `message` to `stream` and flush it (the other side waits for whole messages)."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    stream.write(_HEAD.pack(len(data), len(raws)) + b"".join(_LENGTH.pack(r.nbytes) for r in raws) + data)
    for raw in raws:
        stream.write(raw)
    stream.flush()


def receive(stream: BinaryIO) -> tuple[str, Any]:
    """The next message on `stream`; EOFError if it ended (before or inside a message)."""
    size, count = _HEAD.unpack(_read(stream, _HEAD.size))
    lengths = [_LENGTH.unpack(_read(stream, _LENGTH.size))[0] for _ in range(count)]
    data = _read(stream, size)
    buffers = []
    for length in lengths:
        buffer = bytearray(length)  # writable: the arrays unpickled over it are too
        if stream.readinto(buffer) != length:
            raise EOFError("the stream ended inside a message")
        buffers.append(buffer)
    return pickle.loads(data, buffers=buffers)


def _read(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the stream ended" if not data else "the stream ended inside a message")
    return data


# ----------------------------------------------------------------------------- the parent's side


class Worker:
    """One worker process (`python -m realestate_assets.gx_worker`) and the thread feeding its stdin.

    A plain subprocess rather than `multiprocessing`: `fork` from this threaded process (Dagster's
    executor, the step's own threads) can leave the child a lock another thread held, and `spawn`
    / `forkserver` re-import the parent's `__main__` in the child (the Dagster or pytest CLI, or a
    script that does work at import). `Popen` execs at once (no Python runs in the forked child)
    and `-m` imports only this module's package, then GE: a fresh interpreter. The child runs in
    the package's root, which `-m` puts first on its `sys.path`, so the worker imports the same
    tree; it inherits this process's environment.

    Messages to the worker go through a queue to the `gx-feed` thread, so the step never blocks on
    a pipe the worker is not reading yet (still importing GE). The worker ends on `close`, when
    this object is collected, at this interpreter's exit, or on EOF of its stdin (this process
    gone)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "realestate_assets.gx_worker"],
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        with contextlib.suppress(OSError, AttributeError, ImportError):  # Linux: fewer, larger writes
            import fcntl

            fcntl.fcntl(self.process.stdin.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)  # type: ignore[union-attr]
        self._feed: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        feeder = threading.Thread(target=_feed, args=(self._feed, self.process.stdin), name="gx-feed", daemon=True)
        feeder.start()
        self.ready = False  # its `ready` read (GE set up)
        self.busy = threading.Lock()  # held by the check using it (`take`)
        # Its arguments, not a method: the worker also ends when this object is collected unclosed.
        self._stop = weakref.finalize(self, _stop_worker, self.process, self._feed, feeder)

    @property
    def alive(self) -> bool:
        return self._stop.alive and self.process.poll() is None

    def send(self, message: tuple[str, Any]) -> None:
        self._feed.put(message)

    def receive(self) -> tuple[str, Any]:
        """The worker's next message; its `error` raised (and the worker closed), a worker gone
        raised as a RuntimeError: a check never passes silently."""
        try:
            kind, payload = receive(self.process.stdout)  # type: ignore[arg-type]
        except (EOFError, OSError, ValueError):  # ended, or its pipe closed by `close`
            self.close()
            raise RuntimeError(
                f"Great Expectations' worker process ended (exit {self.process.returncode}) "
                "before answering: the required-features check did not run"
            ) from None
        if kind == "error":
            self.close()
            raise payload
        return kind, payload

    def wait_ready(self) -> None:
        """Wait for GE's set-up in the worker; its error raised here."""
        if not self.ready:
            self.receive()
            self.ready = True

    def close(self) -> None:
        """End the worker at once (one still importing or validating is no longer wanted)."""
        self._stop()


def _feed(feed: queue.SimpleQueue[tuple[str, Any] | None], stream: Any) -> None:
    """Write the messages to the worker until None, then close its stdin (its EOF)."""
    try:
        while (message := feed.get()) is not None:
            send(stream, message)
    except OSError:  # the worker ended (its error, if it sent one, is read from its stdout)
        pass
    finally:
        with contextlib.suppress(OSError):
            stream.close()


def _stop_worker(process: subprocess.Popen[bytes], feed: queue.SimpleQueue[Any], feeder: threading.Thread) -> None:
    feed.put(None)
    if process.poll() is None:
        process.kill()
    process.wait()
    feeder.join()
    if process.stdout is not None:
        process.stdout.close()


_LOCK = threading.Lock()
_shared: Worker | None = None  # the process's worker
_wanted = False  # a run in this process executes `features` (`want`): its first computing step starts GE


def want() -> None:
    """A run in this process executes `features` (its `GreatExpectationsResource` was set up): the
    worker is started by the run's first step that computes (`prefetch`), not now. A run whose
    steps all find their inputs unchanged never starts it: its ≈3.4 CPU s of set-up took the
    cores from those steps' own ≈50 ms each and their server's, for a worker killed unused at the
    run's end (issue 17)."""
    global _wanted
    with _LOCK:
        _wanted = True


def prefetch() -> None:
    """A step is about to compute: start the process's worker now if a run here wants it (`want`),
    so GE is set up on the other core while this step and the next ones run. Called where a step
    commits to its work: `sales` (always), and a fingerprinted stage whose inputs changed
    (`assets/unchanged.unchanged`)."""
    if _wanted:
        start()


def start() -> Worker:
    """The process's worker, started now if none is alive (GE's set-up begins at once)."""
    global _shared
    with _LOCK:
        if _shared is None or not _shared.alive:
            _shared = Worker()
        return _shared


def stop() -> None:
    """End the process's worker, if any (the next `start` or check starts another), and forget the
    run's `want`."""
    global _shared, _wanted
    with _LOCK:
        worker, _shared, _wanted = _shared, None, False
    if worker is not None:
        worker.close()


def take() -> tuple[Worker, bool]:
    """A worker for one check, and whether it is the process's (release its `busy` after the
    check) rather than one of the check's own (close it after): the process's worker (started
    now if none is alive) unless another check holds it."""
    worker = start()
    if worker.busy.acquire(blocking=False):
        return worker, True
    return Worker(), False


# ----------------------------------------------------------------------------- the worker's side


def set_up() -> tuple[Any, Any]:
    """GE and a whole-dataframe batch definition of its pandas datasource, in an ephemeral context.
    The import and the context make ≈280k container objects that live as long as the worker: with
    the collector on they set off ≈340 collections (≈0.2–0.3 CPU s), so it is paused while they
    are made and what is live then is frozen (`frozen_once_made`)."""
    from realestate_assets.gc_pause import frozen_once_made

    with frozen_once_made():
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.enable_analytics(False)  # no phoning home from a pipeline
        context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in run logs
        batches = (
            context.data_sources.add_pandas("features")
            .add_dataframe_asset("partition")
            .add_batch_definition_whole_dataframe("all")
        )
    return gx, batches


class BlockCheck:
    """Each required column non-null and finite, over a county's feature rows a block at a time:
    the unexpected counts of the blocks add up to those of the whole.

    The chunks given to `add` are gathered into blocks of at least `block_rows` rows and each block
    is validated as one suite: GE's cost is mostly per validation (≈50 ms for the seven
    expectations, nearly the same at 25k rows as at 250k), which per 25k-row chunk was 2.3 CPU s of
    the step at a million rows (issue 17). A block of the seven float columns is ≈14 MB.
    `result` validates what is left."""

    def __init__(self, gx: Any, batches: Any, columns: list[str], block_rows: int) -> None:
        self._batches = batches
        self._suite = gx.ExpectationSuite(
            name="required_features",
            expectations=[gx.expectations.ExpectColumnValuesToNotBeNull(column=c) for c in columns],
        )
        self.columns, self.block_rows = columns, block_rows
        self.unexpected: dict[str, int] = {}
        self._pending: list[Any] = []  # chunks (their required columns) not validated yet
        self._pending_rows = 0

    def add(self, frame: Any) -> None:
        self._pending.append(frame)
        self._pending_rows += len(frame)
        if self._pending_rows >= self.block_rows:
            self._validate_pending()

    def _validate_pending(self) -> None:
        if not self._pending:
            return
        import numpy as np
        import pandas as pd

        block = self._pending[0] if len(self._pending) == 1 else pd.concat(self._pending, ignore_index=True)
        self._pending, self._pending_rows = [], 0
        batch = self._batches.get_batch(batch_parameters={"dataframe": block.replace([np.inf, -np.inf], np.nan)})
        for outcome in batch.validate(self._suite).results:
            if not outcome.success:
                column = outcome.expectation_config.kwargs["column"]
                self.unexpected[column] = self.unexpected.get(column, 0) + int(
                    outcome.result.get("unexpected_count", 0)
                )

    def result(self) -> dict[str, int]:
        """{column: rows failing} of every row added, in column order (the passing ones left out)."""
        self._validate_pending()
        return {c: self.unexpected[c] for c in self.columns if c in self.unexpected}


def _error(error: BaseException) -> tuple[str, BaseException]:
    """The error as a message; one that does not pickle is sent as its traceback's text."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # any exception type may fail to pickle or unpickle
        return "error", RuntimeError("".join(traceback.format_exception(error)))
    return "error", error


def main() -> None:
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    with contextlib.suppress(OSError):
        # The run's steps first: at the same priority the worker's ≈3 CPU s of set-up took a core
        # from `sales`, `prospects` and `enrichment` (their server's and their own; 43k at load 4–9:
        # those three steps grew by more than `features` shrank). Niced, it takes what they leave
        # idle, and all of a core while `features` waits for it (docs/scale.md, twenty-ninth round (a)).
        os.nice(10)
    sys.stdout = sys.stderr  # stdout is the protocol's: anything printed goes to the step's stderr
    try:
        gx, batches = set_up()
    except Exception as error:  # raised by the step where it first waits for the worker
        send(sink, _error(error))
        return
    send(sink, ("ready", None))
    check: BlockCheck | None = None
    failed: tuple[str, BaseException] | None = None  # a check's error, sent for its `result`
    while True:
        try:
            kind, payload = receive(source)
        except EOFError:  # the parent is done with it (or gone)
            return
        try:
            if kind == "columns":
                check, failed = None, None
                check = BlockCheck(gx, batches, *payload)
            elif kind == "rows" and failed is None:
                assert check is not None, "rows before columns"
                check.add(payload)
            elif kind == "result":
                if failed is None:
                    assert check is not None, "result before columns"
                    send(sink, ("counts", check.result()))
                else:
                    send(sink, failed)
                check, failed = None, None
        except Exception as error:  # raised by the step's `result`
            failed = _error(error)
            if kind == "result":
                send(sink, failed)
                check, failed = None, None


if __name__ == "__main__":
    main()
