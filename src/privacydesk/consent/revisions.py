"""Which consent purposes each published version changed materially.

A material change to what a consent covers (new purposes, data, recipients or countries for its
activities, a longer retention, a new cookie...) means consents given before it no longer cover
the processing: they stop counting until the person decides again. The versions domain records
material changes as `policy_events`; here they become (purpose, version) rows, derived the first
time the consent service meets a version it has not seen, so publishing needs no hook of ours.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from privacydesk.consent.models import ConsentPolicySync, ConsentRevision
from privacydesk.policy.models import Policy
from privacydesk.versions.models import PolicyEvent, PolicyVersion
from privacydesk.versions.service import policy_of

_ACTIVITY_SECTIONS = {"activity", "purpose", "data", "retention"}


def ensure_synced(session: Session, latest_number: int) -> None:
    """Derive the revisions of every version up to `latest_number` unless already done."""
    if session.get(ConsentPolicySync, latest_number) is None:
        sync(session)


def sync(session: Session) -> None:
    """Turn the material changes of every version not yet seen into revisions."""
    done = set(session.scalars(select(ConsentPolicySync.version_number)))
    versions = session.execute(select(PolicyVersion.id, PolicyVersion.number).order_by(PolicyVersion.number)).all()
    for version_id, number in versions:
        if number in done:
            continue
        changes = [
            change
            for event in session.scalars(
                select(PolicyEvent).where(PolicyEvent.version_id == version_id, PolicyEvent.kind == "material_change")
            )
            for change in event.changes
        ]
        if changes:
            version = session.get_one(PolicyVersion, version_id)
            purposes = affected_purposes(policy_of(version), changes)
            if purposes:
                rows = [{"purpose": purpose, "version_number": number} for purpose in purposes]
                # Another request may derive the same rows at the same moment.
                session.execute(insert(ConsentRevision).values(rows).on_conflict_do_nothing())
        session.execute(insert(ConsentPolicySync).values(version_number=number).on_conflict_do_nothing())


def changed_in(session: Session, number: int) -> list[str]:
    """The purposes version `number` changed materially."""
    return sorted(session.scalars(select(ConsentRevision.purpose).where(ConsentRevision.version_number == number)))


def latest_revisions(session: Session) -> dict[str, int]:
    """For each purpose ever revised, the number of the last version that revised it."""
    rows = session.execute(select(ConsentRevision.purpose, ConsentRevision.version_number)).all()
    latest: dict[str, int] = {}
    for purpose, number in rows:
        latest[purpose] = max(number, latest.get(purpose, 0))
    return latest


def affected_purposes(policy: Policy, changes: Iterable[dict[str, Any]]) -> list[str]:
    """The consent purposes of `policy` that material `changes` (Change.model_dump) touch."""
    by_activity: dict[str, set[str]] = {}
    for purpose_id, purpose in policy.consents.items():
        for activity in purpose.activities:
            by_activity.setdefault(activity, set()).add(purpose_id)
    found: set[str] = set()
    for change in changes:
        section, subject, items = change["section"], change["subject"], change.get("items") or []
        activities: set[str] = set()
        if section == "consent" and subject in policy.consents:
            found.add(subject)
        elif section in _ACTIVITY_SECTIONS:
            activities.add(subject)
        elif section == "recipient" and change["kind"] == "changed":
            # The recipient itself changed (its country, its role): every activity it receives data from.
            activities |= {name for name, activity in policy.activities.items() if subject in activity.recipients}
        elif section in {"recipient", "transfer"}:
            activities |= set(items)
        elif section == "cookie":
            found |= {cookie.consent for cookie in policy.cookies if cookie.name == subject and cookie.consent}
        for activity in activities:
            found |= by_activity.get(activity, set())
    return sorted(found)
