"""Settings (issue #11): a tenant's branding, sender and feature flags; a person's profile and
notification preferences; a platform admin's manual model activation.

* `tenant_settings`: one row per tenant (tenant admin edits it through /api/v1/tenant/settings).
  NULL columns keep the installation's `config/recipients.yaml` sender; set ones replace it in
  the tenant's memos and emails (`outreach/tenant_data.load_tenant_outreach`, the one loader).
  Tenant data under row-level security, like every tenant-owned table (migration 0007).
* `users` gains `display_name` and `notification_preferences`: an account's own, whatever tenant
  it acts in (the API updates only the caller's row).
* `ml_models` stays public county data read per subscribed county (0014); a platform admin (the
  only one who may change what every follower of a county uses) also sees every county's models
  and may switch the active version: UPDATE of `is_active`, `status` and `promotion` only.

Revision ID: 0028
Revises: 0025
Create Date: 2026-12-03
"""

from alembic import op

revision = "0028"
down_revision = "0030"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
PLATFORM = "current_setting('app.platform_admin', true) = 'on'"
COLUMNS = """
    tenant_id       text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    display_name    text,
    brand_color     text CHECK (brand_color ~ '^#[0-9a-fA-F]{6}$'),
    logo_url        text,
    tagline         text,
    from_name       text,
    from_email      text,
    reply_to        text,
    postal_address  text,
    feature_flags   jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
"""
COMMENTS = {
    "tenant_settings": {
        "tenant_id": "Tenant the settings belong to (tenants.id).",
        "display_name": "Company name on the tenant's memos and emails (NULL: the installation's).",
        "brand_color": "Accent colour #rrggbb of memos and emails (NULL: the installation's).",
        "logo_url": "HTTPS address of the logo shown in the email header (NULL: none).",
        "tagline": "Line under the company name (NULL: the installation's).",
        "from_name": "Sender name of campaign email (NULL: the installation's).",
        "from_email": "Sender address of campaign email (NULL: the installation's).",
        "reply_to": "Where replies go (NULL: the installation's, else the sender address).",
        "postal_address": "CAN-SPAM physical postal address in every email footer (NULL: the installation's).",
        "feature_flags": "Feature switches of the tenant {name: bool}; absent names take their default.",
        "created_at": "When the row was first written (UTC, set by the database).",
        "updated_at": "When any value of the row last changed (UTC, kept by a trigger).",
    },
    "users": {
        "display_name": "How the person is named in the dashboard (NULL: their email).",
        "notification_preferences": "Which notifications the person wants {name: bool}; absent names default on.",
    },
}


def _comment(table: str, column: str, text: str) -> None:
    quoted = text.replace("'", "''")
    op.execute(f"COMMENT ON COLUMN {table}.{column} IS '{quoted}'")


def upgrade() -> None:
    op.execute(f"CREATE TABLE tenant_settings ({COLUMNS})")
    op.execute("CREATE TRIGGER tenant_settings_updated_at BEFORE UPDATE ON tenant_settings "
               "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_settings TO {API_ROLE}")
    op.execute("ALTER TABLE tenant_settings ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE tenant_settings FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON tenant_settings TO {API_ROLE} "
               f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")
    scoped = f"coalesce({TENANT}, '') IN ('', tenant_id)"
    op.execute(f"CREATE POLICY owner_access ON tenant_settings TO CURRENT_USER USING ({scoped}) WITH CHECK ({scoped})")

    op.execute("ALTER TABLE users ADD COLUMN display_name text")
    op.execute("ALTER TABLE users ADD COLUMN notification_preferences jsonb NOT NULL DEFAULT '{}'")
    for table, columns in COMMENTS.items():
        for column, text in columns.items():
            _comment(table, column, text)

    op.execute(f"CREATE POLICY platform_read ON ml_models FOR SELECT TO {API_ROLE} USING ({PLATFORM})")
    op.execute(f"CREATE POLICY platform_activate ON ml_models FOR UPDATE TO {API_ROLE} "
               f"USING ({PLATFORM}) WITH CHECK ({PLATFORM})")
    op.execute(f"GRANT UPDATE (is_active, status, promotion, updated_at) ON ml_models TO {API_ROLE}")


def downgrade() -> None:
    op.execute(f"REVOKE UPDATE (is_active, status, promotion, updated_at) ON ml_models FROM {API_ROLE}")
    op.execute("DROP POLICY platform_activate ON ml_models")
    op.execute("DROP POLICY platform_read ON ml_models")
    op.execute("ALTER TABLE users DROP COLUMN notification_preferences")
    op.execute("ALTER TABLE users DROP COLUMN display_name")
    op.execute("DROP TABLE tenant_settings")
