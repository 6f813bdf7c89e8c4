"""Admin users and API tokens. Functions take the session and never commit."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.auth.models import ApiToken, User, UserSession
from privacydesk.auth.passwords import check_strength, hash_password
from privacydesk.auth.permissions import Permission, Role, permissions_of
from privacydesk.auth.principal import Principal
from privacydesk.db.base import utcnow
from privacydesk.errors import Conflict, Forbidden, Invalid, NotFound

TOKEN_PREFIX = "pd_"
MAX_TOKEN_DAYS = 3650
# Writing last_used_at on every call would turn each authenticated read into a write.
LAST_USED_PRECISION = timedelta(minutes=1)
_PERMISSIONS = {permission.value: permission for permission in Permission}


# ---------------------------------------------------------------- users
def normalize_email(email: str) -> str:
    """The email as stored: trimmed and lowercased; Invalid if it is not an address."""
    value = email.strip().lower()
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or len(value) > 254 or any(c.isspace() for c in value):
        raise Invalid("not an email address")
    return value


def create_user(session: Session, *, email: str, name: str, role: Role, password: str, actor: str) -> User:
    """Add an admin user with a hashed password."""
    check_strength(password)
    email = normalize_email(email)
    if not name.strip():
        raise Invalid("the name is empty")
    user = User(email=email, name=name.strip(), role=role.value, password_hash=hash_password(password), active=True)
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise Conflict("a user with this email already exists") from None
    audit.record(session, actor=actor, action="user.created", object_type="user", object_id=str(user.id), summary={"role": role.value})
    return user


def list_users(session: Session) -> list[User]:
    """Every user, oldest first."""
    return list(session.scalars(select(User).order_by(User.id)))


def get_user(session: Session, user_id: int) -> User:
    """The user with this id, or NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def find_user(session: Session, email: str) -> User:
    """The user with this email (any case), or NotFound."""
    user = session.scalars(select(User).where(User.email == email.strip().lower())).one_or_none()
    if user is None:
        raise NotFound("no user with this email")
    return user


def disable_user(session: Session, user: User, *, actor: str) -> User:
    """Stop a user from signing in, end their sessions; their tokens stop working with them."""
    if not user.active:
        return user
    if user.role == Role.OWNER and _active_owners(session) <= 1:
        raise Conflict("this is the last active owner: make someone else owner first")
    user.active = False
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    audit.record(session, actor=actor, action="user.disabled", object_type="user", object_id=str(user.id))
    return user


def principal_for(user: User, *, session_hash: str | None = None) -> Principal:
    """The principal of a user signed in with a browser."""
    role = Role(user.role)
    return Principal(user.id, user.email, user.name, role, permissions_of(role), session_hash=session_hash)


def _active_owners(session: Session) -> int:
    # Locks the owners' rows so two owners cannot disable each other at the same time.
    rows = session.scalars(select(User.id).where(User.role == Role.OWNER, User.active).with_for_update())
    return len(list(rows))


# ---------------------------------------------------------------- tokens
def hash_token(token: str) -> str:
    """The SHA-256 of a token, the only form in which it is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    *,
    owner: User,
    name: str,
    scopes: Iterable[Permission],
    expires_days: int,
    grantable: frozenset[Permission],
    actor: str,
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Issue a token for `owner` with scopes within `grantable`; the token itself is returned once, never stored."""
    wanted = frozenset(scopes)
    if not wanted:
        raise Invalid("a token needs at least one scope")
    if beyond := wanted - grantable:
        raise Forbidden(f"cannot grant {', '.join(sorted(beyond))}")
    if not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise Invalid(f"a token expires after 1 to {MAX_TOKEN_DAYS} days")
    if not owner.active:
        raise Invalid("the owner is disabled")
    if not name.strip():
        raise Invalid("the token name is empty")
    now = now or utcnow()
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name.strip(),
        prefix=secret[:10],
        token_hash=hash_token(secret),
        scopes=sorted(wanted),
        owner_id=owner.id,
        created_at=now,
        expires_at=now + timedelta(days=expires_days),
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="token.created",
        object_type="api_token",
        object_id=str(token.id),
        summary={"name": token.name, "owner": f"user:{owner.id}", "scopes": token.scopes, "expires_at": token.expires_at.isoformat()},
    )
    return token, secret


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, revoked and expired ones included, oldest first."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int, *, actor: str, now: datetime | None = None) -> ApiToken:
    """Revoke a token for good; revoking it again changes nothing."""
    token = session.get(ApiToken, token_id, with_for_update=True)
    if token is None:
        raise NotFound(f"no token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now or utcnow()
        audit.record(session, actor=actor, action="token.revoked", object_type="api_token", object_id=str(token.id))
    return token


def token_principal(session: Session, secret: str, *, now: datetime | None = None) -> Principal | None:
    """The principal of a valid token, or None if it is unknown, revoked, expired or its owner disabled."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    now = now or utcnow()
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(secret))).one_or_none()
    if token is None or token.revoked_at is not None or token.expires_at <= now or not token.owner.active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        # Conditional, so concurrent calls write at most once per interval.
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == token.id, or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_PRECISION))
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    owner = token.owner
    role = Role(owner.role)
    # A token never exceeds its owner's current role, even if the role shrank after it was issued.
    granted = frozenset(_PERMISSIONS[s] for s in token.scopes if s in _PERMISSIONS) & permissions_of(role)
    return Principal(owner.id, owner.email, owner.name, role, granted, token_id=token.id)
