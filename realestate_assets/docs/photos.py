"""Listing photos for memos: downloaded once, resized, cached on disk, embedded as data URIs.

A photo that cannot be fetched or decoded is skipped (and reported by the caller through the
returned `missing` list): a memo never fails because a listing site is down.
"""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import httpx

MAX_BYTES = 15 * 1024 * 1024


@dataclass
class Photos:
    data_uris: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _resized_jpeg(raw: bytes, max_px: int) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(raw)) as image:
        image = image.convert("RGB")
        image.thumbnail((max_px, max_px))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=82, optimize=True)
        return out.getvalue()


def fetch_photos(urls: list[str], cache_dir: Path, *, max_px: int = 640, limit: int = 3,
                 timeout_s: float = 5.0) -> Photos:
    result = Photos()
    cache_dir.mkdir(parents=True, exist_ok=True)
    # The HTTP client is made only when a photo is not cached yet: building one (TLS context,
    # CA bundle) costs tens of milliseconds, as much as laying out a page, on every memo.
    client: httpx.Client | None = None
    try:
        for url in urls:
            if len(result.data_uris) >= limit:
                break
            cached = cache_dir / f"{hashlib.sha256(f'{url}|{max_px}'.encode()).hexdigest()}.jpg"
            if not cached.exists():
                if client is None:
                    client = httpx.Client(timeout=timeout_s, follow_redirects=True,
                                          headers={"User-Agent": "RealEstateOS-memo/1.0"})
                try:
                    response = client.get(url)
                    response.raise_for_status()
                    if len(response.content) > MAX_BYTES:
                        raise ValueError("photo too large")
                    data = _resized_jpeg(response.content, max_px)
                except Exception:
                    result.missing.append(url)
                    continue
                partial = cached.with_suffix(".partial")
                partial.write_bytes(data)
                partial.replace(cached)
            result.data_uris.append("data:image/jpeg;base64," + base64.b64encode(cached.read_bytes()).decode())
    finally:
        if client is not None:
            client.close()
    return result
