"""`paused_gc`: the cyclic collector off inside the block, back as it was after the last block open
in any thread; Great Expectations' set-up (`features`) runs no collection and freezes what it made."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading

from realestate_assets.gc_pause import paused_gc
from realestate_assets.settings import repo_root


def test_the_collector_is_off_inside_and_as_it_was_after() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():  # nested in one thread
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()


def test_blocks_overlapping_in_two_threads_keep_it_off_until_the_last_ends() -> None:
    """The first block to end must not turn the collector on under the other thread's block."""
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with paused_gc():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    with paused_gc():
        thread.start()
        assert inside.wait(10)
    assert not gc.isenabled()  # this thread's block ended; the other's is open
    leave.set()
    thread.join(10)
    assert gc.isenabled()


def test_great_expectations_set_up_runs_no_collection_and_leaves_what_it_made_frozen() -> None:
    """In a fresh process (GE imported once per process): its ≈1,200 modules' import and the
    ephemeral context with the collector paused (≈340 collections, full ones among them, when it
    was on), then what is live frozen, so no collection walks GE's objects again; the collector
    is on after it."""
    script = textwrap.dedent("""
        import gc
        from realestate_assets.assets import features
        runs = []
        gc.callbacks.append(lambda phase, info: phase == "start" and runs.append(info["generation"]))
        features.gx_batches()
        assert runs == [], runs
        assert gc.isenabled() and gc.get_freeze_count() > 200_000
        gc.collect()
        assert runs == [2] and gc.get_freeze_count() > 200_000  # a full collection skips them
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=repo_root(), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
