"""Run a listing-site crawl in its own process or pod through Dagster Pipes.

`REOS_SCRAPER=subprocess` (default) uses PipesSubprocessClient beside the asset;
`REOS_SCRAPER=k8s` uses dagster-k8s' PipesK8sClient with the base pod in
deploy/pipes/scraper-pod.yaml (namespace, service account, resources), the running image
(`DAGSTER_CURRENT_IMAGE`) and output files exchanged through S3 (`S3_BUCKET`).
The crawl reports records, pages, errors and duration back through Pipes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from realestate_assets.config_models import ListingSiteSource
from realestate_assets.discovery.listing.read import read_listing_output
from realestate_assets.discovery.listing.transfer import fetch
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.settings import config_dir, repo_root

POD_SPEC = Path("deploy") / "pipes" / "scraper-pod.yaml"
RUN_MODULE = "realestate_assets.discovery.listing.run"


@dataclass
class Crawl:
    items: list[Page | Reject]
    metadata: dict[str, Any] = field(default_factory=dict)


class ScraperResource(dg.ConfigurableResource):
    mode_env: str = "REOS_SCRAPER"

    def crawl(self, context: dg.AssetExecutionContext, county_key: str,
              source: ListingSiteSource) -> Crawl:
        mode = os.environ.get(self.mode_env, "subprocess")
        with tempfile.TemporaryDirectory(prefix=f"crawl_{source.name}_") as scratch:
            if mode == "k8s":
                bucket = os.environ.get("S3_BUCKET")
                if not bucket:
                    raise dg.DagsterInvariantViolationError("REOS_SCRAPER=k8s needs S3_BUCKET for crawl output")
                prefix = f"s3://{bucket}/scrapes/{county_key}/{source.name}/{context.run_id}"
                items_uri, rejects_uri = f"{prefix}/items.jsonl", f"{prefix}/rejects.jsonl"
            else:
                items_uri, rejects_uri = f"{scratch}/items.jsonl", f"{scratch}/rejects.jsonl"
            command = ["-m", RUN_MODULE, "--county-file", str(config_dir() / "counties" / f"{county_key}.yaml"),
                       "--source", source.name, "--out", items_uri, "--rejects", rejects_uri]
            try:
                invocation = self._run(context, mode, command)
            except Exception as exc:  # one broken source never fails the partition
                context.log.error(f"crawl of {source.name} failed: {exc}")
                return Crawl([Reject(source.name, ",".join(source.start_urls), None, f"crawl failed: {exc}")],
                             {f"{source.name}_crawl": "failed"})
            metadata = {}
            for result in invocation.get_results():
                metadata.update({k: v for k, v in (result.metadata or {}).items()})
            items = fetch(items_uri, Path(scratch) / "items.local.jsonl")
            rejects = fetch(rejects_uri, Path(scratch) / "rejects.local.jsonl")
            # Read while the scratch directory still exists.
            return Crawl(list(read_listing_output(source.name, items, rejects)), metadata)

    def _run(self, context: dg.AssetExecutionContext, mode: str, command: list[str]) -> Any:
        if mode == "subprocess":
            return dg.PipesSubprocessClient(forward_stdio=False).run(
                context=context, command=[sys.executable, *command])
        if mode == "k8s":
            from dagster_k8s import PipesK8sClient

            pod = yaml.safe_load((repo_root() / POD_SPEC).read_text())
            image = os.environ.get("DAGSTER_CURRENT_IMAGE") or pod["spec"]["containers"][0]["image"]
            return PipesK8sClient(load_incluster_config=True).run(
                context=context, image=image, command=["python", *command],
                namespace=pod["metadata"].get("namespace"), base_pod_meta=pod["metadata"],
                base_pod_spec=pod["spec"])
        raise dg.DagsterInvariantViolationError(f"{self.mode_env}={mode!r}: expected 'subprocess' or 'k8s'")
