"""Consent tables: append-only records and events, the current state derived from them, and restrictions.

Column names follow ISO/IEC TS 27560 where it names the field (record_id, pii_principal_id,
collection_method, event_time, event_state, ...); docs/consent.md maps every column.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from privacydesk.db.base import Base, utcnow

# The states a person's consent to one purpose can be in, and the events that lead there.
STATES = ("given", "refused", "withdrawn", "expired")
EVENT_STATES = ("given", "refused", "withdrawn", "expired", "updated")
METHODS = ("accept_all", "reject_all", "custom", "gpc", "api", "import")
SURFACES = ("banner", "preference_centre", "app", "email")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class ConsentPerson(Base):
    """One person, known by one or more subject keys; merged into another when keys are linked."""

    __tablename__ = "consent_persons"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when linking found this person to be the same as another: everything moved there.
    merged_into: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("consent_persons.id"))


class ConsentSubject(Base):
    """A subject key (cid:..., account:..., email:<keyed digest>) and the person it names."""

    __tablename__ = "consent_subjects"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("consent_persons.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentRecord(Base):
    """One decision as it was made: who, under which notice and text, how, where and when. Never updated."""

    __tablename__ = "consent_records"
    __table_args__ = (
        CheckConstraint(_one_of("collection_method", METHODS), name="collection_method"),
        CheckConstraint(_one_of("surface", SURFACES), name="surface"),
    )

    record_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # The subject key the decision was made under (emails only as their keyed digest).
    pii_principal_id: Mapped[str] = mapped_column(String(300), index=True)
    # The person the key named when the decision was recorded.
    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("consent_persons.id"), index=True)
    # The published policy version the notice came from: its hash and number.
    notice_version: Mapped[str] = mapped_column(String(64))
    policy_version_number: Mapped[int]
    # SHA-256 of the exact texts and purposes shown, and their language; unknown for imports and some apps.
    notice_hash: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(5))
    collection_method: Mapped[str] = mapped_column(String(20))
    # Where the choice was offered; unknown for imports.
    surface: Mapped[str | None] = mapped_column(String(30))
    # When the decision was made (for imports: when it was originally given), and when it was stored here.
    event_time: Mapped[datetime] = mapped_column(index=True)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who recorded it: the person through a public endpoint, or the API token / user that sent it.
    entity_id: Mapped[str] = mapped_column(String(200))
    # Context: the page without its query string, the browser, the Global Privacy Control signal.
    page_url: Mapped[str | None] = mapped_column(String(2000))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    gpc: Mapped[bool] = mapped_column(default=False)
    # Only when the policy asks for it (consent_settings.store_ip: truncated), and then only the network.
    ip_address: Mapped[str | None] = mapped_column(String(45))
    # Imports: where the consent was collected before, and how.
    source: Mapped[str | None] = mapped_column(String(200))
    source_method: Mapped[str | None] = mapped_column(String(50))


class ConsentRecordAudit(Base):
    """Which audit entry covers a record: written with the record (empty), filled by the batch audit job."""

    __tablename__ = "consent_record_audits"
    __table_args__ = (Index("ix_consent_record_audits_pending", "record_id", postgresql_where="audit_seq IS NULL"),)

    record_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("consent_records.record_id"), primary_key=True)
    # The seq of the audit entry whose digest covers the record; None until the next batch.
    audit_seq: Mapped[int | None] = mapped_column(BigInteger, index=True)


class ConsentEvent(Base):
    """What a record, or a later expiry, did to one purpose. Never updated."""

    __tablename__ = "consent_events"
    __table_args__ = (CheckConstraint(_one_of("event_state", EVENT_STATES), name="event_state"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("consent_records.record_id"), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    event_state: Mapped[str] = mapped_column(String(16))
    event_time: Mapped[datetime]
    # When the decision stops counting; None: until the person changes it.
    valid_until: Mapped[datetime | None]


class ConsentState(Base):
    """The person's latest decision per purpose, kept in step with the events: what a check reads."""

    __tablename__ = "consent_states"
    __table_args__ = (CheckConstraint(_one_of("state", STATES), name="state"),)

    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("consent_persons.id"), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("consent_records.record_id"))
    policy_version_number: Mapped[int]
    decided_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(index=True)


class ConsentRestriction(Base):
    """A restriction (Art. 18) or objection (Art. 21) that makes checks answer "restricted" until lifted."""

    __tablename__ = "consent_restrictions"
    __table_args__ = (
        CheckConstraint("reason IN ('restriction', 'objection')", name="reason"),
        CheckConstraint("activity IS NULL OR purpose IS NULL", name="one_scope"),
        Index("ix_consent_restrictions_active", "person_id", postgresql_where="lifted_at IS NULL"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("consent_persons.id"))
    subject_key: Mapped[str] = mapped_column(String(300))
    # None: every purpose.
    purpose: Mapped[str | None] = mapped_column(String(64))
    # An objection to one activity of the policy (no consent serves it): checks of purposes are left to their own entries.
    activity: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(20))
    # What asked for it, e.g. a data-subject request id.
    reference: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(200))


class ConsentRevision(Base):
    """A purpose a published version changed materially: consents given before it stop counting."""

    __tablename__ = "consent_revisions"

    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_number: Mapped[int] = mapped_column(primary_key=True)


class ConsentPolicySync(Base):
    """A published version whose material changes have been turned into revisions."""

    __tablename__ = "consent_policy_sync"

    version_number: Mapped[int] = mapped_column(primary_key=True)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)
