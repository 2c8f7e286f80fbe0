"""The code-location reload a county's change asked for (issue #11): `county_reloads`.

A PATCH of a county's run-time settings that moves the asset freshness policies (its discovery
cron, time zone, active or not) no longer waits for Dagster to reload the code location (11–30 s):
it records here, in the change's own transaction, that the change waits to be loaded (`pending`),
and the API process reloads in the background (api/code_reloads.py), writing what became of it
(`running`, then `loaded` or `failed`, with when and why). Any API process reads the same row, so
`GET /settings/counties` tells the truth whichever process answers.

One row per county (the latest change that asked): platform-level like `county_overrides`, whose
row it follows (removed with it). The API role reads every row and writes only while the caller
is a platform admin (`app.platform_admin = 'on'`); the background reload writes as the owner.

Revision ID: 0053
Revises: 0052
Create Date: 2026-12-05
"""

from alembic import op

revision = "0053"
down_revision = "0052"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
PLATFORM = "current_setting('app.platform_admin', true) = 'on'"
COMMENTS = {
    "county": "County (county_overrides.county) whose change asked Dagster to reload the code location.",
    "version": "county_overrides.version of the change that asked; a later change of the county asks again.",
    "state": "pending (committed, no reload started since), running (a reload that started after the change is "
             "under way), loaded (Dagster loaded the code location with it), failed (the reload did not complete).",
    "detail": "What Dagster answered (the location loaded, or why not); NULL while pending.",
    "requested_at": "When the change asked for the reload (UTC, its transaction's time).",
    "started_at": "When the reload that loads the change started (UTC); NULL while pending.",
    "finished_at": "When that reload ended, loaded or failed (UTC); NULL until then.",
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE county_reloads (
            county        text PRIMARY KEY REFERENCES county_overrides (county) ON DELETE CASCADE,
            version       integer NOT NULL CHECK (version >= 1),
            state         text NOT NULL DEFAULT 'pending'
                          CHECK (state IN ('pending', 'running', 'loaded', 'failed')),
            detail        text,
            requested_at  timestamptz NOT NULL DEFAULT now(),
            started_at    timestamptz,
            finished_at   timestamptz
        )
    """)
    # The background reload takes every change not yet loaded.
    op.execute("CREATE INDEX county_reloads_unloaded ON county_reloads (state) WHERE state <> 'loaded'")
    for column, text in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN county_reloads.{column} IS {_quote(text)}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON county_reloads TO {API_ROLE}")
    op.execute("ALTER TABLE county_reloads ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY platform_read ON county_reloads FOR SELECT TO {API_ROLE} USING (true)")
    op.execute(f"CREATE POLICY platform_insert ON county_reloads FOR INSERT TO {API_ROLE} WITH CHECK ({PLATFORM})")
    op.execute(f"CREATE POLICY platform_update ON county_reloads FOR UPDATE TO {API_ROLE} "
               f"USING ({PLATFORM}) WITH CHECK ({PLATFORM})")


def downgrade() -> None:
    op.execute("DROP TABLE county_reloads")
