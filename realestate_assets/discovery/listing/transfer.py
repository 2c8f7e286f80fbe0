"""Move a crawl's output files between the scraper and the asset: a local path or s3://bucket/key.

Locally the scraper process and the asset share a filesystem; on Kubernetes the scraper runs in
its own pod and writes to the object store (MinIO/S3: S3_ENDPOINT_URL and the AWS_* variables).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse


def _s3_client():
    import boto3

    return boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT_URL") or None,
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))


def publish(local: Path, uri: str) -> None:
    """Copy a finished local file to `uri` (an s3:// URI, or a local path)."""
    if uri.startswith("s3://"):
        parsed = urlparse(uri)
        _s3_client().upload_file(str(local), parsed.netloc, parsed.path.lstrip("/"))
    elif Path(uri).resolve() != local.resolve():
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, uri)


def fetch(uri: str, local: Path) -> Path:
    """Make `uri` readable as a local file; returns its local path."""
    if uri.startswith("s3://"):
        parsed = urlparse(uri)
        local.parent.mkdir(parents=True, exist_ok=True)
        _s3_client().download_file(parsed.netloc, parsed.path.lstrip("/"), str(local))
        return local
    return Path(uri)
