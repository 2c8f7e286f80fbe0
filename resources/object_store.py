"""Object store for PDFs and model artifacts: a local directory, or S3/MinIO.

`REOS_OBJECT_STORE=local` (default) writes under `REOS_OBJECTS_DIR` (default
`.reos/objects`); its links are HMAC-signed URLs that the API (`realestate_assets.api`,
`GET /objects/{key}`) serves, under `REOS_PUBLIC_BASE_URL` (default http://127.0.0.1:8000).
`REOS_OBJECT_STORE=s3` writes to `S3_BUCKET` through dagster-aws' S3Resource, with
`S3_ENDPOINT_URL` for MinIO (path-style addressing, `S3_ADDRESSING_STYLE`, default `path`
when an endpoint is set); links are pre-signed GET URLs. Uploads carry their content type
and a SHA-256 checksum that S3 verifies (`ChecksumSHA256`) and keeps as metadata.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import dagster as dg
from dagster_aws.s3 import S3Resource

from realestate_assets.settings import state_dir

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


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def local_link_signature(secret: str, key: str, expires: int) -> str:
    mac = hmac.new(secret.encode(), f"{key}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def verify_local_link(secret: str, key: str, expires: int, signature: str, now: float | None = None) -> bool:
    if expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(local_link_signature(secret, key, expires), signature)


def link_secret() -> str:
    """The secret local links are signed with: shared with the API (REOS_LINK_SECRET)."""
    from realestate_assets.outreach.compliance import state_secret

    return state_secret("REOS_LINK_SECRET", "link.secret")


class LocalObjectStore:
    def __init__(self, root: Path, public_base_url: str = "http://127.0.0.1:8000",
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
        signature = local_link_signature(self._secret or link_secret(), key, expires)
        return ObjectLink(url=f"{self.public_base_url}/objects/{quote(key)}?expires={expires}&signature={signature}",
                          expires_at=datetime.fromtimestamp(expires, UTC))


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


class AddressingS3Resource(S3Resource):
    """dagster-aws S3Resource plus the S3 addressing style, which MinIO needs as `path`.

    S3Resource builds its client without a botocore `Config(s3={"addressing_style": ...})`; with a
    custom endpoint that is not an IP address (e.g. http://minio:9000) botocore would then use
    virtual-host style (`bucket.minio`), which does not resolve.
    """

    addressing_style: str = "auto"

    def get_client(self) -> Any:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(profile_name=self.profile_name)
        return session.client(
            "s3", region_name=self.region_name, use_ssl=self.use_ssl, verify=self.verify,
            endpoint_url=self.endpoint_url, aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key, aws_session_token=self.aws_session_token,
            config=Config(retries={"max_attempts": self.max_attempts, "mode": "standard"},
                          s3={"addressing_style": self.addressing_style}, signature_version="s3v4"))


def s3_store_from_env(environ: dict[str, str] | None = None) -> S3ObjectStore:
    env = os.environ if environ is None else environ
    bucket = env.get("S3_BUCKET")
    if not bucket:
        raise dg.DagsterInvariantViolationError("REOS_OBJECT_STORE=s3 needs S3_BUCKET")
    endpoint = env.get("S3_ENDPOINT_URL") or None
    resource = AddressingS3Resource(
        endpoint_url=endpoint, region_name=env.get("AWS_REGION", "us-east-1"),
        use_ssl=not (endpoint or "").startswith("http://"),
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"), aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        addressing_style=env.get("S3_ADDRESSING_STYLE") or ("path" if endpoint else "auto"))
    return S3ObjectStore(resource.get_client(), bucket)


def local_store() -> LocalObjectStore:
    """The local-directory store: `REOS_OBJECTS_DIR`, default `.reos/objects`."""
    root = Path(os.environ.get("REOS_OBJECTS_DIR") or state_dir() / "objects")
    return LocalObjectStore(root, os.environ.get("REOS_PUBLIC_BASE_URL", "http://127.0.0.1:8000"))


class ObjectStoreResource(dg.ConfigurableResource):
    backend_env: str = "REOS_OBJECT_STORE"

    def get(self) -> LocalObjectStore | S3ObjectStore:
        backend = os.environ.get(self.backend_env, "local")
        if backend == "local":
            return local_store()
        if backend == "s3":
            return s3_store_from_env()
        raise dg.DagsterInvariantViolationError(
            f"{self.backend_env}={backend!r}: expected 'local' or 's3'")
