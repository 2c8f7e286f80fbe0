"""Vectors: Qdrant server when QDRANT_URL is set, else Qdrant local mode under REOS_STATE_DIR/qdrant.

Local mode allows one process at a time; `session()` holds an exclusive file lock for the
whole session (see realestate_assets.ml.vectors.open_store), and only the `property_vectors`
asset opens it during a run, so parallel steps never open the storage twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from realestate_assets.ml.vectors import open_store
from realestate_assets.settings import state_dir


class VectorsResource(dg.ConfigurableResource):
    url_env: str = "QDRANT_URL"
    path_env: str = "REOS_QDRANT_PATH"

    def location(self) -> str:
        return os.environ.get(self.url_env) or str(self.local_path())

    def local_path(self) -> Path:
        return Path(os.environ.get(self.path_env) or state_dir() / "qdrant")

    @contextmanager
    def session(self) -> Iterator[Any]:
        with open_store(os.environ.get(self.url_env) or None, self.local_path()) as client:
            yield client
