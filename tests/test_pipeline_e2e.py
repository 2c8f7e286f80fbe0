"""End to end: all assets for a small real sample of King County, on real PostgreSQL."""

from __future__ import annotations

import email
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from realestate_assets.county_runs import CountyRuns, materialize_county
from realestate_assets.db.lifecycle import PUBLIC_STATUS, PUBLIC_STATUS_JOINS
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.definitions import Deployment, build_definitions
from tests.databases import create_tenant
from tests.samples import MALFORMED_ROWS, shared_sample_deployment, write_sample_config

pytestmark = pytest.mark.slow

TABLES = ["sales", "prospects", "enrichment", "features", "scores", "packets", "emails", "rejects"]
TENANT_TABLES = {"packets", "emails"}  # the others are the county's public rows (no tenant)


def materialize_all(deployment: Deployment, tenant: str) -> CountyRuns:
    """king_wa's public assets, then the tenant's packets and emails on (king_wa, tenant)."""
    job = build_definitions(deployment=deployment).resolve_implicit_global_asset_job_def()
    return materialize_county(job, "king_wa", [tenant], instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


@dataclass(frozen=True)
class FirstRun:
    deployment: Deployment
    tenant: str
    directory: Path  # config/, data/ and state/ (the outbox) of this run
    result: CountyRuns


@pytest.fixture(scope="module")
def first_run(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """One run of the whole graph on the sample county, read by the three tests below that only look
    at what a first run wrote (tests/samples.shared_sample_deployment). They come first in this
    module: the tests after them empty the public tables (`make_deployment`)."""
    directory = tmp_path_factory.mktemp("first-run")
    deployment = shared_sample_deployment(database_url, directory)
    tenant = create_tenant(database_url)
    return FirstRun(deployment, tenant, directory, materialize_all(deployment, tenant))


def check_results(result: CountyRuns) -> dict[str, bool]:
    return {f"{e.asset_check_evaluation_data.asset_key.to_user_string()}:"
            f"{e.asset_check_evaluation_data.check_name}": e.asset_check_evaluation_data.passed
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def counts(database_url: str, tenant: str) -> dict[str, int]:
    wh = Warehouse(database_url)
    try:
        return {t: int(wh.scalar(f"SELECT count(*) FROM {t} WHERE "
                                 + ("tenant_id = :t" if t in TENANT_TABLES else "county = 'king_wa'"), {"t": tenant}))
                for t in TABLES}
    finally:
        wh.dispose()


def test_whole_graph_materializes_and_reruns_idempotently(first_run: FirstRun, database_url: str) -> None:
    pipeline_env, tenant, first = first_run.deployment, first_run.tenant, first_run.result
    tmp_path = first_run.directory  # its config/ and state/
    assert first.success
    checks = check_results(first)
    defs = build_definitions(deployment=pipeline_env)
    declared = len(defs.resolve_asset_graph().asset_check_keys)  # the assets' own and the freshness checks
    assert len(checks) == declared and all(checks.values()), checks
    rows = counts(database_url, tenant)
    assert rows["sales"] > 400 and rows["prospects"] == 400
    assert rows["enrichment"] == rows["features"] == rows["scores"] == 400
    assert rows["packets"] > 0 and rows["emails"] > 0 and rows["rejects"] == 0

    wh = Warehouse(database_url)
    scores = wh.frame("SELECT bird_dog_score, score_breakdown, model_version FROM scores WHERE county = 'king_wa'",
                      {"t": tenant})
    assert scores["bird_dog_score"].between(0, 100).all()
    explained = scores[scores["bird_dog_score"] >= 85]
    assert explained["score_breakdown"].notna().all()
    assert len(explained["score_breakdown"].iloc[0]["value_factors"]) == 5
    # SHAP reasons only where read: most rows carry none.
    assert scores["score_breakdown"].isna().sum() > 300

    outbox = sorted((tmp_path / "state" / "outbox").glob("*.eml"))
    assert len(outbox) == rows["emails"]
    messages = [email.message_from_bytes(path.read_bytes()) for path in outbox]
    # Every campaign email (new opportunity, digests, alerts) carries the compliance headers.
    for message in messages:
        assert message["List-Unsubscribe"].startswith("<https://")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A first run on a county is one digest per recipient, never a flood of single emails (issue #13).
    assert {m["X-REOS-Campaign"] for m in messages} <= {"daily_digest", "weekly_summary"}
    digest = next(m for m in messages if m["X-REOS-Campaign"] == "daily_digest")
    parts = {part.get_content_type(): part for part in digest.walk() if not part.is_multipart()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "/p/" in parts["text/html"].get_payload(decode=True).decode()  # memo links go through the API
    message = next(m for m in messages if m["X-REOS-Campaign"] == "weekly_summary")
    parts = {part.get_content_type(): part for part in message.walk() if not part.is_multipart()}
    assert set(parts) == {"text/plain", "text/html", "application/pdf"}
    assert "Second Avenue" in parts["text/plain"].get_payload(decode=True).decode()  # CAN-SPAM postal address
    assert "Second Avenue" in parts["text/html"].get_payload(decode=True).decode()
    assert parts["application/pdf"].get_payload(decode=True).startswith(b"%PDF")

    # The plan preview reads the same rows through the same planning function: today's digests are
    # planned again (the state machine will not resend them) and nothing new is due.
    from tests.test_cli import reos

    preview = reos("campaigns", "plan", "--county", "king_wa", env={
        "DATABASE_URL": database_url, "REOS_TENANT": tenant, "REOS_STATE_DIR": str(tmp_path / "state"),
        "REOS_CONFIG_DIR": str(tmp_path / "config")})
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "daily:king_wa:" in preview.stdout and "never twice" in preview.stdout
    assert "avery@example.com" in preview.stdout and "acquisitions@example.org" in preview.stdout

    updated_before = wh.scalar("SELECT max(updated_at) FROM scores WHERE county = 'king_wa'", {"t": tenant})
    second = materialize_all(pipeline_env, tenant)
    assert second.success and all(check_results(second).values())
    assert counts(database_url, tenant) == rows
    assert len(list((tmp_path / "state" / "outbox").glob("*.eml"))) == len(outbox)
    # Nothing changed, so no score row was rewritten.
    assert wh.scalar("SELECT max(updated_at) FROM scores WHERE county = 'king_wa'", {"t": tenant}) == updated_before
    emails_meta = second.asset_materializations_for_node("emails")[0].metadata
    assert emails_meta["sent_this_run"].value == 0
    assert emails_meta["already_sent_this_run"].value == rows["emails"]
    wh.dispose()


def test_prospects_advance_through_their_lifecycle(first_run: FirstRun, database_url: str) -> None:
    """The county's public lifecycle ends at `scored`; the tenant's `packeted` / `emailed` is derived
    from its own packets and emails (api/v1/property_query.TENANT_STATUS), seen by it alone."""
    from realestate_assets.api.v1.property_query import TENANT_STATUS
    from realestate_assets.db.tenancy import act_as_api

    tenant = first_run.tenant
    assert first_run.result.success
    wh = Warehouse(database_url)
    status = wh.frame(f"SELECT {PUBLIC_STATUS} AS status, count(*) AS n FROM prospects p {PUBLIC_STATUS_JOINS} "
                      "WHERE p.county = 'king_wa' GROUP BY 1").set_index("status")["n"].to_dict()
    assert status == {"scored": 400}
    emailed = wh.scalar("SELECT count(DISTINCT k.prospect_key) FROM emails e JOIN packets k "
                        "ON k.id = ANY(e.packet_ids) "
                        "WHERE e.tenant_id = :t AND e.status = 'sent'", {"t": tenant})
    other = create_tenant(database_url)
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
    try:
        with conn.cursor() as cur:
            for who in (tenant, other):
                cur.execute("INSERT INTO subscriptions (tenant_id, county) VALUES (%s, 'king_wa')", (who,))
            seen = {}
            for who in (tenant, other):
                act_as_api(cur, who)
                cur.execute(f"SELECT {TENANT_STATUS}, count(*) FROM prospects p {PUBLIC_STATUS_JOINS} "
                            "WHERE p.county = 'king_wa' GROUP BY 1")
                seen[who] = dict(cur.fetchall())
                cur.execute("RESET ROLE")
        conn.rollback()
    finally:
        conn.close()
    assert seen[tenant].get("emailed") == emailed > 0
    assert sum(seen[tenant].values()) == 400
    assert seen[other] == {"scored": 400}  # nothing of the first tenant's memos and emails
    wh.dispose()


def test_reasons_on_demand_for_any_prospect(first_run: FirstRun, database_url: str) -> None:
    from typer.testing import CliRunner

    from realestate_assets.cli import app

    pipeline_env, tenant = first_run.deployment, first_run.tenant
    assert first_run.result.success
    wh = Warehouse(database_url)
    unexplained = wh.frame("SELECT prospect_key FROM scores WHERE county = 'king_wa' AND score_breakdown IS NULL "
                           "ORDER BY score_rank DESC LIMIT 1", {"t": tenant})["prospect_key"].iloc[0]
    # The CLI is an entry point: it takes its deployment from the environment, like `make demo`.
    platform = pipeline_env.platform
    cli_env = {"REOS_ENV": "local", "DATABASE_URL": database_url, "REOS_TENANT": tenant,
               "REOS_CONFIG_DIR": platform.config_dir, "REOS_STATE_DIR": platform.state_dir}
    result = CliRunner().invoke(app, ["explain", unexplained, "--county", "king_wa"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert unexplained in result.output and "the estimate by" in result.output
    stored = wh.scalar("SELECT score_breakdown FROM scores WHERE county = 'king_wa' AND prospect_key = :k",
                       {"t": tenant, "k": unexplained})
    assert len(stored["value_factors"]) == 5 and stored["reasons"]
    assert CliRunner().invoke(app, ["explain", "no-such-prospect", "--county", "king_wa"], env=cli_env).exit_code == 1
    wh.dispose()


# After the tests reading `first_run`: these start from empty public tables (make_deployment).
def test_malformed_rows_land_in_rejects_and_the_run_succeeds(database_url: str, tenant: str, tmp_path: Path,
                                                             make_deployment) -> None:
    config = write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=150, malformed=True)
    deployment = make_deployment(config)
    result = materialize_all(deployment, tenant)
    assert result.success
    wh = Warehouse(database_url)
    rejects = wh.frame("SELECT source, source_ref, reason, raw_payload, run_id FROM rejects "
                       "WHERE tenant_id IS NULL AND county = \'king_wa\' ORDER BY id", {"t": tenant})
    reasons = " | ".join(rejects["reason"])
    for expected in ("sale_price: not a number", "parcel_id: missing", "outside the county",
                     "sale_date: in the future", "living_sqft: outside", "duplicate sale_id",
                     "malformed line"):
        assert expected in reasons, (expected, reasons)
    assert len(rejects) == len(MALFORMED_ROWS) + 2
    assert rejects["run_id"].eq(result.run_id).all()
    assert rejects["raw_payload"].notna().all()
    # A re-run replaces the partition's rejects instead of piling them up.
    assert materialize_all(deployment, tenant).success
    assert wh.scalar("SELECT count(*) FROM rejects WHERE tenant_id IS NULL AND county = 'king_wa'") == len(rejects)
    wh.dispose()


def test_suppressed_address_gets_no_email(pipeline_env: Deployment, database_url: str, tenant: str) -> None:
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO suppressions (tenant_id, email, reason, source) "
                    "VALUES (%s, 'avery@example.com', 'unsubscribe', 'test')", (tenant,))
    conn.close()
    result = materialize_all(pipeline_env, tenant)
    assert result.success and all(check_results(result).values())
    wh = Warehouse(database_url)
    recipients = set(wh.frame("SELECT DISTINCT recipient_email FROM emails WHERE tenant_id = :t",
                              {"t": tenant})["recipient_email"])
    assert "avery@example.com" not in recipients
    assert result.asset_materializations_for_node("emails")[0].metadata["suppressed_this_run"].value > 0
    wh.dispose()
