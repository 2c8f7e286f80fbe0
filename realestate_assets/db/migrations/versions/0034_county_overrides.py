"""County settings changed at run time (issue #11): `county_overrides`, one row per county holding a
patch of the editable fields of its file (config/counties/<county>.yaml).

The file stays the code; a platform admin changes a few run-time settings through the API
(`PATCH /api/v1/settings/counties/{county}`), and every step applies them where it reads the county
(resources/platform.py `PlatformResource.county`). Which fields may be patched is
`config_models.EDITABLE_COUNTY_FIELDS`; the merged result is validated by the same `CountyConfig`.

Platform-level, not tenant-owned: no tenant_id. The API role reads every row (every tenant sees the
effective configuration of every county) and may write only while the caller is a platform admin
(`app.platform_admin = 'on'`, set by the API from the caller's account, 0007). Row-level security is
enabled, not forced: the pipeline, the table owner, reads it unaffected. `version` counts the row's
writes: a write names the version it was based on and a stale one changes nothing (409). Removing
every field leaves the row with an empty patch, so the version keeps counting.

Revision ID: 0034
Revises: 0032
Create Date: 2026-12-03
"""

from alembic import op

revision = "0034"
down_revision = "0032"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
PLATFORM = "current_setting('app.platform_admin', true) = 'on'"
COMMENTS = {
    "county": "County (config/counties/<county>.yaml stem) whose file the patch applies to.",
    "patch": "Editable fields (dotted paths, e.g. quality.max_reject_rate) and the values that replace the "
             "file's; {} when none is overridden.",
    "version": "Writes of this row so far (1 at the first): a write based on an older version is refused.",
    "reason": "Why the last change was made (given by the platform admin).",
    "updated_by": "Account (users.id) of the platform admin who made the last change; NULL once deleted.",
    "created_at": "When the row was first written (UTC, set by the database).",
    "updated_at": "When any value of the row last changed (UTC, kept by a trigger).",
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE county_overrides (
            county      text PRIMARY KEY,
            patch       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(patch) = 'object'),
            version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
            reason      text NOT NULL,
            updated_by  bigint REFERENCES users (id) ON DELETE SET NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        )
    """)
    op.execute("CREATE TRIGGER county_overrides_updated_at BEFORE UPDATE ON county_overrides "
               "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
    for column, text in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN county_overrides.{column} IS {_quote(text)}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON county_overrides TO {API_ROLE}")
    op.execute("ALTER TABLE county_overrides ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY platform_read ON county_overrides FOR SELECT TO {API_ROLE} USING (true)")
    op.execute(f"CREATE POLICY platform_insert ON county_overrides FOR INSERT TO {API_ROLE} WITH CHECK ({PLATFORM})")
    op.execute(f"CREATE POLICY platform_update ON county_overrides FOR UPDATE TO {API_ROLE} "
               f"USING ({PLATFORM}) WITH CHECK ({PLATFORM})")


def downgrade() -> None:
    op.execute("DROP TABLE county_overrides")
