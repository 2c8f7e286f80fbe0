"""Request and response bodies of /api/v1, each with an example for the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["owner", "admin", "analyst", "viewer"]
Scope = Literal["read", "write", "admin"]


def _example(**example: object) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class LoginRequest(BaseModel):
    model_config = _example(email="analyst@example.com", password="correct horse battery", tenant_id="acme")
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    tenant_id: str | None = Field(None, description="Tenant to act in; needed when a member of several")


class RefreshRequest(BaseModel):
    model_config = _example(refresh_token="4Jb0mQ7rY2m1c4kqk3dFb8wYQ7nJ0Zr8xV1uT5sW9eA")
    refresh_token: str = Field(max_length=200)


class TokenPair(BaseModel):
    model_config = _example(access_token="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.c2ln",
                            token_type="bearer", expires_in=900,
                            refresh_token="4Jb0mQ7rY2m1c4kqk3dFb8wYQ7nJ0Zr8xV1uT5sW9eA", tenant_id="acme",
                            role="analyst")
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token stays valid")
    refresh_token: str = Field(description="Single use: exchange it at /auth/refresh for a new pair")
    tenant_id: str
    role: Role | None


class Membership(BaseModel):
    tenant_id: str
    role: Role


class Me(BaseModel):
    model_config = _example(tenant_id="acme", actor="analyst@example.com", user_id=42, api_key_id=None,
                            role="analyst", platform_admin=False, permissions=["read", "write"],
                            memberships=[{"tenant_id": "acme", "role": "analyst"}])
    tenant_id: str
    actor: str
    user_id: int | None
    api_key_id: int | None
    role: Role | None
    platform_admin: bool
    permissions: list[str]
    memberships: list[Membership]


class TenantCreate(BaseModel):
    model_config = _example(id="acme", name="Acme Capital", owner_email="founder@acme.example")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
    owner_email: str | None = Field(None, description="Made the tenant's owner (account created when new)")


class Tenant(BaseModel):
    model_config = _example(id="acme", name="Acme Capital", created_at="2026-12-03T06:00:00Z")
    id: str
    name: str
    created_at: datetime


class MemberInvite(BaseModel):
    model_config = _example(email="new.analyst@example.com", role="analyst")
    email: str = Field(max_length=320)
    role: Role
    password: str | None = Field(None, min_length=10, max_length=1024,
                                 description="Initial password; without one the user cannot log in yet")


class MemberUpdate(BaseModel):
    model_config = _example(role="viewer")
    role: Role


class Member(BaseModel):
    model_config = _example(user_id=42, email="analyst@example.com", role="analyst", is_active=True,
                            email_verified_at=None, created_at="2026-12-03T06:00:00Z")
    user_id: int
    email: str
    role: Role
    is_active: bool
    email_verified_at: datetime | None
    created_at: datetime


class ApiKeyCreate(BaseModel):
    model_config = _example(name="CRM sync", scopes=["read"], expires_at="2027-06-30T00:00:00Z")
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(min_length=1)
    expires_at: datetime | None = None


class ApiKey(BaseModel):
    model_config = _example(id=7, name="CRM sync", prefix="3f9a1c0e", scopes=["read"],
                            expires_at="2027-06-30T00:00:00Z", revoked_at=None, last_used_at=None, user_id=42,
                            created_at="2026-12-03T06:00:00Z")
    id: int
    name: str
    prefix: str
    scopes: list[Scope]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    user_id: int | None
    created_at: datetime


class ApiKeyCreated(ApiKey):
    model_config = _example(id=7, name="CRM sync", prefix="3f9a1c0e", scopes=["read"], expires_at=None,
                            revoked_at=None, last_used_at=None, user_id=42, created_at="2026-12-03T06:00:00Z",
                            key="reos_3f9a1c0e_q2VvG7c8QyJ0cQ2b3k9m1xP4s6uW8yA0bC2dE4fG6hI")
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


class SubscriptionCreate(BaseModel):
    model_config = _example(county="king_wa")
    county: str = Field(pattern=r"^[a-z0-9_]{2,64}$")


class Subscription(BaseModel):
    model_config = _example(county="king_wa", created_at="2026-12-03T06:00:00Z")
    county: str
    created_at: datetime
