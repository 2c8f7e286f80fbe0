"""The object store resource (PDFs, model artifacts): a local directory, or S3/MinIO.

`backend="local"` writes under `local_dir`; its links are HMAC-signed with `link_secret` (empty:
a random one kept in `link_secret_file`, which the local API reads too) under `public_base_url`,
where the API serves `GET /objects/{key}`. `backend="s3"` writes to `bucket` through dagster-aws'
S3Resource (resources/s3.py, imported only when an S3 client is built), with `endpoint_url` for
MinIO (path-style addressing, the default when an endpoint is set); links are pre-signed GET URLs.
The stores themselves live in `realestate_assets.objects`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from realestate_assets.objects import (
    DEFAULT_LINK_TTL,
    LocalObjectStore,
    ObjectLink,
    ObjectStore,
    S3ObjectStore,
    StoredObject,
    local_link_signature,
    verify_local_link,
)
from realestate_assets.settings import local_secret, validated_secret

__all__ = ["DEFAULT_LINK_TTL", "LocalObjectStore", "ObjectLink", "ObjectStore",
           "ObjectStoreResource", "S3ObjectStore", "StoredObject", "local_link_signature", "verify_local_link"]


class ObjectStoreResource(dg.ConfigurableResource):
    """Where packets and model artifacts are stored, and how their links are made."""

    backend: Literal["local", "s3"] = Field(default="local", description="local directory or S3/MinIO")
    local_dir: str = Field(default="", description="root of the local store (backend=local)")
    public_base_url: str = Field(default="http://127.0.0.1:8000",
                                 description="where the API serves local-store links")
    link_secret: str = Field(default="", description="HMAC secret of local links, shared with the API "
                                                     "(empty: a random one kept in link_secret_file)")
    link_secret_file: str = Field(default="", description="file holding the local random link secret")
    bucket: str = Field(default="", description="S3 bucket (backend=s3)")
    endpoint_url: str = Field(default="", description="S3-compatible endpoint, e.g. MinIO (empty: AWS)")
    region_name: str = "us-east-1"
    access_key_id: str = Field(default="", description="empty: boto3's default credential chain")
    secret_access_key: str = ""
    addressing_style: str = Field(default="", description="path | virtual | auto (empty: path when "
                                                          "endpoint_url is set, else auto)")

    def get(self) -> LocalObjectStore | S3ObjectStore:
        if self.backend == "local":
            if not self.local_dir:
                raise dg.DagsterInvariantViolationError("object store backend=local needs local_dir")
            return LocalObjectStore(Path(self.local_dir), self.public_base_url, secret=self.link_signing_secret())
        if not self.bucket:
            raise dg.DagsterInvariantViolationError("object store backend=s3 needs a bucket")
        return S3ObjectStore(self.s3_client(), self.bucket)

    def configured_secrets(self) -> dict[str, str]:
        """The configured (not invented) link secret of a local store, whose fingerprint a run
        compares with the API's; S3 links are pre-signed and need none."""
        if self.backend == "local" and self.link_secret:
            return {"link": validated_secret("link", self.link_secret)}
        return {}

    def link_signing_secret(self) -> str | None:
        """The secret the API checks links with: `link_secret` (REOS_LINK_SECRET), else the local
        random one in `link_secret_file`; signs local object links and the emails' `/p/` links."""
        if self.link_secret:
            return validated_secret("link", self.link_secret)
        return local_secret(Path(self.link_secret_file)) if self.link_secret_file else None

    def s3_client(self) -> Any:
        # dagster-aws (with boto3/botocore) is imported only here: ≈0.8 CPU s that every process
        # importing the definitions paid — each step pod, the in-process run — with a local store.
        from resources.s3 import AddressingS3Resource

        endpoint = self.endpoint_url or None
        return AddressingS3Resource(
            endpoint_url=endpoint, region_name=self.region_name,
            use_ssl=not (endpoint or "").startswith("http://"),
            aws_access_key_id=self.access_key_id or None, aws_secret_access_key=self.secret_access_key or None,
            addressing_style=self.addressing_style or ("path" if endpoint else "auto")).get_client()
