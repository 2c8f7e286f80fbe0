"""`email_packets`: a row per (email, packet it lists), so "has the tenant emailed this property"
is an index lookup for the API role too (issue 11, docs/api.md "Under load", TENANT_STATUS).

`emails.packet_ids` (0011) holds the packets an email lists. The API's `emailed` test asked
`k.id = ANY (m.packet_ids)`: no index serves that, so it read every sent email of the tenant
(23.4 ms with 20,000 of them). A GIN index on the array does not help the API role: under
row-level security only leakproof operators may run before the policy's filter, and the array
operators (`@>`, `&&`) are not leakproof. A junction table is probed by `int8eq`, which is.

* `email_packets (tenant_id, email_id, packet_id)`, primary key (email_id, packet_id), a btree on
  (packet_id): the status check goes packet → its emails → the email's status (emails' primary key).
  A row follows its email and its packet (ON DELETE CASCADE: an email deleted, a packet deleted);
  a tenant's rows are removed with its other data by `reos tenant delete` (children first along the
  foreign keys, accounts/store.delete_tenant, so this table goes before emails and packets).
* Written by the database, with the email, in its statement: `reos_email_packets_write()` is the
  one function that writes it, an AFTER INSERT trigger on `emails` reading the statement's inserted
  rows (an `INSERT … ON CONFLICT DO NOTHING` that skipped an existing email lists nothing again),
  itself `ON CONFLICT DO NOTHING`, and a row trigger that follows an UPDATE of `packet_ids` or
  `tenant_id` (no code does either today). Every writer of emails — the pipeline's delivery
  (outreach/delivery.Deliverer._claim: the emails step, digests, alerts), a seed, a restore — keeps
  it without knowing it; the trigger runs as the writer, so row-level security applies to it as
  to the email.
* Tenant data: row-level security forced, the policies and grants every tenant-owned table has
  (0007); the response cache's triggers (0037), since the list and the detail read it.
* Backfilled from `emails.packet_ids` (packet ids with no packets row are skipped: they cannot be
  joined to a property anyway).

`emails.packet_ids` stays: it is the email's own record, in the order the email lists them
(outreach/campaigns.py reads it back to plan the next digests).

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-04
"""

from alembic import op

revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
# Read by tests/api/test_response_cache.py beside 0037's list: the cached routes read this table.
DEPENDENCIES = {"email_packets": ("tenant_id", "t:")}
COMMENTS = {
    "tenant_id": "Tenant the email belongs to (tenants.id; the email's own tenant_id).",
    "email_id": "The email (emails.id).",
    "packet_id": "A packet the email lists (packets.id): one of emails.packet_ids, written with it by a trigger.",
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE email_packets (
            tenant_id  text NOT NULL REFERENCES tenants (id),
            email_id   bigint NOT NULL REFERENCES emails (id) ON DELETE CASCADE,
            packet_id  bigint NOT NULL REFERENCES packets (id) ON DELETE CASCADE,
            PRIMARY KEY (email_id, packet_id)
        )
    """)
    op.execute("CREATE INDEX ix_email_packets_packet ON email_packets (packet_id)")
    op.execute("COMMENT ON TABLE email_packets IS "
               + _quote("The packets each email lists, a row per (email, packet): emails.packet_ids as rows, "
                        "kept by triggers on emails (migration 0051)."))
    for column, text in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN email_packets.{column} IS {_quote(text)}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON email_packets TO {API_ROLE}")
    op.execute("ALTER TABLE email_packets ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE email_packets FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON email_packets TO {API_ROLE} "
               f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")
    scoped = f"coalesce({TENANT}, '') IN ('', tenant_id)"
    op.execute(f"CREATE POLICY owner_access ON email_packets TO CURRENT_USER USING ({scoped}) WITH CHECK ({scoped})")

    # The one writer. Statement level: a batch of 1,000 digests is one INSERT … SELECT here.
    op.execute("""
        CREATE FUNCTION reos_email_packets_write() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                DELETE FROM email_packets WHERE email_id = NEW.id;
                INSERT INTO email_packets (tenant_id, email_id, packet_id)
                SELECT DISTINCT NEW.tenant_id, NEW.id, p FROM unnest(NEW.packet_ids) AS p
                ON CONFLICT DO NOTHING;
            ELSE
                INSERT INTO email_packets (tenant_id, email_id, packet_id)
                SELECT DISTINCT e.tenant_id, e.id, p FROM new_rows e, unnest(e.packet_ids) AS p
                ON CONFLICT DO NOTHING;
            END IF;
            RETURN NULL;
        END $$
    """)
    op.execute("CREATE TRIGGER emails_packets_ins AFTER INSERT ON emails REFERENCING NEW TABLE AS new_rows "
               "FOR EACH STATEMENT EXECUTE FUNCTION reos_email_packets_write()")
    op.execute("CREATE TRIGGER emails_packets_upd AFTER UPDATE OF packet_ids, tenant_id ON emails FOR EACH ROW "
               "WHEN (OLD.packet_ids IS DISTINCT FROM NEW.packet_ids OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id) "
               "EXECUTE FUNCTION reos_email_packets_write()")

    # The response cache's bumps (0037's functions): the list and the detail read this table.
    for table, (column, prefix) in DEPENDENCIES.items():
        args = f"'{column}', '{prefix}'"
        op.execute(f"CREATE TRIGGER {table}_cache_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION reos_cache_bump_rows({args})")
        op.execute(f"CREATE TRIGGER {table}_cache_upd AFTER UPDATE ON {table} "
                   "REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION reos_cache_bump_rows({args})")
        op.execute(f"CREATE TRIGGER {table}_cache_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION reos_cache_bump_rows({args})")
        op.execute(f"CREATE TRIGGER {table}_cache_truncate AFTER TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION reos_cache_bump_all()")

    # Backfill, as the owner with no tenant set (every row; a superuser skips RLS anyway).
    op.execute("""
        INSERT INTO email_packets (tenant_id, email_id, packet_id)
        SELECT DISTINCT e.tenant_id, e.id, p FROM emails e, unnest(e.packet_ids) AS p
        WHERE EXISTS (SELECT 1 FROM packets k WHERE k.id = p)
        ON CONFLICT DO NOTHING
    """)
    op.execute("ANALYZE email_packets")


def downgrade() -> None:
    op.execute("DROP TRIGGER emails_packets_upd ON emails")
    op.execute("DROP TRIGGER emails_packets_ins ON emails")
    op.execute("DROP FUNCTION reos_email_packets_write()")
    op.execute("DROP TABLE email_packets")
