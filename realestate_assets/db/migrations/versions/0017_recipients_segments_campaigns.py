"""Recipients, segments and campaigns become tenant data (issue #11), under row-level security.

Until now they were `config/recipients.yaml` and `config/campaigns.yaml`, read by every run for
whatever tenant it wrote. Now each tenant keeps its own, edited through the API; the YAML files
stay as the seed of the local demo tenant (`outreach/tenant_data.seed_from_config`).

* `recipients`: who receives investor emails, with their segment fields as in the YAML
  (counties, min_score, property_types, budget_min/max), the campaign types they subscribed to
  and their saved alerts. One row per address (lower case) and tenant.
* `segments`: a named group of recipients (criteria on those fields, JSON validated by the API
  and by the loader with the same model); campaigns target one, or every recipient.
* `campaigns`: key, type, A/B subjects, intro, attachment, max items, categories, link lifetime,
  status (draft, active, paused, archived: only active campaigns send) and the target segment
  (a segment in use cannot be deleted: a campaign must never widen to everyone by accident);
  the last send launched through the API (Dagster run ids, time, Idempotency-Key) for the dashboard's progress.

Every table gets the policies every tenant-owned table has (migration 0007): `tenant_isolation`
for the API role, `owner_access` for the pipeline's table owner, ENABLE + FORCE.

Live updates (the API's WebSocket, `api/live.py`): writes tell listeners on the `reos_live`
channel (NOTIFY, delivered at commit) — an email's state (campaign progress) and a new investor memo
for a tenant (a new deal crossing its threshold). Payloads name the tenant; the API forwards each to
that tenant's sockets only. Identical payloads of one transaction are delivered once (PostgreSQL
folds them), so a run that sends a thousand emails of a campaign notifies once per state.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
STAMPS = """
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
"""
CAMPAIGN_TYPES = "'new_opportunity', 'daily_digest', 'weekly_summary', 'custom_alert'"

TABLES: dict[str, str] = {
    "recipients": f"""
        id              bigserial PRIMARY KEY,
        tenant_id       text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        email           text NOT NULL CHECK (email = lower(email) AND length(email) <= 320),
        counties        text[] NOT NULL DEFAULT '{{}}',
        min_score       double precision NOT NULL DEFAULT 75 CHECK (min_score BETWEEN 0 AND 100),
        property_types  text[] NOT NULL DEFAULT '{{}}',
        budget_min      double precision CHECK (budget_min >= 0),
        budget_max      double precision CHECK (budget_max > 0),
        campaigns       text[] NOT NULL DEFAULT '{{new_opportunity}}'
                        CHECK (campaigns <@ ARRAY[{CAMPAIGN_TYPES}]),
        alerts          jsonb NOT NULL DEFAULT '[]',
        {STAMPS},
        UNIQUE (tenant_id, email),
        CHECK (budget_min IS NULL OR budget_max IS NULL OR budget_min <= budget_max)
    """,
    "segments": f"""
        id          bigserial PRIMARY KEY,
        tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        criteria    jsonb NOT NULL DEFAULT '{{}}',
        {STAMPS},
        UNIQUE (tenant_id, name)
    """,
    "campaigns": f"""
        id              bigserial PRIMARY KEY,
        tenant_id       text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        key             text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]*$' AND length(key) <= 100),
        type            text NOT NULL CHECK (type IN ({CAMPAIGN_TYPES})),
        subjects        text[] NOT NULL CHECK (cardinality(subjects) BETWEEN 1 AND 4),
        intro           text NOT NULL DEFAULT '',
        attach_pdf      boolean NOT NULL DEFAULT true,
        max_items       integer NOT NULL DEFAULT 10 CHECK (max_items BETWEEN 1 AND 100),
        categories      text[] NOT NULL DEFAULT '{{}}',
        link_ttl_days   double precision NOT NULL DEFAULT 14 CHECK (link_ttl_days > 0 AND link_ttl_days <= 366),
        status          text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'paused', 'archived')),
        segment_id      bigint REFERENCES segments (id) ON DELETE RESTRICT,
        last_send_run_ids  text[] NOT NULL DEFAULT '{{}}',
        last_send_at       timestamptz,
        last_send_idempotency_key  text,
        {STAMPS},
        UNIQUE (tenant_id, key)
    """,
}

COMMENTS: dict[str, dict[str, str]] = {
    "recipients": {
        "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
        "tenant_id": "Tenant whose recipient this is (tenants.id).",
        "name": "Recipient's name as greeted in emails ({first_name}, {name}).",
        "email": "Recipient's address, lower case, unique per tenant (a re-import updates the row).",
        "counties": "County keys the recipient wants properties in; empty means every county.",
        "min_score": "Lowest bird_dog_score (0-100) the recipient wants to hear about.",
        "property_types": "County use types the recipient wants (e.g. sfr); empty means all.",
        "budget_min": "Lowest estimated value (USD) the recipient wants; NULL: no lower bound.",
        "budget_max": "Highest estimated value (USD) the recipient wants; NULL: no upper bound.",
        "campaigns": "Campaign types the recipient subscribed to (new_opportunity, daily_digest, ...).",
        "alerts": "Saved alerts: JSON list of {name, criteria} (config_models.SavedAlert).",
    },
    "segments": {
        "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
        "tenant_id": "Tenant the segment belongs to (tenants.id).",
        "name": "The segment's name, unique per tenant (1-200 characters).",
        "criteria": "Which recipients belong: JSON of config_models.SegmentCriteria (counties, types, ...).",
    },
    "campaigns": {
        "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
        "tenant_id": "Tenant running the campaign (tenants.id).",
        "key": "Campaign key, unique per tenant; recorded on every email (emails.campaign).",
        "type": "new_opportunity, daily_digest, weekly_summary or custom_alert (decides template and pacing).",
        "subjects": "Subject lines, 1-4 A/B variants; the variant sent is recorded per email.",
        "intro": "First paragraph of the email (personalization tokens allowed).",
        "attach_pdf": "Attach the memo (or portfolio overview) PDF to the email.",
        "max_items": "Properties listed at most in one digest or summary (1-100).",
        "categories": "Provider categories (SendGrid) for the campaign's emails.",
        "link_ttl_days": "How long the memo links in the campaign's emails keep working (days).",
        "status": "draft (not sent), active (sent by each emails run), paused or archived.",
        "segment_id": "Recipients targeted (segments.id); NULL: every recipient of the tenant.",
        "last_send_run_ids": "Dagster run ids of the last send launched through the API (one per county).",
        "last_send_at": "When the last send was launched through the API (UTC).",
        "last_send_idempotency_key": "Idempotency-Key of that send: the same key again launches nothing.",
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
    op.execute("CREATE INDEX ix_campaigns_segment ON campaigns (segment_id)")
    # The campaigns list counts emails per campaign key across counties.
    op.execute("CREATE INDEX ix_emails_tenant_campaign ON emails (tenant_id, campaign)")
    _live_triggers()


LIVE_FUNCTIONS = {
    "reos_live_email": """json_build_object('tenant', NEW.tenant_id, 'kind', 'campaign_progress',
                                            'campaign', NEW.campaign, 'county', NEW.county,
                                            'status', NEW.status)""",
    "reos_live_packet": """json_build_object('tenant', NEW.tenant_id, 'kind', 'new_deal', 'county', NEW.county,
                                             'prospect_key', NEW.prospect_key,
                                             'bird_dog_score', NEW.bird_dog_score)""",
}


def _live_triggers() -> None:
    for function, payload in LIVE_FUNCTIONS.items():
        op.execute(f"""
            CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('reos_live', ({payload})::text);
                RETURN NULL;
            END $$
        """)
    op.execute("CREATE TRIGGER emails_live AFTER INSERT OR UPDATE OF status ON emails "
               "FOR EACH ROW EXECUTE FUNCTION reos_live_email()")
    # A memo made for the first time: the property crossed the tenant's packet threshold.
    op.execute("CREATE TRIGGER packets_live AFTER INSERT ON packets FOR EACH ROW "
               "WHEN (NEW.template = 'investor_memo') EXECUTE FUNCTION reos_live_packet()")


def downgrade() -> None:
    op.execute("DROP TRIGGER packets_live ON packets")
    op.execute("DROP TRIGGER emails_live ON emails")
    for function in LIVE_FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}()")
    op.execute("DROP INDEX ix_emails_tenant_campaign")
    for table in reversed(list(TABLES)):
        op.execute(f"DROP TABLE {table}")
