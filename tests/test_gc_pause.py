"""`paused_gc`: the cyclic collector off inside the block, back as it was after the last block open
in any thread; `frozen_once_made`: paused, then what is live frozen. The code location's imports and
Great Expectations' set-up (its worker, `gx_worker`) run no full collection and leave what they made frozen."""

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
        from realestate_assets import gx_worker
        runs = []
        gc.callbacks.append(lambda phase, info: phase == "start" and runs.append(info["generation"]))
        gx_worker.set_up()
        assert runs == [], runs
        assert gc.isenabled() and gc.get_freeze_count() > 200_000
        gc.collect()
        assert runs == [2] and gc.get_freeze_count() > 200_000  # a full collection skips them
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=repo_root(), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def _fresh_process(script: str) -> None:
    """`script` in a new interpreter (a freeze is for the whole process: not this test's)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=repo_root(), capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_frozen_once_made_freezes_what_is_live_at_the_end_and_nothing_if_the_block_raises() -> None:
    _fresh_process("""
        import gc
        from realestate_assets.gc_pause import frozen_once_made
        try:
            with frozen_once_made():
                assert not gc.isenabled()
                raise KeyError
        except KeyError:
            pass
        assert gc.isenabled() and gc.get_freeze_count() == 0
        with frozen_once_made():
            made = [[i] for i in range(10_000)]
        assert gc.isenabled() and gc.get_freeze_count() >= 10_000
        listed = {id(x) for x in gc.get_objects()}  # what a collection walks: not the frozen
        assert id(made[0]) not in listed and id(made[-1]) not in listed
    """)


def test_the_code_locations_import_runs_no_full_collection_and_leaves_what_it_made_frozen() -> None:
    """Every step's process imports the definitions once: ≈5 full collections (0.4–0.5 CPU s at
    load 10) during it before, and each later full collection walked its ≈280k objects again.
    Dagster itself is imported first, as a step's worker has it before loading the location."""
    _fresh_process("""
        import gc
        import dagster  # noqa: F401
        full = []
        gc.callbacks.append(lambda phase, info: phase == "start" and info["generation"] == 2 and full.append(1))
        import realestate_assets.definitions  # noqa: F401
        assert full == [], full
        assert gc.isenabled() and gc.get_freeze_count() > 200_000
        assert len(gc.get_objects()) < 20_000  # what a full collection walks now
    """)
