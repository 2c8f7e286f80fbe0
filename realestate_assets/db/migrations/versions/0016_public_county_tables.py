"""Public county tables off tenant_id (issue #11, DESIGN §9): a county is one set of rows,
whoever computed it.

* `sales`, `listings`, `assessor_roll`, `prospects`, `prospect_sources`, `enrichment`,
  `features`, `ml_models` and `scores` lose their `tenant_id` column, its foreign key and every
  key and index that led with it; their natural keys become (county, …).
* Existing rows are kept. Until now the pipeline wrote them under its deployment tenant
  (normally `default`). When several tenants wrote the same county, ONE tenant's copy of that
  county is kept — in every public table at once, so a prospect, its enrichment and its score
  stay the rows that were computed together: the `default` tenant's when it wrote any row of the
  county, else the tenant whose newest row (`updated_at`) of the county is the most recent (ties:
  the smallest tenant id). The other tenants' rows of that county are deleted, and so are their
  rejects of the public stages.
* `prospects.status` stops at `scored`: `packeted` / `emailed` were some tenant's progress shown to
  every tenant; the API now derives them from the caller's own packets and emails. Rows at those
  statuses go back to `scored` (not restored by the downgrade: derivable from packets/emails).
* `rejects` and `source_calls` keep a tenant_id, now NULLable: NULL for the public stages
  (discovery, enrichment, features, models, scores — existing rows of those stages are set to
  NULL), the tenant's id for a tenant's own stages (`email_events` rejects from the webhook).
  They stay outside the tenant RLS of 0007 (the API reads neither); the API role may only INSERT
  a reject of its own tenant (the webhook, running as `reos_api`), through a policy.
* The `county_subscribed` read policy (0008, 0014) is unchanged: it never named the table's
  tenant_id.
* `reos_webhook_email_tenants(bigint[])` and `reos_known_tenants(text[])`: SECURITY DEFINER, like
  0007's auth functions — the webhook (a bare `reos_api` login) finds which tenant each email of a
  batch belongs to, and which tenants an event names exist, before it scopes itself per event.

Downgrade: the column comes back as NOT NULL DEFAULT 'default' (every kept row becomes the
`default` tenant's) with the old keys, indexes and foreign keys.

Revision ID: 0016
Revises: 0021
Create Date: 2026-12-03
"""

from alembic import op

revision = "0016"
down_revision = "0021"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
# table → (natural key without tenant_id, indexes {name: (columns, where)}).
PUBLIC: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, str]]]] = {
    "sales": (("source", "sale_id"), {"ix_sales_parcel": ("parcel_id, sale_date", "")}),
    "listings": (("source", "source_id"), {}),
    "assessor_roll": (("source", "parcel_id"), {}),
    "prospects": (("prospect_key",), {"ix_prospects_address_key": ("address_key", ""),
                                       "ix_prospects_parcel": ("parcel_id", ""),
                                       "ix_prospects_status": ("status", "")}),
    "prospect_sources": (("source", "source_id"), {"ix_prospect_sources_key": ("prospect_key", "")}),
    "enrichment": (("prospect_key",), {"ix_enrichment_status": ("status", "")}),
    "features": (("prospect_key",), {}),
    "ml_models": (("model_name", "version"), {"ix_ml_models_active": ("model_name", "is_active")}),
    # ix_scores_rank (tenant_id, county, score) would become ix_scores_county_score (0008): not recreated.
    "scores": (("prospect_key",), {"ix_scores_rank": ("bird_dog_score DESC", "")}),
}
DROPPED_INDEXES = {"ix_scores_rank"}
# Reject assets written by a tenant's own stages; every other asset's rejects are public.
TENANT_REJECT_ASSETS = ("packets", "emails", "email_events")
LOG_TABLES = ("rejects", "source_calls")
OLD_STATUS_COMMENT = "Lifecycle: new, enriched, scored, packeted, emailed."
STATUS_COMMENT = ("County lifecycle: new, enriched, scored (a tenant's packeted / emailed is derived from its own "
                  "packets and emails, never stored here).")
DEFINER_FUNCTIONS = ("reos_webhook_email_tenants(bigint[])", "reos_known_tenants(text[])")
OLD_COMMENT = "Tenant that owns the row (tenants.id); 'default' for public county data."
OWNED_COMMENT = "Tenant that owns the row (tenants.id)."
LOG_COMMENT = ("Tenant whose own stage wrote the row (tenants.id); NULL for the public county stages "
               "(discovery, enrichment, features, models, scores).")


def _unique_name(table: str, columns: tuple[str, ...]) -> str:
    return f"{table}_{'_'.join(columns)}_key"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _keep_one_copy_per_county() -> None:
    """Per county: the tenant whose copy stays (module docstring); the others' rows go."""
    newest = " UNION ALL ".join(f"SELECT county, tenant_id, max(updated_at) AS at FROM {t} GROUP BY 1, 2"
                                for t in PUBLIC)
    op.execute(f"""
        CREATE TEMP TABLE _keeper ON COMMIT DROP AS
        SELECT DISTINCT ON (county) county, tenant_id
        FROM (SELECT county, tenant_id, max(at) AS at FROM ({newest}) w GROUP BY 1, 2) c
        ORDER BY county, (tenant_id = 'default') DESC, at DESC, tenant_id
    """)
    for table in PUBLIC:
        op.execute(f"DELETE FROM {table} t USING _keeper k WHERE k.county = t.county AND k.tenant_id <> t.tenant_id")
    assets = ", ".join(_quote(a) for a in TENANT_REJECT_ASSETS)
    op.execute(f"DELETE FROM rejects t USING _keeper k WHERE k.county = t.county AND k.tenant_id <> t.tenant_id "
               f"AND t.asset NOT IN ({assets})")
    op.execute("DROP TABLE _keeper")


def upgrade() -> None:
    _keep_one_copy_per_county()
    op.execute("UPDATE prospects SET status = 'scored' WHERE status IN ('packeted', 'emailed')")
    op.execute(f"COMMENT ON COLUMN prospects.status IS {_quote(STATUS_COMMENT)}")
    for table, (key, indexes) in PUBLIC.items():
        # Dropping the column drops its foreign key and every key and index that contains it.
        op.execute(f"ALTER TABLE {table} DROP COLUMN tenant_id")
        columns = ("county", *key)
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {_unique_name(table, columns)} UNIQUE ({', '.join(columns)})")
        for name, (on, where) in indexes.items():
            if name not in DROPPED_INDEXES:
                op.execute(f"CREATE INDEX {name} ON {table} (county, {on})" + (f" WHERE {where}" if where else ""))
    op.execute("CREATE UNIQUE INDEX ux_ml_models_one_active ON ml_models (county, model_name) WHERE is_active")

    assets = ", ".join(_quote(a) for a in TENANT_REJECT_ASSETS)
    for table in LOG_TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN tenant_id DROP NOT NULL")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN tenant_id DROP DEFAULT")
        op.execute(f"COMMENT ON COLUMN {table}.tenant_id IS {_quote(LOG_COMMENT)}")
    op.execute(f"UPDATE rejects SET tenant_id = NULL WHERE asset NOT IN ({assets})")
    op.execute("UPDATE source_calls SET tenant_id = NULL")

    # The webhook (as reos_api) records a malformed event of its own tenant; it reads no rejects.
    op.execute("ALTER TABLE rejects ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_insert ON rejects FOR INSERT TO {API_ROLE} WITH CHECK (tenant_id = {TENANT})")
    op.execute(f"GRANT INSERT ON rejects TO {API_ROLE}")
    op.execute(f"GRANT USAGE ON SEQUENCE rejects_id_seq TO {API_ROLE}")
    op.execute("""
        CREATE FUNCTION reos_webhook_email_tenants(p_email_ids bigint[])
        RETURNS TABLE (email_id bigint, tenant_id text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
            SELECT e.id, e.tenant_id FROM emails e WHERE e.id = ANY (p_email_ids)
        $$
    """)
    op.execute("""
        CREATE FUNCTION reos_known_tenants(p_tenant_ids text[]) RETURNS SETOF text
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
            SELECT t.id FROM tenants t WHERE t.id = ANY (p_tenant_ids)
        $$
    """)
    for signature in DEFINER_FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {API_ROLE}")

    # Tenant-owned tables: the shared wording spoke of public data, which no longer has the column.
    op.execute(f"""
        DO $$ DECLARE r record; BEGIN
            FOR r IN SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
                     WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
                       AND a.attname = 'tenant_id' AND col_description(c.oid, a.attnum) = {_quote(OLD_COMMENT)}
            LOOP
                EXECUTE format('COMMENT ON COLUMN %I.tenant_id IS %L', r.relname, {_quote(OWNED_COMMENT)});
            END LOOP;
        END $$
    """)


def downgrade() -> None:
    op.execute(f"COMMENT ON COLUMN prospects.status IS {_quote(OLD_STATUS_COMMENT)}")
    op.execute(f"""
        DO $$ DECLARE r record; BEGIN
            FOR r IN SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
                     WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
                       AND a.attname = 'tenant_id' AND col_description(c.oid, a.attnum) = {_quote(OWNED_COMMENT)}
            LOOP
                EXECUTE format('COMMENT ON COLUMN %I.tenant_id IS %L', r.relname, {_quote(OLD_COMMENT)});
            END LOOP;
        END $$
    """)
    for signature in DEFINER_FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
    op.execute(f"REVOKE ALL ON SEQUENCE rejects_id_seq FROM {API_ROLE}")
    op.execute(f"REVOKE ALL ON rejects FROM {API_ROLE}")
    op.execute("DROP POLICY tenant_insert ON rejects")
    op.execute("ALTER TABLE rejects DISABLE ROW LEVEL SECURITY")
    for table in LOG_TABLES:
        op.execute(f"UPDATE {table} SET tenant_id = 'default' WHERE tenant_id IS NULL")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN tenant_id SET DEFAULT 'default'")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN tenant_id SET NOT NULL")
        op.execute(f"COMMENT ON COLUMN {table}.tenant_id IS {_quote(OLD_COMMENT)}")

    op.execute("DROP INDEX ux_ml_models_one_active")
    for table, (key, indexes) in PUBLIC.items():
        for name in indexes:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {_unique_name(table, ('county', *key))}")
        op.execute(f"ALTER TABLE {table} ADD COLUMN tenant_id text NOT NULL DEFAULT 'default' "
                   "REFERENCES tenants (id)")
        op.execute(f"COMMENT ON COLUMN {table}.tenant_id IS {_quote(OLD_COMMENT)}")
        columns = ("tenant_id", "county", *key)
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {_unique_name(table, columns)} UNIQUE ({', '.join(columns)})")
        for name, (on, where) in indexes.items():
            op.execute(f"CREATE INDEX {name} ON {table} (tenant_id, county, {on})"
                       + (f" WHERE {where}" if where else ""))
    op.execute("CREATE UNIQUE INDEX ux_ml_models_one_active ON ml_models (tenant_id, county, model_name) "
               "WHERE is_active")
