"""Offline checks of the Kubernetes deployment (issues #7 and #15).

Nothing here needs a cluster, Docker, helm, kustomize or the network:
  (a) deploy/dagster.yaml validates as a Dagster 1.13 instance config, builds a K8sRunLauncher
      from a throwaway kubeconfig, and opens its storage on a real PostgreSQL (pgserver) with the
      explicit postgresql+psycopg2 scheme, writing compute logs to a local S3 server (moto);
  (b) every manifest validates against the Kubernetes JSON schemas (kubernetes-validate, strict)
      and the kubernetes client's OpenAPI models, and the manifests agree with each other; the
      kustomizations are built (images, generators, patches, replacements) and the result checked;
  (c) Helm values are checked against the key tree of the pinned chart version;
  (d) the image installs exactly the project's dependency set;
  (e) the image runs as a non-root user with the gRPC code-server command;
  (f) what a cluster would run: the run pod and the step pods are built with dagster-k8s's own
      code (K8sRunLauncher config schema, K8sContainerContext, construct_dagster_k8s_job), from
      the instance config the chart (or deploy/dagster.yaml) gives the launcher, and checked for
      image, env (DAGSTER_CURRENT_IMAGE included), secrets, resources, service account and a
      command that keeps tini as PID 1.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "deploy"

# Kubernetes minor version the manifests are written for (kubernetes-validate ships the schemas).
K8S_VERSION = "1.33.0"

CODE_IMAGE = "ghcr.io/OWNER/realestate-os"

# Environment variables the code reads (DESIGN.md §2 and the brief of issue #7).
APP_ENV_VARS = {
    "DATABASE_URL",
    "DAGSTER_HOME",
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "QDRANT_URL",
    "QDRANT_API_KEY",
    "REDIS_URL",
    "SENDGRID_API_KEY",
    "SENDGRID_WEBHOOK_PUBLIC_KEY",
    "ATTOM_API_KEY",
    "CENSUS_API_KEY",
    "SOCRATA_APP_TOKEN",
    "REOS_UNSUBSCRIBE_SECRET",
    "REOS_LINK_SECRET",
    "REOS_PUBLIC_BASE_URL",
    "REOS_RATE_LIMIT_IP",
    "REOS_RATE_LIMIT_PRINCIPAL",
    "REOS_RATE_LIMIT_LOGIN",
    "REOS_ENV",
    "REOS_TENANT",
    "REOS_CONFIG_DIR",
    "REOS_STATE_DIR",
    # Failure alerts (sensors/alerts.py).
    "REOS_ALERT_EMAILS",
    "REOS_ALERT_FROM",
    "REOS_DAGSTER_UI_URL",
    "REOS_SLACK_WEBHOOK_URL",
}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_all(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def manifest_files() -> list[Path]:
    """Whole manifests (overlay patches are partial objects and are checked through the build)."""
    files = sorted((DEPLOY / "k8s").rglob("*.yaml"))
    return [p for p in files if p.name != "kustomization.yaml" and "overlays" not in p.parts] + [
        DEPLOY / "pipes" / "scraper-pod.yaml"
    ]


def all_manifests() -> list[tuple[Path, dict]]:
    return [(p, d) for p in manifest_files() for d in load_all(p)]


def k8s_validate(doc: dict) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def pod_spec_of(doc: dict) -> dict | None:
    kind = doc["kind"]
    if kind == "Pod":
        return doc["spec"]
    if kind in {"StatefulSet", "Deployment", "DaemonSet", "Job"}:
        return doc["spec"]["template"]["spec"]
    return None


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, version = line.partition("==")
        pins[normalize(name)] = version
    return pins


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def req_name(requirement: str) -> str:
    return normalize(re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0])


def write_kubeconfig(path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "offline", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "offline", "user": {"token": "dummy"}}],
                "contexts": [{"name": "offline", "context": {"cluster": "offline", "user": "offline"}}],
                "current-context": "offline",
            }
        )
    )
    return path


# ---------------------------------------------------------------------------------------------
# (a) deploy/dagster.yaml
# ---------------------------------------------------------------------------------------------

INSTANCE_ENV = {
    "DAGSTER_PG_HOST": "reos-postgresql",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-real-password",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_K8S_JOB_NAMESPACE": "reos",
    "S3_ENDPOINT_URL": "http://reos-minio:9000",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


@pytest.fixture
def offline_instance_dir(tmp_path, monkeypatch):
    """deploy/dagster.yaml in a DAGSTER_HOME, with only the cluster login swapped for a
    throwaway kubeconfig (the brief's offline recipe)."""
    for key, value in INSTANCE_ENV.items():
        monkeypatch.setenv(key, value)
    cfg = load(DEPLOY / "dagster.yaml")
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig")
    cfg["run_launcher"]["config"].update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(cfg))
    return home


def test_instance_config_validates_against_dagster_schema(tmp_path, monkeypatch):
    from dagster._core.instance.config import dagster_instance_config

    for key, value in INSTANCE_ENV.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    cfg, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None

    from realestate_assets.instance_storage import storage_block

    named = storage_block("")["custom"]
    assert {k: cfg["storage"]["custom"][k] for k in ("module", "class")} == {"module": named["module"],
                                                                            "class": named["class"]}
    pg = cfg["storage"]["custom"]["config"]["postgres_db"]
    assert pg["scheme"] == "postgresql+psycopg2"
    for field in ("hostname", "username", "password", "db_name"):
        assert isinstance(pg[field], dict) and "env" in pg[field], f"{field} must come from the environment"
    assert cfg["run_launcher"]["class"] == "K8sRunLauncher"
    assert cfg["telemetry"] == {"enabled": False}
    assert cfg["run_monitoring"]["enabled"] is True
    assert cfg["run_retries"]["enabled"] is True
    assert cfg["retention"]["schedule"]["purge_after_days"] > 0
    assert cfg["compute_logs"]["class"] == "S3ComputeLogManager"
    assert "endpoint_url" in cfg["compute_logs"]["config"]

    limits = cfg["concurrency"]["runs"]["tag_concurrency_limits"]
    for key in ("county", "dagster/partition"):
        assert {"key": key, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    # No run carries a `source` tag: a limit on it would never hold anything back. Pools do.
    assert not [lim for lim in limits if lim["key"] == "source"]
    assert cfg["concurrency"]["pools"] == {"default_limit": 2, "granularity": "run"}
    assert cfg["freshness"] == {"enabled": True}
    # The JSON log formatter the instance names is importable and formats a Dagster record.
    formatter_path = cfg["python_logs"]["dagster_handler_config"]["formatters"]["json"]["()"]
    module, _, name = formatter_path.rpartition(".")
    formatter = getattr(__import__(module, fromlist=[name]), name)()
    import logging

    record = logging.makeLogRecord({"msg": "hello", "levelname": "INFO"})
    record.dagster_meta = {"run_id": "r1", "job_tags": {"dagster/partition": "king_wa"}, "step_key": "scores",
                           "orig_message": "hello"}
    line = json.loads(formatter.format(record))
    assert {"run_id": "r1", "county": "king_wa", "asset": "scores", "message": "hello"}.items() <= line.items()
    assert "tenant" not in line  # public county data: no tenant
    record.dagster_meta = {"run_id": "r2", "step_key": "emails", "orig_message": "sent", "job_tags": {
        "dagster/partition": "king_wa|acme", "dagster/partition/county": "king_wa", "dagster/partition/tenant": "acme"}}
    assert {"county": "king_wa", "tenant": "acme"}.items() <= json.loads(formatter.format(record)).items()


def test_k8s_run_launcher_constructs_without_a_cluster(offline_instance_dir):
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.launcher import RunLauncher
    from dagster_k8s import K8sRunLauncher

    ref = InstanceRef.from_dir(str(offline_instance_dir))
    launcher = ref.run_launcher_data.rehydrate(RunLauncher)
    assert isinstance(launcher, K8sRunLauncher)
    assert launcher.job_namespace == "reos"
    assert set(launcher.env_secrets) == {"reos-app-secrets", "reos-s3", "reos-warehouse"}
    assert launcher.env_config_maps == ["reos-config", "reos-dagster-env", "reos-image"]
    assert launcher.resources["limits"]["memory"] == "2Gi"
    # The per-run default matches deploy/k8s-resources.yaml's default_run.
    default_run = load(DEPLOY / "k8s-resources.yaml")["default_run"]["container_config"]["resources"]
    assert launcher.resources == default_run
    # The queued run coordinator (1.13 default) picks up the `concurrency: runs:` limits.
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"


def test_instance_runs_on_real_postgres_and_s3(offline_instance_dir, tmp_path, monkeypatch):
    """Full instance on PostgreSQL 16 (pgserver) with the psycopg2 scheme, compute logs to a local
    S3 API (moto standing in for MinIO): a tagged run materializes and its logs land in the bucket."""
    pgserver = pytest.importorskip("pgserver")
    moto_server = pytest.importorskip("moto.moto_server.threaded_moto_server")
    import boto3
    import dagster as dg

    # Not under pytest's tmp_path: as root, pgserver runs PostgreSQL as its own user, which
    # cannot enter pytest's 0700 directory tree.
    pg_dir = Path(tempfile.mkdtemp(prefix="reos-deploy-pg-")) / "pg"
    server = pgserver.get_server(str(pg_dir))
    socket_dir = str(pg_dir)
    s3 = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    s3.start()
    try:
        endpoint = f"http://127.0.0.1:{s3._server.server_port}"
        monkeypatch.setenv("S3_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("DAGSTER_PG_HOST", "localhost")
        monkeypatch.setenv("DAGSTER_PG_USERNAME", "postgres")
        monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")
        monkeypatch.setenv("DAGSTER_PG_DB", "postgres")
        cfg = load(offline_instance_dir / "dagster.yaml")
        # pgserver listens on a unix socket: point libpq at it, leave every other setting as shipped.
        cfg["storage"]["custom"]["config"]["postgres_db"]["params"]["host"] = socket_dir
        (offline_instance_dir / "dagster.yaml").write_text(yaml.safe_dump(cfg))
        bucket = cfg["compute_logs"]["config"]["bucket"]
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=bucket)

        instance = dg.DagsterInstance.from_config(str(offline_instance_dir))
        try:
            from dagster_postgres import PostgresRunStorage

            assert isinstance(instance.run_storage, PostgresRunStorage)  # instance_storage's subclass
            assert instance.run_storage.postgres_url.startswith("postgresql+psycopg2://")

            @dg.asset
            def deploy_smoke() -> int:
                print("hello from the run worker")
                return 1

            result = dg.materialize([deploy_smoke], instance=instance, tags={"county": "king_wa"})
            assert result.success
            runs = instance.get_runs()
            assert len(runs) == 1 and runs[0].tags["county"] == "king_wa"
            assert instance.get_latest_materialization_event(deploy_smoke.key) is not None
            keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
            assert any(k.startswith("compute-logs/") for k in keys), keys
        finally:
            instance.dispose()
    finally:
        s3.stop()
        server.cleanup()
        shutil.rmtree(pg_dir.parent, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# (b) Kubernetes manifests
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,doc",
    all_manifests(),
    ids=[f"{p.relative_to(DEPLOY)}:{d['kind']}/{d['metadata']['name']}" for p, d in all_manifests()],
)
def test_manifest_validates_against_kubernetes_schema(path, doc):
    k8s_validate(doc)
    # Second opinion: the kubernetes client's OpenAPI models (the same conversion dagster-k8s uses).
    from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict

    model = getattr(kubernetes.client, f"V1{doc['kind']}")
    k8s_model_from_dict(model, k8s_snake_case_dict(model, doc))


def test_kustomization_lists_every_manifest_and_no_secrets():
    kustomization = load(DEPLOY / "k8s" / "kustomization.yaml")
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in (DEPLOY / "k8s").glob("*.yaml") if p.name != "kustomization.yaml"}
    assert listed == on_disk
    for name in listed:
        kinds = {d["kind"] for d in load_all(DEPLOY / "k8s" / name)}
        assert "Secret" not in kinds, f"{name}: Secrets are created separately, never applied from git"


def test_workloads_have_resources_persistence_and_run_as_non_root():
    for path, doc in all_manifests():
        spec = pod_spec_of(doc)
        if spec is None:
            continue
        where = f"{path.name}:{doc['kind']}/{doc['metadata']['name']}"
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        for container in spec["containers"]:
            res = container["resources"]
            assert {"cpu", "memory"} <= set(res["requests"]), where
            assert "memory" in res["limits"], where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert not str(container["image"]).endswith(":latest"), where
        if doc["kind"] == "StatefulSet":
            claims = doc["spec"]["volumeClaimTemplates"]
            assert claims and claims[0]["spec"]["resources"]["requests"]["storage"], where
            mounted = {m["name"] for c in spec["containers"] for m in c.get("volumeMounts", [])}
            assert claims[0]["metadata"]["name"] in mounted, where


def test_services_select_workloads_and_name_their_ports():
    docs = [d for _, d in all_manifests()]
    workloads = [d for d in docs if d["kind"] in {"StatefulSet", "Deployment"}]
    for svc in (d for d in docs if d["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        matches = [w for w in workloads if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert len(matches) == 1, svc["metadata"]["name"]
        ports = {p["name"] for c in pod_spec_of(matches[0])["containers"] for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports, (svc["metadata"]["name"], port)
        if matches[0]["kind"] == "StatefulSet":
            assert matches[0]["spec"]["serviceName"] == svc["metadata"]["name"]


def secret_templates() -> dict[str, dict[str, str]]:
    docs = load_all(DEPLOY / "k8s" / "secrets" / "secrets.example.yaml")
    return {d["metadata"]["name"]: d["stringData"] for d in docs if d["kind"] == "Secret"}


def config_maps() -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d["data"] for _, d in all_manifests() if d["kind"] == "ConfigMap"}


def test_secret_templates_hold_placeholders_only():
    secrets = secret_templates()
    assert secrets, "no Secret templates found"
    for name, data in secrets.items():
        for key, value in data.items():
            assert str(value).startswith("REPLACE_ME"), f"{name}.{key} must be a placeholder"


def test_secret_and_configmap_references_resolve():
    secrets, cms = secret_templates(), config_maps()
    for path, doc in all_manifests():
        spec = pod_spec_of(doc)
        if spec is None:
            continue
        for container in spec["containers"]:
            for src in container.get("envFrom", []):
                if "secretRef" in src:
                    assert src["secretRef"]["name"] in secrets, (path.name, src)
                if "configMapRef" in src:
                    assert src["configMapRef"]["name"] in cms, (path.name, src)
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]], (path.name, ref)


def test_every_env_var_the_code_reads_has_a_production_source():
    """Each variable comes from the ConfigMap, a Secret template, or the chart (DAGSTER_HOME)."""
    provided = {"DAGSTER_HOME"}  # set by the Dagster chart in every pod it creates
    for data in config_maps().values():
        provided |= set(data)
    for data in secret_templates().values():
        provided |= set(data)
    assert APP_ENV_VARS - provided == set()


def test_pipes_scraper_pod_spec_is_accepted_by_dagster_k8s():
    from dagster_k8s.pipes import build_pod_body

    pod = load(DEPLOY / "pipes" / "scraper-pod.yaml")
    body = build_pod_body(
        pod_name="dagster-pipes-scraper-test",
        image="ghcr.io/owner/realestate-os:test",
        command=["python", "-m", "scrapy", "version"],
        env_vars={"REOS_SOURCE": "listing_site"},
        base_pod_meta=pod["metadata"],
        base_pod_spec=pod["spec"],
    )
    assert body.spec.containers[0].image == "ghcr.io/owner/realestate-os:test"
    assert body.spec.restart_policy == "Never"
    assert body.metadata.namespace is None  # not hard-coded: the scraper resource decides
    # The pod's service account exists, and the run pods' account may create pods.
    rbac = load_all(DEPLOY / "k8s" / "rbac.yaml")
    accounts = {d["metadata"]["name"] for d in rbac if d["kind"] == "ServiceAccount"}
    assert pod["spec"]["serviceAccountName"] in accounts
    binding = next(d for d in rbac if d["kind"] == "RoleBinding")
    helm_sa = dagster_values("values.yaml")["serviceAccount"]["name"]
    assert binding["subjects"][0]["name"] == helm_sa
    role = next(d for d in rbac if d["kind"] == "Role")
    pod_verbs = next(r["verbs"] for r in role["rules"] if r["resources"] == ["pods"])
    assert {"create", "get", "delete", "watch"} <= set(pod_verbs)
    # Same image as the code location: the scraper image is the code image.
    helm_repo = dagster_values("values.yaml")["dagster-user-deployments"]["deployments"][0]
    assert pod["spec"]["containers"][0]["image"].split(":")[0] == helm_repo["image"]["repository"]


# ---------------------------------------------------------------------------------------------
# Per-asset pod resources (dagster-k8s/config op tags)
# ---------------------------------------------------------------------------------------------


def test_per_asset_k8s_tags_parse_with_dagster_k8s():
    from dagster_k8s.job import USER_DEFINED_K8S_CONFIG_KEY, get_user_defined_k8s_config

    from realestate_assets.definitions import build_definitions

    spec = load(DEPLOY / "k8s-resources.yaml")
    # Every asset of the graph has a pod size, and every size belongs to an asset.
    assert set(spec["assets"]) == {k.to_user_string() for k in build_definitions().resolve_all_asset_keys()}
    assert USER_DEFINED_K8S_CONFIG_KEY == "dagster-k8s/config"
    for name, tag in [*spec["assets"].items(), ("default_run", spec["default_run"])]:
        parsed = get_user_defined_k8s_config({USER_DEFINED_K8S_CONFIG_KEY: json.dumps(tag)})
        resources = parsed.container_config["resources"]
        k8s_validate(_pod_with(container={"resources": resources}))
        assert resources["limits"]["memory"], name

    def mem_gi(q: str) -> float:
        return float(q[:-2]) / (1024 if q.endswith("Mi") else 1)

    default = mem_gi(spec["default_run"]["container_config"]["resources"]["limits"]["memory"])
    for heavy in ("ml_model", "scores", "packets"):
        assert mem_gi(spec["assets"][heavy]["container_config"]["resources"]["limits"]["memory"]) > default


# ---------------------------------------------------------------------------------------------
# (c) Helm values against the pinned chart
# ---------------------------------------------------------------------------------------------

VALUES_FILES = ["values.yaml", "values-staging.yaml", "values-production.yaml"]
UMBRELLA = DEPLOY / "helm" / "realestate-os"
# Keys of our umbrella chart itself; everything under `dagster:` goes to the official chart.
UMBRELLA_KEYS = {"migrations", "poolLimits", "global", "dagster"}


def chart_keys() -> dict:
    tree = load(FIXTURES / f"dagster-chart-{chart_pin()['version']}-keys.yaml")
    return {k: v for k, v in tree.items() if not k.startswith("_")}


def chart_pin() -> dict:
    return load(DEPLOY / "helm" / "Chart-pin.yaml")


def _pod_with(container: dict | None = None, pod: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "check"},
        "spec": {"containers": [{"name": "c", "image": "i", **(container or {})}], **(pod or {})},
    }


K8S_OBJECT_CHECKS = {
    "k8s:ResourceRequirements": lambda v: _pod_with(container={"resources": v}),
    "k8s:SecurityContext": lambda v: _pod_with(container={"securityContext": v}),
    "k8s:PodSecurityContext": lambda v: _pod_with(pod={"securityContext": v}),
    "k8s:Affinity": lambda v: _pod_with(pod={"affinity": v}),
}


def check_against_tree(value: Any, node: Any, path: str, errors: list[str]) -> None:
    if node is None:
        return
    if isinstance(node, str):
        if node == "map:str":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                errors.append(f"{path}: expected a map of strings")
        elif node in K8S_OBJECT_CHECKS:
            try:
                k8s_validate(K8S_OBJECT_CHECKS[node](value))
            except Exception as exc:  # kubernetes_validate raises its own ValidationError
                errors.append(f"{path}: not a valid {node[4:]}: {exc}")
        return
    if isinstance(node, list):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            check_against_tree(item, node[0], f"{path}[{i}]", errors)
        return
    if not isinstance(value, dict):
        errors.append(f"{path}: expected a mapping")
        return
    for key, sub in value.items():
        if key not in node:
            errors.append(f"{path}.{key}: not a key of dagster chart {chart_pin()['version']}")
        else:
            check_against_tree(sub, node[key], f"{path}.{key}", errors)


def helm_merge(base: Any, override: Any) -> Any:
    """Helm's values merge: maps merge deeply, everything else (lists included) is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            merged[key] = helm_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def merged_values(env_file: str) -> dict:
    """What `helm upgrade -f values.yaml -f <env_file>` gives the umbrella chart."""
    defaults = load(UMBRELLA / "values.yaml")
    merged = helm_merge(defaults, load(DEPLOY / "helm" / "values.yaml"))
    return merged if env_file == "values.yaml" else helm_merge(merged, load(DEPLOY / "helm" / env_file))


def dagster_values(env_file: str) -> dict:
    """The values the official Dagster chart receives: its own section, with the release's
    globals coalesced in (Helm hands top-level `global` to every subchart)."""
    merged = merged_values(env_file)
    values = copy.deepcopy(merged["dagster"])
    values["global"] = helm_merge(values.get("global", {}), merged.get("global", {}))
    return values


def test_chart_pin_matches_the_installed_and_locked_dagster():
    import dagster
    import dagster_k8s

    pin = chart_pin()
    assert pin["version"] == pin["appVersion"] == dagster.__version__ == "1.13.27"
    pins = lock_pins()
    for lib, version in pin["dagsterLibraries"].items():
        assert pins[normalize(lib)] == version, lib
    assert dagster_k8s.__version__ == pin["dagsterLibraries"]["dagster-k8s"]
    assert (FIXTURES / f"dagster-chart-{pin['version']}-keys.yaml").exists()
    # The umbrella chart depends on exactly the pinned Dagster chart.
    umbrella = load(UMBRELLA / "Chart.yaml")
    (dep,) = umbrella["dependencies"]
    assert (dep["name"], str(dep["version"]), dep["repository"]) == (
        "dagster", pin["version"], pin["repository"]["url"])


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_helm_values_use_only_keys_of_the_pinned_chart(values_file):
    values = load(DEPLOY / "helm" / values_file)
    assert set(values) <= UMBRELLA_KEYS, set(values) - UMBRELLA_KEYS
    errors: list[str] = []
    check_against_tree(values.get("dagster", {}), chart_keys(), "dagster", errors)
    check_against_tree(values.get("global", {}), chart_keys()["global"], "global", errors)
    assert errors == []


def test_key_check_catches_a_misspelled_key():
    errors: list[str] = []
    bad = {"runLauncher": {"config": {"k8sRunLauncher": {"envSecret": [{"name": "x"}]}}}}
    check_against_tree(bad, chart_keys(), "", errors)
    assert errors and "envSecret" in errors[0]
    errors = []
    check_against_tree({"dagsterDaemon": {"resources": {"limit": {"cpu": 1}}}}, chart_keys(), "", errors)
    assert errors and "ResourceRequirements" in errors[0]


@pytest.mark.parametrize("values_file", ["values-staging.yaml", "values-production.yaml"])
def test_environment_files_override_maps_and_never_restate_lists(values_file):
    """Helm replaces lists: an environment file restating `deployments` silently dropped the code
    server's securityContext in staging. Environment files may only override maps and scalars."""

    def lists_in(value: Any, path: str) -> list[str]:
        if isinstance(value, dict):
            return [p for k, v in value.items() for p in lists_in(v, f"{path}.{k}")]
        return [path] if isinstance(value, list) else []

    assert lists_in(load(DEPLOY / "helm" / values_file), "") == []
    base, env = dagster_values("values.yaml"), dagster_values(values_file)
    assert env["dagster-user-deployments"] == base["dagster-user-deployments"]
    (deployment,) = env["dagster-user-deployments"]["deployments"]
    assert deployment["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert deployment["podSecurityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_helm_values_policy(values_file):
    values = dagster_values(values_file)
    secrets = secret_templates()

    assert values["postgresql"]["enabled"] is False
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert "postgresqlPassword" not in values["postgresql"]
    assert values["generatePostgresqlPasswordSecret"] is False
    assert "postgresql-password" in secrets[values["global"]["postgresqlSecretName"]]

    (deployment,) = values["dagster-user-deployments"]["deployments"]
    # `dagster code-server start`: a reload re-imports the project (`dagster api grpc` ignores it).
    assert deployment["codeServerArgs"] == ["-m", "realestate_assets.definitions"]
    assert "dagsterApiGrpcArgs" not in deployment  # the chart would prefer it
    assert deployment["port"] == 3030
    assert deployment["podSecurityContext"]["runAsNonRoot"] is True
    # The chart would copy the code server's container context (its resources included) over the
    # run launcher's: run pods are configured by the launcher alone.
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": False}

    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    env_secret_names = {s["name"] for s in k8s["envSecrets"]}
    assert env_secret_names == {"reos-app-secrets", "reos-s3", "reos-warehouse"}
    assert env_secret_names <= set(secrets)
    assert [c["name"] for c in k8s["envConfigMaps"]] == ["reos-config", "reos-image"]
    assert k8s["resources"]["requests"] and k8s["resources"]["limits"]

    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator"
    # Run limits live in `concurrency.runs`: Dagster refuses them in the coordinator once
    # `concurrency` is configured, and the chart refuses them in both places.
    queued = coordinator["config"]["queuedRunCoordinator"]
    assert not {"maxConcurrentRuns", "tagConcurrencyLimits"} & set(queued)
    limits = values["concurrency"]["runs"]["tagConcurrencyLimits"]
    for key in ("county", "dagster/partition"):
        assert {"key": key, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    assert not [lim for lim in limits if lim["key"] == "source"], "no run carries a `source` tag: use pools"
    assert values["concurrency"]["pools"]["granularity"] == "run"
    assert values["additionalInstanceConfig"]["freshness"] == {"enabled": True}

    clm = values["computeLogManager"]
    assert clm["type"] == "S3ComputeLogManager"
    assert clm["config"]["s3ComputeLogManager"]["endpointUrl"].startswith("http")

    assert values["dagsterDaemon"]["runMonitoring"]["enabled"] is True
    assert values["dagsterDaemon"]["runRetries"]["enabled"] is True
    assert values["telemetry"]["enabled"] is False
    assert values["retention"]["enabled"] is True


def test_helm_values_and_dagster_yaml_share_one_policy():
    values = dagster_values("values.yaml")
    instance = load(DEPLOY / "dagster.yaml")
    runs = values["concurrency"]["runs"]
    assert runs["tagConcurrencyLimits"] == instance["concurrency"]["runs"]["tag_concurrency_limits"]
    assert runs["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    pools = values["concurrency"]["pools"]
    assert {"default_limit": pools["defaultLimit"], "granularity": pools["granularity"]} == instance["concurrency"][
        "pools"]
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert k8s["resources"] == instance["run_launcher"]["config"]["resources"]
    assert [s["name"] for s in k8s["envSecrets"]] == instance["run_launcher"]["config"]["env_secrets"]
    assert (
        values["computeLogManager"]["config"]["s3ComputeLogManager"]["bucket"]
        == (instance["compute_logs"]["config"]["bucket"])
    )
    logs = values["pythonLogs"]
    assert {
        "python_log_level": logs["pythonLogLevel"],
        "managed_python_loggers": logs["managedPythonLoggers"],
        "dagster_handler_config": logs["dagsterHandlerConfig"],
    } == instance["python_logs"]
    assert values["additionalInstanceConfig"]["freshness"] == instance["freshness"]


def test_helm_run_k8s_config_converts_to_kubernetes_models():
    from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict

    run_cfg = dagster_values("values.yaml")["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]
    job_spec = {**run_cfg["jobSpecConfig"], "template": {}}
    k8s_model_from_dict(kubernetes.client.V1JobSpec, k8s_snake_case_dict(kubernetes.client.V1JobSpec, job_spec))


# ---------------------------------------------------------------------------------------------
# Pools: which asset uses which pool, and a limit for every pool in every environment
# ---------------------------------------------------------------------------------------------


def asset_pools() -> dict[str, str]:
    return load(DEPLOY / "k8s-resources.yaml")["pools"]


def test_pools_name_real_assets_and_every_pool_has_a_limit_everywhere():
    from realestate_assets.definitions import build_definitions

    pools = asset_pools()
    assets = {k.to_user_string() for k in build_definitions().resolve_all_asset_keys()}
    assert set(pools) <= assets, set(pools) - assets
    # The outside services each have a pool: county portals, listing sites, paid APIs, email.
    assert {"sales", "listings", "enrichment", "emails"} <= set(pools)
    names = set(pools.values())
    for values_file in VALUES_FILES:
        limits = merged_values(values_file)["poolLimits"]
        assert set(limits) == names, values_file
        assert all(isinstance(v, int) and v >= 1 for v in limits.values()), values_file
    standalone = next(d for d in load_all(DEPLOY / "k8s" / "dagster" / "pool-limits.yaml") if d["kind"] == "ConfigMap")
    assert set(yaml.safe_load(standalone["data"]["pools.yaml"])) == names


def test_assets_declare_the_pools_of_k8s_resources():
    """The assets take `pool=` from deploy/k8s-resources.yaml (through assets/common.py::county_asset)."""
    from realestate_assets.definitions import build_definitions

    defs = build_definitions()
    by_name = {
        key.to_user_string(): assets_def
        for assets_def in defs.assets or []
        if isinstance(assets_def, __import__("dagster").AssetsDefinition)
        for key in assets_def.keys
    }
    declared = {name: getattr(by_name[name].op, "pool", None) for name in asset_pools()}
    assert declared == asset_pools()


# ---------------------------------------------------------------------------------------------
# (d) + (e) Dockerfile
# ---------------------------------------------------------------------------------------------

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        out.append((op.upper(), rest.strip()))
    return out


def run_commands() -> list[str]:
    cmds = []
    for op, rest in dockerfile_instructions():
        if op == "RUN":
            rest = re.sub(r"^(--mount=\S+\s+)+", "", rest)
            cmds += [c.strip() for c in rest.split("&&")]
    return cmds


def test_dockerfile_base_and_system_libraries():
    instr = dockerfile_instructions()
    froms = [rest for op, rest in instr if op == "FROM"]
    assert froms == ["python:3.11-slim-bookworm"]
    apt = " ".join(c for c in run_commands() if "apt-get install" in c).split()
    for pkg in ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0", "fonts-dejavu-core", "chromium"):
        assert pkg in apt, pkg
    assert "--no-install-recommends" in apt
    assert not any("playwright install" in c for c in run_commands())


def test_dockerfile_installs_exactly_the_project_dependency_set(tmp_path):
    """requirements.lock pins; pyproject's runtime dependencies are what gets installed; then the
    project with --no-deps. No other pip install, no unpinned extras, no dev extras."""
    instr = dockerfile_instructions()
    pip_cmds = [c for c in run_commands() if re.match(r"^(python -m )?pip3? install", c)]
    assert len(pip_cmds) == 2, pip_cmds
    deps_cmd, project_cmd = (shlex.split(c) for c in pip_cmds)
    assert deps_cmd[-4:] == ["-c", "requirements.lock", "-r", "/tmp/runtime-requirements.txt"]
    assert deps_cmd[:2] == ["pip", "install"] and len(deps_cmd) == 6
    assert project_cmd == ["pip", "install", "--no-deps", "-c", "requirements.lock", "."]
    assert "pip check" in run_commands()

    # Layer order: lock + pyproject copied, deps installed, and only then the source.
    copies = [(i, rest) for i, (op, rest) in enumerate(instr) if op == "COPY"]
    first_pip = next(i for i, (op, rest) in enumerate(instr) if op == "RUN" and "pip install" in rest)
    lock_copy = next(i for i, rest in copies if "requirements.lock" in rest.split())
    src_copy = next(i for i, rest in copies if rest.split()[0] == "realestate_assets")
    assert lock_copy < first_pip < src_copy

    # Execute the Dockerfile's own requirements step against the real pyproject.toml.
    gen = next(c for c in run_commands() if "runtime-requirements.txt" in c and c.startswith("python -c"))
    code = shlex.split(gen)[2].replace("/tmp/runtime-requirements.txt", str(tmp_path / "reqs.txt"))
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    generated = [r for r in (tmp_path / "reqs.txt").read_text().splitlines() if r]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert generated == project["dependencies"]
    dev_only = {req_name(r) for r in project["optional-dependencies"]["dev"]}
    assert not dev_only & {req_name(r) for r in generated}

    # The constraints file pins every direct dependency, and holds only exact pins.
    pins = lock_pins()
    assert all(re.fullmatch(r"[\w.!+-]+", v) for v in pins.values())
    missing = sorted(req_name(r) for r in generated if req_name(r) not in pins)
    assert missing == [], f"not pinned in requirements.lock: {missing}"
    assert "realestate-os" not in pins, "the lock must not pin the project itself"


def test_dockerfile_copies_the_packages_pyproject_ships():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set()
    sources = []
    for op, rest in dockerfile_instructions():
        if op == "COPY" and not rest.startswith("--from"):
            parts = [p for p in rest.split() if not p.startswith("--")]
            sources += parts[:-1]
            copied |= {p.rstrip("/") for p in parts[:-1]}
    assert packages <= copied
    assert "config" in copied
    ignore = [
        p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    for src in sources:
        assert not any(fnmatch.fnmatch(src, pat) or src.startswith(pat + "/") for pat in ignore), (
            f"{src} is copied but excluded by .dockerignore"
        )
    for must_ignore in (".git", ".venv", ".reos", ".env"):
        assert must_ignore in ignore
    assert [s for s in sources if not (ROOT / s).exists()] == []


def test_dockerfile_compiles_the_application_it_imports_from_source():
    """The processes import the source tree (first on PYTHONPATH) with PYTHONDONTWRITEBYTECODE set:
    without bytecode built into the image, every step pod would compile the application again."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*").rstrip(".") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    compiles = [shlex.split(c) for c in run_commands() if c.startswith("python -m compileall")]
    assert len(compiles) == 1, compiles
    assert packages <= set(compiles[0][3:])
    instr = dockerfile_instructions()
    compile_at = next(i for i, (op, rest) in enumerate(instr) if op == "RUN" and "compileall" in rest)
    last_source = max(i for i, (op, rest) in enumerate(instr) if op == "COPY" and rest.split()[0] in packages)
    assert compile_at > last_source, "compiled after the sources are copied"


def test_dockerfile_runs_as_non_root_with_grpc_command():
    instr = dockerfile_instructions()
    users = [rest for op, rest in instr if op == "USER"]
    assert users, "no USER instruction"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "run as a numeric non-root uid (runAsNonRoot can verify it)"
    last_user = max(i for i, (op, _) in enumerate(instr) if op == "USER")
    assert all(op not in {"RUN"} for op, _ in instr[last_user + 1 :]), "nothing runs as root after USER"

    cmd = json.loads(next(rest for op, rest in instr if op == "CMD"))
    assert cmd == ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "3030", "-m",
                   "realestate_assets.definitions"]
    # ENTRYPOINT must not run dagster: the chart and the K8sRunLauncher pass their own `args`
    # (dagster api execute_run ...), which replace CMD and are appended to ENTRYPOINT.
    entry = json.loads(next(rest for op, rest in instr if op == "ENTRYPOINT"))
    assert "dagster" not in " ".join(entry)
    assert ["EXPOSE", "3030"] in [[op, rest] for op, rest in instr]
    helm_user_uid = dagster_values("values.yaml")["dagster-user-deployments"]["deployments"][0][
        "podSecurityContext"
    ]["runAsUser"]
    assert helm_user_uid == int(uid)
    # The source tree (with non-package files such as Alembic migrations) is what every process imports.
    env = " ".join(rest for op, rest in instr if op == "ENV")
    workdir = next(rest for op, rest in instr if op == "WORKDIR")
    assert f"PYTHONPATH={workdir}" in env


# ---------------------------------------------------------------------------------------------
# (b') Kustomize, built offline: images, generators, patches, replacements
# ---------------------------------------------------------------------------------------------

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


def _walk(doc: Any, field_path: str) -> tuple[Any, str]:
    """Parent object and last key of a kustomize fieldPath (`a.b.[name=x].c`)."""
    parts = field_path.split(".")
    node = doc
    for part in parts[:-1]:
        if part.startswith("[") and part.endswith("]"):
            key, _, value = part[1:-1].partition("=")
            node = next(item for item in node if item.get(key) == value)
        else:
            node = node[part]
    return node, parts[-1]


def _containers(doc: dict) -> list[dict]:
    spec = pod_spec_of(doc)
    return [*spec.get("initContainers", []), *spec["containers"]] if spec else []


def _deep_merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def kustomize_build(directory: Path) -> list[dict]:
    """The subset of `kustomize build` our kustomizations use; anything else fails loudly."""
    k = load(directory / "kustomization.yaml")
    known = {"apiVersion", "kind", "namespace", "resources", "images", "configMapGenerator", "generatorOptions",
             "patches", "replacements"}
    assert set(k) <= known, f"{directory}: kustomize fields this test does not build: {set(k) - known}"
    docs: list[dict] = []
    for resource in k.get("resources", []):
        path = (directory / resource).resolve()
        docs += kustomize_build(path) if path.is_dir() else copy.deepcopy(load_all(path))
    labels = k.get("generatorOptions", {}).get("labels", {})
    for gen in k.get("configMapGenerator", []):
        assert k.get("generatorOptions", {}).get("disableNameSuffixHash"), "generated names must be stable"
        data = {Path(f).name: (directory / f).read_text() for f in gen.get("files", [])}
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"], "labels": labels},
                     "data": data})
    for patch in k.get("patches", []):
        body = load(directory / patch["path"])
        target = next(d for d in docs if (d["kind"], d["metadata"]["name"]) == (body["kind"], body["metadata"]["name"]))
        docs[docs.index(target)] = _deep_merge(target, {key: v for key, v in body.items() if key != "metadata"})
    if "namespace" in k:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = k["namespace"]
            for subject in doc.get("subjects", []):
                if subject.get("kind") == "ServiceAccount":
                    subject["namespace"] = k["namespace"]
    for image in k.get("images", []):
        for doc in docs:
            for container in _containers(doc):
                name = re.split(r"[:@]", container["image"].rsplit("/", 1)[-1])[0]
                if container["image"].rsplit("/", 1)[0] + "/" + name == image["name"]:
                    container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    for replacement in k.get("replacements", []):
        src = replacement["source"]
        source_doc = next(d for d in docs if (d["kind"], d["metadata"]["name"]) == (src["kind"], src["name"]))
        parent, key = _walk(source_doc, src["fieldPath"])
        value = parent[key]
        for target in replacement["targets"]:
            sel = target["select"]
            (doc,) = [d for d in docs if (d["kind"], d["metadata"]["name"]) == (sel["kind"], sel["name"])]
            for field_path in target["fieldPaths"]:
                parent, key = _walk(doc, field_path)
                assert key in parent, f"{sel}: {field_path} does not exist"
                parent[key] = value
    return docs


def code_image_tag() -> str:
    (image,) = [i for i in load(DEPLOY / "k8s" / "kustomization.yaml")["images"] if i["name"] == CODE_IMAGE]
    return f"{CODE_IMAGE}:{image['newTag']}"


def test_manifests_name_the_code_image_without_a_tag():
    """The tag is set in one place (`images:`); a tag written in a manifest would bypass it."""
    for path in manifest_files():
        if path.parent.name == "pipes":
            continue  # the Pipes base pod is read by code, which passes the running image
        for doc in load_all(path):
            for container in _containers(doc):
                if container["image"].startswith(CODE_IMAGE):
                    assert container["image"] == CODE_IMAGE, (path.name, container["name"])


@pytest.mark.parametrize("root", ["k8s", "k8s/overlays/staging", "k8s/overlays/production", "."])
def test_kustomize_build_validates_and_uses_one_code_image(root):
    docs = kustomize_build(DEPLOY / root)
    code_images = set()
    for doc in docs:
        k8s_validate(doc)
        code_images |= {c["image"] for c in _containers(doc) if c["image"].startswith(CODE_IMAGE)}
    assert code_images == {code_image_tag()}
    assert not [d for d in docs if d["kind"] == "Secret"]


def test_overlays_decide_the_environment():
    def config(root: str) -> dict:
        return next(d for d in kustomize_build(DEPLOY / root) if d["metadata"]["name"] == "reos-config")["data"]

    staging, production = config("k8s/overlays/staging"), config("k8s/overlays/production")
    # REOS_ENV picks the resource set (definitions.py::resources_for): staging mails to the outbox.
    assert staging["REOS_ENV"] == "staging" and staging["REOS_TENANT"] == "staging"
    assert production["REOS_ENV"] == "production"
    # Everything else is the base's.
    assert {k: v for k, v in staging.items() if k not in {"REOS_ENV", "REOS_TENANT"}} == {
        k: v for k, v in config("k8s").items() if k not in {"REOS_ENV", "REOS_TENANT"}}


def test_kustomizations_list_every_manifest_of_their_folder():
    for folder in (DEPLOY / "k8s" / "dagster",):
        listed = set(load(folder / "kustomization.yaml")["resources"])
        assert listed == {p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml"}


def _env_of(container: dict, docs: list[dict]) -> dict[str, str]:
    """What a container sees: envFrom ConfigMaps/Secrets (Secret templates for values) then env."""
    cms = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    secrets = secret_templates()
    env: dict[str, str] = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            env.update(cms[src["configMapRef"]["name"]])
        else:
            env.update(secrets[src["secretRef"]["name"]])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", "<from " + json.dumps(item.get("valueFrom")) + ">")
    return env


def instance_env_vars(instance: Any) -> set[str]:
    if isinstance(instance, dict):
        if set(instance) == {"env"}:
            return {instance["env"]}
        return set().union(*(instance_env_vars(v) for v in instance.values())) if instance else set()
    if isinstance(instance, list):
        return set().union(*(instance_env_vars(v) for v in instance)) if instance else set()
    return set()


def test_standalone_dagster_has_everything_dagster_yaml_needs():
    """`kubectl apply -k deploy/` without the chart: the instance ConfigMap is deploy/dagster.yaml,
    and every pod that loads it (daemon, webserver, code server) sees every variable it reads."""
    docs = kustomize_build(DEPLOY)
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    instance_text = by_name["ConfigMap", "reos-dagster-instance"]["data"]["dagster.yaml"]
    assert instance_text == (DEPLOY / "dagster.yaml").read_text()
    instance = yaml.safe_load(instance_text)
    launcher = instance["run_launcher"]["config"]
    assert ("ConfigMap", launcher["instance_config_map"]) in by_name
    assert ("ServiceAccount", launcher["service_account_name"]) in by_name
    needed = instance_env_vars(instance)
    assert {"DAGSTER_PG_HOST", "DAGSTER_PG_PASSWORD", "DAGSTER_K8S_JOB_NAMESPACE"} <= needed
    for name in ("reos-dagster-daemon", "reos-dagster-webserver", "reos-dagster-code-server"):
        (container,) = pod_spec_of(by_name["Deployment", name])["containers"]
        env = _env_of(container, docs)
        assert needed <= set(env), (name, needed - set(env))
        assert env["DAGSTER_HOME"] == launcher["dagster_home"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert f"{launcher['dagster_home']}/dagster.yaml" in mounts, name
        assert "command" not in container, f"{name}: `command` would replace tini (ENTRYPOINT)"
    # The code server reports the image it runs; run pods are created with it.
    code = pod_spec_of(by_name["Deployment", "reos-dagster-code-server"])["containers"][0]
    assert _env_of(code, docs)["DAGSTER_CURRENT_IMAGE"] == code["image"] == code_image_tag()
    # Reloadable: ReloadCode re-imports the project (`dagster api grpc` ignores it), so the county
    # settings PATCH's reload rebuilds the freshness policies (docs/api.md, "Not done yet" item 4).
    assert code["args"][:3] == ["dagster", "code-server", "start"] and "realestate_assets.definitions" in code["args"]
    # Daemon and webserver find the code server through the workspace.
    workspace = yaml.safe_load(by_name["ConfigMap", "reos-dagster-workspace"]["data"]["workspace.yaml"])
    server = workspace["load_from"][0]["grpc_server"]
    assert ("Service", server["host"]) in by_name
    assert server["port"] == by_name["Service", server["host"]]["spec"]["ports"][0]["port"]
    # The launcher may create Jobs.
    role = by_name["Role", "reos-dagster-launcher"]
    assert any("jobs" in r["resources"] and "create" in r["verbs"] for r in role["rules"])


def test_qdrant_server_matches_the_locked_client():
    from qdrant_client.common.version_check import is_compatible

    (server,) = [c["image"] for c in _containers(load_all(DEPLOY / "k8s" / "qdrant.yaml")[1])]
    server_version = re.match(r"qdrant/qdrant:v(\d+\.\d+\.\d+)", server).group(1)
    client_version = lock_pins()["qdrant-client"]
    assert is_compatible(client_version, server_version), (client_version, server_version)
    assert server_version.split(".")[:2] == client_version.split(".")[:2]


# ---------------------------------------------------------------------------------------------
# (c') The umbrella chart's own templates (hook Jobs, reos-image), rendered offline
# ---------------------------------------------------------------------------------------------


def _lookup(values: dict, dotted: str) -> Any:
    node: Any = {"Values": values, "Release": {"Name": "reos", "Namespace": "reos"}}
    for part in dotted.strip(".").split("."):
        node = node[part]
    return node


def _helpers(values: dict) -> dict[str, str]:
    """Our _helpers.tpl, in Python (checked against the file's `define` names below)."""
    deployment = values["dagster"]["dagster-user-deployments"]["deployments"][0]
    return {
        "reos.image": f"{deployment['image']['repository']}:{deployment['image']['tag']}",
        "reos.podSecurityContext": yaml.safe_dump(deployment["podSecurityContext"]).strip(),
        "reos.containerSecurityContext": yaml.safe_dump(deployment["securityContext"]).strip(),
    }


def render_template(text: str, values: dict) -> list[dict]:
    """A tiny Go-template renderer for the few constructs our templates use; others fail."""
    helpers = _helpers(values)
    defined = set(re.findall(r'define "([^"]+)"', (UMBRELLA / "templates" / "_helpers.tpl").read_text()))
    assert defined == set(helpers)

    def evaluate(expr: str) -> Any:
        stages = [s.strip() for s in expr.split("|")]
        head = stages[0]
        if m := re.fullmatch(r'include "([^"]+)" \.', head):
            value: Any = helpers[m.group(1)]
        elif m := re.fullmatch(r"toYaml (\S+)", head):
            value = yaml.safe_dump(_lookup(values, m.group(1)), default_flow_style=False).strip()
        elif re.fullmatch(r"\.[\w.]+", head):
            value = _lookup(values, head)
        else:
            raise AssertionError(f"template expression not understood: {expr}")
        for stage in stages[1:]:
            if stage == "quote":
                value = json.dumps(str(value))
            elif m := re.fullmatch(r"nindent (\d+)", stage):
                value = "\n" + "\n".join(" " * int(m.group(1)) + line for line in str(value).splitlines())
            else:
                raise AssertionError(f"template function not understood: {stage}")
        return value

    def conditionals(src: str) -> str:
        pattern = re.compile(r"\{\{-? if (\S+) -?\}\}\n?(.*?)\{\{-? end -?\}\}\n?", re.S)
        return pattern.sub(lambda m: m.group(2) if _lookup(values, m.group(1)) else "", src)

    out = conditionals(text)
    out = re.sub(r"\s*\{\{- (.*?) \}\}", lambda m: evaluate(m.group(1)), out)
    out = re.sub(r"\{\{ (.*?) \}\}", lambda m: str(evaluate(m.group(1))), out)
    assert "{{" not in out, out
    return [d for d in yaml.safe_load_all(out) if d]


def umbrella_manifests(values_file: str) -> list[dict]:
    values = merged_values(values_file)
    docs = []
    for path in sorted((UMBRELLA / "templates").glob("*.yaml")):
        docs += render_template(path.read_text(), values)
    return docs


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_umbrella_templates_render_hooks_with_the_one_code_image(values_file):
    docs = umbrella_manifests(values_file)
    image = _helpers(merged_values(values_file))["reos.image"]
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    for doc in docs:
        k8s_validate(doc)
    assert by_name["ConfigMap", "reos-image"]["data"]["DAGSTER_CURRENT_IMAGE"] == image

    migrate = by_name["Job", "reos-migrate"]
    assert set(migrate["metadata"]["annotations"]["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    (container,) = pod_spec_of(migrate)["containers"]
    assert container["image"] == image
    assert "command" not in container and container["args"] == ["reos", "db", "upgrade"]
    env_sources = {s.get("secretRef", s.get("configMapRef"))["name"] for s in container["envFrom"]}
    assert "DATABASE_URL" in secret_templates()["reos-warehouse"] and "reos-warehouse" in env_sources
    assert pod_spec_of(migrate)["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False

    pools_job = by_name["Job", "reos-pool-limits"]
    assert set(pools_job["metadata"]["annotations"]["helm.sh/hook"].split(",")) == {"post-install", "post-upgrade"}
    limits = yaml.safe_load(by_name["ConfigMap", "reos-pool-limits"]["data"]["pools.yaml"])
    assert limits == merged_values(values_file)["poolLimits"]
    (pool_container,) = pod_spec_of(pools_job)["containers"]
    pg_ref = next(e for e in pool_container["env"] if e["name"] == "DAGSTER_PG_PASSWORD")["valueFrom"]["secretKeyRef"]
    assert pg_ref["key"] in secret_templates()[pg_ref["name"]]
    assert "command" not in pool_container and pool_container["image"] == image
    # The Job loads the chart's instance ConfigMap (`<release>-dagster-instance`).
    volumes = {v["name"]: v for v in pod_spec_of(pools_job)["volumes"]}
    assert volumes["instance"]["configMap"]["name"] == "reos-dagster-instance"


def test_code_server_waits_for_the_schema():
    """Readiness runs the schema check, so schedules and sensors never run on an old schema."""
    (deployment,) = dagster_values("values.yaml")["dagster-user-deployments"]["deployments"]
    probe = " ".join(deployment["readinessProbe"]["exec"]["command"])
    assert "grpc-health-check" in probe and "realestate_assets.db.catalog --check-head" in probe
    from realestate_assets.db import catalog

    assert catalog.main(["--check-head"]) in {0, 1}  # the module the probe runs exists and answers


# ---------------------------------------------------------------------------------------------
# (f) What a cluster would run: run pod and step pods, built by dagster-k8s's own code
# ---------------------------------------------------------------------------------------------

RUN_ID = "0d2f4c1e-1111-2222-3333-123456789abc"


def chart_run_launcher_config(values: dict, release: str = "reos", namespace: str = "reos") -> dict:
    """The `run_launcher.config` the chart writes into the instance ConfigMap, transcribed from
    helm/dagster/templates/helpers/instance/_run-launcher.tpl (dagsterYaml.runLauncher.k8s)."""
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    cfg: dict[str, Any] = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or namespace,
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": values["global"]["serviceAccountName"],
        "dagster_home": values["global"].get("dagsterHome", "/opt/dagster/dagster_home"),
        "instance_config_map": f"{release}-dagster-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    optional = {"envConfigMaps": "env_config_maps", "envSecrets": "env_secrets"}
    for key, name in optional.items():
        if k8s.get(key):
            cfg[name] = [item["name"] for item in k8s[key] if "name" in item]
    for key, name in {"envVars": "env_vars", "volumeMounts": "volume_mounts", "volumes": "volumes",
                      "labels": "labels", "resources": "resources", "securityContext": "security_context"}.items():
        if k8s.get(key):
            cfg[name] = k8s[key]
    if k8s.get("failPodOnRunFailure"):
        cfg["fail_pod_on_run_failure"] = True
    if run_cfg := k8s.get("runK8sConfig"):
        cfg["run_k8s_config"] = {
            snake: run_cfg[camel] for camel, snake in {
                "containerConfig": "container_config", "podSpecConfig": "pod_spec_config",
                "podTemplateSpecMetadata": "pod_template_spec_metadata", "jobSpecConfig": "job_spec_config",
                "jobMetadata": "job_metadata"}.items() if run_cfg.get(camel)}
    return cfg


def chart_code_server(values: dict, release: str = "reos", namespace: str = "reos") -> tuple[str, dict | None]:
    """(DAGSTER_CURRENT_IMAGE of the code server, the container context it hands to runs), from
    dagster-user-deployments' deployment-user.yaml and its k8sContainerContext helper."""
    (d,) = values["dagster-user-deployments"]["deployments"]
    image = f"{d['image']['repository']}:{d['image']['tag']}"
    if not d.get("includeConfigInLaunchedRuns", {"enabled": True})["enabled"]:
        return image, None
    k8s: dict[str, Any] = {
        "image_pull_policy": d["image"]["pullPolicy"],
        "env_config_maps": [f"{release}-dagster-user-deployments-{d['name']}-user-env",
                            *(c["name"] for c in d.get("envConfigMaps", []))],
        "namespace": namespace,
        "service_account_name": values["global"]["serviceAccountName"],
    }
    if d.get("envSecrets"):
        k8s["env_secrets"] = [s["name"] for s in d["envSecrets"]]
    for key, name in {"volumeMounts": "volume_mounts", "volumes": "volumes", "labels": "labels",
                      "resources": "resources"}.items():
        if d.get(key):
            k8s[name] = d[key]
    return image, {"k8s": k8s}


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def chart_instance_config(values: dict) -> dict:
    """The dagster.yaml the chart renders (helm/dagster/templates/configmap-instance.yaml and its
    helpers/instance/*.tpl), for the sections our values set."""
    pg = values["postgresql"]
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator: dict[str, Any] = {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}
    coordinator_config = {_camel_to_snake(k): v for k, v in queued.items() if v not in (None, [], {})}
    if coordinator_config:
        coordinator["config"] = coordinator_config
    concurrency: dict[str, Any] = {}
    if pools := values.get("concurrency", {}).get("pools"):
        concurrency["pools"] = {_camel_to_snake(k): v for k, v in pools.items()}
    if runs := values.get("concurrency", {}).get("runs"):
        concurrency["runs"] = {_camel_to_snake(k): v for k, v in runs.items()}
    daemon = values["dagsterDaemon"]
    logs = values.get("pythonLogs", {})
    instance: dict[str, Any] = {
        "storage": {"postgres": {"postgres_db": {
            "username": pg["postgresqlUsername"], "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": pg["postgresqlHost"], "db_name": pg["postgresqlDatabase"], "port": pg["service"]["port"],
            "params": pg["postgresqlParams"], "scheme": pg["postgresqlScheme"]}}},
        "run_coordinator": coordinator,
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher",
                         "config": chart_run_launcher_config(values)},
        "run_monitoring": {_camel_to_snake(k): v for k, v in daemon["runMonitoring"].items()},
        "run_retries": {_camel_to_snake(k): v for k, v in daemon["runRetries"].items()},
        "sensors": {_camel_to_snake(k): v for k, v in daemon["sensors"].items()},
        "schedules": {_camel_to_snake(k): v for k, v in daemon["schedules"].items()},
        "telemetry": values["telemetry"],
        "python_logs": {_camel_to_snake(k): v for k, v in logs.items()},
        **values.get("additionalInstanceConfig", {}),
    }
    if concurrency:
        instance["concurrency"] = concurrency
    return instance


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_chart_instance_config_loads_in_dagster(values_file, tmp_path, monkeypatch):
    """What the chart would write into the instance ConfigMap passes Dagster's own loading checks
    (schema, and run limits not in two places once `concurrency` is set)."""
    from dagster._core.instance.config import dagster_instance_config

    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "not-a-real-password")
    instance = chart_instance_config(dagster_values(values_file))
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance))
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["concurrency"]["pools"]["granularity"] == "run"
    assert config["freshness"] == {"enabled": True}
    assert "tag_concurrency_limits" in config["concurrency"]["runs"]

    # The defect this guards against: limits in the coordinator next to `concurrency` fail loading.
    broken = copy.deepcopy(instance)
    broken["run_coordinator"]["config"] = {"max_concurrent_runs": 8}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(Exception, match="incompatible"):
        dagster_instance_config(str(tmp_path))


def build_launcher(run_launcher_config: dict, tmp_path: Path):
    """The K8sRunLauncher the daemon would build (config schema included), with the cluster login
    swapped for a throwaway kubeconfig (DESIGN.md §8)."""
    from dagster._config import process_config
    from dagster_k8s import K8sRunLauncher

    cfg = {**run_launcher_config, "load_incluster_config": False,
           "kubeconfig_file": str(write_kubeconfig(tmp_path / "kubeconfig"))}
    result = process_config(K8sRunLauncher.config_type(), cfg)
    assert result.success, result.errors
    return K8sRunLauncher.from_config_value(None, result.value)


def make_run(image: str, container_context: dict | None, tags: dict[str, str] | None = None):
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
    from dagster._core.storage.dagster_run import DagsterRun

    origin = JobPythonOrigin(
        "__ASSET_JOB",
        RepositoryPythonOrigin(
            executable_path="/opt/venv/bin/python",
            code_pointer=ModuleCodePointer("realestate_assets.definitions", "defs", None),
            container_image=image,
            container_context=container_context,
        ),
    )
    return DagsterRun(job_name="__ASSET_JOB", run_id=RUN_ID, tags={"dagster/partition": "king_wa", **(tags or {})},
                      job_code_origin=origin)


def run_pod(launcher, run) -> dict:
    """K8sRunLauncher._launch_k8s_job_with_args, minus the API call."""
    from dagster._grpc.types import ExecuteRunArgs
    from dagster_k8s.job import construct_dagster_k8s_job, get_job_name_from_run_id

    context = launcher.get_container_context_for_run(run)
    origin = run.job_code_origin
    job_config = context.get_k8s_job_config(job_image=origin.repository_origin.container_image,
                                            run_launcher=launcher)
    args = ExecuteRunArgs(job_origin=origin, run_id=run.run_id, instance_ref=None,
                          set_exit_code_on_failure=launcher.fail_pod_on_run_failure).get_command_args()
    name = get_job_name_from_run_id(run.run_id)
    job = construct_dagster_k8s_job(
        job_config=job_config, args=args, job_name=name, pod_name=name, component="run_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": origin.job_name, "dagster/run-id": run.run_id},
        env_vars=[{"name": "DAGSTER_RUN_JOB_NAME", "value": origin.job_name}])
    return kubernetes.client.ApiClient().sanitize_for_serialization(job)


def step_pod(launcher, run, step_key: str, op_tags: dict[str, str], per_step: dict | None = None) -> dict:
    """K8sStepHandler.launch_step (k8s_job_executor), minus the API call: the run's container
    context, then the op's `dagster-k8s/config` tag, then the executor's `per_step_k8s_config`."""
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import UserDefinedDagsterK8sConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=False).merge(
        K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(op_tags))).merge(
        K8sContainerContext(run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(per_step or {})))
    job_config = context.get_k8s_job_config(None, launcher)
    job_config = job_config.with_image(job_config.job_image or run.job_code_origin.repository_origin.container_image)
    name = f"dagster-step-{step_key.replace('_', '-')}"
    job = construct_dagster_k8s_job(
        job_config=job_config, args=["dagster", "api", "execute_step"], job_name=name, pod_name=name,
        component="step_worker", user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/op": step_key},
        env_vars=[{"name": "DAGSTER_RUN_JOB_NAME", "value": run.job_name},
                  {"name": "DAGSTER_RUN_STEP_KEY", "value": step_key}])
    return kubernetes.client.ApiClient().sanitize_for_serialization(job)


def pod_env(container: dict, config_maps: dict[str, dict]) -> dict[str, str]:
    """Environment a container would see: envFrom ConfigMaps and Secret templates, then env."""
    secrets = secret_templates()
    env: dict[str, str] = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            env.update(config_maps[src["configMapRef"]["name"]])
        else:
            env.update(secrets[src["secretRef"]["name"]])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value") or f"<secret {item['valueFrom']['secretKeyRef']['name']}>"
    return env


def chart_config_maps(values_file: str) -> dict[str, dict]:
    cms = {name: data for name, data in config_maps().items()}
    cms.update({d["metadata"]["name"]: d["data"] for d in umbrella_manifests(values_file) if d["kind"] == "ConfigMap"})
    return cms


def assert_runs_under_tini(container: dict) -> None:
    entry = json.loads(next(rest for op, rest in dockerfile_instructions() if op == "ENTRYPOINT"))
    assert entry[0].endswith("tini")
    assert "command" not in container or container["command"] is None, "`command` replaces the tini ENTRYPOINT"


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_chart_run_pod_is_what_a_cluster_should_run(values_file, tmp_path):
    values = dagster_values(values_file)
    launcher = build_launcher(chart_run_launcher_config(values), tmp_path)
    image, context = chart_code_server(values)
    job = run_pod(launcher, make_run(image, context))
    k8s_validate(job)
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]

    assert container["image"] == image
    env = pod_env(container, chart_config_maps(values_file))
    # Pipes pods start with the running image, not a placeholder.
    assert env["DAGSTER_CURRENT_IMAGE"] == image
    assert env["DATABASE_URL"].startswith("REPLACE_ME_postgresql+psycopg2://"), "DATABASE_URL from reos-warehouse"
    assert env["DAGSTER_PG_PASSWORD"] == "<secret reos-dagster-postgresql>"
    assert {s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s} == {
        "reos-app-secrets", "reos-s3", "reos-warehouse"}
    assert APP_ENV_VARS - {"DAGSTER_HOME"} <= set(env) and env["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
    # The launcher's size, not the code server's (includeConfigInLaunchedRuns copied it before).
    assert container["resources"] == values["runLauncher"]["config"]["k8sRunLauncher"]["resources"]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert spec["serviceAccountName"] == values["serviceAccount"]["name"] == "reos-dagster"
    assert container["args"][:5] == ["/opt/venv/bin/python", "-m", "dagster", "api", "execute_run"]
    assert_runs_under_tini(container)
    assert job["spec"]["backoffLimit"] == 0


def test_run_pod_check_catches_the_code_server_size_overriding_the_launcher(tmp_path):
    """The defect this replaces: with includeConfigInLaunchedRuns on, the run pod got the code
    server's resources. Turning it back on must show up as a different run pod."""
    values = copy.deepcopy(dagster_values("values.yaml"))
    values["dagster-user-deployments"]["deployments"][0]["includeConfigInLaunchedRuns"] = {"enabled": True}
    launcher = build_launcher(chart_run_launcher_config(values), tmp_path)
    image, context = chart_code_server(values)
    container = run_pod(launcher, make_run(image, context))["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == values["dagster-user-deployments"]["deployments"][0]["resources"]
    assert container["resources"] != values["runLauncher"]["config"]["k8sRunLauncher"]["resources"]


def test_chart_step_pods_get_their_asset_size_and_the_run_image(tmp_path):
    """With k8s_job_executor each asset runs in its own pod, sized by deploy/k8s-resources.yaml
    through the production executor's `per_step_k8s_config` (definitions.py::resources_for)."""
    import dagster as dg

    from realestate_assets.definitions import build_definitions, pod_sizes, resources_for

    assert resources_for("production").executor.name == "reos_k8s_steps"

    values = dagster_values("values-production.yaml")
    launcher = build_launcher(chart_run_launcher_config(values), tmp_path)
    image, context = chart_code_server(values)
    run = make_run(image, context)
    sizes = load(DEPLOY / "k8s-resources.yaml")["assets"]
    cms = chart_config_maps("values-production.yaml")
    seen = set()
    for assets_def in build_definitions().assets or []:
        # Only table steps are sized; the small per-county freshness checks take the default.
        if not isinstance(assets_def, dg.AssetsDefinition) or isinstance(assets_def, dg.AssetChecksDefinition):
            continue
        name = assets_def.op.name
        tags = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (assets_def.op.tags or {}).items()}
        job = step_pod(launcher, run, name, tags, pod_sizes().get(name))
        k8s_validate(job)
        spec = job["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["image"] == image, name
        expected = sizes[name]["container_config"]["resources"]
        assert container["resources"] == expected, name
        if node_selector := sizes[name].get("pod_spec_config", {}).get("node_selector"):
            assert spec["nodeSelector"] == node_selector, name
        env = pod_env(container, cms)
        assert env["DAGSTER_CURRENT_IMAGE"] == image and env["DAGSTER_RUN_STEP_KEY"] == name
        assert spec["serviceAccountName"] == "reos-dagster"
        assert_runs_under_tini(container)
        seen.add(name)
    assert seen == set(sizes)


def test_standalone_run_pod_sees_what_the_instance_reads(tmp_path):
    """Without the chart: the run pod built from deploy/dagster.yaml loads the same instance, so
    it needs DAGSTER_PG_* and friends through env_config_maps, and DAGSTER_CURRENT_IMAGE."""
    docs = kustomize_build(DEPLOY)
    cms = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    instance = load(DEPLOY / "dagster.yaml")
    config = {k: v for k, v in instance["run_launcher"]["config"].items()}
    config["job_namespace"] = cms["reos-dagster-env"]["DAGSTER_K8S_JOB_NAMESPACE"]
    launcher = build_launcher(config, tmp_path)
    code = next(d for d in docs if d["metadata"]["name"] == "reos-dagster-code-server" and d["kind"] == "Deployment")
    image = pod_spec_of(code)["containers"][0]["image"]
    job = run_pod(launcher, make_run(image, None))
    k8s_validate(job)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = pod_env(container, cms)
    assert container["image"] == env["DAGSTER_CURRENT_IMAGE"] == code_image_tag()
    assert instance_env_vars(instance) <= set(env), instance_env_vars(instance) - set(env)
    assert "DATABASE_URL" in env
    assert_runs_under_tini(container)


# ---------------------------------------------------------------------------------------------
# (g) Monitoring: PrometheusRule, Grafana dashboard, JSON logs
# ---------------------------------------------------------------------------------------------

MONITORING = DEPLOY / "monitoring"
DOCS = ROOT / "docs" / "deployment"
# Metric families the rules and dashboard may use besides the documented `reos_*` contract.
CLUSTER_METRIC_PREFIXES = ("kube_", "kubelet_", "container_", "pg_")
PROMQL_WORDS = {"sum", "max", "min", "count", "by", "on", "and", "or", "unless", "rate", "increase",
                "histogram_quantile", "clamp_min", "le", "without", "ignoring", "avg"}


def documented_reos_metrics() -> set[str]:
    return set(re.findall(r"^\| `(reos_[a-z_]+)` \|", (DOCS / "monitoring.md").read_text(), re.M))


def promql_metrics(expr: str) -> set[str]:
    no_strings = re.sub(r'"[^"]*"', '""', expr)
    no_labels = re.sub(r"\{[^}]*\}", "", no_strings)
    no_ranges = re.sub(r"\[[^\]]*\]", "", no_labels)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", no_ranges))
    grouped = set(re.findall(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)", no_ranges))
    labels = {label.strip() for group in grouped for label in group.split(",")}
    return {n for n in names if n not in PROMQL_WORDS and n not in labels and not n.isdigit()}


def check_promql(expr: str) -> set[str]:
    """Balanced brackets, and every metric either a cluster metric or a documented reos_* one.
    Returns the metrics (a histogram's _bucket/_count/_sum resolve to the documented family)."""
    depth = {"(": 0, "[": 0, "{": 0}
    closing = {")": "(", "]": "[", "}": "{"}
    for ch in re.sub(r'"[^"]*"', "", expr):
        if ch in depth:
            depth[ch] += 1
        elif ch in closing:
            depth[closing[ch]] -= 1
            assert depth[closing[ch]] >= 0, expr
    assert all(v == 0 for v in depth.values()), expr
    metrics = promql_metrics(expr)
    reos = documented_reos_metrics()
    for metric in metrics:
        family = re.sub(r"_(bucket|count|sum)$", "", metric)
        assert metric.startswith(CLUSTER_METRIC_PREFIXES) or metric in reos or family in reos, (
            f"{metric} is neither a cluster metric nor in the reos_* contract of docs/deployment/monitoring.md")
    return metrics


def test_prometheus_rules_are_complete_and_point_at_their_runbook():
    (rule_doc,) = load_all(MONITORING / "prometheus-rules.yaml")
    assert rule_doc["apiVersion"] == "monitoring.coreos.com/v1" and rule_doc["kind"] == "PrometheusRule"
    doc = (DOCS / "monitoring.md").read_text()
    anchors = {re.sub(r"[^a-z0-9]+", "", line[4:].lower()) for line in doc.splitlines() if line.startswith("### ")}
    names = []
    for group in rule_doc["spec"]["groups"]:
        for rule in group["rules"]:
            names.append(rule["alert"])
            check_promql(rule["expr"])
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
            anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
            assert anchor == rule["alert"].lower() and anchor in anchors, rule["alert"]
    assert len(names) == len(set(names))
    # The ones that matter at 3 a.m. exist.
    assert {"ReosDaemonDown", "ReosCodeServerNotReady", "ReosMigrationFailed", "ReosTableStale"} <= set(names)
    # They watch the workloads by the names we deploy (chart and standalone).
    exprs = " ".join(r["expr"] for g in rule_doc["spec"]["groups"] for r in g["rules"])
    standalone = {d["metadata"]["name"] for d in kustomize_build(DEPLOY) if d["kind"] in {"Deployment", "Job"}}
    for name in ("reos-dagster-daemon", "reos-dagster-code-server", "reos-migrate"):
        assert name in standalone and name in exprs


def test_promql_check_catches_an_undocumented_metric():
    with pytest.raises(AssertionError, match="reos_made_up"):
        check_promql("sum(rate(reos_made_up_total[5m]))")
    with pytest.raises(AssertionError):
        check_promql("sum(rate(kube_job_status_failed[5m])")


def test_grafana_dashboard_queries_known_metrics():
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] == "reos-overview"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace"} <= variables
    used: set[str] = set()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used |= check_promql(target["expr"].replace("$namespace", "reos"))
    # Every documented application metric is on the dashboard.
    families = {re.sub(r"_(bucket|count|sum)$", "", m) for m in used}
    assert documented_reos_metrics() <= families


def test_monitoring_kustomization_builds():
    docs = kustomize_build(MONITORING)
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    k8s_validate(cm)
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["grafana-dashboard.json"])["uid"] == "reos-overview"


def test_production_logs_are_one_json_object_per_line(tmp_path):
    """A real run on an instance with deploy/dagster.yaml's python_logs (stdout swapped for a file)
    writes JSON lines carrying run id, county and asset (and the tenant of a (county, tenant) run)."""
    import logging

    import dagster as dg

    python_logs = copy.deepcopy(load(DEPLOY / "dagster.yaml")["python_logs"])
    handler = python_logs["dagster_handler_config"]["handlers"]["json"]
    assert handler["stream"] == "ext://sys.stdout"
    log_file = tmp_path / "run.log"
    python_logs["dagster_handler_config"]["handlers"]["json"] = {
        "class": "logging.FileHandler", "filename": str(log_file), "level": "INFO", "formatter": "json"}

    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(["king_wa"]))
    def enrichment() -> None:
        logging.getLogger("realestate_assets.enrich").info("called ATTOM for 12 prospects")

    with dg.instance_for_test(overrides={"python_logs": python_logs}) as instance:
        result = dg.materialize([enrichment], instance=instance, partition_key="king_wa")
        assert result.success
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    assert lines
    ours = [entry for entry in lines if entry["message"] == "called ATTOM for 12 prospects"]
    assert ours, lines[:3]
    assert ours[0]["run_id"] == result.run_id
    assert ours[0]["county"] == "king_wa" and ours[0]["asset"] == "enrichment"
    assert {"ts", "level", "logger"} <= set(ours[0])
