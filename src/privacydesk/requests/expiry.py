"""Requests whose person never entered the code sent to them expire, so they stop counting as open.

A request waiting for a code (the policy verifies by e-mail or phone code) expires once
`PRIVACYDESK_REQUEST_UNVERIFIED_DAYS` (14) have passed since its receipt and since the last code
sent for it: a person who asked for a new code has the whole period again. Requests the privacy
team verifies itself (`account`, `manual`) never expire: waiting on the team is no reason to drop
them. Expiring is a move of the state machine, so it is stored and audited like any other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from privacydesk.config import get_settings
from privacydesk.db.base import utcnow
from privacydesk.requests import states
from privacydesk.requests.models import RequestStatus, SubjectRequest, VerificationCode
from privacydesk.requests.verification import CODE_CHANNELS

WAITING = (RequestStatus.received, RequestStatus.verifying)
# Requests expired per transaction: the audit log's lock is held until each commits.
BATCH = 500


def expire_unverified(session: Session, *, now: datetime | None = None, days: int | None = None, limit: int = BATCH) -> int:
    """Expire up to `limit` requests left unverified for `days` (the setting when None); return how many."""
    now = now or utcnow()
    days = days or get_settings().request_unverified_days
    cutoff = now - timedelta(days=days)
    recent_code = exists().where(VerificationCode.request_id == SubjectRequest.id, VerificationCode.created_at >= cutoff)
    stale = (
        select(SubjectRequest)
        .where(
            SubjectRequest.status.in_(WAITING),
            SubjectRequest.verification_method.in_(CODE_CHANNELS),
            SubjectRequest.created_at < cutoff,
            ~recent_code,
        )
        .order_by(SubjectRequest.id)
        .limit(limit)
        # A request the person is verifying right now is left for the next run.
        .with_for_update(skip_locked=True)
    )
    expired = 0
    for request in session.scalars(stale):
        states.move(session, request, RequestStatus.expired, actor="system", now=now, summary={"unverified_days": days})
        expired += 1
    return expired
