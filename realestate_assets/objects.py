"""Object stores for PDFs and model artifacts: a local directory or S3/MinIO. No Dagster imports.

The local store's links are HMAC-signed URLs that the API (`GET /objects/{key}`) verifies with
the same secret; S3 links are pre-signed GET URLs. Uploads carry their content type and a SHA-256
checksum that S3 verifies (`ChecksumSHA256`) and keeps as metadata. `resources.ObjectStoreResource`
chooses and configures one; the API builds the local one itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from realestate_assets.db.tenancy import TENANT_ID

DEFAULT_LINK_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class StoredObject:
    key: str
    uri: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class ObjectLink:
    url: str
    expires_at: datetime


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> StoredObject: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def link(self, key: str, ttl: timedelta = DEFAULT_LINK_TTL) -> ObjectLink: ...
    def delete_prefix(self, prefix: str) -> int: ...


def tenant_prefix(tenant_id: str) -> str:
    """Everything a tenant owns in the object store lives under this (`tenant_key`)."""
    return tenant_key(tenant_id, "x")[: -len("x")]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _safe_parts(parts: tuple[str, ...]) -> None:
    for part in parts:
        if part in ("", ".", "..") or "/" in part or "\\" in part or any(ord(c) < 32 for c in part):
            raise ValueError(f"object key segment {part!r} is not one safe path segment")


def public_key(*parts: str) -> str:
    """The object key of public county data (model artifacts): `public/<part>/<part>…`, one copy
    per county whoever computed it (DESIGN §9), never under a tenant's prefix."""
    _safe_parts(parts)
    return "/".join(("public", *parts))


def tenant_key(tenant_id: str, *parts: str) -> str:
    """The object key of something a tenant owns: `tenants/<tenant_id>/<part>/<part>…`.

    Every tenant-owned object kind's key function (`assets.outreach.packet_path`) builds its key
    here, so two tenants' objects never share a key, and a link (signed for one key) never reaches
    another tenant's object. Each part must already be one safe segment.
    """
    if not TENANT_ID.match(tenant_id):
        raise ValueError(f"tenant id {tenant_id!r} cannot scope an object key")
    _safe_parts(parts)
    return "/".join(("tenants", tenant_id, *parts))


def object_intact(store: ObjectStore, key: str, sha256: str | None) -> bool:
    """The object exists and reads back with the sha256 recorded for it. The one rule behind
    reusing a stored object, the packets' blocking checksum audit and the model registry's."""
    return bool(sha256) and store.exists(key) and _digest(store.get(key)) == sha256


def local_link_signature(secret: str, key: str, expires: int) -> str:
    mac = hmac.new(secret.encode(), f"{key}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def verify_local_link(secret: str, key: str, expires: int, signature: str, now: float | None = None) -> bool:
    if expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(local_link_signature(secret, key, expires), signature)


class LocalObjectStore:
    def __init__(self, root: Path, public_base_url: str = "http://127.0.0.1:8000", *,
                 secret: str | None = None) -> None:
        self.root = root
        self.public_base_url = public_base_url.rstrip("/")
        self._secret = secret

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"object key escapes the store: {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # atomic: a reader never sees half a PDF
        return StoredObject(key=key, uri=path.as_uri(), sha256=_digest(data), size_bytes=len(data))

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def link(self, key: str, ttl: timedelta = DEFAULT_LINK_TTL) -> ObjectLink:
        """A signed URL the API's GET /objects/{key} serves until it expires."""
        self._path(key)
        expires = int(time.time() + ttl.total_seconds())
        if not self._secret:
            raise ValueError("a local object store needs its link secret to sign links (REOS_LINK_SECRET)")
        signature = local_link_signature(self._secret, key, expires)
        return ObjectLink(url=f"{self.public_base_url}/objects/{quote(key)}?expires={expires}&signature={signature}",
                          expires_at=datetime.fromtimestamp(expires, UTC))

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with `prefix` (a folder: ends with /); how many."""
        folder = self._path(prefix)
        if not folder.is_dir():
            return 0
        files = [p for p in folder.rglob("*") if p.is_file()]
        shutil.rmtree(folder)
        return len(files)


class S3ObjectStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        raw = hashlib.sha256(data)
        # S3 (and MinIO) verify ChecksumSHA256 on receipt and reject a corrupted upload.
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type,
                               ChecksumSHA256=base64.b64encode(raw.digest()).decode(),
                               Metadata={"sha256": raw.hexdigest()})
        return StoredObject(key=key, uri=f"s3://{self.bucket}/{key}", sha256=raw.hexdigest(), size_bytes=len(data))

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def link(self, key: str, ttl: timedelta = DEFAULT_LINK_TTL) -> ObjectLink:
        seconds = int(ttl.total_seconds())
        url = self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                 ExpiresIn=seconds)
        return ObjectLink(url=url, expires_at=datetime.now(UTC) + timedelta(seconds=seconds))

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with `prefix`, 1,000 per request; how many."""
        deleted = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        return deleted
