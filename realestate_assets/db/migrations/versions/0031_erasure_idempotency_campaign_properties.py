"""Erasing a recipient, idempotent POSTs, and campaigns that list chosen properties (issues #11, #12).

* `suppression_hash(tenant, email)`: the one definition of a suppression's key — SHA-256 of the
  tenant id (the salt: the same address hashes differently in every tenant) and the address,
  trimmed and lower case, under a version tag. Every suppression carries it (`email_hash`, set by
  a trigger from the address), and every "is this address suppressed" question compares hashes,
  so a recipient erased on request (`POST /recipients/{id}/erase`: name and address removed
  everywhere, `email` NULL here) stays suppressed: a later import or send of the same address
  hashes to the same key. Not unique: an erased row and a later opt-out of the same address may
  both exist, and either suppresses.
* `idempotency_keys`: the response of a POST sent with an `Idempotency-Key` header (IETF
  draft-ietf-httpapi-idempotency-key-header), per tenant and key, with a hash of the request
  (method, path, body), so a retry gets the first answer and a reuse of the key for another
  request is refused. Kept 24 hours (`api/v1/idempotency.py`).
* `campaign_properties`: the properties a campaign lists (the Properties screen's "Add to
  campaign"): a campaign with rows here sends those properties only; without any, every property
  of its recipients' segments, as before.

Revision ID: 0031
Revises: 0025
Create Date: 2026-12-03
"""

from alembic import op

revision = "0031"
down_revision = "0029"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
STAMPS = """
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
"""
TABLES = {
    "idempotency_keys": f"""
        id            bigserial PRIMARY KEY,
        tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
        request_hash  text NOT NULL,
        method        text NOT NULL,
        path          text NOT NULL,
        status_code   integer,
        response_body bytea,
        content_type  text,
        {STAMPS},
        UNIQUE (tenant_id, key)
    """,
    "campaign_properties": f"""
        id            bigserial PRIMARY KEY,
        tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        campaign_id   bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
        county        text NOT NULL,
        prospect_key  text NOT NULL,
        added_by      text NOT NULL,
        {STAMPS},
        UNIQUE (campaign_id, county, prospect_key)
    """,
}
COMMENTS = {
    "idempotency_keys": {
        "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
        "tenant_id": "Tenant whose request it was (tenants.id).",
        "key": "The Idempotency-Key header the client sent (unique per tenant).",
        "request_hash": "SHA-256 of method, path, query and body: the same key with another request is refused.",
        "method": "HTTP method of the first request (POST).",
        "path": "Path of the first request.",
        "status_code": "Status of the first answer; NULL while the first request is still being answered.",
        "response_body": "Body of the first answer, replayed to a retry.",
        "content_type": "Content-Type of the first answer.",
    },
    "campaign_properties": {
        "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
        "tenant_id": "Tenant running the campaign (tenants.id).",
        "campaign_id": "The campaign (campaigns.id) that lists the property.",
        "county": "County of the property (prospects.county).",
        "prospect_key": "The property (prospects.prospect_key) within its county.",
        "added_by": "Who added it (the user's email or the API key's name).",
    },
}
STAMP_COMMENTS = {
    "created_at": "When the row was first written (UTC, set by the database).",
    "updated_at": "When any value of the row last changed (UTC, kept by a trigger).",
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION suppression_hash(tenant text, email text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
            SELECT encode(sha256(convert_to('reos-suppression:v1:' || tenant || ':' || lower(btrim(email)), 'UTF8')),
                          'hex')
        $$
    """)
    op.execute(f"GRANT EXECUTE ON FUNCTION suppression_hash(text, text) TO {API_ROLE}")
    op.execute("ALTER TABLE suppressions ALTER COLUMN email DROP NOT NULL")
    op.execute("ALTER TABLE suppressions ADD COLUMN email_hash text")
    op.execute("UPDATE suppressions SET email_hash = suppression_hash(tenant_id, email)")
    op.execute("ALTER TABLE suppressions ALTER COLUMN email_hash SET NOT NULL")
    op.execute("""
        CREATE FUNCTION suppressions_hash_email() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.email IS NOT NULL THEN
                NEW.email_hash := suppression_hash(NEW.tenant_id, NEW.email);
            END IF;
            RETURN NEW;
        END $$
    """)
    op.execute("CREATE TRIGGER suppressions_hash_email BEFORE INSERT OR UPDATE ON suppressions "
               "FOR EACH ROW EXECUTE FUNCTION suppressions_hash_email()")
    op.execute("CREATE INDEX ix_suppressions_hash ON suppressions (tenant_id, email_hash)")
    op.execute("COMMENT ON COLUMN suppressions.email_hash IS "
               + _quote("suppression_hash(tenant_id, email): what every suppression check compares; kept when "
                        "the address is erased (email NULL), so the address stays suppressed."))
    op.execute("COMMENT ON COLUMN suppressions.email IS "
               + _quote("Suppressed address, lower case; NULL once erased on request (email_hash remains)."))
    for table, columns in TABLES.items():
        op.execute(f"CREATE TABLE {table} ({columns})")
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
        for column, text in {**COMMENTS[table], **STAMP_COMMENTS}.items():
            op.execute(f"COMMENT ON COLUMN {table}.{column} IS {_quote(text)}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {API_ROLE}")
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {table}_id_seq TO {API_ROLE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} TO {API_ROLE} "
                   f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")
        scoped = f"coalesce({TENANT}, '') IN ('', tenant_id)"
        op.execute(f"CREATE POLICY owner_access ON {table} TO CURRENT_USER USING ({scoped}) WITH CHECK ({scoped})")
    op.execute("CREATE INDEX ix_idempotency_keys_created ON idempotency_keys (created_at)")


def downgrade() -> None:
    for table in reversed(list(TABLES)):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP TRIGGER suppressions_hash_email ON suppressions")
    op.execute("DROP FUNCTION suppressions_hash_email()")
    op.execute("DROP INDEX ix_suppressions_hash")
    op.execute("DELETE FROM suppressions WHERE email IS NULL")
    op.execute("ALTER TABLE suppressions DROP COLUMN email_hash")
    op.execute("ALTER TABLE suppressions ALTER COLUMN email SET NOT NULL")
    op.execute("DROP FUNCTION suppression_hash(text, text)")
