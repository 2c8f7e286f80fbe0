"""The per-installation secrets a local run keeps in its state directory (settings.local_secret):
processes that start together — `bench_api`'s two API processes, `make dev`'s API and a run —
must agree on one value (two once each wrote its own, and one API process died on the rename)."""

from __future__ import annotations

import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from realestate_assets.settings import local_secret


def test_callers_racing_on_a_fresh_state_dir_all_get_the_one_secret_kept(tmp_path: Path) -> None:
    for attempt in range(20):
        path = tmp_path / f"state{attempt}" / "unsubscribe.secret"
        start = threading.Barrier(8)

        def read(_: int, path: Path = path, start: threading.Barrier = start) -> str:
            start.wait()
            return local_secret(path)

        with ThreadPoolExecutor(8) as pool:
            seen = set(pool.map(read, range(8)))
        assert seen == {path.read_text().strip()}
        assert len(seen.pop()) == 64
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["unsubscribe.secret"]  # no candidate left


def test_an_existing_secret_is_read_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "link.secret"
    path.write_text("kept-from-an-earlier-run\n")
    assert local_secret(path) == "kept-from-an-earlier-run"
