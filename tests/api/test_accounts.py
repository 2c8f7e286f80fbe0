"""The account domain on real PostgreSQL, without the web layer: passwords, tokens, sessions
with rotating refresh tokens and reuse detection, API keys, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from realestate_assets.accounts import credentials as cred
from realestate_assets.accounts import store
from realestate_assets.accounts.roles import may_grant, role_permissions, scope_permissions
from realestate_assets.db.tenancy import act_as_api
from tests.api.helpers_api import PASSWORD, dsn, make_tenant, owner_cursor

SECRET = "test-secret-0123456789abcdef0123456789"


@pytest.fixture(scope="module")
def tenants(database_url: str):
    return make_tenant(database_url, "acc-a"), make_tenant(database_url, "acc-b")


@pytest.fixture
def api_cursor(database_url: str):
    """A cursor as the API runs: reos_api role, no tenant yet; each call commits."""
    conn = psycopg2.connect(dsn(database_url))

    class Api:
        def __call__(self):
            cur = conn.cursor()
            act_as_api(cur, None)
            return cur

        def commit(self) -> None:
            conn.commit()

    yield Api()
    conn.rollback()
    conn.close()


def test_passwords_are_argon2id_and_verify() -> None:
    stored = cred.hash_password("s3cret-enough-pass")
    assert stored.startswith("$argon2id$")
    assert cred.verify_password(stored, "s3cret-enough-pass") == (True, False)
    assert cred.verify_password(stored, "wrong")[0] is False
    assert cred.verify_password(None, "x")[0] is False
    assert cred.verify_password("not-a-hash", "x")[0] is False


def test_access_tokens_are_short_lived_and_signed() -> None:
    token, _ = cred.issue_access_token(SECRET, user_id=7, tenant_id="acme", role="admin", platform_admin=False,
                                            email="a@example.com")
    decoded = cred.decode_access_token(SECRET, token)
    assert (decoded.user_id, decoded.tenant_id, decoded.role) == (7, "acme", "admin")
    assert decoded.expires_at - datetime.now(UTC) <= cred.ACCESS_TTL
    with pytest.raises(cred.InvalidToken):
        cred.decode_access_token("another-secret-0123456789abcdef0123", token)
    old, _ = cred.issue_access_token(SECRET, user_id=7, tenant_id="acme", role="admin", platform_admin=False,
                                     email="a@example.com", now=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(cred.InvalidToken, match="expired"):
        cred.decode_access_token(SECRET, old)
    with pytest.raises(cred.InvalidToken):
        cred.decode_access_token(SECRET, token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])


def test_api_key_strings() -> None:
    key = cred.new_api_key()
    assert cred.parse_api_key(key.token) == (key.prefix, key.secret)
    assert key.token.startswith("reos_") and len(key.prefix) == 8
    assert cred.parse_api_key("reos_short_x") is None and cred.parse_api_key("Bearer x") is None
    assert cred.secret_matches(key.secret, cred.sha256_hex(key.secret))
    assert not cred.secret_matches(key.secret + "x", cred.sha256_hex(key.secret))


def test_roles_and_scopes() -> None:
    assert role_permissions("viewer") == {"read"}
    assert role_permissions("analyst") == {"read", "write"}
    assert role_permissions("admin") == {"read", "write", "admin"}
    assert role_permissions("owner") == {"read", "write", "admin", "owner"}  # billing is the owners' alone
    assert "owner" not in scope_permissions(["admin"])  # an API key never pays
    assert "platform" in role_permissions(None, platform_admin=True)
    assert role_permissions("nobody") == frozenset()
    assert scope_permissions(["write"]) == {"read", "write"} and scope_permissions(["bogus"]) == frozenset()
    assert may_grant("owner", "owner") and not may_grant("admin", "owner") and may_grant("admin", "viewer")
    assert not may_grant("analyst", "viewer")


def test_login_refresh_rotation_reuse_and_logout(database_url: str, tenants, api_cursor) -> None:
    a, _ = tenants
    email = a.users["analyst"]["email"]
    cur = api_cursor()
    with pytest.raises(store.AccountError, match="not valid"):
        store.login(cur, email, "wrong password")
    with pytest.raises(store.AccountError, match="not valid"):
        store.login(cur, "nobody@example.com", PASSWORD)
    session = store.login(api_cursor(), email.upper(), PASSWORD)
    api_cursor.commit()
    assert (session.tenant_id, session.role) == (a.id, "analyst")

    first = store.rotate_refresh(api_cursor(), session.refresh_token)
    api_cursor.commit()
    assert first.status == "ok" and first.session.refresh_token != session.refresh_token
    # The old token again: reuse. The whole family goes, the newest token included.
    assert store.rotate_refresh(api_cursor(), session.refresh_token).status == "reused"
    api_cursor.commit()
    assert store.rotate_refresh(api_cursor(), first.session.refresh_token).status == "revoked"
    assert store.rotate_refresh(api_cursor(), "no-such-token").status == "unknown"
    api_cursor.commit()

    second = store.login(api_cursor(), email, PASSWORD)
    api_cursor.commit()
    assert store.logout(api_cursor(), second.refresh_token)
    api_cursor.commit()
    assert store.rotate_refresh(api_cursor(), second.refresh_token).status == "revoked"
    later = datetime.now(UTC) + cred.REFRESH_TTL + timedelta(minutes=1)
    third = store.login(api_cursor(), email, PASSWORD)
    assert store.rotate_refresh(api_cursor(), third.refresh_token, now=later).status == "expired"
    api_cursor.commit()


def test_login_into_a_tenant_one_is_not_a_member_of_fails(tenants, api_cursor, database_url: str) -> None:
    a, b = tenants
    with pytest.raises(store.AccountError, match="not valid"):
        store.login(api_cursor(), a.users["owner"]["email"], PASSWORD, tenant_id=b.id)
    with owner_cursor(database_url) as cur:
        loner = store.create_user(cur, f"loner@{a.id}.example", PASSWORD, verified=True)  # a member of nothing
        both = store.create_user(cur, f"both@{a.id}.example", PASSWORD, verified=True)
        store.set_membership(cur, a.id, both["id"], "viewer")
        store.set_membership(cur, b.id, both["id"], "analyst")
    with pytest.raises(store.AccountError, match="not valid"):
        store.login(api_cursor(), loner["email"], PASSWORD)
    with pytest.raises(store.AccountError, match="several tenants"):
        store.login(api_cursor(), both["email"], PASSWORD)
    assert store.login(api_cursor(), both["email"], PASSWORD, tenant_id=b.id).role == "analyst"


def test_api_keys_resolve_until_revoked_or_expired(tenants, api_cursor) -> None:
    a, b = tenants
    principal = store.key_principal(api_cursor(), a.keys["write"])
    api_cursor.commit()
    assert principal.tenant_id == a.id and principal.permissions == {"read", "write"}
    cur = api_cursor()
    act_as_api(cur, a.id)
    listed = {k["prefix"]: k for k in store.list_api_keys(cur)}
    prefix = cred.parse_api_key(a.keys["write"])[0]
    assert listed[prefix]["last_used_at"] is not None and "secret_hash" not in listed[prefix]
    assert cred.parse_api_key(b.keys["write"])[0] not in listed  # RLS: B's keys are not listed
    wrong = a.keys["write"][:-3] + "xyz"
    assert store.key_principal(api_cursor(), wrong) is None
    future = datetime.now(UTC) + timedelta(days=1)
    cur = api_cursor()
    act_as_api(cur, a.id)
    row, token = store.create_api_key(cur, a.id, None, "short", ["read"], expires_at=future)
    api_cursor.commit()
    assert store.key_principal(api_cursor(), token) is not None
    assert store.key_principal(api_cursor(), token, now=future + timedelta(seconds=1)) is None
    cur = api_cursor()
    act_as_api(cur, a.id)
    before, after = store.revoke_api_key(cur, row["id"])
    assert before["revoked_at"] is None and after["revoked_at"] is not None
    api_cursor.commit()
    assert store.key_principal(api_cursor(), token) is None
    with pytest.raises(store.AccountError, match="scopes"):
        store.create_api_key(api_cursor(), a.id, None, "bad", ["root"])


class _Counting(psycopg2.extensions.cursor):
    """Counts round trips (each `execute` is one)."""

    sent = 0

    def execute(self, query, vars=None):
        type(self).sent += 1
        return super().execute(query, vars)


def test_an_api_key_authenticates_in_one_round_trip_and_a_wrong_one_scopes_nothing(tenants, database_url) -> None:
    """store.KEY_AUTH: the lookup, the tenant scope, the key's use and the standing in one statement,
    the API role taken in the same round trip; a wrong secret, revoked or expired key goes no further
    than the lookup (no scope, no use noted)."""
    a, _ = tenants
    with owner_cursor(database_url) as cur:
        row, token = store.create_api_key(cur, a.id, None, "one trip", ["read"])
    conn = psycopg2.connect(dsn(database_url))
    conn.autocommit = True  # as Warehouse.transaction(begun_by_first=True): the first statement begins
    try:
        for attempt in range(2):  # prepared on the first, executed on the second
            cur = conn.cursor(cursor_factory=_Counting)
            _Counting.sent = 0
            wrong = token[:-3] + ("xyz" if not token.endswith("xyz") else "abc")
            assert store.key_principal(cur, wrong, act_as_api_first=True, generation=True) is None
            cur.execute("SELECT current_user, current_setting('app.tenant_id', true)")
            assert cur.fetchone() == ("reos_api", "")  # the role taken, no tenant scoped
            cur.execute("SELECT last_used_at FROM api_keys WHERE id = %s", (row["id"],))
            assert cur.fetchone() is None  # invisible: not scoped to a tenant
            cur.execute("COMMIT")
            if attempt == 0:
                with owner_cursor(database_url) as owner:
                    owner.execute("SELECT last_used_at FROM api_keys WHERE id = %s", (row["id"],))
                    assert owner.fetchone()[0] is None  # the wrong secret noted no use
            _Counting.sent = 0
            principal = store.key_principal(cur, token, act_as_api_first=True, generation=True)
            assert _Counting.sent == 1, attempt
            assert principal is not None and principal.tenant_id == a.id and principal.permissions == {"read"}
            assert principal.standing.generation is not None  # read in the same statement
            cur.execute("SELECT current_setting('app.tenant_id', true), last_used_at IS NOT NULL FROM api_keys "
                        "WHERE id = %s", (row["id"],))
            assert cur.fetchone() == (a.id, True)  # scoped (row-level security shows the key), its use noted
            cur.execute("COMMIT")
    finally:
        conn.close()
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT last_used_at FROM api_keys WHERE id = %s", (row["id"],))
        assert cur.fetchone()[0] is not None


def test_a_user_authenticates_in_one_round_trip_scoped_to_the_token_tenant(tenants, database_url) -> None:
    """store.USER_AUTH: the API role, the tenant scope, the user setting, the account, its membership
    and the standing in one round trip; a user without a membership in the token's tenant is refused."""
    a, b = tenants
    user = a.users["viewer"]
    conn = psycopg2.connect(dsn(database_url))
    conn.autocommit = True  # as Warehouse.transaction(begun_by_first=True)
    try:
        for tenant_id, expected in ((a.id, True), (b.id, False), (a.id, True)):
            claims = cred.AccessClaims(user_id=user["id"], tenant_id=tenant_id, role="viewer", platform_admin=False,
                                       email=user["email"], expires_at=datetime.now(UTC) + timedelta(hours=1),
                                       token_id="t")
            cur = conn.cursor(cursor_factory=_Counting)
            _Counting.sent = 0
            principal = store.user_principal(cur, claims, generation=True, act_as_api_first=True)
            assert _Counting.sent == 1
            assert (principal is not None) is expected
            cur.execute("SELECT current_user, current_setting('app.tenant_id', true), "
                        "current_setting('app.user_id', true)")
            assert cur.fetchone() == ("reos_api", tenant_id, str(user["id"]))
            if expected:
                assert principal.role == "viewer" and principal.standing.generation is not None
            cur.execute("COMMIT")
    finally:
        conn.close()
