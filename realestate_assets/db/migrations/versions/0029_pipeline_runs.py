"""Run history in the warehouse (issue #11): `pipeline_runs`, one row per finished run and asset.

A Dagster run-status sensor (sensors/run_history.py) records every finished run's assets: county
(partition), step outcome, start, end, duration and the rows the step wrote. The API's pipeline
analytics read it (`GET /api/v1/analytics/pipeline`), so the API needs no Dagster to answer.

Public county data, like the assets it describes (DESIGN §9): no tenant_id; the API reads the rows
of the counties the tenant follows (policy `county_subscribed`, the condition of 0008), SELECT
only; the pipeline, the table owner, writes (ENABLE, not FORCE, row-level security).

Live updates: the rows a statement adds notify `reos_live` once per run and tenant following its
county (`run_finished`, api/live.py forwards it to that tenant's sockets). The sensor inserts with
ON CONFLICT DO NOTHING, so a re-evaluated tick adds no row and notifies nobody twice.

Revision ID: 0029
Revises: 0025
Create Date: 2026-12-03
"""

from alembic import op

revision = "0029"
down_revision = "0027"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
SUBSCRIBED = ("county = ANY (ARRAY(SELECT s.county FROM subscriptions s "
              "WHERE s.tenant_id = current_setting('app.tenant_id', true)))")
COMMENTS = {
    "run_id": "Dagster run id.",
    "asset": "Asset the step materialized (or tried to), e.g. prospects.",
    "county": "County partition of the run (config/counties/<county>.yaml stem); NULL for an unpartitioned run.",
    "job_name": "Dagster job of the run (__ASSET_JOB for automation and ad-hoc materializations).",
    "run_status": "How the whole run ended: success, failure or canceled.",
    "status": "How this asset's step ended: success, failure, canceled (started, never ended) or skipped "
              "(never started).",
    "started_at": "When the step started (the run's start when the step never did).",
    "ended_at": "When the step ended (the run's end when the step never did).",
    "duration_s": "Step duration in seconds (ended_at - started_at).",
    "row_count": "Rows the materialization reported (dagster/row_count); NULL when it reported none.",
    "recorded_at": "When the sensor recorded the row.",
}


def upgrade() -> None:
    op.execute("""
        CREATE TABLE pipeline_runs (
            run_id      text NOT NULL,
            asset       text NOT NULL,
            county      text,
            job_name    text NOT NULL,
            run_status  text NOT NULL CHECK (run_status IN ('success', 'failure', 'canceled')),
            status      text NOT NULL CHECK (status IN ('success', 'failure', 'canceled', 'skipped')),
            started_at  timestamptz NOT NULL,
            ended_at    timestamptz NOT NULL,
            duration_s  double precision NOT NULL,
            row_count   bigint,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (run_id, asset)
        )
    """)
    # The pipeline analytics read a county's recent rows, newest first.
    op.execute("CREATE INDEX ix_pipeline_runs_county_ended ON pipeline_runs (county, ended_at DESC)")
    for column, text in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN pipeline_runs.{column} IS '{text.replace(chr(39), chr(39) * 2)}'")
    op.execute(f"GRANT SELECT ON pipeline_runs TO {API_ROLE}")
    op.execute("ALTER TABLE pipeline_runs ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY county_subscribed ON pipeline_runs FOR SELECT TO {API_ROLE} USING ({SUBSCRIBED})")
    # One event per run and following tenant, whatever the number of assets: a statement-level
    # trigger sees the statement's new rows together. It reads `subscriptions` as the writer (the
    # pipeline, no app.tenant_id: every tenant's rows, policy owner_access of 0007).
    op.execute("""
        CREATE FUNCTION reos_live_run() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            event record;
        BEGIN
            FOR event IN
                SELECT s.tenant_id, a.run_id, a.county, min(a.job_name) AS job_name,
                       min(a.run_status) AS status, max(a.ended_at) AS ended_at,
                       json_agg(a.asset ORDER BY a.asset) AS assets
                FROM added a JOIN subscriptions s ON s.county = a.county
                GROUP BY s.tenant_id, a.run_id, a.county
            LOOP
                PERFORM pg_notify('reos_live', json_build_object(
                    'tenant', event.tenant_id, 'kind', 'run_finished', 'run_id', event.run_id,
                    'county', event.county, 'job', event.job_name, 'status', event.status,
                    'assets', event.assets, 'ended_at', event.ended_at)::text);
            END LOOP;
            RETURN NULL;
        END $$
    """)
    op.execute("CREATE TRIGGER pipeline_runs_live AFTER INSERT ON pipeline_runs REFERENCING NEW TABLE AS added "
               "FOR EACH STATEMENT EXECUTE FUNCTION reos_live_run()")


def downgrade() -> None:
    op.execute("DROP TRIGGER pipeline_runs_live ON pipeline_runs")
    op.execute("DROP FUNCTION reos_live_run()")
    op.execute("DROP TABLE pipeline_runs")
