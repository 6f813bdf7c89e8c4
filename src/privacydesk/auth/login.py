"""Password login with lockouts per account and per client, and browser sessions.

Failures are counted on the user row for known accounts and in `login_throttles` for client
addresses and unknown emails, so an unknown email behaves exactly like a known one: same
checks, same hashing time, same lockout.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.auth import keys
from privacydesk.auth.models import LoginThrottle, User, UserSession
from privacydesk.auth.passwords import burn_time, verify_password
from privacydesk.auth.principal import Principal
from privacydesk.auth.service import hash_token, principal_for
from privacydesk.config import get_settings
from privacydesk.db.base import utcnow


class Outcome(StrEnum):
    """How a login attempt ended."""

    OK = "ok"
    INVALID = "invalid"
    LOCKED = "locked"


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a login attempt, and the user when it succeeded."""

    outcome: Outcome
    user: User | None = None


class _Attempts(Protocol):
    failed_logins: int
    last_failed_login_at: datetime | None
    locked_until: datetime | None


def authenticate(session: Session, email: str, password: str, client: str, *, now: datetime | None = None) -> LoginResult:
    """Check a password login from `client` (an address); count failures and lock out when there are too many.

    Returns rather than raises on failure: the caller must commit, or the failure would not count.
    """
    now = now or utcnow()
    window = timedelta(minutes=get_settings().login_lockout_minutes)
    _forget_stale(session, now, window)
    email = email.strip().lower()
    client_key, email_key = _key("client", client), _key("email", email)
    client_attempts = session.get(LoginThrottle, client_key, with_for_update=True)
    user = session.scalars(select(User).where(User.email == email).with_for_update()).one_or_none()
    account_attempts: _Attempts | None = user if user is not None else session.get(LoginThrottle, email_key, with_for_update=True)
    if _locked(client_attempts, now) or _locked(account_attempts, now):
        return LoginResult(Outcome.LOCKED)

    if user is None:
        burn_time(password)
        reason = "unknown_account"
    else:
        verified = verify_password(user.password_hash, password)
        if verified.ok and user.active:
            _succeed(session, user, verified.new_hash, now)
            return LoginResult(Outcome.OK, user)
        reason = "disabled" if verified.ok else "wrong_password"

    object_id = str(user.id) if user is not None else None
    audit.record(
        session, actor="anonymous", action="auth.login_failed", object_type="user", object_id=object_id, summary={"reason": reason}
    )
    attempts = {
        "client": client_attempts or _new_throttle(session, client_key),
        "account": account_attempts or _new_throttle(session, email_key),
    }
    locked = [scope for scope, counter in attempts.items() if _count_failure(counter, now, window)]
    for scope in locked:
        summary = {"scope": scope, "minutes": int(window.total_seconds() // 60)}
        audit.record(session, actor="anonymous", action="auth.locked_out", object_type="user", object_id=object_id, summary=summary)
    return LoginResult(Outcome.LOCKED if locked else Outcome.INVALID)


def start_session(session: Session, user: User, *, now: datetime | None = None) -> str:
    """Open a browser session for `user`; returns the cookie value (the signed session token)."""
    now = now or utcnow()
    session.execute(delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=get_settings().session_hours)
    session.add(UserSession(token_hash=hash_token(token), user_id=user.id, created_at=now, expires_at=expires))
    session.flush()
    return keys.sign("session", token)


def session_principal(session: Session, cookie: str, *, now: datetime | None = None) -> Principal | None:
    """The principal of a session cookie, or None if it is forged, unknown, expired or its user disabled."""
    token = keys.unsign("session", cookie)
    if token is None:
        return None
    token_hash = hash_token(token)
    row = session.execute(
        select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.token_hash == token_hash, UserSession.expires_at > (now or utcnow()), User.active)
    ).scalar_one_or_none()
    return principal_for(row, session_hash=token_hash) if row is not None else None


def end_session(session: Session, principal: Principal) -> None:
    """Sign a browser out: its session is deleted, so the cookie is worthless even if kept."""
    if principal.session_hash is None:
        return
    session.execute(delete(UserSession).where(UserSession.token_hash == principal.session_hash))
    audit.record(session, actor=principal.actor, action="auth.logout", object_type="user", object_id=str(principal.user_id))


def _succeed(session: Session, user: User, new_hash: str | None, now: datetime) -> None:
    user.failed_logins = 0
    user.last_failed_login_at = None
    user.locked_until = None
    user.last_login_at = now
    if new_hash is not None:
        user.password_hash = new_hash
    summary = {"rehashed": new_hash is not None}
    audit.record(
        session, actor=f"user:{user.id}", action="auth.login_succeeded", object_type="user", object_id=str(user.id), summary=summary
    )


def _key(kind: str, value: str) -> str:
    # A keyed digest: the table never holds a raw address or email, and cannot be reversed by guessing.
    return f"{kind}:{keys.digest('login-throttle', value)}"


def _new_throttle(session: Session, key: str) -> LoginThrottle:
    # Another attempt may create the same row at the same moment: insert if absent, then lock it.
    session.execute(insert(LoginThrottle).values(key=key, failed_logins=0).on_conflict_do_nothing())
    return session.scalars(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()).one()


def _locked(attempts: _Attempts | None, now: datetime) -> bool:
    return attempts is not None and attempts.locked_until is not None and attempts.locked_until > now


def _count_failure(attempts: _Attempts, now: datetime, window: timedelta) -> bool:
    """Count one failure; True if it starts a lockout. Failures further apart than the window are forgotten."""
    if attempts.last_failed_login_at is None or now - attempts.last_failed_login_at > window:
        attempts.failed_logins = 0
    attempts.failed_logins += 1
    attempts.last_failed_login_at = now
    if attempts.failed_logins < get_settings().login_max_failures:
        return False
    attempts.locked_until = now + window
    attempts.failed_logins = 0
    return True


def _forget_stale(session: Session, now: datetime, window: timedelta) -> None:
    # Rows whose failures are forgotten and whose lockout is over carry no information any more.
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failed_login_at < now - window,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
        )
    )
