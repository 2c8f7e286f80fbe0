"""dagster-aws' S3Resource with the S3 addressing style (MinIO needs `path`).

Apart from resources/object_store.py so that importing the definitions does not import dagster-aws,
boto3 and botocore (≈0.8 CPU s per process) when the object store is a local directory: only
`ObjectStoreResource.s3_client` imports this module.
"""

from __future__ import annotations

from typing import Any

from dagster_aws.s3 import S3Resource


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
