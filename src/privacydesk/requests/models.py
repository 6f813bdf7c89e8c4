"""Data-subject requests, the identities they name, their history, codes, reminders and OpenDSR submissions."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Identity, Index, String, Text, UniqueConstraint, column, exists, table, text
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from privacydesk.db.base import Base, utcnow


class RequestType(StrEnum):
    """The right a person exercises (GDPR Art. 15-22), or instructions for after their death."""

    access = "access"
    portability = "portability"
    rectification = "rectification"
    erasure = "erasure"
    restriction = "restriction"
    objection = "objection"
    consent_withdrawal = "consent_withdrawal"
    # Directions on what becomes of the data after death (e.g. France, Loi Informatique et Libertés art. 85).
    post_mortem = "post_mortem"


class RequestStatus(StrEnum):
    """Where a request is in its life; the allowed moves are in privacydesk.requests.states."""

    received = "received"
    verifying = "verifying"
    verified = "verified"
    awaiting_approval = "awaiting_approval"
    approved = "approved"
    executing = "executing"
    # Executing, but a system's owner still has a manual task to carry out.
    waiting_manual = "waiting_manual"
    completed = "completed"
    rejected = "rejected"
    cancelled = "cancelled"
    failed = "failed"
    # The person never entered the code sent to them (privacydesk.requests.expiry).
    expired = "expired"


OPEN_STATUSES = (
    RequestStatus.received,
    RequestStatus.verifying,
    RequestStatus.verified,
    RequestStatus.awaiting_approval,
    RequestStatus.approved,
    RequestStatus.executing,
    RequestStatus.waiting_manual,
)


class Channel(StrEnum):
    """How a request reached the organisation."""

    web = "web"  # the public API: privacy centre, "delete my account" buttons
    app = "app"  # the company's own app, which verified the person already
    letter = "letter"
    phone = "phone"
    email = "email"
    opendsr = "opendsr"  # forwarded by another controller


def _enum(kind: type[StrEnum]) -> Enum:
    return Enum(kind, native_enum=False, length=32, values_callable=lambda members: [member.value for member in members])


# The submissions table as SubjectRequest.forwarded needs it, before its class is declared below.
_OPENDSR_SUBMISSIONS = table("opendsr_submissions", column("request_id"))
_OPEN = ", ".join(f"'{status.value}'" for status in OPEN_STATUSES)


class SubjectRequest(Base):
    """One data-subject request, from receipt to its end."""

    __tablename__ = "subject_requests"
    __table_args__ = (
        # At most one open request per type and set of identities, even when two arrive at once.
        Index(
            "uq_subject_requests_open_per_identities", "type", "identity_key", unique=True, postgresql_where=text(f"status IN ({_OPEN})")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The public handle (a random UUID): the person and other controllers never see the sequential id.
    reference: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[RequestType] = mapped_column(_enum(RequestType))
    status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus), index=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    language: Mapped[str] = mapped_column(String(8))
    # What the type needs: corrected values, the destination of a portable copy, the activities objected to...
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # A keyed hash of the sorted identities: equal for the same person, useless to anyone without the key.
    identity_key: Mapped[str] = mapped_column(String(64))
    status_token_hash: Mapped[str] = mapped_column(String(64))
    # email_code, phone_code, account, manual (the policy's setting), or who vouched: app, opendsr, staff.
    verification_method: Mapped[str] = mapped_column(String(20))
    approval_required: Mapped[bool]
    policy_version: Mapped[int]
    submitted_by: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime]
    # The last day to answer (the period ends when that day ends); original_due_on is before any extension.
    due_on: Mapped[date] = mapped_column(index=True)
    original_due_on: Mapped[date]
    extended_months: Mapped[int] = mapped_column(default=0)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    identities: Mapped[list[RequestIdentity]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestIdentity.id", lazy="selectin"
    )
    events: Mapped[list[RequestEvent]] = relationship(cascade="all, delete-orphan", order_by="RequestEvent.id", lazy="selectin")
    # Whether another controller forwarded it (OpenDSR), read with the request: a state move looks for callbacks only then.
    forwarded: Mapped[bool] = column_property(exists().where(_OPENDSR_SUBMISSIONS.c.request_id == id), expire_on_flush=False)

    def identity(self, kind: str) -> str | None:
        """The first identity of this kind (email, phone...), if the request names one."""
        return next((identity.value for identity in self.identities if identity.type == kind), None)

    def verified_identity(self, kind: str) -> str | None:
        """The first verified identity of this kind, if any: what the person is told at, and verified again by."""
        return next((identity.value for identity in self.identities if identity.type == kind and identity.verified), None)


class RequestIdentity(Base):
    """A way to recognise the person in the company's systems: an email, a phone number, an account id..."""

    __tablename__ = "subject_request_identities"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    request_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(50))
    # Normalised (emails lowercased, phone numbers without spaces): connectors search for this value.
    value: Mapped[str] = mapped_column(String(320))
    # The keyed hash the audit log and the rate limits use instead of the value.
    value_hash: Mapped[str] = mapped_column(String(64), index=True)
    # Proven to belong to the person (the code went there, or the team, app or forwarding controller vouched).
    # A code proves one identity only: executors act on verified identities, never on the others alone.
    verified: Mapped[bool] = mapped_column(default=False)

    request: Mapped[SubjectRequest] = relationship(back_populates="identities")


class RequestEvent(Base):
    """One move of the state machine, kept for the request's history."""

    __tablename__ = "subject_request_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    request_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    from_status: Mapped[RequestStatus | None] = mapped_column(_enum(RequestStatus))
    to_status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus))
    actor: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)


class VerificationCode(Base):
    """A one-time code sent to the person; only its keyed hash is stored."""

    __tablename__ = "request_verification_codes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    request_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    # Set when the code was accepted, or replaced by a newer one: it can never be used again.
    used_at: Mapped[datetime | None]


class RateLimitHit(Base):
    """One counted event (a code sent, a request taken) for a keyed hash of an address or an identity."""

    __tablename__ = "request_rate_hits"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    key: Mapped[str] = mapped_column(String(80), index=True)
    at: Mapped[datetime]


class ReminderSent(Base):
    """A reminder of a due date sent to the DPO; the key makes each one go out once."""

    __tablename__ = "request_reminders"

    request_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subject_requests.id", ondelete="CASCADE"), primary_key=True)
    days_before: Mapped[int] = mapped_column(primary_key=True)
    # An extension moves the due date, and the reminders start again for the new one.
    due_on: Mapped[date] = mapped_column(primary_key=True)
    sent_at: Mapped[datetime]


class OpendsrSubmission(Base):
    """A request forwarded by another controller through OpenDSR, under that controller's own id."""

    __tablename__ = "opendsr_submissions"
    __table_args__ = (UniqueConstraint("client_token_id", "subject_request_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The API token the controller authenticates with: it names the client and derives its callback key.
    client_token_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("api_tokens.id"), index=True)
    subject_request_id: Mapped[str] = mapped_column(String(36))
    request_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True)
    callback_urls: Mapped[list[Any]] = mapped_column(default=list)
    submitted_time: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    request: Mapped[SubjectRequest] = relationship(lazy="joined", innerjoin=True)


class OpendsrCallback(Base):
    """A status change to tell one callback URL, delivered by a retried job."""

    __tablename__ = "opendsr_callbacks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    submission_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("opendsr_submissions.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
