"""The hook data-subject requests use to stop processing: while a restriction (Art. 18) or an objection
(Art. 21) stands, every check for the person (through any linked key) answers "restricted".
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.consent import persons
from privacydesk.consent.models import ConsentRestriction
from privacydesk.consent.published import latest
from privacydesk.consent.subjects import SubjectKey
from privacydesk.db.base import utcnow
from privacydesk.errors import Invalid, NotFound

Reason = Literal["restriction", "objection"]


def restrict(
    session: Session,
    subject: SubjectKey,
    *,
    reason: Reason,
    actor: str,
    purpose: str | None = None,
    activity: str | None = None,
    reference: str | None = None,
) -> ConsentRestriction:
    """Make checks for the person answer "restricted" (for one purpose, or all when `purpose` is None) until lifted.

    With `activity`, an objection to that activity of the policy is entered instead: it stands in the register (for
    the team and the company's systems to honour) and leaves the checks of purposes to their own entries.
    """
    if purpose is not None:
        latest(session).purpose(purpose)
    if activity is not None and (purpose is not None or activity not in latest(session).policy.activities):
        raise Invalid(f"an objection names one activity of the published policy, not {activity[:80]!r}")
    person_id = persons.lock(session, subject.stored, create=True)
    assert person_id is not None
    restriction = ConsentRestriction(
        person_id=person_id,
        subject_key=subject.stored,
        purpose=purpose,
        activity=activity,
        reason=reason,
        reference=reference,
        created_by=actor,
    )
    session.add(restriction)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="consent.restricted",
        object_type="consent_restriction",
        object_id=str(restriction.id),
        summary={"reason": reason, "purpose": purpose or "all", "activity": activity, "reference": reference},
    )
    return restriction


def lift(session: Session, restriction_id: int, *, actor: str, now: datetime | None = None) -> ConsentRestriction:
    """End a restriction; lifting it again changes nothing."""
    restriction = session.get(ConsentRestriction, restriction_id, with_for_update=True)
    if restriction is None:
        raise NotFound(f"no consent restriction {restriction_id}")
    if restriction.lifted_at is None:
        restriction.lifted_at = now or utcnow()
        restriction.lifted_by = actor
        audit.record(
            session, actor=actor, action="consent.restriction_lifted", object_type="consent_restriction", object_id=str(restriction.id)
        )
    return restriction


def active(session: Session, subject: SubjectKey) -> list[ConsentRestriction]:
    """The restrictions standing for the person the key names, oldest first."""
    person_id = persons.find(session, subject.stored)
    if person_id is None:
        return []
    query = select(ConsentRestriction).where(ConsentRestriction.person_id == person_id, ConsentRestriction.lifted_at.is_(None))
    return list(session.scalars(query.order_by(ConsentRestriction.id)))
