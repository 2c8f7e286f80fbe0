"""Accounts, API keys, subscriptions and row-level security on tenant-owned tables (issue #11).

* `users` become global accounts (email unique, argon2id hash, verified time, platform admin
  flag); what a user may do in a tenant is a `memberships` row (owner, admin, analyst, viewer).
  Existing users move their (tenant, role) into a membership (investor → viewer).
* `api_keys` (prefix shown, SHA-256 of the random secret stored, scopes, expiry, revocation,
  last use), `refresh_tokens` (rotating, one family per login; reuse revokes the family) and
  `subscriptions` (the counties a tenant follows).
* `audit_log` gains who (user, key), before/after images, request id and client address.
* Row-level security: every table with a `tenant_id` that is not public county data gets
  ENABLE + FORCE ROW LEVEL SECURITY and two policies:
  - `tenant_isolation` for the API role `reos_api` (owns nothing, NOLOGIN): a row is visible and
    writable only when its tenant_id equals `current_setting('app.tenant_id', true)`, which the
    API sets with `SET LOCAL` in each transaction (unset → nothing visible);
  - `owner_access` for the role that runs the migrations (the pipeline's table owner): unscoped
    while it has not set app.tenant_id, scoped like the API once it has. FORCE makes the owner
    go through this policy instead of skipping RLS altogether.
  The role is cluster-wide: created here when missing (production may create it beforehand
  and grant it to the API's login role), never dropped by the downgrade.
* `tenants` and `users` are forced under RLS as well: the API role sees its own tenant, its own
  account and the members of its tenant (`app.user_id`), or everything as a platform admin
  (`app.platform_admin = 'on'`, set by the API after it has read the flag from the account).
* SECURITY DEFINER functions let the API find which tenant a credential belongs to before it
  knows the tenant (API key by prefix, refresh token by hash, a user's memberships), find an
  account by email and create one; each answers for the one credential or account asked for.

Public county tables (sales, prospects, …) keep their tenant_id and get no RLS yet: moving them
off tenant_id, with a policy on `subscriptions`, is the next step (docs/api.md).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from alembic import op
from sqlalchemy import text

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
# Public-record county data, computed once per county (DESIGN §9): no RLS here.
PUBLIC_TABLES = ("sales", "listings", "assessor_roll", "prospects", "prospect_sources", "enrichment", "features",
                 "ml_models", "scores", "rejects", "source_calls")
TENANT = "current_setting('app.tenant_id', true)"
PLATFORM = "current_setting('app.platform_admin', true) = 'on'"
# users: the API sees its own account, the members of its tenant, or all as a platform admin.
USER_VISIBLE = (f"id::text = current_setting('app.user_id', true) OR {PLATFORM} "
                "OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id)")
TENANT_VISIBLE = f"id = {TENANT} OR {PLATFORM}"
DEFINER_FUNCTIONS = ("reos_auth_api_key(text)", "reos_auth_refresh_tenant(text)", "reos_auth_memberships(bigint)",
                     "reos_find_user(text)", "reos_create_user(text, text, boolean, boolean)")
STAMPS = """
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
"""

NEW_TABLES: dict[str, str] = {
    "memberships": f"""
        id         bigserial PRIMARY KEY,
        tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        role       text NOT NULL CHECK (role IN ('owner', 'admin', 'analyst', 'viewer')),
        {STAMPS},
        UNIQUE (tenant_id, user_id)
    """,
    "api_keys": f"""
        id            bigserial PRIMARY KEY,
        tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        user_id       bigint REFERENCES users (id) ON DELETE SET NULL,
        name          text NOT NULL,
        prefix        text NOT NULL UNIQUE,
        secret_hash   text NOT NULL,
        scopes        text[] NOT NULL CHECK (cardinality(scopes) > 0
                                             AND scopes <@ ARRAY['read', 'write', 'admin']),
        expires_at    timestamptz,
        revoked_at    timestamptz,
        last_used_at  timestamptz,
        {STAMPS}
    """,
    "refresh_tokens": f"""
        id          bigserial PRIMARY KEY,
        tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        family_id   uuid NOT NULL,
        token_hash  text NOT NULL UNIQUE,
        used_at     timestamptz,
        revoked_at  timestamptz,
        expires_at  timestamptz NOT NULL,
        {STAMPS}
    """,
    "subscriptions": f"""
        id         bigserial PRIMARY KEY,
        tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        county     text NOT NULL,
        {STAMPS},
        UNIQUE (tenant_id, county)
    """,
}

AUDIT_COLUMNS = {
    "user_id": "bigint REFERENCES users (id) ON DELETE SET NULL",
    "api_key_id": "bigint REFERENCES api_keys (id) ON DELETE SET NULL",
    "before": "jsonb",
    "after": "jsonb",
    "request_id": "text",
    "ip": "text",
}

COMMENTS: dict[str, dict[str, str]] = {
    "users": {
        "email": "Login email address (lower case, unique across the installation).",
        "email_verified_at": "When the user proved the address (NULL: not verified yet).",
        "is_platform_admin": "Operator of the installation: creates tenants, may act in any tenant.",
    },
    "memberships": {
        "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
        "tenant_id": "Tenant the user belongs to (tenants.id).",
        "user_id": "The member (users.id).",
        "role": "Role in the tenant: owner, admin, analyst (read, notes, campaigns) or viewer (read only).",
    },
    "api_keys": {
        "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
        "tenant_id": "Tenant the key acts for (tenants.id).",
        "user_id": "User who created the key (users.id); NULL once that user is deleted.",
        "name": "What the key is for, as its creator named it.",
        "prefix": "Public part of the key (reos_<prefix>_<secret>): shown in lists, finds the row.",
        "secret_hash": "SHA-256 (hex) of the key's random secret; the secret itself is shown once, never stored.",
        "scopes": "What the key may do: read, write and/or admin.",
        "expires_at": "When the key stops working (NULL: never).",
        "revoked_at": "When the key was revoked (NULL: not revoked).",
        "last_used_at": "When the key last authenticated a request.",
    },
    "refresh_tokens": {
        "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
        "tenant_id": "Tenant the login session acts in (tenants.id).",
        "user_id": "User the session belongs to (users.id).",
        "family_id": "Login session: every rotated token of one login shares it; reuse revokes the family.",
        "token_hash": "SHA-256 (hex) of the opaque refresh token; the token itself is never stored.",
        "used_at": "When the token was exchanged for a new one (single use).",
        "revoked_at": "When the token was revoked (logout or reuse detected).",
        "expires_at": "When the token stops being accepted.",
    },
    "subscriptions": {
        "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
        "tenant_id": "Tenant that follows the county (tenants.id).",
        "county": "County the tenant follows (config/counties/<county>.yaml stem, e.g. king_wa).",
    },
    "audit_log": {
        "user_id": "User who did it (users.id), when a person acted.",
        "api_key_id": "API key that did it (api_keys.id), when a key acted.",
        "before": "The object before the change (JSON, never secrets); NULL for a creation.",
        "after": "The object after the change (JSON, never secrets); NULL for a deletion.",
        "request_id": "Id of the API request (X-Request-ID header) that made the change.",
        "ip": "Client address of the request.",
    },
}
# What 0006 said of the columns this migration replaces (restored by the downgrade).
OLD_USER_COMMENTS = {
    "tenant_id": "Tenant that owns the row (tenants.id); 'default' for public county data.",
    "email": "Login email address (lower case, unique per tenant).",
    "role": "Role: admin, analyst or investor.",
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _comment(table: str, column: str, description: str | None) -> None:
    op.execute(f'COMMENT ON COLUMN "{table}"."{column}" IS {_quote(description) if description else "NULL"}')


def _stamp_comments(table: str) -> None:
    _comment(table, "created_at", "When the row was first written (UTC, set by the database).")
    _comment(table, "updated_at", "When any value of the row last changed (UTC, kept by a trigger).")


def tenant_owned_tables() -> list[str]:
    """Tables with a tenant_id that are not public county data (as the catalog shows them now)."""
    rows = op.get_bind().execute(text(
        "SELECT c.table_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_schema, table_name) "
        "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.column_name = 'tenant_id' "
        "ORDER BY 1"))
    return [r[0] for r in rows if r[0] not in PUBLIC_TABLES]


def _create_role() -> None:
    # Two databases migrating at once (parallel test sessions) may race on the cluster-wide role.
    op.execute(f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{API_ROLE}') THEN
                CREATE ROLE {API_ROLE} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$
    """)
    # The API connects as the owner (or another login) and drops to the role per transaction
    # with SET LOCAL ROLE, which needs membership unless it is a superuser.
    op.execute(f"""
        DO $$ BEGIN
            IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                EXECUTE format('GRANT {API_ROLE} TO %I', current_user);
            END IF;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'could not grant {API_ROLE} to %: grant it before running the API', current_user;
        END $$
    """)


def _users_to_accounts() -> None:
    op.execute("""
        INSERT INTO memberships (tenant_id, user_id, role)
        SELECT u.tenant_id, k.id, CASE u.role WHEN 'admin' THEN 'admin' WHEN 'analyst' THEN 'analyst' ELSE 'viewer' END
        FROM users u JOIN (SELECT lower(email) AS email, min(id) AS id FROM users GROUP BY 1) k
          ON lower(u.email) = k.email
        ON CONFLICT (tenant_id, user_id) DO NOTHING
    """)
    op.execute("DELETE FROM users WHERE id NOT IN (SELECT min(id) FROM users GROUP BY lower(email))")
    op.execute("UPDATE users SET email = lower(email) WHERE email <> lower(email)")
    op.execute("ALTER TABLE users DROP CONSTRAINT users_tenant_id_email_key")
    op.execute("ALTER TABLE users DROP COLUMN tenant_id")
    op.execute("ALTER TABLE users DROP COLUMN role")
    op.execute("ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email)")
    op.execute("ALTER TABLE users ADD CONSTRAINT users_email_lower CHECK (email = lower(email))")
    op.execute("ALTER TABLE users ADD COLUMN email_verified_at timestamptz")
    op.execute("ALTER TABLE users ADD COLUMN is_platform_admin boolean NOT NULL DEFAULT false")


def _definer_functions() -> None:
    # SECURITY DEFINER: runs as the owner (owner_access policy), app.tenant_id not yet set.
    # `SET search_path FROM CURRENT` pins the schema the migration ran in.
    op.execute("""
        CREATE FUNCTION reos_auth_api_key(p_prefix text)
        RETURNS TABLE (id bigint, tenant_id text, user_id bigint, secret_hash text, scopes text[],
                       expires_at timestamptz, revoked_at timestamptz)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
            SELECT k.id, k.tenant_id, k.user_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at
            FROM api_keys k WHERE k.prefix = p_prefix
        $$
    """)
    op.execute("""
        CREATE FUNCTION reos_auth_refresh_tenant(p_token_hash text) RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
            SELECT t.tenant_id FROM refresh_tokens t WHERE t.token_hash = p_token_hash
        $$
    """)
    op.execute("""
        CREATE FUNCTION reos_auth_memberships(p_user_id bigint) RETURNS TABLE (tenant_id text, role text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
            SELECT m.tenant_id, m.role FROM memberships m WHERE m.user_id = p_user_id ORDER BY m.created_at, m.id
        $$
    """)
    # Accounts are global: the API finds one by email (login, invite) and creates one only here.
    op.execute("""
        CREATE FUNCTION reos_find_user(p_email text)
        RETURNS TABLE (id bigint, email text, password_hash text, is_platform_admin boolean, is_active boolean,
                       email_verified_at timestamptz)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
            SELECT u.id, u.email, u.password_hash, u.is_platform_admin, u.is_active, u.email_verified_at
            FROM users u WHERE u.email = lower(btrim(p_email))
        $$
    """)
    op.execute("""
        CREATE FUNCTION reos_create_user(p_email text, p_password_hash text, p_platform_admin boolean,
                                         p_verified boolean)
        RETURNS TABLE (id bigint, email text, is_platform_admin boolean, email_verified_at timestamptz,
                       is_active boolean, created_at timestamptz)
        LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
            INSERT INTO users AS u (email, password_hash, is_platform_admin, email_verified_at)
            VALUES (p_email, p_password_hash, p_platform_admin, CASE WHEN p_verified THEN now() END)
            ON CONFLICT (email) DO NOTHING
            RETURNING u.id, u.email, u.is_platform_admin, u.email_verified_at, u.is_active, u.created_at
        $$
    """)
    for signature in DEFINER_FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {API_ROLE}")


def upgrade() -> None:
    _create_role()
    for name, columns in NEW_TABLES.items():
        op.execute(f"CREATE TABLE {name} ({columns})")
        op.execute(f"CREATE TRIGGER {name}_updated_at BEFORE UPDATE ON {name} "
                   "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
        _stamp_comments(name)
    op.execute("CREATE INDEX ix_memberships_user ON memberships (user_id)")
    op.execute("CREATE INDEX ix_api_keys_tenant ON api_keys (tenant_id)")
    op.execute("CREATE INDEX ix_refresh_tokens_family ON refresh_tokens (family_id)")
    _users_to_accounts()
    for column, kind in AUDIT_COLUMNS.items():
        op.execute(f"ALTER TABLE audit_log ADD COLUMN {column} {kind}")
    op.execute("CREATE INDEX ix_audit_log_time ON audit_log (tenant_id, created_at)")
    for table, columns in COMMENTS.items():
        for column, description in columns.items():
            _comment(table, column, description)
    _definer_functions()

    op.execute(f"DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO {API_ROLE}', current_schema()); END $$")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON tenants TO {API_ROLE}")
    op.execute(f"GRANT SELECT, UPDATE ON users TO {API_ROLE}")  # created through reos_create_user
    for table, visible in (("tenants", TENANT_VISIBLE), ("users", USER_VISIBLE)):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY api_visible ON {table} TO {API_ROLE} USING ({visible}) WITH CHECK ({visible})")
        op.execute(f"CREATE POLICY owner_access ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)")
    for table in tenant_owned_tables():
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {API_ROLE}")
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {table}_id_seq TO {API_ROLE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} TO {API_ROLE} "
                   f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")
        scoped = f"coalesce({TENANT}, '') IN ('', tenant_id)"
        op.execute(f"CREATE POLICY owner_access ON {table} TO CURRENT_USER USING ({scoped}) WITH CHECK ({scoped})")


def downgrade() -> None:
    for table in tenant_owned_tables():
        op.execute(f"DROP POLICY owner_access ON {table}")
        op.execute(f"DROP POLICY tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(f"DO $$ BEGIN EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM {API_ROLE}', current_schema());"
               f" EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM {API_ROLE}', current_schema());"
               f" EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {API_ROLE}', current_schema()); END $$")
    op.execute("DROP FUNCTION reos_auth_memberships(bigint)")
    op.execute("DROP FUNCTION reos_auth_refresh_tenant(text)")
    op.execute("DROP FUNCTION reos_auth_api_key(text)")
    op.execute("DROP FUNCTION reos_find_user(text)")
    op.execute("DROP FUNCTION reos_create_user(text, text, boolean, boolean)")
    for table in ("tenants", "users"):
        op.execute(f"DROP POLICY owner_access ON {table}")
        op.execute(f"DROP POLICY api_visible ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP INDEX ix_audit_log_time")
    for column in reversed(list(AUDIT_COLUMNS)):
        op.execute(f"ALTER TABLE audit_log DROP COLUMN {column}")
    # Users go back to one tenant each: their first membership's (owner → admin, viewer → investor).
    op.execute("ALTER TABLE users DROP COLUMN is_platform_admin")
    op.execute("ALTER TABLE users DROP COLUMN email_verified_at")
    op.execute("ALTER TABLE users DROP CONSTRAINT users_email_lower")
    op.execute("ALTER TABLE users DROP CONSTRAINT users_email_key")
    op.execute("ALTER TABLE users ADD COLUMN tenant_id text REFERENCES tenants (id)")
    op.execute("ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'investor' "
               "CHECK (role IN ('admin', 'analyst', 'investor'))")
    op.execute("""
        UPDATE users u SET tenant_id = m.tenant_id,
               role = CASE m.role WHEN 'viewer' THEN 'investor' WHEN 'analyst' THEN 'analyst' ELSE 'admin' END
        FROM (SELECT DISTINCT ON (user_id) user_id, tenant_id, role FROM memberships ORDER BY user_id, id) m
        WHERE m.user_id = u.id
    """)
    op.execute("UPDATE users SET tenant_id = 'default' WHERE tenant_id IS NULL")
    op.execute("ALTER TABLE users ALTER COLUMN tenant_id SET NOT NULL")
    op.execute("ALTER TABLE users ADD CONSTRAINT users_tenant_id_email_key UNIQUE (tenant_id, email)")
    for column, description in OLD_USER_COMMENTS.items():
        _comment("users", column, description)
    for name in reversed(list(NEW_TABLES)):
        op.execute(f"DROP TABLE {name}")
