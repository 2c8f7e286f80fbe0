"""The API's response cache knows when its bodies are stale (issue #11, the list/detail bench).

`cache_bumps` holds one row per writing transaction and scope it touched: `c:<county>` for the
public county tables a property list or detail reads (prospects, enrichment, scores), `t:<tenant>`
for the tenant's tables they read (its reviews, packets, emails and subscriptions: the status
column, `reviewed_at`, which counties row-level security admits), `*` for a TRUNCATE of any of
them. Statement-level triggers write it in the writer's own transaction, so a bump is visible
exactly when the rows it stands for are: a reader that sees the write sees the bump, whichever API
process or pod it runs in, with no delay after the commit (a NOTIFY would arrive some time after
it, and not at all while a listener reconnects).

A scope's *generation* is the sum of its rows' `weight`: it only grows (rows are inserted, never
updated by anyone but their own transaction) and every committed bump adds one. Inserting takes no
lock another writer waits on (each transaction inserts its own key), unlike an UPDATE of one
counter row, which would have held every other writer of the county or tenant until the first
committed (a pipeline run writing scores for minutes would have blocked a reviewer). To keep the
table small, the first bump of a scope in a transaction folds up to 64 committed rows of that scope
into its own (their weights summed, so the sum is unchanged), skipping rows another transaction
is folding (SKIP LOCKED: nobody waits).

`reos_cache_generation()`: the current tenant's generation (its own scope, its followed counties'
and `*`), read by the API before it answers a list or a detail from its cache (api/v1/response_cache.py).

Revision ID: 0037
Revises: 0035
Create Date: 2026-12-03
"""

from alembic import op

revision = "0037"
down_revision = "0035"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
# The tables the cached routes read, and the column naming each row's scope. The API's test
# (tests/api/test_response_cache.py) checks every table the list and detail SQL names is here.
DEPENDENCIES = {"prospects": ("county", "c:"), "enrichment": ("county", "c:"), "scores": ("county", "c:"),
                "property_reviews": ("tenant_id", "t:"), "packets": ("tenant_id", "t:"),
                "emails": ("tenant_id", "t:"), "subscriptions": ("tenant_id", "t:")}
COMMENTS = {
    "scope": "What was written: c:<county> (public county data), t:<tenant> (data of a tenant) or * (a TRUNCATE).",
    "xid": "The writing transaction (pg_current_xact_id): one row per transaction and scope.",
    "weight": ("Bumps this row stands for (1, plus the committed rows folded into it); "
               "the generation of a scope is the sum."),
}


def upgrade() -> None:
    op.execute("CREATE TABLE cache_bumps (scope text NOT NULL, xid xid8 NOT NULL, "
               "weight bigint NOT NULL DEFAULT 1, PRIMARY KEY (scope, xid)) WITH (fillfactor = 50)")
    op.execute("COMMENT ON TABLE cache_bumps IS 'Writes the API response cache depends on (migration 0037).'")
    for column, text in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN cache_bumps.{column} IS '{text}'")
    # SECURITY DEFINER: the API role (writing reviews, subscriptions) has no grant on the table.
    op.execute("""
        CREATE FUNCTION reos_cache_bump(p_scopes text[]) RETURNS void
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
        DECLARE
            me xid8 := pg_current_xact_id();
            s text;
            folded bigint;
        BEGIN
            FOREACH s IN ARRAY p_scopes LOOP
                INSERT INTO cache_bumps (scope, xid) VALUES (s, me) ON CONFLICT DO NOTHING;
                IF FOUND THEN
                    -- Best effort: a writer in REPEATABLE READ that finds a row folded since its
                    -- snapshot gets a serialization failure here; its bump stands unfolded.
                    BEGIN
                    WITH old AS (SELECT b.xid FROM cache_bumps b WHERE b.scope = s AND b.xid <> me
                                 LIMIT 64 FOR UPDATE SKIP LOCKED),
                         gone AS (DELETE FROM cache_bumps b USING old WHERE b.scope = s AND b.xid = old.xid
                                  RETURNING b.weight)
                    SELECT coalesce(sum(weight), 0) INTO folded FROM gone;
                    IF folded > 0 THEN
                        UPDATE cache_bumps SET weight = weight + folded WHERE scope = s AND xid = me;
                    END IF;
                    EXCEPTION WHEN serialization_failure THEN NULL;
                    END;
                END IF;
            END LOOP;
        END $$
    """)
    # The scopes a statement touched, from its transition tables (TG_ARGV: scope column, prefix).
    op.execute("""
        CREATE FUNCTION reos_cache_bump_rows() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            scopes text[];
        BEGIN
            IF TG_OP = 'INSERT' THEN
                EXECUTE format('SELECT array_agg(s) FROM (SELECT DISTINCT %L || %I AS s FROM new_rows) d',
                               TG_ARGV[1], TG_ARGV[0]) INTO scopes;
            ELSIF TG_OP = 'DELETE' THEN
                EXECUTE format('SELECT array_agg(s) FROM (SELECT DISTINCT %L || %I AS s FROM old_rows) d',
                               TG_ARGV[1], TG_ARGV[0]) INTO scopes;
            ELSE
                EXECUTE format('SELECT array_agg(s) FROM (SELECT %L || %I AS s FROM new_rows '
                               'UNION SELECT %L || %I FROM old_rows) d',
                               TG_ARGV[1], TG_ARGV[0], TG_ARGV[1], TG_ARGV[0]) INTO scopes;
            END IF;
            IF scopes IS NOT NULL THEN
                PERFORM reos_cache_bump(scopes);
            END IF;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE FUNCTION reos_cache_bump_all() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM reos_cache_bump(ARRAY['*']);
            RETURN NULL;
        END $$
    """)
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
    # The caller's tenant (app.tenant_id, set by the API's transaction) and what it follows. As the
    # owner: the subscriptions policy owner_access admits exactly the tenant's rows.
    op.execute("""
        CREATE FUNCTION reos_cache_generation() RETURNS bigint
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
            SELECT coalesce(sum(b.weight), 0)::bigint FROM cache_bumps b
            WHERE b.scope = ANY (ARRAY['*', 't:' || current_setting('app.tenant_id', true)]
                                 || ARRAY(SELECT 'c:' || s.county FROM subscriptions s
                                          WHERE s.tenant_id = current_setting('app.tenant_id', true)))
        $$
    """)
    # reos_cache_bump stays executable by every role (PUBLIC, the default): whoever may write one of
    # the tables runs it through the triggers, and a bump can only cost cache misses.
    op.execute("REVOKE ALL ON FUNCTION reos_cache_generation() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION reos_cache_generation() TO {API_ROLE}")


def downgrade() -> None:
    for table in DEPENDENCIES:
        for suffix in ("ins", "upd", "del", "truncate"):
            op.execute(f"DROP TRIGGER {table}_cache_{suffix} ON {table}")
    op.execute("DROP FUNCTION reos_cache_generation()")
    op.execute("DROP FUNCTION reos_cache_bump_all()")
    op.execute("DROP FUNCTION reos_cache_bump_rows()")
    op.execute("DROP FUNCTION reos_cache_bump(text[])")
    op.execute("DROP TABLE cache_bumps")
