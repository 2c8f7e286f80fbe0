"""The cyclic garbage collector paused while a burst of long-lived objects is made.

Each full collection walks every live object, so a burst that allocates hundreds of thousands of
objects none of which is garbage (an import, a loop building small dicts) pays for walking the
process's whole heap again and again (issue 17). Reference counting still frees what is dropped;
cycles left meanwhile are collected once the collector runs again.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_holders = 0  # the `paused_gc` blocks open, in any thread
_was_enabled = False  # the collector's state when the first of them opened


@contextmanager
def paused_gc() -> Iterator[None]:
    """The collector off inside the block, on again (if it was) when the last block open in any
    thread ends: the collector is one switch for the process, and blocks may overlap in threads
    (`features`' Great Expectations set-up beside the step's own work)."""
    global _holders, _was_enabled
    with _LOCK:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _LOCK:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
