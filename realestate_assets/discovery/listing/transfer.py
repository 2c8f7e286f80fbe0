"""Read a crawl's output where the scraper left it: a local path or s3://bucket/key.

Locally the scraper process and the asset share a filesystem; on Kubernetes the scraper runs in
its own pod and its FEEDS write to the object store (MinIO/S3). boto3 finds its credentials as
usual (AWS_* variables, a role); the endpoint is the scraper resource's `s3_endpoint_url`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse


def fetch(uri: str, local: Path, *, s3_endpoint_url: str | None = None) -> Path:
    """Make `uri` readable as a local file; returns its local path."""
    if uri.startswith("s3://"):
        import boto3

        parsed = urlparse(uri)
        local.parent.mkdir(parents=True, exist_ok=True)
        boto3.client("s3", endpoint_url=s3_endpoint_url).download_file(
            parsed.netloc, parsed.path.lstrip("/"), str(local))
        return local
    return Path(uri)
