"""Request and response bodies of the users and tokens API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from privacydesk.auth.permissions import Permission, Role
from privacydesk.auth.service import MAX_TOKEN_DAYS


class UserOut(BaseModel):
    """An admin user as the API shows it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: Role
    active: bool
    created_at: datetime
    last_login_at: datetime | None
    locked_until: datetime | None


class UserCreate(BaseModel):
    """A new admin user; without a password one is generated and returned once."""

    email: str = Field(max_length=254)
    name: str = Field(min_length=1, max_length=200)
    role: Role
    password: SecretStr | None = None


class UserCreated(UserOut):
    """The created user, with the generated password if none was given."""

    generated_password: str | None = None


class TokenOut(BaseModel):
    """An API token as the API shows it: its prefix, never the token."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    scopes: list[str]
    owner_id: int
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreate(BaseModel):
    """A new token for the caller's own account, with scopes the caller holds."""

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Permission] = Field(min_length=1)
    expires_days: int = Field(default=90, ge=1, le=MAX_TOKEN_DAYS)


class TokenCreated(TokenOut):
    """The created token; `token` is shown this once and cannot be recovered."""

    token: str


class PrincipalOut(BaseModel):
    """The caller: its user, role and effective permissions."""

    actor: str
    user_id: int
    email: str
    role: Role
    permissions: list[Permission]
    token_id: int | None
