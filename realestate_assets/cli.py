"""`reos`: the command line for people who run the platform.

  reos db upgrade | downgrade | url     migrate the warehouse, or print where it is
  reos counties                        every county file: active, inactive or disabled (invalid file)
  reos materialize --county KEY        materialize the whole graph for one county
  reos summary --county KEY            what the warehouse holds for a county
  reos demo [--county king_wa]         migrate + materialize + summary (what `make demo` runs)
  reos campaigns plan --county KEY     per recipient, what the emails step would send and why (sends nothing)
  reos backtest --sales CSV --county KEY --cutoff YYYY-MM-DD --out DIR
                                       train every model on sales before the cutoff, judge the rest
  reos billing reconcile [--tenant ID] [--dry-run]
                                       re-read every tenant's Stripe subscriptions, apply what events missed
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Imports stay light at module level (typer, rich): `reos db url` must answer in well under 2 s,
# so Dagster, pandas and the asset graph are imported inside the commands that need them.
app = typer.Typer(help="Real Estate OS command line.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="The warehouse schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()


@app.callback()
def _every_command(ctx: typer.Context) -> None:
    from realestate_assets.progress import quiet_dagster_warnings

    ctx.with_resource(quiet_dagster_warnings())  # for the whole command, whichever it is

TABLES = ["sales", "assessor_roll", "prospects", "enrichment", "features", "ml_models", "scores", "packets", "emails",
          "rejects"]
TENANT_TABLES = {"packets", "emails"}  # the rest are public county data (rejects: the county's stages)
# Exit codes: 1 = a step failed, 2 = nothing to run (inactive or unknown county).
FAILED, INACTIVE = 1, 2
# The template `reos` and `make` copy into a fresh local DAGSTER_HOME.
LOCAL_INSTANCE_TEMPLATE = Path(__file__).resolve().parent.parent / "dagster.yaml"


def fail(county: str, step: str, error: str, code: int = FAILED) -> typer.Exit:
    """Say in one line what stopped, where, and why (the first line of the error)."""
    console.print(f"[red]{escape(county)}: {escape(step)} failed — {escape(error)}[/red]", soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _one_line_errors(county: str, step: str) -> Iterator[None]:
    """An error outside a run (database down, invalid county file) as one line, not a traceback;
    REOS_DEBUG=1 shows the traceback."""
    try:
        yield
    except (typer.Exit, KeyboardInterrupt):
        raise
    except Exception as exc:
        if os.environ.get("REOS_DEBUG"):
            raise
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        raise fail(county, step, f"{type(exc).__name__}: {first}" if first else type(exc).__name__) from None


def _local() -> bool:
    """The local resource set is in use (the same rule as definitions.current_environment, read
    without importing Dagster)."""
    from realestate_assets.settings import environment_name

    return environment_name() == "local"


@contextmanager
def _resources(*keys: str) -> Iterator[Any]:
    """This environment's resources (REOS_ENV; local: REOS_STATE_DIR, REOS_CONFIG_DIR, REOS_TENANT,
    DATABASE_URL), with their EnvVars resolved, as Dagster would hand them to an asset."""
    import dagster as dg

    from realestate_assets.definitions import current_environment, resources_for

    deployment = resources_for(current_environment())
    with dg.build_resources({key: deployment.resources[key] for key in keys}) as built:
        yield built


def _url() -> str:
    if _local():
        # What the local warehouse resource answers (DATABASE_URL, else the embedded server under the
        # state directory), without importing Dagster and the asset graph: ~0.2 s instead of ~6 s.
        from realestate_assets.db.embedded import embedded_data_dir, embedded_database_url

        return os.environ.get("DATABASE_URL") or embedded_database_url(embedded_data_dir())
    with _resources("warehouse") as built:
        return built.warehouse.url()


def _dagster_home() -> None:
    """Locally, DAGSTER_HOME defaults to <state dir>/dagster_home (as in the Makefile and the
    repository's .env), created from the template on first use, so `reos` works without `make`."""
    if os.environ.get("DAGSTER_HOME") or not _local():
        return
    from realestate_assets.settings import LocalSettings

    home = LocalSettings.from_env().state_dir / "dagster_home"
    if not (home / "dagster.yaml").exists():
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(LOCAL_INSTANCE_TEMPLATE, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the warehouse to REVISION (default: head)."""
    from realestate_assets.db.migrate import upgrade

    upgrade(_url(), revision)
    console.print(f"warehouse migrated to {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str = "base") -> None:
    """Migrate the warehouse down to REVISION (default: base, an empty schema)."""
    from realestate_assets.db.migrate import downgrade

    downgrade(_url(), revision)
    console.print(f"warehouse migrated down to {revision}")


@db_app.command("url")
def db_url() -> None:
    """Print the warehouse URL (starts the embedded server when DATABASE_URL is unset)."""
    print(_url())


@app.command()
def materialize(county: str = typer.Option("king_wa", help="county partition key"),
                tenant: str | None = typer.Option(None, help="whose packets and emails (default: REOS_TENANT, "
                                                            "else default)")) -> None:
    """Materialize every asset for COUNTY in this process, recorded in $DAGSTER_HOME's instance:
    the county's public assets, then TENANT's packets and emails on (COUNTY, TENANT).

    Each step is shown as it starts and ends (seconds, rows, checks). An inactive county (no enabled
    source) exits 2 with the reason, a failed step exits 1 with the county, step and first error line.
    """
    from realestate_assets.settings import LocalSettings

    with _one_line_errors(county, "loading the code location"):
        job, check_steps = _county_job(county)
    with _one_line_errors(county, "materialize"):
        _run(job, county, tenant or LocalSettings.from_env().tenant_id, check_steps)


def _county_job(county: str) -> tuple[Any, set[str]]:
    """The whole graph's job, once the county is known to be active, and its check-only steps."""
    import dagster as dg

    from realestate_assets.activity import county_activity
    from realestate_assets.config_models import ConfigError, county_disabled_reason
    from realestate_assets.definitions import build_definitions

    with _resources("platform") as built:  # its warehouse's EnvVars resolved: it reads the county's override
        platform = built.platform
    county_file = platform.config_path / "counties" / f"{county}.yaml"
    if not county_file.exists():
        raise fail(county, "materialize", f"no county file {county_file}", INACTIVE)
    try:
        config = platform.county(county)
    except ConfigError as exc:  # the whole error: it names the file and every bad field
        console.print(f"[red]{escape(county)}: {escape(county_disabled_reason(str(exc)))}[/red]", soft_wrap=True)
        raise typer.Exit(INACTIVE) from None
    active, reason = county_activity(config)
    if not active:
        console.print(f"[yellow]{escape(reason)}[/yellow]", soft_wrap=True)
        raise typer.Exit(INACTIVE)
    defs = build_definitions()
    check_steps = {d.node_def.name for d in [*(defs.assets or []), *(defs.asset_checks or [])]
                   if isinstance(d, dg.AssetChecksDefinition)}
    return defs.resolve_implicit_global_asset_job_def(), check_steps


def _run(job: Any, county: str, tenant: str, check_steps: set[str]) -> None:
    import dagster as dg

    from realestate_assets.county_runs import materialize_county
    from realestate_assets.progress import StepProgress
    from sensors.alerts import first_error_line

    _dagster_home()
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance, StepProgress(console, quiet=check_steps) as progress:
        # Step failures are reported by `progress` and below; Dagster's console logger would repeat
        # them as tracebacks.
        result = materialize_county(
            job, county, [tenant], instance=instance, raise_on_error=False, tags={"county": county},
            before_run=lambda run_id: instance.add_event_listener(run_id, progress.on_event),
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
        for run_id in result.run_ids:
            _record(instance, run_id)
    seconds = time.perf_counter() - started
    _print_checks(result)
    runs = ", ".join(result.run_ids)
    if not result.success:
        failures = [e for e in result.all_events if e.event_type_value in ("STEP_FAILURE", "RUN_FAILURE")]
        step = (failures[0].step_key or "run") if failures else "run"
        error = first_error_line(failures[0]) if failures else "run failed"
        raise fail(county, f"step {step}", f"{error} (after {seconds:.0f} s; runs {runs})")
    console.print(f"materialized {county} (tenant {tenant}) in {seconds:.1f} s (runs {runs})")


def _record(instance: Any, run_id: str) -> None:
    """Into the run history (pipeline_runs), as the daemon's run-history sensors record the runs
    they see: an in-process run has no daemon watching (same rows; recording twice adds none)."""
    from realestate_assets.db.warehouse import Warehouse
    from sensors.run_history import record_run

    try:
        warehouse = Warehouse(_url())
        try:
            record_run(instance, instance.get_run_by_id(run_id), warehouse)
        finally:
            warehouse.dispose()
    except Exception as exc:  # the run itself is done and reported; only the analytics miss it
        console.print(f"[yellow]run {run_id} not recorded in pipeline_runs: {escape(str(exc))}[/yellow]",
                      soft_wrap=True)


def _print_checks(result: Any) -> None:
    evaluations = [e.asset_check_evaluation_data for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    failed = [e for e in evaluations if not e.passed]
    warned = sum(e.severity.value == "WARN" for e in failed)
    console.print(f"checks: {len(evaluations) - len(failed)} passed, {warned} warned, {len(failed) - warned} failed")
    for evaluation in failed:
        label = "[yellow]warned[/yellow]" if evaluation.severity.value == "WARN" else "[red]failed[/red]"
        console.print(f"  {label} {escape(evaluation.asset_key.to_user_string())}:"
                      f"{escape(evaluation.check_name)} — {escape(evaluation.description or '')}", soft_wrap=True)


@app.command()
def counties() -> None:
    """Every county file and its state: active, inactive (no enabled source discovers properties)
    or disabled (the file is invalid; its error names the file and the field). Exits 1 when a
    file is invalid: the other counties still load and run."""
    from realestate_assets.activity import county_activity
    from realestate_assets.config_models import county_disabled_reason, read_county_files
    from realestate_assets.settings import LocalSettings

    with _one_line_errors("counties", "reading county files"):
        files = read_county_files(LocalSettings.from_env().config_dir)
    table = Table("county", "state", "why", title="County files")
    for key in sorted({*files.counties, *files.invalid}):
        if key in files.invalid:
            table.add_row(escape(key), "[red]disabled[/red]", escape(county_disabled_reason(files.invalid[key])))
            continue
        active, reason = county_activity(files.counties[key])
        table.add_row(key, "active" if active else "[yellow]inactive[/yellow]", escape(reason))
    console.print(table)
    if files.invalid:
        raise typer.Exit(FAILED)


@app.command()
def summary(county: str = typer.Option("king_wa", help="county partition key")) -> None:
    """Rows per table, the top 5 properties with their memos, and the outbox."""
    from realestate_assets.db.warehouse import Warehouse
    from realestate_assets.settings import LocalSettings

    tenant = LocalSettings.from_env().tenant_id
    with _resources("object_store") as built:
        store = built.object_store.get()
    wh = Warehouse(_url())
    params = {"tenant": tenant, "county": county}
    counts = Table("table", "rows", title=f"Warehouse rows for {county}")
    for table in TABLES:
        # Public county tables have no tenant (DESIGN §9); packets and emails are the tenant's.
        scope = "tenant_id = :tenant AND " if table in TENANT_TABLES else ""
        n = wh.scalar(f"SELECT count(*) FROM {table} WHERE {scope}county = :county", params)
        counts.add_row(table, f"{n:,}")
    console.print(counts)
    top = wh.frame(
        "SELECT s.score_rank, s.prospect_key, s.bird_dog_score, s.estimated_value, s.value_gap_pct, "
        "k.object_path FROM scores s LEFT JOIN packets k ON k.tenant_id = :tenant AND k.county = s.county "
        "AND k.prospect_key = s.prospect_key AND k.template = 'investor_memo' "
        "WHERE s.county = :county ORDER BY s.score_rank LIMIT 5", params)
    best = Table("rank", "parcel", "score", "estimated value", "value gap", title="Top 5 properties")
    root = getattr(store, "root", None)
    memos = []
    for row in top.itertuples():
        best.add_row(str(row.score_rank), row.prospect_key, f"{row.bird_dog_score:.1f}",
                     f"${row.estimated_value:,.0f}",
                     # no gap when the last sale was likely not at market value (docs/scoring.md)
                     "—" if row.value_gap_pct is None or row.value_gap_pct != row.value_gap_pct  # None or NaN
                     else f"{row.value_gap_pct:.1f}%")
        if row.object_path:
            memos.append(f"  #{row.score_rank} {root / row.object_path if root else row.object_path}")
    console.print(best)
    console.print("memos:\n" + "\n".join(memos) if memos else "memos: none above the threshold",
                  soft_wrap=True)
    emails = wh.frame("SELECT status, provider, count(*) AS n, min(outbox_path) AS example FROM emails "
                      "WHERE tenant_id = :tenant AND county = :county GROUP BY status, provider", params)
    for row in emails.itertuples():
        console.print(f"emails {row.status} via {row.provider}: {row.n} (e.g. {row.example})",
                      soft_wrap=True)
    if emails.empty:
        console.print("emails: none")
    wh.dispose()


@app.command()
def explain(prospect_keys: list[str], county: str = typer.Option("king_wa", help="county partition key"),
            store: bool = typer.Option(True, help="also save the reasons in scores.score_breakdown")) -> None:
    """Reasons on demand: SHAP value factors and score drivers for the given prospects (their
    stored reasons when they have some; else computed from their feature rows, the models that
    scored them and their stored percentiles: ml/on_demand.py, as the API's reasons route)."""
    from realestate_assets.db.warehouse import Warehouse
    from realestate_assets.ml.on_demand import Explainer, Unexplainable, store_reasons

    with _resources("platform", "object_store", "warehouse") as built:
        platform, objects, url = built.platform, built.object_store.get(), built.warehouse.url()
    wh = Warehouse(url)
    try:
        with wh.transaction() as conn, conn.cursor() as cur:
            found = Explainer(platform.scoring()).explain(cur, objects, county, prospect_keys)
            for key in sorted(set(prospect_keys) - set(found)):
                console.print(f"[red]{key}: no score (or no features row) in {county}[/red]")
            for key in sorted(found):
                explained = found[key]
                score = explained.score
                console.print(f"[bold]{key}[/bold] score {score['bird_dog_score']:.1f} (rank {score['score_rank']}), "
                              f"estimated value ${float(score['estimated_value']):,.0f} ({explained.source} reasons)")
                for reason in explained.breakdown["reasons"]:
                    console.print(f"  • {reason}")
                for factor in explained.breakdown["value_factors"]:
                    console.print(f"  value: {factor['text']}")
            if store:
                store_reasons(cur, county, found.values())
    except Unexplainable as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        wh.dispose()
    if len(found) < len(set(prospect_keys)):
        raise typer.Exit(1)


@app.command()
def demo(county: str = typer.Option("king_wa", help="county partition key")) -> None:
    """Migrate, materialize the whole graph for COUNTY, and print the summary."""
    with _one_line_errors(county, "migrating the warehouse"):
        db_upgrade("head")
    with _one_line_errors(county, "seeding recipients and campaigns"):
        _seed_outreach()  # before the run: the emails step reads the tenant's tables
    materialize(county, None)
    with _one_line_errors(county, "summary"):
        _analyze()
        summary(county)
    if _local():
        with _one_line_errors(county, "demo login"):
            _print_demo_login(county)


def _analyze() -> None:
    """Planner statistics for the freshly loaded tables: without them the API's first queries after
    a demo run take seconds (measured 5.8 s for /properties, 0.04 s after ANALYZE) until autovacuum
    gets to them about a minute later."""
    from sqlalchemy import text

    from realestate_assets.db.warehouse import Warehouse

    warehouse = Warehouse(_url())
    try:
        with warehouse.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    finally:
        warehouse.dispose()


def _print_demo_login(county: str) -> None:
    """Create (once) the demo owner of the local tenant, following COUNTY, and say how to log in."""
    from realestate_assets.accounts.demo import ensure_demo_login
    from realestate_assets.settings import LocalSettings

    settings = LocalSettings.from_env()
    with _accounts() as (cur, who):
        login = ensure_demo_login(cur, settings.state_dir, settings.tenant_id, county)
        if login.created:
            from realestate_assets.accounts import store

            store.audit(cur, who, settings.tenant_id, "create", "users", login.email)
    base = "http://127.0.0.1:8000"
    body = f'{{"email": "{login.email}", "password": "{login.password}"}}'
    console.print(f"\nAPI login ([bold]make dev[/bold] serves it on {base}, OpenAPI at /openapi.json):\n"
                  f"  {login.email} / {escape(login.password)}  (owner of {settings.tenant_id}; kept in "
                  f"{login.password_file})\n"
                  f"  curl -s -X POST {base}/api/v1/auth/login -H 'content-type: application/json' -d '{body}'",
                  soft_wrap=True)


@app.command()
def backtest(
    sales: Path = typer.Option(..., exists=True, dir_okay=False, help="sales file the county's YAML maps"),
    county: str = typer.Option(..., help="county key: config/counties/KEY.yaml supplies the column mapping"),
    cutoff: str = typer.Option(..., help="YYYY-MM-DD: models see only sales before this date"),
    out: Path = typer.Option(..., file_okay=False, help="output directory"),
) -> None:
    """Backtest every scoring model on a sales file: predictions.csv, metrics.json, calibration.png."""
    from datetime import date

    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from realestate_assets.backtest import read_sales, run_backtest
    from realestate_assets.config_models import load_scoring
    from realestate_assets.settings import LocalSettings

    try:
        cutoff_date = date.fromisoformat(cutoff)
    except ValueError as exc:
        raise typer.BadParameter(f"--cutoff {cutoff!r}: expected YYYY-MM-DD") from exc
    config_dir = LocalSettings.from_env().config_dir
    county_file = config_dir / "counties" / f"{county}.yaml"
    if not county_file.exists():
        raise typer.BadParameter(f"--county {county!r}: no {county_file}")
    from realestate_assets.config_models import load_county

    labels = {"avm": "AVM tuning (Optuna trials)", "deal": "deal model tuning", "sale_propensity":
              "sale-propensity tuning", "score": "scoring the window"}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=console) as bars:
        reading = bars.add_task("reading and validating sales", total=None)
        rows, rejected = read_sales(sales, load_county(county_file))
        bars.update(reading, total=1, completed=1)
        tasks: dict[str, int] = {}

        def progress(step: str, advance: int, total: int | None) -> None:
            if step not in tasks:
                tasks[step] = bars.add_task(labels.get(step, step), total=total or None)
            bars.advance(tasks[step], advance)

        result = run_backtest(rows, cutoff_date, load_scoring(config_dir), out, progress)
    _print_backtest(result.metrics, rejected)
    for name, path in result.paths.items():
        console.print(f"{name}: {path}", soft_wrap=True)


def _print_backtest(metrics: dict, rejected: int) -> None:
    console.print(f"trained on {metrics['train_sales']:,} sales before {metrics['cutoff']}; "
                  f"window {metrics['window']} ({metrics['window_sales']:,} sales); {rejected} rows rejected")
    keys = ["mdape_pct", "pe10_pct", "pe20_pct", "median_error_pct", "cod", "prd", "prb"]
    columns = {"AVM (frozen)": metrics["avm"], "without forecast": metrics["avm_without_forecast"],
               "AVM re-indexed": metrics["avm_reindexed"],
               "nearest comps": metrics["baselines"]["nearest_comps_size_adjusted"],
               "hedonic OLS": metrics["baselines"]["hedonic_ols"]}
    table = Table("metric", *columns, title="Valuation on the window (IAAO ratio study)")
    for key in keys:
        table.add_row(key, *[f"{c[key]:.3f}" for c in columns.values()])
    console.print(table)
    ranges, forecast = metrics["interval"], metrics["forecast"]
    console.print(f"80% ranges: coverage {ranges['coverage_pct']:.1f}% (below {ranges['below_pct']:.1f}%, above "
                  f"{ranges['above_pct']:.1f}%), median width {ranges['median_width_pct']:.1f}% of the estimate")
    console.print(f"market forecast: mean |error| {forecast['mean_abs_error_pct']:.2f}% over the window months "
                  f"(held flat: {forecast['flat_mean_abs_error_pct']:.2f}%); projected "
                  f"{forecast['last_month']['projected_change_pct']:+.1f}% vs realized "
                  f"{forecast['last_month']['realized_change_pct']:+.1f}% by {forecast['last_month']['month']}")
    if forecast.get("drift_per_month"):
        last = forecast["last_month"]
        console.print(f"  with the AVM's drift ({forecast['drift_per_month'] * 100:+.2f}% a month, chosen by CV): "
                      f"mean |error| {forecast['mean_abs_error_with_drift_pct']:.2f}%, projected "
                      f"{last['projected_with_drift_pct']:+.1f}% by {last['month']}")
    deal = metrics["deal_model"]
    if "auc" in deal:
        console.print(f"deal model ({deal['on']}): AUC {deal['auc']:.3f}, precision@top-10% "
                      f"{deal['precision_at_top10_pct']:.3f} (base rate {deal['base_rate']:.3f}), "
                      f"Brier {deal['brier']:.4f}")
        for name, label in (("bare_deal_model", "bare deal model (price vs comps)"),
                            ("bird_dog_score", "bird-dog score")):
            if isinstance(deal.get(name), dict) and "auc" in deal[name]:
                console.print(f"  {label}: AUC {deal[name]['auc']:.3f}, precision@top-10% "
                              f"{deal[name]['precision_at_top10_pct']:.3f}")
    else:
        console.print(f"deal model: {deal.get('skipped')}")
    sale = metrics["sale_propensity"]
    if "auc" in sale:
        console.print(f"sale propensity ({sale['on']}): AUC {sale['auc']:.3f}, precision@top-10% "
                      f"{sale['precision_at_top10_pct']:.3f} (base rate {sale['base_rate']:.3f})")


# ---- campaigns (issue #13): what the emails step would send, and why, without sending -----------
#   reos campaigns plan --county KEY

campaigns_app = typer.Typer(help="Email campaigns.", no_args_is_help=True)
app.add_typer(campaigns_app, name="campaigns")


@campaigns_app.command("plan")
def campaigns_plan(county: str = typer.Option("king_wa", help="county partition key")) -> None:
    """Print per recipient what the emails step would send now and why (single email or digest,
    pacing cap, suppressed, below threshold), from the same planning function; sends nothing."""
    from datetime import UTC, datetime

    from realestate_assets.config_models import load_campaigns, load_county, load_scoring
    from realestate_assets.db.warehouse import Warehouse
    from realestate_assets.outreach.campaigns import plan_county, read_history, read_items, read_suppressed
    from realestate_assets.outreach.tenant_data import load_tenant_outreach
    from realestate_assets.settings import LocalSettings

    with _one_line_errors(county, "campaigns plan"):
        local = LocalSettings.from_env()
        county_file = local.config_dir / "counties" / f"{county}.yaml"
        if not county_file.exists():
            raise fail(county, "campaigns plan", f"no county file {county_file}", INACTIVE)
        config, settings = load_county(county_file), load_campaigns(local.config_dir)
        scoring = load_scoring(local.config_dir)
        wh = Warehouse(_url())
        try:
            params = {"tenant": local.tenant_id, "county": county}
            with wh.transaction() as conn:  # the tenant's recipients and campaigns, as the emails step reads them
                audience = load_tenant_outreach(conn, local.tenant_id)
            items = read_items(wh, params, config, threshold=scoring.packet_threshold)
            plans = plan_county(county_key=county, campaigns=audience.campaigns, recipients=audience.recipients,
                                items=items, history=read_history(wh, params), now=datetime.now(UTC),
                                max_single_per_day=settings.pacing.max_single_emails_per_day,
                                suppressed=read_suppressed(wh, local.tenant_id))
        finally:
            wh.dispose()
    console.print(f"{county}: {len(items)} properties with a memo at or above {scoring.packet_threshold:g}; "
                  f"at most {settings.pacing.max_single_emails_per_day} single emails per recipient a day "
                  "(nothing is sent)", soft_wrap=True)
    if not audience.recipients or not audience.campaigns:
        console.print(f"tenant {local.tenant_id} has {len(audience.recipients)} recipients and "
                      f"{len(audience.campaigns)} active campaigns (API, or `reos campaigns seed`)", soft_wrap=True)
    for plan in plans:
        state = " [red](suppressed)[/red]" if plan.suppressed else ""
        console.print(f"\n[bold]{escape(plan.recipient.address)}[/bold]{state}")
        if plan.emails:
            table = Table("campaign", "send key", "properties", "why")
            for d in plan.emails:
                table.add_row(d.campaign.key, d.send_key, str(len(d.items)),
                              escape(d.why + (" — sent already or retried, never twice" if d.again else "")))
            console.print(table)
        for note in plan.notes:
            console.print(f"  · {escape(note)}", soft_wrap=True)


@campaigns_app.command("seed")
def campaigns_seed() -> None:
    """Seed the local tenant's recipients and campaigns from recipients.yaml and campaigns.yaml,
    each table only while the tenant has none (edits made through the API are kept)."""
    _seed_outreach()


def _seed_outreach() -> None:
    from realestate_assets.accounts import store
    from realestate_assets.config_models import load_campaigns, load_outreach
    from realestate_assets.outreach.tenant_data import seed_from_config
    from realestate_assets.settings import LocalSettings

    local = LocalSettings.from_env()
    with _accounts() as (cur, who):
        if not store.tenant_exists(cur, local.tenant_id):
            store.create_tenant(cur, local.tenant_id, local.tenant_id)
        written = seed_from_config(cur, local.tenant_id, load_outreach(local.config_dir),
                                   load_campaigns(local.config_dir))
        if any(written.values()):
            store.audit(cur, who, local.tenant_id, "seed", "campaigns", after=written)
    console.print(f"tenant {local.tenant_id}: {written['recipients']} recipients and {written['campaigns']} "
                  "campaigns seeded from the config files" if any(written.values()) else
                  f"tenant {local.tenant_id}: recipients and campaigns already there (nothing seeded)")


# ---- accounts (issue #11): tenants, users and API keys, written as the table owner ----------
#   reos tenant create ID --name NAME
#   reos user create EMAIL [--tenant T --role R] [--platform-admin]   (password prompted)
#   reos apikey create --tenant T --name N [--scope read ...] [--expires-days N]   (key printed once)

tenant_app = typer.Typer(help="Tenants (customer organisations).", no_args_is_help=True)
user_app = typer.Typer(help="User accounts and their tenant roles.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
billing_app = typer.Typer(help="Billing through Stripe.", no_args_is_help=True)
app.add_typer(billing_app, name="billing")


@contextmanager
def _accounts() -> Iterator[tuple[Any, Any]]:
    """(cursor, principal) in one transaction on the warehouse; account rule errors exit 1."""
    import getpass

    from realestate_assets.accounts.roles import Principal
    from realestate_assets.accounts.store import AccountError
    from realestate_assets.db.warehouse import Warehouse

    warehouse = Warehouse(_url())
    try:
        with warehouse.transaction() as conn, conn.cursor() as cur:
            yield cur, Principal(tenant_id=None, permissions=frozenset(), actor=f"cli:{getpass.getuser()}")
    except AccountError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    finally:
        warehouse.dispose()


@tenant_app.command("create")
def tenant_create(tenant_id: str, name: str = typer.Option(..., help="display name")) -> None:
    """Create tenant TENANT_ID."""
    from realestate_assets.accounts import store

    with _accounts() as (cur, who):
        tenant = store.create_tenant(cur, tenant_id, name)
        store.audit(cur, who, tenant_id, "create", "tenants", tenant_id, after=tenant)
    console.print(f"tenant {tenant_id} created")


@tenant_app.command("suspend")
def tenant_suspend(tenant_id: str,
                   reason: str = typer.Option(..., help="shown to its people in the API's 403")) -> None:
    """Suspend TENANT_ID: the API refuses its people and keys until `reos tenant resume`."""
    from realestate_assets.accounts import store
    from realestate_assets.db.tenancy import set_tenant

    with _accounts() as (cur, who):
        before, after = store.set_suspension(cur, tenant_id, reason)
        set_tenant(cur, tenant_id)
        store.audit(cur, who, tenant_id, "suspend", "tenants", tenant_id, before=before, after=after)
    console.print(f"tenant {tenant_id} suspended: {reason}")


@tenant_app.command("resume")
def tenant_resume(tenant_id: str) -> None:
    """Lift TENANT_ID's suspension."""
    from realestate_assets.accounts import store
    from realestate_assets.db.tenancy import set_tenant

    with _accounts() as (cur, who):
        before, after = store.set_suspension(cur, tenant_id, None)
        set_tenant(cur, tenant_id)
        store.audit(cur, who, tenant_id, "resume", "tenants", tenant_id, before=before, after=after)
    console.print(f"tenant {tenant_id} resumed")


@tenant_app.command("delete")
def tenant_delete(tenant_id: str,
                  yes: bool = typer.Option(False, "--yes", help="really delete: there is no undo")) -> None:
    """Delete TENANT_ID for good: every row it owns (members, keys, subscriptions, packets, emails and
    events, suppressions, notes, searches, webhooks, audit trail…) and every object under
    tenants/<id>/ in this environment's object store. Accounts stay (people may belong elsewhere).
    Its Dagster partitions (county × TENANT_ID) go on the tenant_partitions_sensor's next tick,
    which deletes the tenant key of every tenant no longer in the database.
    Export first if the customer wants its data (GET /api/v1/tenant/export)."""
    from realestate_assets.accounts import store
    from realestate_assets.db.tenancy import set_tenant
    from realestate_assets.objects import tenant_prefix

    if not yes:
        console.print(f"[red]this deletes tenant {tenant_id} and all of its data for good: add --yes[/red]")
        raise typer.Exit(2)
    with _accounts() as (cur, who), _resources("object_store") as built:
        deleted = store.delete_tenant(cur, tenant_id)
        set_tenant(cur, "default")
        store.audit(cur, who, "default", "delete", "tenants", tenant_id, before={"rows": deleted})
        # Objects after the rows are gone in this transaction and before it commits: a failure
        # here rolls the rows back, so a retry finds everything where it was.
        objects = built.object_store.get().delete_prefix(tenant_prefix(tenant_id))
    rows = sum(deleted.values())
    console.print(f"tenant {tenant_id} deleted: {rows} rows in {len(deleted)} tables, {objects} objects; "
                  "its Dagster partitions go on the tenant_partitions_sensor's next tick")
    for table, count in sorted(deleted.items()):
        console.print(f"  {table}: {count}")


@user_app.command("create")
def user_create(
    email: str,
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 help="at least 10 characters"),
    tenant: str | None = typer.Option(None, help="tenant to add the user to"),
    role: str = typer.Option("viewer", help="role in the tenant: owner, admin, analyst or viewer"),
    platform_admin: bool = typer.Option(False, help="operator of the installation (creates tenants)"),
    verified: bool = typer.Option(True, "--verified/--unverified",
                                  help="the operator vouches for the address (default); --unverified: the "
                                       "person verifies it by email before the first login"),
) -> None:
    """Create the account EMAIL, optionally with a role in a tenant. Verified by default: the
    operator bootstrapping an installation vouches for the address (login requires a verified one)."""
    from realestate_assets.accounts import store

    with _accounts() as (cur, who):
        user = store.create_user(cur, email, password, platform_admin=platform_admin, verified=verified)
        if tenant:
            if not store.tenant_exists(cur, tenant):
                raise store.AccountError("not_found", f"no tenant {tenant!r}")
            _, membership = store.set_membership(cur, tenant, user["id"], role)
            store.audit(cur, who, tenant, "create", "memberships", user["id"], after=membership)
    console.print(f"user {user['email']} created" + (f" ({role} of {tenant})" if tenant else ""))


@apikey_app.command("create")
def apikey_create(
    tenant: str = typer.Option(..., help="tenant the key acts for"),
    name: str = typer.Option(..., help="what the key is for"),
    scope: list[str] = typer.Option(["read"], help="read, write and/or admin (repeat the option)"),
    expires_days: int | None = typer.Option(None, help="days until the key expires (default: never)"),
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from datetime import UTC, datetime, timedelta

    from realestate_assets.accounts import store

    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    with _accounts() as (cur, who):
        if not store.tenant_exists(cur, tenant):
            raise store.AccountError("not_found", f"no tenant {tenant!r}")
        row, key = store.create_api_key(cur, tenant, None, name, scope, expires)
        store.audit(cur, who, tenant, "create", "api_keys", row["id"], after=row)
    console.print(f"API key {row['prefix']} for {tenant} ({', '.join(row['scopes'])}); shown once:")
    print(key)


@billing_app.command("reconcile")
def billing_reconcile(
    tenant: str | None = typer.Option(None, help="only this tenant (default: every tenant with a Stripe customer)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="say what would change; change nothing"),
) -> None:
    """Read each tenant's subscriptions from Stripe and apply the one its plan follows, as its
    webhook event would have (for events lost beyond Stripe's three days of retries). Per tenant:
    unchanged, changed (from → to) or error; exit 1 when any tenant failed (the others are done)."""
    from datetime import UTC, datetime

    from realestate_assets.accounts import billing
    from realestate_assets.db.warehouse import Warehouse

    settings = billing.StripeSettings.from_env(os.environ)
    if not settings.configured:
        console.print("[red]billing is not configured: set STRIPE_API_KEY (and STRIPE_PRICE_<PLAN>)[/red]")
        raise typer.Exit(2)
    run_id = f"reconcile:cli:{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    warehouse = Warehouse(_url())
    try:
        results = billing.reconcile(warehouse, billing.stripe_client(settings.api_key, settings.api_base),
                                    settings.prices, run_id, tenant_id=tenant, dry_run=dry_run)
    finally:
        warehouse.dispose()
    if tenant and not results:
        console.print(f"[red]tenant {escape(tenant)} has no Stripe customer (no checkout was started)[/red]")
        raise typer.Exit(2)
    for result in results:
        console.print(escape(billing.describe(result, dry_run)), soft_wrap=True)
    counts = billing.reconcile_summary(results)
    console.print(f"{run_id}{' (dry run: nothing changed)' if dry_run else ''}: " +
                  ", ".join(f"{n} {outcome}" for outcome, n in counts.items()), soft_wrap=True)
    if counts["error"]:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
