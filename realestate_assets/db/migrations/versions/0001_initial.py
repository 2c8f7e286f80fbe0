"""Initial warehouse: the six asset tables, sales, the model registry and the platform tables.

Every business table carries `tenant_id` (the multi-tenant API filters on it) and `county`
(the Dagster partition), a natural key unique per tenant and county, and `created_at` /
`updated_at` maintained by a trigger.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Columns every business table starts with.
COMMON = """
    tenant_id   text NOT NULL DEFAULT 'default' REFERENCES tenants (id),
    county      text NOT NULL,
"""
STAMPS = """
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
"""

TABLES: dict[str, str] = {
    "tenants": f"""
        id    text PRIMARY KEY,
        name  text NOT NULL,
        {STAMPS}
    """,
    "users": f"""
        id             bigserial PRIMARY KEY,
        tenant_id      text NOT NULL REFERENCES tenants (id),
        email          text NOT NULL,
        password_hash  text,
        role           text NOT NULL DEFAULT 'investor'
                       CHECK (role IN ('admin', 'analyst', 'investor')),
        is_active      boolean NOT NULL DEFAULT true,
        {STAMPS},
        UNIQUE (tenant_id, email)
    """,
    "audit_log": f"""
        id          bigserial PRIMARY KEY,
        tenant_id   text NOT NULL REFERENCES tenants (id),
        actor       text NOT NULL,
        action      text NOT NULL,
        entity      text NOT NULL,
        entity_key  text,
        details     jsonb NOT NULL DEFAULT '{{}}',
        {STAMPS}
    """,
    "sales": f"""
        id               bigserial PRIMARY KEY,
        {COMMON}
        source           text NOT NULL,
        sale_id          text NOT NULL,
        parcel_id        text NOT NULL,
        sale_price       numeric(14, 2) NOT NULL CHECK (sale_price > 0),
        sale_date        date NOT NULL,
        use_type         text,
        neighborhood     text,
        lot_sqft         double precision,
        waterfront       boolean,
        bldg_grade       double precision,
        living_sqft      double precision,
        beds             double precision,
        baths            double precision,
        age_at_sale      double precision,
        eff_age_at_sale  double precision,
        latitude         double precision,
        longitude        double precision,
        address          text,
        city             text,
        state            text,
        zip              text,
        source_ref       text,
        {STAMPS},
        UNIQUE (tenant_id, county, source, sale_id)
    """,
    "prospects": f"""
        id             bigserial PRIMARY KEY,
        {COMMON}
        prospect_key   text NOT NULL,
        parcel_id      text,
        address        text,
        city           text,
        state          text,
        zip            text,
        latitude       double precision,
        longitude      double precision,
        use_type       text,
        status         text NOT NULL DEFAULT 'new'
                       CHECK (status IN ('new', 'enriched', 'scored', 'packeted', 'emailed')),
        sources        jsonb NOT NULL DEFAULT '[]',
        first_seen_at  timestamptz NOT NULL DEFAULT now(),
        last_seen_at   timestamptz NOT NULL DEFAULT now(),
        {STAMPS},
        UNIQUE (tenant_id, county, prospect_key)
    """,
    "prospect_sources": f"""
        id            bigserial PRIMARY KEY,
        {COMMON}
        prospect_key  text NOT NULL,
        source        text NOT NULL,
        source_id     text NOT NULL,
        source_ref    text,
        {STAMPS},
        UNIQUE (tenant_id, county, source, source_id)
    """,
    "enrichment": f"""
        id                           bigserial PRIMARY KEY,
        {COMMON}
        prospect_key                 text NOT NULL,
        as_of_date                   date NOT NULL,
        status                       text NOT NULL CHECK (status IN ('enriched', 'failed')),
        failure_reason               text,
        use_type                     text,
        neighborhood                 text,
        living_sqft                  double precision,
        lot_sqft                     double precision,
        beds                         double precision,
        baths                        double precision,
        bldg_grade                   double precision,
        year_built                   integer,
        effective_year_built         integer,
        waterfront                   boolean,
        sale_count                   integer,
        last_sale_price              numeric(14, 2),
        last_sale_date               date,
        prior_sale_price             numeric(14, 2),
        prior_sale_date              date,
        comps_count                  integer,
        comps_median_price_per_sqft  double precision,
        comps_estimated_value        double precision,
        comps_value_spread_pct       double precision,
        market_trend_12m_pct         double precision,
        provenance                   jsonb NOT NULL DEFAULT '{{}}',
        {STAMPS},
        UNIQUE (tenant_id, county, prospect_key)
    """,
    "features": f"""
        id                           bigserial PRIMARY KEY,
        {COMMON}
        prospect_key                 text NOT NULL,
        as_of_date                   date NOT NULL,
        use_type                     text,
        neighborhood                 text,
        latitude                     double precision,
        longitude                    double precision,
        age_years                    double precision,
        eff_age_years                double precision,
        living_sqft                  double precision,
        lot_sqft                     double precision,
        lot_to_building_ratio        double precision,
        beds                         double precision,
        baths                        double precision,
        baths_per_bed                double precision,
        bldg_grade                   double precision,
        waterfront                   double precision,
        last_sale_price              double precision,
        last_sale_price_per_sqft     double precision,
        last_sale_price_indexed      double precision,
        years_since_last_sale        double precision,
        last_price_to_comps_value    double precision,
        comps_count                  double precision,
        comps_median_price_per_sqft  double precision,
        comps_value_spread_pct       double precision,
        market_trend_12m_pct         double precision,
        {STAMPS},
        UNIQUE (tenant_id, county, prospect_key)
    """,
    "ml_models": f"""
        id                 bigserial PRIMARY KEY,
        {COMMON}
        model_name         text NOT NULL,
        version            text NOT NULL,
        kind               text NOT NULL,
        metrics            jsonb NOT NULL DEFAULT '{{}}',
        hyperparameters    jsonb NOT NULL DEFAULT '{{}}',
        feature_names      jsonb NOT NULL DEFAULT '[]',
        training_start     date,
        training_end       date,
        holdout_start      date,
        artifact_path      text NOT NULL,
        artifact_sha256    text NOT NULL,
        is_active          boolean NOT NULL DEFAULT false,
        {STAMPS},
        UNIQUE (tenant_id, county, model_name, version)
    """,
    "scores": f"""
        id                     bigserial PRIMARY KEY,
        {COMMON}
        prospect_key           text NOT NULL,
        as_of_date             date NOT NULL,
        estimated_value        double precision,
        value_gap_pct          double precision,
        bird_dog_score         double precision NOT NULL
                               CHECK (bird_dog_score >= 0 AND bird_dog_score <= 100),
        score_rank             integer NOT NULL,
        score_components       jsonb NOT NULL DEFAULT '{{}}',
        score_breakdown        jsonb,
        model_version          text NOT NULL,
        {STAMPS},
        UNIQUE (tenant_id, county, prospect_key)
    """,
    "packets": f"""
        id                bigserial PRIMARY KEY,
        {COMMON}
        prospect_key      text NOT NULL,
        template          text NOT NULL,
        template_version  text NOT NULL,
        inputs_hash       text NOT NULL,
        object_path       text NOT NULL,
        sha256            text NOT NULL,
        size_bytes        bigint NOT NULL CHECK (size_bytes > 0),
        bird_dog_score    double precision NOT NULL,
        generated_at      timestamptz NOT NULL,
        {STAMPS},
        UNIQUE (tenant_id, county, prospect_key, template)
    """,
    "emails": f"""
        id                   bigserial PRIMARY KEY,
        {COMMON}
        campaign             text NOT NULL,
        packet_id            bigint NOT NULL REFERENCES packets (id),
        recipient_email      text NOT NULL,
        subject              text NOT NULL,
        status               text NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'bounced')),
        provider             text NOT NULL,
        provider_message_id  text,
        outbox_path          text,
        error                text,
        sent_at              timestamptz,
        {STAMPS},
        UNIQUE (tenant_id, campaign, packet_id, recipient_email)
    """,
    "suppressions": f"""
        id         bigserial PRIMARY KEY,
        tenant_id  text NOT NULL REFERENCES tenants (id),
        email      text NOT NULL CHECK (email = lower(email)),
        reason     text NOT NULL,
        source     text NOT NULL,
        {STAMPS},
        UNIQUE (tenant_id, email)
    """,
    "email_events": f"""
        id               bigserial PRIMARY KEY,
        tenant_id        text NOT NULL REFERENCES tenants (id),
        email_id         bigint REFERENCES emails (id),
        sg_event_id      text NOT NULL UNIQUE,
        event            text NOT NULL,
        recipient_email  text,
        occurred_at      timestamptz NOT NULL,
        payload          jsonb NOT NULL,
        {STAMPS}
    """,
    "rejects": f"""
        id           bigserial PRIMARY KEY,
        {COMMON}
        asset        text NOT NULL,
        source       text NOT NULL,
        source_ref   text,
        raw_payload  jsonb,
        reason       text NOT NULL,
        run_id       text,
        {STAMPS}
    """,
    "source_calls": f"""
        id           bigserial PRIMARY KEY,
        {COMMON}
        source       text NOT NULL,
        endpoint     text NOT NULL,
        status_code  integer,
        latency_ms   double precision,
        cache_hit    boolean NOT NULL DEFAULT false,
        cost_usd     numeric(12, 4) NOT NULL DEFAULT 0,
        error        text,
        run_id       text,
        called_at    timestamptz NOT NULL DEFAULT now(),
        {STAMPS}
    """,
}

INDEXES = [
    "CREATE INDEX ix_sales_parcel ON sales (tenant_id, county, parcel_id, sale_date)",
    "CREATE INDEX ix_prospects_status ON prospects (tenant_id, county, status)",
    "CREATE INDEX ix_prospects_parcel ON prospects (tenant_id, county, parcel_id)",
    "CREATE INDEX ix_prospect_sources_key ON prospect_sources (tenant_id, county, prospect_key)",
    "CREATE INDEX ix_enrichment_status ON enrichment (tenant_id, county, status)",
    "CREATE INDEX ix_scores_rank ON scores (tenant_id, county, bird_dog_score DESC)",
    "CREATE INDEX ix_ml_models_active ON ml_models (tenant_id, county, model_name) WHERE is_active",
    "CREATE INDEX ix_emails_status ON emails (tenant_id, county, status)",
    "CREATE INDEX ix_emails_recipient ON emails (tenant_id, recipient_email)",
    "CREATE INDEX ix_email_events_email ON email_events (email_id, event)",
    "CREATE INDEX ix_rejects_partition ON rejects (tenant_id, county, asset)",
    "CREATE INDEX ix_source_calls_partition ON source_calls (tenant_id, county, source, called_at)",
    "CREATE INDEX ix_audit_log_entity ON audit_log (tenant_id, entity, entity_key)",
]


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END $$
    """)
    for name, columns in TABLES.items():
        op.execute(f"CREATE TABLE {name} ({columns})")
        op.execute(f"CREATE TRIGGER {name}_updated_at BEFORE UPDATE ON {name} "
                   "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
    for statement in INDEXES:
        op.execute(statement)
    op.execute("INSERT INTO tenants (id, name) VALUES ('default', 'Default tenant')")


def downgrade() -> None:
    for name in reversed(list(TABLES)):
        op.execute(f"DROP TABLE {name}")
    op.execute("DROP FUNCTION set_updated_at()")
