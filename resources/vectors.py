"""Vectors: a Qdrant server (`url`, `api_key`), else Qdrant local mode under `local_path`.

Local mode allows one process at a time; `session()` holds an exclusive file lock for the
whole session (see realestate_assets.ml.vectors.open_store), and only the `property_vectors`
asset opens it during a run, so parallel steps never open the storage twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from realestate_assets.ml.vectors import open_store


class VectorsResource(dg.ConfigurableResource):
    url: str = Field(default="", description="Qdrant server URL (empty: local mode under local_path)")
    api_key: str = Field(default="", description="Qdrant server API key")
    local_path: str = Field(default="", description="Qdrant local-mode storage directory")

    def location(self) -> str:
        return self.url or self.local_path

    @contextmanager
    def session(self) -> Iterator[Any]:
        if self.url:
            # Server mode: the client with its API key (open_store's server branch takes no key).
            from qdrant_client import QdrantClient

            client = QdrantClient(url=self.url, api_key=self.api_key or None)
            try:
                yield client
            finally:
                client.close()
            return
        if not self.local_path:
            raise dg.DagsterInvariantViolationError("vectors: set url (server) or local_path (local mode)")
        with open_store(None, Path(self.local_path)) as client:
            yield client
