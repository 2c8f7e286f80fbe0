"""The investor dashboard (dashboard/, a Vite build) served by the API process at `/`: one origin,
so the browser needs no CORS and the refresh token never crosses sites.

* A file that exists in `dashboard/dist` is served as is; Vite's hashed `assets/*` are cached for a
  year, everything else (index.html above all) is revalidated so a new build shows at once.
* Any other GET is a client-side route (`/properties/42`): index.html, and the app's router draws it.
* Paths of the API's own routes are never matched here (the `not_reserved` converter), so a
  wrong method there stays 405 and an unknown `/api/...` stays the API's 404.
* Without a build (`dashboard/dist/index.html` missing) every such path is a plain 404, as before.
* Text files go gzip-compressed to a browser that accepts it (613 kB of scripts for Home are 178 kB
  gzipped): compressed once per file version and kept in memory, as the build's files are few.
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.convertors import Convertor, register_url_convertor

from realestate_assets.settings import repo_root

DIST = repo_root() / "dashboard" / "dist"
# First path segments that belong to the API process, never to the app's client routes.
RESERVED = ("api", "p", "objects", "unsubscribe", "webhooks", "healthz", "metrics", "openapi.json", "docs", "redoc")
IMMUTABLE = "public, max-age=31536000, immutable"
COMPRESSIBLE = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml",
                ".json": "application/json"}


class NotReserved(Convertor[str]):
    regex = r"(?!(?:" + "|".join(re.escape(r) for r in RESERVED) + r")(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("not_reserved", NotReserved())


def resolve(dist: Path, path: str) -> tuple[Path, bool] | None:
    """The file to answer for a request path and whether it is a real file (else the SPA's
    index.html); None without a build. A path escaping `dist` (`..`) is never a file."""
    index = dist / "index.html"
    if not index.is_file():
        return None
    if path:
        root = dist.resolve()
        candidate = (root / path).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            return candidate, True
    return index, False


@lru_cache(maxsize=256)
def _gzipped(file: Path, mtime_ns: int) -> bytes:  # mtime in the key: a rebuilt file is compressed anew
    return gzip.compress(file.read_bytes(), 6)


def install(app: FastAPI, dist: Path = DIST) -> None:
    """Add the catch-all last: routes registered before it win."""

    @app.get("/{path:not_reserved}", include_in_schema=False)
    def dashboard(path: str, request: Request) -> Response:
        found = resolve(dist, path)
        if found is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        file, real = found
        if not real and "." in path.rsplit("/", 1)[-1]:
            # A missing asset (/assets/old-1234.js after a deploy) is a 404, not index.html:
            # a script tag fed HTML fails confusingly.
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        headers = {"Cache-Control": IMMUTABLE if real and path.startswith("assets/") else "no-cache"}
        media = COMPRESSIBLE.get(file.suffix)
        if media is None:
            return FileResponse(file, headers=headers)
        headers["Vary"] = "Accept-Encoding"
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = _gzipped(file, file.stat().st_mtime_ns)
            return Response(body, media_type=media, headers={**headers, "Content-Encoding": "gzip"})
        return Response(file.read_bytes(), media_type=media, headers=headers)
