"""Great Expectations' required-features check, run in a worker process of its own.

`RequiredFeatures` (assets/features.py) starts one per check (one per `features` step) with
`python -m realestate_assets.gx_worker`, sends it the required columns of each chunk of feature
rows through its stdin and reads the unexpected counts back from its stdout. GE's import (≈1.6–2.1
CPU s, ≈1,000 modules, nearly all of it pure-Python class creation holding the GIL) then runs on
the other core while the step reads, builds and writes its chunks; in a thread of the step it
held the step's GIL, so the two only took turns (issue 17, docs/scale.md, twenty-fifth round (a)).

This module imports only the standard library at its top: the parent imports it for `send` and
`receive`, and the worker's own start is only this package's empty `__init__`, then GE.

The protocol, in both directions: messages are pickled (protocol 5) with their arrays' memory
sent out of band, so a chunk's float block is written to the pipe from the frame's own buffer
and read into one buffer on the other side (no pickled copy of it on either side). To the
worker: `("columns", (columns, block_rows))` first, then `("rows", frame)` per chunk and
`("result", None)`; EOF on its stdin ends it. From the worker: `("ready", None)` once GE is set
up (or `("error", exception)` and it exits), and `("counts", {column: unexpected})` or
`("error", exception)` for each `result`.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import traceback
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


class BlockCheck:
    """Each required column non-null and finite, over a county's feature rows a block at a time:
    the unexpected counts of the blocks add up to those of the whole.

    The chunks given to `add` are gathered into blocks of at least `block_rows` rows and each block
    is validated as one suite: GE's cost is mostly per validation (≈50 ms for the seven
    expectations, nearly the same at 25k rows as at 250k), which per 25k-row chunk was 2.3 CPU s of
    the step at a million rows (issue 17). A block of the seven float columns is ≈14 MB.
    `result` validates what is left."""

    def __init__(self, columns: list[str], block_rows: int) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no phoning home from a pipeline
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in run logs
        self._batches = (context.data_sources.add_pandas("features").add_dataframe_asset("partition")
                         .add_batch_definition_whole_dataframe("all"))
        self._suite = gx.ExpectationSuite(name="required_features", expectations=[
            gx.expectations.ExpectColumnValuesToNotBeNull(column=c) for c in columns])
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
                self.unexpected[column] = (self.unexpected.get(column, 0)
                                           + int(outcome.result.get("unexpected_count", 0)))

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
    sys.stdout = sys.stderr  # stdout is the protocol's: anything printed goes to the step's stderr
    try:
        kind, (columns, block_rows) = receive(source)
        assert kind == "columns", kind
        check = BlockCheck(columns, block_rows)
    except EOFError:  # the step ended before sending anything
        return
    except Exception as error:  # the step raises it where the first block is validated
        send(sink, _error(error))
        return
    send(sink, ("ready", None))
    failed: tuple[str, BaseException] | None = None  # a validation's error, sent for `result`
    while True:
        try:
            kind, payload = receive(source)
        except EOFError:  # the step is done with it (or gone)
            return
        if kind == "rows" and failed is None:
            try:
                check.add(payload)
            except Exception as error:  # raised by the step's `result`
                failed = _error(error)
        elif kind == "result":
            if failed is None:
                try:
                    send(sink, ("counts", check.result()))
                    continue
                except Exception as error:  # raised by the step's `result`
                    failed = _error(error)
            send(sink, failed)


if __name__ == "__main__":
    main()
