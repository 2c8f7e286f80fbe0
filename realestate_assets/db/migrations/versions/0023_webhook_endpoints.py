"""Outgoing webhooks (issue #11): a tenant's endpoints and every delivery to them.

A tenant admin registers HTTPS endpoints for event types (`deal.new`, `campaign.sent`, `ping`);
events become one `webhook_deliveries` row per endpoint (unique on the event key, so a re-run never
enqueues twice), which a sensor sends, signed per the Standard Webhooks spec, retrying on a
schedule across ticks: a dead endpoint costs one short attempt per due delivery and never blocks a
run. Tenant data under row-level security, like every tenant-owned table (migration 0007).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
STAMPS = """
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
"""
TABLES = {
    "webhook_endpoints": f"""
        id               bigserial PRIMARY KEY,
        tenant_id        text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        url              text NOT NULL,
        description      text NOT NULL DEFAULT '',
        event_types      text[] NOT NULL,
        secret           text NOT NULL,
        is_active        boolean NOT NULL DEFAULT true,
        disabled_reason  text,
        {STAMPS}
    """,
    "webhook_deliveries": f"""
        id               bigserial PRIMARY KEY,
        tenant_id        text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        endpoint_id      bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        message_id       text NOT NULL UNIQUE,
        event_type       text NOT NULL,
        event_key        text NOT NULL,
        payload          jsonb NOT NULL,
        status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts         integer NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz,
        last_status_code integer,
        last_error       text,
        delivered_at     timestamptz,
        {STAMPS},
        UNIQUE (endpoint_id, event_key)
    """,
}
COMMENTS = {
    "webhook_endpoints": {
        "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
        "tenant_id": "Tenant that owns the endpoint (tenants.id).",
        "url": "Where deliveries are POSTed (HTTPS outside a local installation).",
        "description": "What the tenant calls it.",
        "event_types": "Event types it receives (deal.new, campaign.sent, ping).",
        "secret": "Standard Webhooks signing secret (whsec_…); shown once when created.",
        "is_active": "False: no new deliveries are enqueued or sent.",
        "disabled_reason": "Why it was switched off (by its admin, or a 410 Gone from the endpoint).",
    },
    "webhook_deliveries": {
        "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
        "tenant_id": "Tenant that owns the delivery (tenants.id).",
        "endpoint_id": "The endpoint it goes to (webhook_endpoints.id).",
        "message_id": "The webhook-id header: the same on every attempt, so the receiver can de-duplicate.",
        "event_type": "deal.new, campaign.sent or ping.",
        "event_key": "What the event is about (e.g. deal.new:king_wa:<prospect>): one delivery per endpoint and key.",
        "payload": "The JSON body sent: {type, timestamp, data}.",
        "status": "pending (to send or retry), delivered (a 2xx), failed (attempts exhausted or endpoint gone).",
        "attempts": "How many times it was sent.",
        "next_attempt_at": "When it is due next (NULL once delivered or failed).",
        "last_status_code": "HTTP status of the last attempt (NULL: no answer — refused, timed out).",
        "last_error": "What went wrong on the last attempt.",
        "delivered_at": "When a 2xx came back.",
    },
}
STAMP_COMMENTS = {
    "created_at": "When the row was first written (UTC, set by the database).",
    "updated_at": "When any value of the row last changed (UTC, kept by a trigger).",
}


def upgrade() -> None:
    for table, columns in TABLES.items():
        op.execute(f"CREATE TABLE {table} ({columns})")
        op.execute(f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
        for column, text in {**COMMENTS[table], **STAMP_COMMENTS}.items():
            quoted = text.replace("'", "''")
            op.execute(f"COMMENT ON COLUMN {table}.{column} IS '{quoted}'")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {API_ROLE}")
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {table}_id_seq TO {API_ROLE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} TO {API_ROLE} "
                   f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")
        scoped = f"coalesce({TENANT}, '') IN ('', tenant_id)"
        op.execute(f"CREATE POLICY owner_access ON {table} TO CURRENT_USER USING ({scoped}) WITH CHECK ({scoped})")
    op.execute("CREATE INDEX ix_webhook_endpoints_tenant ON webhook_endpoints (tenant_id)")
    op.execute("CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (next_attempt_at) "
               "WHERE status = 'pending'")
    op.execute("CREATE INDEX ix_webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC)")


def downgrade() -> None:
    op.execute("DROP TABLE webhook_deliveries")
    op.execute("DROP TABLE webhook_endpoints")
