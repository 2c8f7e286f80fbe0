"""The cyclic garbage collector paused while a burst of long-lived objects is made.

Each full collection walks every live object, so a burst that allocates hundreds of thousands of
objects none of which is garbage (an import, a loop building small dicts) pays for walking the
process's whole heap again and again (issue 17). Reference counting still frees what is dropped;
cycles left meanwhile are collected once the collector runs again.

`frozen_once_made` is the rule for a burst made once per process whose objects live as long as it
(the code location's imports, Great Expectations' set-up): paused while made, then frozen.
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


@contextmanager
def frozen_once_made() -> Iterator[None]:
    """`paused_gc` over a burst made once per process whose objects live as long as the process,
    then every object live at the block's end frozen (`gc.freeze()`: moved to the collector's
    permanent generation, which no later collection walks); nothing frozen if the block raises.

    A full collection walks every tracked object, so without the freeze each one later in the
    process (during a step, and the interpreter's last one at exit) walks this burst again and
    finds nothing to free. The price: an object live at the block's end is never collected by
    the collector, so the few cycles already garbage then (≈1,600 objects after the code
    location's imports) stay, and a cycle among the frozen objects that becomes garbage later is
    never freed. Only for what is made once per process: a block entered again and again (a
    test's Definitions, a request) would keep every cycle it left."""
    with paused_gc():
        yield
        gc.freeze()
