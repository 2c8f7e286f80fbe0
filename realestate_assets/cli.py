"""`reos`: the command line for people who run the platform.

  reos db upgrade | downgrade | url     migrate the warehouse, or print where it is
  reos materialize --county KEY        materialize the whole graph for one county
  reos summary --county KEY            what the warehouse holds for a county
  reos demo [--county king_wa]         migrate + materialize + summary (what `make demo` runs)
"""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Real Estate OS command line.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="The warehouse schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()

TABLES = ["sales", "prospects", "enrichment", "features", "ml_models", "scores", "packets", "emails",
          "rejects"]


def _url() -> str:
    from resources.warehouse import resolve_database_url

    return resolve_database_url()


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
def materialize(county: str = typer.Option("king_wa", help="county partition key")) -> None:
    """Materialize every asset for COUNTY in this process, recorded in $DAGSTER_HOME's instance."""
    import dagster as dg

    from realestate_assets.definitions import build_definitions

    defs = build_definitions()
    job = defs.resolve_implicit_global_asset_job_def()
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance, partition_key=county, raise_on_error=False, tags={"county": county},
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    seconds = time.perf_counter() - started
    _print_checks(result)
    if not result.success:
        console.print(f"[red]materialization of {county} failed after {seconds:.1f} s[/red]")
        raise typer.Exit(1)
    console.print(f"materialized {county} in {seconds:.1f} s (run {result.run_id})")


def _print_checks(result: object) -> None:
    evaluations = [e.asset_check_evaluation_data for e in result.all_events  # type: ignore[attr-defined]
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    passed = sum(e.passed for e in evaluations)
    console.print(f"checks: {passed} passed, {len(evaluations) - passed} failed")
    for evaluation in evaluations:
        if not evaluation.passed:
            console.print(f"  [red]failed[/red] {evaluation.asset_key.to_user_string()}:"
                          f"{evaluation.check_name} — {evaluation.description}")


@app.command()
def summary(county: str = typer.Option("king_wa", help="county partition key")) -> None:
    """Rows per table, the top 5 properties with their memos, and the outbox."""
    from realestate_assets.db.warehouse import Warehouse
    from realestate_assets.settings import tenant_id

    wh = Warehouse(_url())
    params = {"tenant": tenant_id(), "county": county}
    counts = Table("table", "rows", title=f"Warehouse rows for {county}")
    for table in TABLES:
        n = wh.scalar(f"SELECT count(*) FROM {table} WHERE tenant_id = :tenant AND county = :county", params)
        counts.add_row(table, f"{n:,}")
    console.print(counts)
    top = wh.frame(
        "SELECT s.score_rank, s.prospect_key, s.bird_dog_score, s.estimated_value, s.value_gap_pct, "
        "k.object_path FROM scores s LEFT JOIN packets k USING (tenant_id, county, prospect_key) "
        "WHERE s.tenant_id = :tenant AND s.county = :county ORDER BY s.score_rank LIMIT 5", params)
    best = Table("rank", "parcel", "score", "estimated value", "value gap", title="Top 5 properties")
    from resources.object_store import ObjectStoreResource

    root = getattr(ObjectStoreResource().get(), "root", None)
    memos = []
    for row in top.itertuples():
        best.add_row(str(row.score_rank), row.prospect_key, f"{row.bird_dog_score:.1f}",
                     f"${row.estimated_value:,.0f}", f"{row.value_gap_pct:.1f}%")
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
def demo(county: str = typer.Option("king_wa", help="county partition key")) -> None:
    """Migrate, materialize the whole graph for COUNTY, and print the summary."""
    db_upgrade("head")
    materialize(county)
    summary(county)


if __name__ == "__main__":
    app()
