"""The code location: every asset, check, schedule, sensor and resource, assembled in one place.

Three decisions are made here and nowhere else:

* **Which environment** (`REOS_ENV`: local | staging | production) and so which resources and
  executor a run gets — `resources_for`, as in dagster-io/hooli-data-eng-pipelines.
* **Cross-cutting asset policy** — partitions (of assets and of their checks), owners, group,
  kinds and automation — applied to the module-level assets by `apply_policy` and
  `with_partitioned_checks`; the decorators say only what is particular to an
  asset (what it reads, its checks, its description).
* **Pod sizes** per step come from deploy/k8s-resources.yaml through the production executor's
  `per_step_k8s_config` (the same shape as a `dagster-k8s/config` op tag).

An asset's pool (from the same file) is an op setting that an `AssetSpec` cannot carry, so the
one factory every asset is declared with, `assets.common.county_asset`, sets it.

Definitions are built lazily (`@dg.definitions`): importing this module reads only
deploy/k8s-resources.yaml (the pools, as the asset modules are imported); county files are read
when Dagster loads the code location.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from realestate_assets.gc_pause import frozen_once_made

# Every process that loads the code location (a step's process under the multiprocess or K8s
# executor, the run worker, `reos materialize`, the code server) imports this module once, and
# what the imports make (≈280k tracked objects: Dagster, pandas, SQLAlchemy, pydantic, the
# assets) lives as long as the process. With the collector on they set off ≈5 full collections
# (0.4–0.5 CPU s at load 10, issue 17) and every later full one walked them again (the run's
# set-up, `scores`' SHAP thread, the interpreter's exit): paused while made, then frozen.
with frozen_once_made():
    import dagster as dg

    from partitions.counties import county_partitions
    from partitions.tenants import TENANT_ASSETS, county_tenant_partitions
    from realestate_assets.assets import discovery, enrichment, features, outreach, scoring
    from realestate_assets.assets.common import COLUMN_SCHEMA, column_schema
    from realestate_assets.config_models import CountyConfig, load_scoring, read_county_files
    from realestate_assets.settings import (
        ENVIRONMENT_VARIABLE,
        LocalSettings,
        deployment_plan,
        environment_name,
        secrets_required_because,
        sends_real_email,
    )
    from resources import (
        BillingResource,
        GreatExpectationsResource,
        MailerResource,
        ObjectStoreResource,
        PlatformResource,
        ScraperResource,
        SourceCredentialsResource,
        VectorsResource,
        WarehouseResource,
    )
    from sensors import (
        automation_sensor,
        billing_reconcile_job,
        billing_reconcile_schedule,
        discovery_job,
        discovery_sensors,
        email_events_sensor,
        memo_requests_sensor,
        tenant_partitions_sensor,
        webhooks_sensor,
    )
    from sensors.alerts import alerts_resource, run_failure_alerts
    from sensors.automation import FOLLOW_UPSTREAM, training_condition
    from sensors.freshness import county_freshness_sensor, with_freshness
    from sensors.run_history import run_history_sensors

ENVIRONMENTS = ("local", "staging", "production")
# The Definitions' metadata key listing county files that failed to load ({stem: error}).
INVALID_COUNTIES = "invalid_county_files"
# The Definitions' metadata key saying what the asset freshness policies were built from.
POLICIES_FROM = "freshness_policies_from"
# How long the load waits for PostgreSQL (to connect, then to answer) before building the
# freshness policies from the files alone.
OVERRIDES_TIMEOUT_S = 3
OWNERS = ["team:data-platform"]

# Group and kinds of each asset, as the UI shows them.
CATALOG: dict[str, tuple[str, set[str]]] = {
    "sales": ("discovery", {"postgres", "pandas"}),
    "listings": ("discovery", {"scrapy", "postgres"}),
    "assessor_roll": ("discovery", {"postgres", "pandas"}),
    "prospects": ("discovery", {"postgres", "pandas"}),
    "enrichment": ("enrichment", {"postgres", "pandas"}),
    "features": ("scoring", {"postgres", "pandas"}),
    "ml_model": ("scoring", {"lightgbm", "postgres"}),
    "scores": ("scoring", {"lightgbm", "postgres"}),
    "property_vectors": ("scoring", {"qdrant"}),
    "packets": ("outreach", {"pdf", "postgres"}),
    "emails": ("outreach", {"email", "postgres"}),
}
ASSET_MODULES = [discovery, enrichment, features, scoring, outreach]


@dataclass(frozen=True)
class Deployment:
    """One environment's resources and executor."""

    environment: str
    resources: dict[str, Any]
    executor: dg.ExecutorDefinition

    @property
    def platform(self) -> PlatformResource:
        return self.resources["platform"]


def current_environment() -> str:
    """`settings.environment_name`, refusing a Kubernetes pod that does not say its environment."""
    environment = environment_name()
    if environment is None:
        raise dg.DagsterInvariantViolationError(
            f"{ENVIRONMENT_VARIABLE} is not set in this Kubernetes pod: set it to staging or production")
    return environment


def _optional_env(name: str) -> Any:
    """`EnvVar(name)` when the variable is set (the UI shows where the value comes from), else ""."""
    return dg.EnvVar(name) if os.environ.get(name) else ""


def pod_sizes() -> dict[str, Any]:
    """`dagster-k8s/config` per asset step, kept in deploy/ next to the rest of the deployment."""
    return deployment_plan()["assets"]


def resources_for(environment: str, local: LocalSettings | None = None, database_url: str = "") -> Deployment:
    """The resources and executor of `environment` (local | staging | production).

    local: embedded PostgreSQL (unless `database_url`/DATABASE_URL), local object directory,
    .eml outbox, Qdrant local mode, all under the state directory; the in-process executor —
    a county's graph is a chain of steps each worth seconds, so a fresh Python process per
    step (≈3 s of imports) would cost more than the parallelism gains, and Qdrant local mode
    wants one process anyway.
    staging / production: every endpoint and secret is a `dg.EnvVar`; DATABASE_URL is required
    (a pod without it fails at resource initialization instead of starting its own PostgreSQL);
    each step runs in its own pod (`k8s_job_executor`), sized from deploy/k8s-resources.yaml.
    Staging sends no real email (outbox), production sends through SendGrid.
    """
    if environment not in ENVIRONMENTS:
        raise dg.DagsterInvariantViolationError(
            f"{ENVIRONMENT_VARIABLE}={environment!r}: expected one of {', '.join(ENVIRONMENTS)}")
    settings = local or LocalSettings.from_env()
    state = settings.state_dir
    credentials = SourceCredentialsResource(
        socrata_app_token=_optional_env("SOCRATA_APP_TOKEN"), attom_api_key=_optional_env("ATTOM_API_KEY"),
        census_api_key=_optional_env("CENSUS_API_KEY"), redis_url=_optional_env("REDIS_URL"))
    local = environment == "local"
    warehouse = (WarehouseResource(database_url=database_url or _optional_env("DATABASE_URL"),
                                   embedded_dir=str(state / "pg")) if local
                 else WarehouseResource(database_url=database_url or dg.EnvVar("DATABASE_URL")))
    # The platform reads the counties' run-time overrides from the same warehouse.
    platform = PlatformResource(config_dir=str(settings.config_dir), state_dir=str(state), warehouse=warehouse)
    billing = BillingResource.from_env()  # Stripe, for the daily reconciliation (sensors/billing.py)
    if local:
        # Invented secret files only where settings.secrets_required_because allows (e.g. not
        # with a public REOS_PUBLIC_BASE_URL): else the resources require the variables.
        invent = secrets_required_because({**os.environ, ENVIRONMENT_VARIABLE: environment}) is None
        return Deployment(environment, {
            "platform": platform,
            "credentials": credentials,
            "warehouse": warehouse,
            "object_store": ObjectStoreResource(
                backend="local", local_dir=str(state / "objects"),
                public_base_url=_optional_env("REOS_PUBLIC_BASE_URL") or "http://127.0.0.1:8000",
                link_secret=_optional_env("REOS_LINK_SECRET"),
                link_secret_file=str(state / "link.secret") if invent else ""),
            "mailer": MailerResource(
                backend="outbox", outbox_dir=str(state / "outbox"),
                unsubscribe_secret=_optional_env("REOS_UNSUBSCRIBE_SECRET"),
                unsubscribe_secret_file=str(state / "unsubscribe.secret") if invent else ""),
            "vectors": VectorsResource(url=_optional_env("QDRANT_URL"), api_key=_optional_env("QDRANT_API_KEY"),
                                       local_path=str(state / "qdrant")),
            "scraper": ScraperResource(),
            "alerts": alerts_resource(),
            "billing": billing,
            "great_expectations": GreatExpectationsResource(),  # `features`' check, its worker started with the run
        }, dg.in_process_executor)

    from dagster_k8s import k8s_job_executor

    sendgrid = sends_real_email(environment)
    group = os.environ.get("SENDGRID_UNSUBSCRIBE_GROUP_ID")
    return Deployment(environment, {
        "platform": platform,
        "credentials": credentials,
        "warehouse": warehouse,
        "object_store": ObjectStoreResource(
            backend="s3", bucket=dg.EnvVar("S3_BUCKET"), endpoint_url=_optional_env("S3_ENDPOINT_URL"),
            # The API's public address and link secret: the emails' memo links (`/p/<token>`).
            public_base_url=_optional_env("REOS_PUBLIC_BASE_URL"), link_secret=_optional_env("REOS_LINK_SECRET"),
            region_name=_optional_env("AWS_REGION") or "us-east-1",
            access_key_id=_optional_env("AWS_ACCESS_KEY_ID"), secret_access_key=_optional_env("AWS_SECRET_ACCESS_KEY"),
            addressing_style=_optional_env("S3_ADDRESSING_STYLE")),
        "mailer": MailerResource(
            backend="sendgrid" if sendgrid else "outbox", outbox_dir=str(state / "outbox"),
            api_key=dg.EnvVar("SENDGRID_API_KEY") if sendgrid else "",
            api_host=_optional_env("SENDGRID_API_HOST") or "https://api.sendgrid.com",
            unsubscribe_group_id=dg.EnvVar.int("SENDGRID_UNSUBSCRIBE_GROUP_ID") if group else None,
            unsubscribe_secret=dg.EnvVar("REOS_UNSUBSCRIBE_SECRET")),
        "vectors": VectorsResource(url=dg.EnvVar("QDRANT_URL"), api_key=_optional_env("QDRANT_API_KEY")),
        # Each crawl in its own pod, its output exchanged through the object store's bucket.
        "scraper": ScraperResource(mode="k8s", output_bucket=dg.EnvVar("S3_BUCKET"),
                                   s3_endpoint_url=_optional_env("S3_ENDPOINT_URL") or None),
        "alerts": alerts_resource(),
        "billing": billing,
        "great_expectations": GreatExpectationsResource(),  # `features`' check, its worker started with the run
    }, k8s_job_executor.configured({"per_step_k8s_config": pod_sizes()}, name="reos_k8s_steps"))


def apply_policy(spec: dg.AssetSpec, partitions: dg.PartitionsDefinition,
                 training: dg.AutomationCondition) -> dg.AssetSpec:
    """Partitions, owners, group, kinds, automation and, for a table asset, its column schema (the
    migrations', `common.column_schema`) of one asset: the same rule for every asset.

    `partitions` are the counties. Tenant-owned assets (packets, emails) are (county × tenant) and
    have no automation condition: a dependency cannot map one county partition to the subset of
    tenants that subscribe to it, so `sensors.tenants` launches their runs from `subscriptions`."""
    name = spec.key.to_user_string()
    group, kinds = CATALOG[name]
    automation: dg.AutomationCondition | None
    if name in TENANT_ASSETS:
        partitions, automation = county_tenant_partitions(partitions), None
    elif name == "ml_model":
        automation = training
    else:
        automation = FOLLOW_UPSTREAM if spec.deps else None  # roots run on their county's schedule
    schema = column_schema(name)
    spec = spec.merge_attributes(metadata={COLUMN_SCHEMA: schema}) if schema is not None else spec
    return spec.replace_attributes(partitions_def=partitions, owners=OWNERS, group_name=group, kinds=kinds,
                                   automation_condition=automation)


def with_partitioned_checks(assets_def: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """The asset's partitions on each of its check specs, so a check result names the county it
    judged: the UI shows which county failed, and a failed blocking check holds back only that
    county's downstream partitions. Dagster 1.13 has no public way to change the check specs of a
    built definition (`map_asset_specs` maps asset specs only), so the definition is rebuilt with
    the same attributes and the updated check specs."""
    partitions = assets_def.partitions_def
    by_output = assets_def.node_check_specs_by_output_name
    if partitions is None or not by_output:
        return assets_def
    with warnings.catch_warnings():
        # Partitioned check specs are "preview" and the constructor's `execution_type` "beta" in 1.13
        # (DESIGN.md §8): warnings about our own plumbing that no operator can act on.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        checks = {name: spec._replace(partitions_def=partitions) for name, spec in by_output.items()}
        return dg.AssetsDefinition(
            **{**assets_def.get_attributes_dict(), "check_specs_by_output_name": checks})


def build_definitions(config_directory: Path | None = None, *, deployment: Deployment | None = None
                      ) -> dg.Definitions:
    if deployment is None:
        local = LocalSettings.from_env()
        deployment = resources_for(current_environment(),
                                   replace(local, config_dir=config_directory) if config_directory else local)
    config_dir = deployment.platform.config_path
    files = read_county_files(config_dir)
    counties = files.counties
    if files.invalid:  # the code server's log; the UI shows each on the county's checks and runs
        dg.get_dagster_logger().warning(invalid_counties_message(files.invalid))
    partitions = county_partitions(files.partition_keys)
    training_cron = load_scoring(config_dir).training_cron
    training = training_condition(training_cron)
    policy_counties, policies_from = counties_for_policies(deployment, counties)
    assets = [with_partitioned_checks(assets_def) for assets_def in
              dg.map_asset_specs(lambda spec: apply_policy(spec, partitions, training),
                                 dg.load_assets_from_modules(ASSET_MODULES))]
    return dg.Definitions(
        # Freshness per table from the counties' effective cadences (files + overrides, read now),
        # plus a per-county staleness check judged at run time.
        assets=with_freshness(assets, policy_counties, training_cron=training_cron, invalid=files.invalid),
        jobs=[discovery_job, billing_reconcile_job],
        # Daily Stripe reconciliation; stopped by default where the billing resource is not configured.
        schedules=[billing_reconcile_schedule(deployment.resources["billing"])],
        # Discovery on each county's effective cron (file + run-time override): sensors, not
        # schedules, so an edited cron applies without reloading the code location.
        sensors=[*discovery_sensors(counties), automation_sensor, email_events_sensor, memo_requests_sensor,
                 webhooks_sensor, run_failure_alerts, *run_history_sensors,
                 tenant_partitions_sensor(files.partition_keys),
                 county_freshness_sensor(counties, invalid=files.invalid)],
        resources=deployment.resources,
        executor=deployment.executor,
        metadata={INVALID_COUNTIES: dg.MetadataValue.json(files.invalid), POLICIES_FROM: policies_from},
    )


def counties_for_policies(deployment: Deployment, counties: dict[str, CountyConfig]
                          ) -> tuple[dict[str, CountyConfig], str]:
    """The counties the asset freshness policies are built from, and a line saying which.

    The freshness daemon evaluates the policies stored in the location's snapshot, so they are
    built at load from each county as its steps run it: its file with its run-time override
    (`read_county_files(dir, overrides)`, what the API shows), read from the warehouse within
    OVERRIDES_TIMEOUT_S; the county settings PATCH reloads the location after a change they
    depend on (docs/api.md, "Not done yet" item 4). Without a reachable database the location
    still loads, with the files' policies (`counties`), and says so in the log and in the
    Definitions' metadata. A county the override makes invalid drops out of the policies (it is
    disabled, not expected to refresh); partitions and sensors stay the files'."""
    import psycopg2
    from sqlalchemy.exc import SQLAlchemyError

    from realestate_assets.db.county_overrides import overrides_within

    log = dg.get_dagster_logger()
    warehouse = deployment.resources.get("warehouse")
    url, source = (warehouse.url_if_available() if isinstance(warehouse, WarehouseResource)
                   else (None, "no warehouse resource"))
    if url is None:
        why = f"county files alone: {source}"
    else:
        try:
            overrides = overrides_within(url, OVERRIDES_TIMEOUT_S)
        except (SQLAlchemyError, psycopg2.Error) as exc:  # refused, timed out, no county_overrides table yet
            why = f"county files alone: the run-time overrides could not be read from {source} ({_first_line(exc)})"
        else:
            effective = read_county_files(deployment.platform.config_path, overrides).counties
            said = f"county files with their run-time overrides ({len(overrides)} override(s), read from {source})"
            log.info(f"freshness policies built from {said}")
            return effective, said
    log.warning(f"freshness policies built from {why}; the asset-level windows ignore the overrides until "
                "the code location reloads with the database reachable")
    return counties, why


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def invalid_counties_message(invalid: dict[str, str]) -> str:
    return (f"{len(invalid)} county file(s) invalid; those counties are disabled until fixed, the others "
            "load and run:\n" + "\n".join(invalid.values()))


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
