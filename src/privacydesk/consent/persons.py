"""Persons behind subject keys: found, created, locked, and merged when keys are linked."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from privacydesk.consent.models import ConsentPerson, ConsentSubject
from privacydesk.db.base import utcnow

# A new person and its first key in one statement; `linked` is NULL when a concurrent transaction took the key.
_CREATE = text(
    """
    WITH person AS (INSERT INTO consent_persons (created_at) VALUES (:now) RETURNING id),
    subject AS (
        INSERT INTO consent_subjects (key, person_id, created_at) SELECT :key, id, :now FROM person
        ON CONFLICT (key) DO NOTHING RETURNING person_id
    )
    SELECT person.id AS created, subject.person_id AS linked FROM person LEFT JOIN subject ON true
    """
)
# Keeps, per purpose, whichever of the two persons decided last.
_MERGE_STATES = text(
    """
    INSERT INTO consent_states (person_id, purpose, state, method, record_id, policy_version_number, decided_at, expires_at)
    SELECT :target, purpose, state, method, record_id, policy_version_number, decided_at, expires_at
    FROM consent_states WHERE person_id = :other
    ON CONFLICT (person_id, purpose) DO UPDATE SET
        state = EXCLUDED.state, method = EXCLUDED.method, record_id = EXCLUDED.record_id,
        policy_version_number = EXCLUDED.policy_version_number, decided_at = EXCLUDED.decided_at, expires_at = EXCLUDED.expires_at
    WHERE consent_states.decided_at < EXCLUDED.decided_at
    """
)


def find(session: Session, key: str) -> int | None:
    """The person a stored key names, if any."""
    return session.scalar(select(ConsentSubject.person_id).where(ConsentSubject.key == key))


def keys_of(session: Session, person_id: int) -> list[str]:
    """Every stored key linked to the person."""
    return list(session.scalars(select(ConsentSubject.key).where(ConsentSubject.person_id == person_id).order_by(ConsentSubject.key)))


def lock(session: Session, key: str, *, create: bool) -> int | None:
    """The person `key` names, row-locked for the rest of the transaction (created first if asked and absent).

    The lock serialises decisions, links and restrictions of one person, so each reads the state it changes.
    """
    while True:
        person_id = find(session, key)
        if person_id is None:
            if not create:
                return None
            row = session.execute(_CREATE, {"key": key, "now": utcnow()}).one()
            if row.linked is not None:
                linked: int = row.linked
                return linked
            # Another transaction created the key first: drop our person and use theirs.
            session.execute(text("DELETE FROM consent_persons WHERE id = :id"), {"id": row.created})
            continue
        session.execute(select(ConsentPerson.id).where(ConsentPerson.id == person_id).with_for_update())
        # A link may have moved the key to another person while we waited for the lock.
        if find(session, key) == person_id:
            return person_id


def link(session: Session, stored_keys: list[str]) -> tuple[int, int]:
    """Make every key name one person, merging the persons they named; returns (person id, persons merged)."""
    while True:
        found = dict(session.execute(select(ConsentSubject.key, ConsentSubject.person_id).where(ConsentSubject.key.in_(stored_keys))).all())
        persons = sorted(set(found.values()))
        # Locked in id order, so two links over the same persons cannot deadlock.
        session.execute(select(ConsentPerson.id).where(ConsentPerson.id.in_(persons)).order_by(ConsentPerson.id).with_for_update())
        again = dict(session.execute(select(ConsentSubject.key, ConsentSubject.person_id).where(ConsentSubject.key.in_(stored_keys))).all())
        if again == found:
            break
    if persons:
        target = persons[0]
    else:
        person = ConsentPerson()
        session.add(person)
        session.flush()
        target = person.id
    for other in persons[1:]:
        _merge(session, other, target)
    for key in stored_keys:
        if key not in found:
            session.add(ConsentSubject(key=key, person_id=target))
    session.flush()
    return target, len(persons[1:])


def _merge(session: Session, other: int, target: int) -> None:
    params = {"other": other, "target": target}
    session.execute(_MERGE_STATES, params)
    session.execute(text("DELETE FROM consent_states WHERE person_id = :other"), params)
    session.execute(text("UPDATE consent_subjects SET person_id = :target WHERE person_id = :other"), params)
    session.execute(text("UPDATE consent_restrictions SET person_id = :target WHERE person_id = :other"), params)
    session.execute(text("UPDATE consent_persons SET merged_into = :target WHERE id = :other OR merged_into = :other"), params)
