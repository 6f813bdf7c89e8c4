"""Proving a person is who the request names: one-time codes by email or text message, with rate limits.

A code is 6 random digits, valid 10 minutes, good for 5 tries; only an HMAC of it (keyed with the
platform key, so a stolen table cannot be brute-forced offline) is stored, and it is compared in
constant time. At most 3 codes an hour go to one email address or phone number, and at most 20 an
hour are asked for from one client address.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from hmac import compare_digest

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.auth import keys
from privacydesk.db.base import utcnow
from privacydesk.errors import Invalid, PrivacydeskError, TooManyAttempts
from privacydesk.i18n import gettext
from privacydesk.mail.service import queue_mail
from privacydesk.requests import identities, sms
from privacydesk.requests.models import RateLimitHit, SubjectRequest, VerificationCode

CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5
RATE_WINDOW = timedelta(hours=1)
CODES_PER_IDENTITY = 3
CODES_PER_CLIENT = 20
# The policy's verification setting, and the identity a code for it goes to.
CODE_CHANNELS = {"email_code": "email", "phone_code": "phone"}


class CodeNotSent(PrivacydeskError):
    """The SMS gateway did not take the message; nothing was recorded, the person may try again."""

    status_code = 503
    code = "code_not_sent"


class Outcome(StrEnum):
    """How checking a code ended."""

    verified = "verified"
    wrong = "wrong"
    expired = "expired"
    locked = "locked"
    missing = "missing"


@dataclass(frozen=True)
class Check:
    """The outcome of checking a code, and the tries left on it."""

    outcome: Outcome
    attempts_left: int = 0


def throttle(session: Session, key: str, *, limit: int, message: str, now: datetime | None = None) -> None:
    """Count one event for `key`; TooManyAttempts if `limit` events were counted within the last RATE_WINDOW."""
    now = now or utcnow()
    hashed = keys.digest("request-rate", key)
    # Serialises counters of the same key, so two concurrent events cannot both take the last slot.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": hashed})
    session.execute(delete(RateLimitHit).where(RateLimitHit.key == hashed, RateLimitHit.at <= now - RATE_WINDOW))
    counted = session.scalar(select(func.count()).select_from(RateLimitHit).where(RateLimitHit.key == hashed)) or 0
    if counted >= limit:
        raise TooManyAttempts(message, details={"limit": limit, "window_minutes": int(RATE_WINDOW.total_seconds() // 60)})
    session.add(RateLimitHit(key=hashed, at=now))
    session.flush()


def code_channel(request: SubjectRequest) -> str | None:
    """The identity type a code for `request` goes to, or None when the person is verified some other way."""
    return CODE_CHANNELS.get(request.verification_method)


def send_code(
    session: Session,
    request: SubjectRequest,
    *,
    organization: str,
    client: str | None,
    now: datetime | None = None,
    channel: str | None = None,
) -> VerificationCode:
    """Make a new code for `request` (earlier ones stop working) and send it; `client` is the caller's address, if known.

    `channel` (email, phone) sends it there instead of where the request is verified: a download of the answer
    is verified again by a code to the person's verified address, however the request itself was verified.
    """
    now = now or utcnow()
    channel = channel or code_channel(request)
    destination = request.identity(channel) if channel else None
    if channel is None or destination is None:
        raise Invalid("this request is not verified by a code; the privacy team verifies it")
    throttle(
        session,
        f"code-identity:{identities.value_hash(channel, destination)}",
        limit=CODES_PER_IDENTITY,
        message=f"{CODES_PER_IDENTITY} codes were sent to this {channel} in the last hour; wait before asking for another",
        now=now,
    )
    if client is not None:
        throttle(
            session,
            f"code-client:{client}",
            limit=CODES_PER_CLIENT,
            message="too many codes were asked for from your address in the last hour; try again later",
            now=now,
        )
    session.execute(
        update(VerificationCode).where(VerificationCode.request_id == request.id, VerificationCode.used_at.is_(None)).values(used_at=now)
    )
    code = f"{secrets.randbelow(1_000_000):06d}"
    row = VerificationCode(request_id=request.id, channel=channel, code_hash="", created_at=now, expires_at=now + CODE_LIFETIME, attempts=0)
    session.add(row)
    session.flush()
    row.code_hash = _hash(row.id, code)
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    if channel == "email":
        context = {"code": code, "reference": request.reference, "organization": organization, "minutes": minutes, "attempts": MAX_ATTEMPTS}
        queue_mail(session, to=destination, template="verification_code", language=request.language, context=context)
    else:
        message = gettext(request.language, "Your verification code for %(organization)s is %(code)s. It is valid for %(minutes)d minutes.")
        try:
            sms.sender().send(destination, message % {"organization": organization, "code": code, "minutes": minutes})
        except OSError as exc:
            raise CodeNotSent("the text message could not be sent; try again in a few minutes") from exc
    audit.record(
        session,
        actor="system",
        action="request.code_sent",
        object_type="subject_request",
        object_id=str(request.id),
        summary={"channel": channel},
    )
    return row


def check_code(session: Session, request: SubjectRequest, code: str, *, now: datetime | None = None) -> Check:
    """Check the person's code against the latest one sent; every wrong try counts, so the caller must commit either way."""
    now = now or utcnow()
    row = session.scalars(
        select(VerificationCode)
        .where(VerificationCode.request_id == request.id, VerificationCode.used_at.is_(None))
        .order_by(VerificationCode.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if row is None:
        return Check(Outcome.missing)
    if row.attempts >= MAX_ATTEMPTS:
        return Check(Outcome.locked)
    if now >= row.expires_at:
        return Check(Outcome.expired)
    row.attempts += 1
    if compare_digest(_hash(row.id, code).encode(), row.code_hash.encode()):
        row.used_at = now
        return Check(Outcome.verified)
    locked = row.attempts >= MAX_ATTEMPTS
    audit.record(
        session,
        actor="anonymous",
        action="request.code_locked" if locked else "request.code_rejected",
        object_type="subject_request",
        object_id=str(request.id),
        summary={"attempts": row.attempts},
    )
    return Check(Outcome.locked if locked else Outcome.wrong, MAX_ATTEMPTS - row.attempts)


def _hash(code_id: int, code: str) -> str:
    return keys.digest("verification-code", f"{code_id}:{code}")
