"""Account email (issue #11): one-time tokens for password reset, address verification and
invitations, sent through the configured mailer (the outbox locally).

Accounts are global (a user may belong to several tenants), so their tokens are too: nobody reads
`account_tokens` directly — the API role has no grant on it — and the two SECURITY DEFINER functions
below are the only way in, each answering for one email address or one token. Only a SHA-256 of a
token is stored; the raw token exists in the email alone.

Revision ID: 0022
Revises: 0015
Create Date: 2026-12-03
"""

from alembic import op

revision = "0022"
down_revision = "0015"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
PURPOSES = ("reset_password", "verify_email")
COMMENTS = {
    "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
    "user_id": "The account the token acts for (users.id).",
    "purpose": "What redeeming the token does: reset_password (sets a password; invitations too) or verify_email.",
    "token_hash": "SHA-256 (hex) of the one-time token; the token itself is only in the email.",
    "expires_at": "After this the token is refused.",
    "used_at": "When it was redeemed, or superseded by a newer token of the same purpose (NULL: still open).",
    "created_at": "When the row was first written (UTC, set by the database).",
    "updated_at": "When any value of the row last changed (UTC, kept by a trigger).",
}
FUNCTIONS = ("reos_issue_account_token(text, text, text, interval)", "reos_redeem_account_token(text, text, text)")


def upgrade() -> None:
    purposes = ", ".join(f"'{p}'" for p in PURPOSES)
    op.execute(f"""
        CREATE TABLE account_tokens (
            id          bigserial PRIMARY KEY,
            user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            purpose     text NOT NULL CHECK (purpose IN ({purposes})),
            token_hash  text NOT NULL UNIQUE,
            expires_at  timestamptz NOT NULL,
            used_at     timestamptz,
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("CREATE TRIGGER account_tokens_updated_at BEFORE UPDATE ON account_tokens "
               "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
    op.execute("CREATE INDEX ix_account_tokens_open ON account_tokens (user_id, purpose) WHERE used_at IS NULL")
    for column, text in COMMENTS.items():
        quoted = text.replace("'", "''")
        op.execute(f"COMMENT ON COLUMN account_tokens.{column} IS '{quoted}'")
    # A new token supersedes the open ones of its purpose (only the latest email works).
    op.execute("""
        CREATE FUNCTION reos_issue_account_token(p_email text, p_purpose text, p_token_hash text, p_ttl interval)
        RETURNS TABLE (user_id bigint, email text, email_verified_at timestamptz)
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
        DECLARE
            v_user users%ROWTYPE;
        BEGIN
            SELECT * INTO v_user FROM users u WHERE u.email = lower(btrim(p_email)) AND u.is_active;
            IF NOT FOUND THEN
                RETURN;
            END IF;
            UPDATE account_tokens t SET used_at = now()
            WHERE t.user_id = v_user.id AND t.purpose = p_purpose AND t.used_at IS NULL;
            INSERT INTO account_tokens (user_id, purpose, token_hash, expires_at)
            VALUES (v_user.id, p_purpose, p_token_hash, now() + p_ttl);
            RETURN QUERY SELECT v_user.id, v_user.email, v_user.email_verified_at;
        END
        $$
    """)
    # Redeeming proves the mailbox: the address is verified either way. A reset also ends every
    # login session of the account (whoever knew the old password is logged out everywhere).
    op.execute("""
        CREATE FUNCTION reos_redeem_account_token(p_token_hash text, p_purpose text, p_password_hash text)
        RETURNS bigint
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
        DECLARE
            v_user_id bigint;
            v_scope text := current_setting('app.tenant_id', true);
        BEGIN
            -- No tenant scope inside (the sessions of every tenant the account belongs to end),
            -- the caller's put back before returning. (A function-level SET of a custom setting
            -- needs a superuser to create the function.)
            PERFORM set_config('app.tenant_id', '', true);
            UPDATE account_tokens t SET used_at = now()
            WHERE t.token_hash = p_token_hash AND t.purpose = p_purpose AND t.used_at IS NULL
              AND t.expires_at > now()
              AND EXISTS (SELECT 1 FROM users u WHERE u.id = t.user_id AND u.is_active)
            RETURNING t.user_id INTO v_user_id;
            IF v_user_id IS NULL THEN
                PERFORM set_config('app.tenant_id', coalesce(v_scope, ''), true);
                RETURN NULL;
            END IF;
            UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = v_user_id;
            IF p_purpose = 'reset_password' THEN
                UPDATE users SET password_hash = p_password_hash WHERE id = v_user_id;
                UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = v_user_id AND revoked_at IS NULL;
            END IF;
            PERFORM set_config('app.tenant_id', coalesce(v_scope, ''), true);
            RETURN v_user_id;
        END
        $$
    """)
    for signature in FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {API_ROLE}")


def downgrade() -> None:
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
    op.execute("DROP TABLE account_tokens")
