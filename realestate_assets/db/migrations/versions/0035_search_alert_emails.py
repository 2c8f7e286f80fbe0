"""Saved-search alerts by email (issue #11): one row per saved search and property it matched.

* `search_alert_emails`: a property that newly matched a saved search with `alert` on, to be listed
  in the digest emailed to the search's owner. Unique on (search, county, prospect_key), written with
  ON CONFLICT DO NOTHING: a re-run, a rescoring or a second sensor tick never lists a property twice.
  `status` pending → sent (the digest went out, `sent_at`, `message_id`) or skipped (`reason`: the
  owner turned the notification off, the account is inactive or left the tenant); a digest the
  mailer refused stays pending and goes on the next tick. Removed with its saved search.
  Tenant data under row-level security (migration 0007).

Revision ID: 0035
Revises: 0036
Create Date: 2026-12-03
"""

from alembic import op

revision = "0035"
down_revision = "0036"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
COMMENTS = {
    "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
    "tenant_id": "Tenant the saved search belongs to (tenants.id).",
    "search_id": "The saved search the property matched (saved_searches.id).",
    "county": "County of the property (public county data).",
    "prospect_key": "The property (prospects.prospect_key within the county).",
    "status": "pending (waits for the next digest), sent (listed in a digest) or skipped (see reason).",
    "reason": "Why it was not emailed (status skipped): notifications off, account inactive, not a member.",
    "message_id": "Message-ID of the digest email that listed it (status sent).",
    "sent_at": "When the digest listing it was handed to the mailer (UTC).",
    "created_at": "When the row was first written (UTC, set by the database): when the match was found.",
    "updated_at": "When any value of the row last changed (UTC, kept by a trigger).",
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE search_alert_emails (
            id            bigserial PRIMARY KEY,
            tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            search_id     bigint NOT NULL REFERENCES saved_searches (id) ON DELETE CASCADE,
            county        text NOT NULL,
            prospect_key  text NOT NULL,
            status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'skipped')),
            reason        text,
            message_id    text,
            sent_at       timestamptz,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            UNIQUE (search_id, county, prospect_key)
        )
    """)
    op.execute("CREATE TRIGGER search_alert_emails_updated_at BEFORE UPDATE ON search_alert_emails "
               "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
    for column, text in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN search_alert_emails.{column} IS {_quote(text)}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON search_alert_emails TO {API_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE search_alert_emails_id_seq TO {API_ROLE}")
    op.execute("ALTER TABLE search_alert_emails ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE search_alert_emails FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON search_alert_emails TO {API_ROLE} "
               f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")
    scoped = f"coalesce({TENANT}, '') IN ('', tenant_id)"
    op.execute(f"CREATE POLICY owner_access ON search_alert_emails TO CURRENT_USER USING ({scoped}) "
               f"WITH CHECK ({scoped})")
    # The digest step reads what waits: a partial index stays as small as the pending rows.
    op.execute("CREATE INDEX ix_search_alert_emails_pending ON search_alert_emails (search_id) "
               "WHERE status = 'pending'")


def downgrade() -> None:
    op.execute("DROP TABLE search_alert_emails")
