"""Notes on properties and saved searches: tenant data (issue #11), under row-level security.

* `notes`: what a tenant's people write about a property. A note names the property by its
  natural key (county, prospect_key), not by `prospects.id`, so it survives the public tables
  being rebuilt; the author is kept as text too, so a note outlives its author's account.
* `saved_searches`: a user's named property filters (the list route's query parameters, stored
  as JSON and re-validated on use), with an `alert` flag for the alerts that will run on them.

Both get the policies every tenant-owned table has (migration 0007): `tenant_isolation` for the
API role, `owner_access` for the pipeline's table owner, ENABLE + FORCE.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
STAMPS = """
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
"""

TABLES: dict[str, str] = {
    "notes": f"""
        id            bigserial PRIMARY KEY,
        tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        county        text NOT NULL,
        prospect_key  text NOT NULL,
        user_id       bigint REFERENCES users (id) ON DELETE SET NULL,
        author        text NOT NULL,
        body          text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
        {STAMPS}
    """,
    "saved_searches": f"""
        id          bigserial PRIMARY KEY,
        tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        filters     jsonb NOT NULL,
        alert       boolean NOT NULL DEFAULT false,
        {STAMPS},
        UNIQUE (tenant_id, user_id, name)
    """,
}

COMMENTS: dict[str, dict[str, str]] = {
    "notes": {
        "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
        "tenant_id": "Tenant whose people wrote the note (tenants.id).",
        "county": "County partition key of the property the note is about.",
        "prospect_key": "The property's key within its county (prospects.prospect_key).",
        "user_id": "Author's account (users.id); NULL once that account is deleted.",
        "author": "Who wrote the note (email or API key prefix), kept when the account goes.",
        "body": "The note's text (1–10,000 characters), shown as plain text.",
    },
    "saved_searches": {
        "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
        "tenant_id": "Tenant the search belongs to (tenants.id).",
        "user_id": "User who saved the search (users.id).",
        "name": "The search's name, unique per user (1–200 characters).",
        "filters": "The property list's filters and sort (GET /api/v1/properties query), as JSON.",
        "alert": "Tell the user when a new property matches (the alert runs are a later step).",
    },
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def upgrade() -> None:
    for table, columns in TABLES.items():
        op.execute(f"CREATE TABLE {table} ({columns})")
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
        for column, description in {**COMMENTS[table],
                                    "created_at": "When the row was first written (UTC, set by the database).",
                                    "updated_at": "When any value of the row last changed (UTC, kept by a trigger)."
                                    }.items():
            op.execute(f'COMMENT ON COLUMN "{table}"."{column}" IS {_quote(description)}')
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {API_ROLE}")
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {table}_id_seq TO {API_ROLE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} TO {API_ROLE} "
                   f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")
        scoped = f"coalesce({TENANT}, '') IN ('', tenant_id)"
        op.execute(f"CREATE POLICY owner_access ON {table} TO CURRENT_USER USING ({scoped}) WITH CHECK ({scoped})")
    op.execute("CREATE INDEX ix_notes_property ON notes (tenant_id, county, prospect_key, created_at)")
    op.execute("CREATE INDEX ix_saved_searches_user ON saved_searches (tenant_id, user_id)")


def downgrade() -> None:
    for table in reversed(list(TABLES)):
        op.execute(f"DROP TABLE {table}")
