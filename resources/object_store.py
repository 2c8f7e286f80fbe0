"""Object store for PDFs and model artifacts: a local directory, or S3/MinIO.

`REOS_OBJECT_STORE=local` (default) writes under `REOS_OBJECTS_DIR` (default
`.reos/objects`); `REOS_OBJECT_STORE=s3` writes to `S3_BUCKET` through dagster-aws'
S3Resource, with `S3_ENDPOINT_URL` for MinIO (path-style addressing).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import dagster as dg

from realestate_assets.settings import state_dir


@dataclass(frozen=True)
class StoredObject:
    key: str
    uri: str
    sha256: str
    size_bytes: int


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> StoredObject: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root

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


class S3ObjectStore:
    def __init__(self, client: object, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        digest = _digest(data)
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type,
                               Metadata={"sha256": digest})
        return StoredObject(key=key, uri=f"s3://{self.bucket}/{key}", sha256=digest, size_bytes=len(data))

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


class ObjectStoreResource(dg.ConfigurableResource):
    backend_env: str = "REOS_OBJECT_STORE"

    def get(self) -> ObjectStore:
        backend = os.environ.get(self.backend_env, "local")
        if backend == "local":
            root = Path(os.environ.get("REOS_OBJECTS_DIR") or state_dir() / "objects")
            return LocalObjectStore(root)
        if backend == "s3":
            from dagster_aws.s3 import S3Resource

            bucket = os.environ.get("S3_BUCKET")
            if not bucket:
                raise dg.DagsterInvariantViolationError("REOS_OBJECT_STORE=s3 needs S3_BUCKET")
            resource = S3Resource(endpoint_url=os.environ.get("S3_ENDPOINT_URL"),
                                  region_name=os.environ.get("AWS_REGION", "us-east-1"),
                                  use_ssl=not os.environ.get("S3_ENDPOINT_URL", "").startswith("http://"))
            return S3ObjectStore(resource.get_client(), bucket)
        raise dg.DagsterInvariantViolationError(
            f"{self.backend_env}={backend!r}: expected 'local' or 's3'")
