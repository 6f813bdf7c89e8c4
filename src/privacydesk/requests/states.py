"""The state machine of a request: which moves are allowed, and the one function that makes them.

    received -> verifying -> verified -> awaiting_approval -> approved -> executing -> completed
                                     \\-----(no approval)-----/                    \\-> failed
    executing <-> waiting_manual (a system's owner carries out a task by hand) -> failed
    received -> verified                  (the person was verified before: app, OpenDSR, staff)
    any state before executing -> rejected | cancelled
    received, verifying -> expired        (the person never entered the code: requests.expiry)

A request starts as received (`receive`). Every move is stored as an event with its time and
actor and written to the audit log; a move the table does not allow is a Conflict and changes
nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from privacydesk.audit import service as audit
from privacydesk.db.base import utcnow
from privacydesk.errors import Conflict
from privacydesk.requests import callbacks
from privacydesk.requests.models import RequestEvent, RequestStatus, SubjectRequest

S = RequestStatus
_STOPPABLE = frozenset({S.rejected, S.cancelled})
TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    S.received: frozenset({S.verifying, S.verified, S.expired}) | _STOPPABLE,
    S.verifying: frozenset({S.verified, S.expired}) | _STOPPABLE,
    S.verified: frozenset({S.awaiting_approval, S.approved}) | _STOPPABLE,
    S.awaiting_approval: frozenset({S.approved}) | _STOPPABLE,
    S.approved: frozenset({S.executing}) | _STOPPABLE,
    # Once systems are being changed, the request can only end; it is no longer withdrawn halfway.
    S.executing: frozenset({S.completed, S.failed, S.waiting_manual}),
    S.waiting_manual: frozenset({S.executing, S.failed}),
    S.completed: frozenset(),
    S.rejected: frozenset(),
    S.cancelled: frozenset(),
    S.failed: frozenset(),
    S.expired: frozenset(),
}


# The move and its event in one statement.
_MOVED = text(
    "WITH moved AS (UPDATE subject_requests SET status = :to, updated_at = :at WHERE id = :id RETURNING id)"
    " INSERT INTO subject_request_events (request_id, at, from_status, to_status, actor, note)"
    " SELECT id, :at, :from, :to, :actor, :note FROM moved"
)


def can_move(current: RequestStatus, target: RequestStatus) -> bool:
    """Whether the state machine allows going from `current` to `target`."""
    return target in TRANSITIONS[current]


def receive(session: Session, request: SubjectRequest, *, actor: str, now: datetime, summary: dict[str, Any]) -> RequestEvent:
    """Record the receipt of a request just stored as received; `summary` goes to the audit log and must hold no personal data."""
    return _record(session, request, None, RequestStatus.received, actor=actor, now=now, note=None, summary=summary)


def move(
    session: Session,
    request: SubjectRequest,
    target: RequestStatus,
    *,
    actor: str,
    now: datetime | None = None,
    note: str | None = None,
    summary: dict[str, Any] | None = None,
) -> RequestEvent:
    """Move `request` to `target`, record the event and the audit entry, and tell OpenDSR clients if they see a change.

    `note` (which may hold personal data) stays with the request; `summary` goes to the audit log and must not.
    """
    current = request.status
    if not can_move(current, target):
        raise Conflict(f"a request that is {current} cannot become {target}", details={"status": str(current), "wanted": str(target)})
    event = _record(session, request, current, target, actor=actor, now=now or utcnow(), note=note, summary=summary or {})
    callbacks.status_changed(session, request, current, now=event.at)
    return event


def _record(
    session: Session,
    request: SubjectRequest,
    current: RequestStatus | None,
    target: RequestStatus,
    *,
    actor: str,
    now: datetime,
    note: str | None,
    summary: dict[str, Any],
) -> RequestEvent:
    event = RequestEvent(at=now, from_status=current, to_status=target, actor=actor, note=note)
    stored = inspect(request)
    if stored.persistent and "events" in stored.unloaded:
        # The history was not read (a request's run moves it without reading it): one plain statement, no unit of work.
        moved = {"id": request.id, "at": now, "from": current.value if current else None, "to": target.value, "actor": actor, "note": note}
        session.execute(_MOVED, moved)
        set_committed_value(request, "status", target)
        set_committed_value(request, "updated_at", now)
        event.request_id = request.id
    else:
        request.status = target
        request.updated_at = now
        request.events.append(event)
        session.flush()
    audit.record_at_commit(
        session,
        actor=actor,
        action=f"request.{target.value}",
        object_type="subject_request",
        object_id=str(request.id),
        summary={"from": current.value if current else None, "to": target.value, "type": request.type.value, **summary},
    )
    return event
