"""The one way a listing crawl runs: Dagster Pipes, in a child process or its own pod.

`mode="subprocess"` (default) runs `python -m realestate_assets.discovery.listing.run` beside the
asset with `PipesSubprocessClient`; `mode="k8s"` runs the same command under tini in a pod with
dagster-k8s' `PipesK8sClient`, from the base pod in `base_pod_path` (service account,
resources, /dev/shm), the image named here or else the run's own code image, in the namespace
named here or else the run's own, output exchanged through `output_bucket` (S3/MinIO; any mode
may use it, k8s must). The crawl reports
records, rejects, pages, robots.txt skips and duration back through Pipes.

Every setting is a field (shown in the Dagster UI); this module reads no environment variable.
Production builds it with `dg.EnvVar(...)` values where they come from the deployment.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import yaml
from pydantic import Field

from realestate_assets.config_models import ListingSiteSource
from realestate_assets.discovery.listing.read import read_listing_output
from realestate_assets.discovery.listing.run import crawl_command
from realestate_assets.discovery.listing.settings import DEFAULT_CHROMIUM_PATH, DEFAULT_USER_AGENT, CrawlOptions
from realestate_assets.discovery.listing.transfer import fetch
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.settings import repo_root

TINI = "/usr/bin/tini"  # the image's init (deploy/docker/Dockerfile): reaps chromium's children


@dataclass
class Crawl:
    items: list[Page | Reject]
    metadata: dict[str, Any] = field(default_factory=dict)


class ScraperConfigError(dg.DagsterInvariantViolationError):
    """The scraper resource cannot launch a crawl as configured (raised, never turned into a reject)."""


class ScraperResource(dg.ConfigurableResource):
    mode: Literal["subprocess", "k8s"] = Field(
        default="subprocess", description="subprocess: beside the run (local); k8s: one pod per crawl")
    namespace: str | None = Field(
        default=None, description="k8s: the scraper pods' namespace; unset: the run pod's own namespace")
    image: str | None = Field(
        default=None, description="k8s: the scraper image; unset: the run's code image (DAGSTER_CURRENT_IMAGE "
                                  "of the code location)")
    base_pod_path: str = Field(
        default="deploy/pipes/scraper-pod.yaml",
        description="k8s: the base pod (metadata + spec), relative to the repository root or absolute")
    output_bucket: str | None = Field(
        default=None, description="S3 bucket the crawl writes its items and rejects to (required for k8s); "
                                  "unset: a local scratch directory")
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO) for output_bucket; unset: AWS")
    user_agent: str = Field(default=DEFAULT_USER_AGENT,
                            description="the crawler's User-Agent: name the operator and a contact")
    chromium_path: str = Field(default=DEFAULT_CHROMIUM_PATH,
                               description="the browser for `render: playwright` sources")
    http_cache: bool = Field(default=False, description="Scrapy's HTTP cache (development)")
    http_cache_dir: str = Field(default=".scrapy/httpcache",
                                description="where the HTTP cache lives when http_cache is on")

    def options(self) -> CrawlOptions:
        return CrawlOptions(user_agent=self.user_agent, chromium_path=self.chromium_path,
                            http_cache_dir=self.http_cache_dir if self.http_cache else None,
                            s3_endpoint_url=self.s3_endpoint_url)

    def crawl(self, context: dg.AssetExecutionContext, county_key: str, source: ListingSiteSource,
              options: CrawlOptions | None = None) -> Crawl:
        """Crawl one listing source; its items and rejects, and the crawl's metadata.

        A crawl that fails is one reject for that source (the partition goes on with the other
        sources); a scraper that is not configured to run at all raises.
        """
        options = options or self.options()
        with tempfile.TemporaryDirectory(prefix=f"crawl_{source.name}_") as scratch:
            if self.mode == "k8s" and not self.output_bucket:
                raise ScraperConfigError("scraper mode k8s needs output_bucket for the crawl's output")
            if self.output_bucket:
                prefix = f"s3://{self.output_bucket}/scrapes/{county_key}/{source.name}/{context.run_id}"
                items_uri, rejects_uri = f"{prefix}/items.jsonl", f"{prefix}/rejects.jsonl"
            else:
                items_uri, rejects_uri = f"{scratch}/items.jsonl", f"{scratch}/rejects.jsonl"
            command = crawl_command(source, items_uri, rejects_uri, options)
            launch = self._k8s if self.mode == "k8s" else self._subprocess
            try:
                invocation = launch(context, command)
            except ScraperConfigError:
                raise
            except Exception as exc:  # one broken source never fails the partition
                context.log.error(f"crawl of {source.name} failed: {exc}")
                return Crawl([Reject(source.name, ",".join(source.start_urls), None, f"crawl failed: {exc}")],
                             {f"{source.name}_crawl": "failed"})
            metadata: dict[str, Any] = {}
            for result in invocation.get_results():
                metadata.update(result.metadata or {})
            items = fetch(items_uri, Path(scratch) / "items.local.jsonl", s3_endpoint_url=self.s3_endpoint_url)
            rejects = fetch(rejects_uri, Path(scratch) / "rejects.local.jsonl",
                            s3_endpoint_url=self.s3_endpoint_url)
            # Read while the scratch directory still exists.
            return Crawl(list(read_listing_output(source.name, items, rejects)), metadata)

    def _subprocess(self, context: dg.AssetExecutionContext, command: list[str]) -> Any:
        return dg.PipesSubprocessClient(forward_stdio=False).run(context=context, command=[sys.executable, *command])

    def _k8s(self, context: dg.AssetExecutionContext, command: list[str]) -> Any:
        from dagster_k8s import PipesK8sClient

        return PipesK8sClient(load_incluster_config=True).run(context=context, **self.pod_args(context, command))

    def pod_args(self, context: dg.AssetExecutionContext, command: list[str]) -> dict[str, Any]:
        """What `PipesK8sClient.run` gets: image, command under tini, namespace, base pod."""
        pod = yaml.safe_load(self._base_pod().read_text(encoding="utf-8"))
        metadata = {k: v for k, v in pod["metadata"].items() if k != "namespace"}  # never hard-coded
        return {
            "image": self.pod_image(context),
            "command": [TINI, "--", "python", *command],
            "namespace": self.namespace,  # None: dagster-k8s uses the namespace this run pod is in
            "base_pod_meta": metadata,
            "base_pod_spec": pod["spec"],
        }

    def pod_image(self, context: dg.AssetExecutionContext) -> str:
        """The configured image, else the image the run's code location runs (the one the K8s run
        launcher started this run with); never the base pod's placeholder."""
        if self.image:
            return self.image
        origin = context.run.job_code_origin
        image = origin.repository_origin.container_image if origin else None
        if not image:
            raise ScraperConfigError(
                "scraper mode k8s has no image: set the scraper resource's `image`, or run the code "
                "location with DAGSTER_CURRENT_IMAGE so runs know their image")
        return image

    def _base_pod(self) -> Path:
        path = Path(self.base_pod_path)
        return path if path.is_absolute() else repo_root() / path
