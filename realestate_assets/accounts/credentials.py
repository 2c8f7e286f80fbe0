"""Secrets: argon2id password hashes, opaque tokens, API key strings and JWT access tokens.

* Passwords: argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile); `verify_password`
  also says when a stored hash should be upgraded to the current parameters.
* Refresh tokens and API key secrets are 256-bit random values: a SHA-256 of them is stored
  (a slow hash adds nothing against guessing 2^256 values, and every API request verifies one).
* API keys read `reos_<prefix>_<secret>`: the prefix (8 hex) is public and finds the row.
* Access tokens: HS256 JWT, short-lived, with the tenant and role they were issued for.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

KEY_MARK = "reos"
ISSUER = "reos"
ALGORITHM = "HS256"
ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=30)

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> tuple[bool, bool]:
    """(matches, needs_rehash). A missing hash never matches (invited user without a password)."""
    if not stored_hash:
        return False, False
    try:
        _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False, False
    return True, _hasher.check_needs_rehash(stored_hash)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class NewApiKey:
    prefix: str
    secret: str

    @property
    def token(self) -> str:
        return f"{KEY_MARK}_{self.prefix}_{self.secret}"


def new_api_key() -> NewApiKey:
    return NewApiKey(prefix=secrets.token_hex(4), secret=secrets.token_urlsafe(32))


def parse_api_key(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key string, else None."""
    mark, _, rest = token.partition("_")
    prefix, _, secret = rest.partition("_")
    if mark != KEY_MARK or len(prefix) != 8 or not secret:
        return None
    return prefix, secret


def looks_like_api_key(token: str) -> bool:
    return token.startswith(KEY_MARK + "_")


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(sha256_hex(secret), stored_hash)


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    tenant_id: str
    role: str | None
    platform_admin: bool
    email: str
    expires_at: datetime
    token_id: str


class InvalidToken(Exception):
    """The access token is malformed, forged, expired or of another kind."""


def issue_access_token(secret: str, *, user_id: int, tenant_id: str, role: str | None, platform_admin: bool,
                       email: str, now: datetime | None = None,
                       ttl: timedelta = ACCESS_TTL) -> tuple[str, AccessClaims]:
    now = now or datetime.now(UTC)
    claims = AccessClaims(user_id=user_id, tenant_id=tenant_id, role=role, platform_admin=platform_admin,
                          email=email, expires_at=now + ttl, token_id=uuid.uuid4().hex)
    payload: dict[str, Any] = {
        "iss": ISSUER, "sub": str(user_id), "typ": "access", "tid": tenant_id, "role": role,
        "pa": platform_admin, "email": email, "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()), "jti": claims.token_id}
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode_access_token(secret: str, token: str) -> AccessClaims:
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                             options={"require": ["exp", "iat", "sub", "iss", "jti"]})
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if payload.get("typ") != "access" or not payload.get("tid"):
        raise InvalidToken("not an access token")
    return AccessClaims(user_id=int(payload["sub"]), tenant_id=str(payload["tid"]), role=payload.get("role"),
                        platform_admin=bool(payload.get("pa")), email=str(payload.get("email", "")),
                        expires_at=datetime.fromtimestamp(payload["exp"], UTC), token_id=str(payload["jti"]))
