"""Request and response bodies of the requests API (public and admin)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from privacydesk.policy.models import Language
from privacydesk.requests.models import Channel, RequestStatus, RequestType


class _Body(BaseModel):
    # A misspelt field is an error, not silently ignored: the person would think it was taken into account.
    model_config = ConfigDict(extra="forbid")


class IdentityIn(_Body):
    """One way to find the person: `type` is one of the policy's `requests.identities` (email, phone, account_id...)."""

    type: str = Field(min_length=1, max_length=50)
    value: str = Field(min_length=1, max_length=320)


class Portability(_Body):
    """Where a portable copy goes: to the person, or straight to another controller (Art. 20(2))."""

    to: Literal["subject", "controller"] = "subject"
    controller_url: str | None = Field(default=None, max_length=2000)


class Correction(_Body):
    """A corrected value for one data category of the policy (Art. 16)."""

    category: str = Field(min_length=1, max_length=50)
    value: str = Field(min_length=1, max_length=2000)


class Objection(_Body):
    """What the person objects to (Art. 21): direct marketing (always granted) and/or named activities."""

    direct_marketing: bool = False
    activities: list[str] = Field(default_factory=list, max_length=100)


class PostMortem(_Body):
    """What should become of the data after the person's death, and whom to tell."""

    instructions: str = Field(min_length=1, max_length=10_000)
    trusted_contact: str | None = Field(default=None, max_length=500)


RestrictionReason = Literal["accuracy_contested", "unlawful_processing", "needed_for_legal_claims", "objection_pending"]


class RequestDetails(_Body):
    """What some request types need; a field that does not belong to the request's type is refused."""

    portability: Portability | None = None
    corrections: list[Correction] | None = Field(default=None, max_length=50)
    objection: Objection | None = None
    consents: list[str] | None = Field(default=None, max_length=100)
    restriction_reason: RestrictionReason | None = None
    post_mortem: PostMortem | None = None
    comment: str | None = Field(default=None, max_length=2000)


class RequestIn(RequestDetails):
    """A request: its type, the person's identities, the language to answer in, and its details."""

    type: RequestType
    identities: list[IdentityIn] = Field(min_length=1, max_length=10)
    language: Language | None = None


class PublicRequestIn(RequestIn):
    """A request made by the person: when the policy sets a minimum age, a birth date, an age, or the confirmation."""

    birth_date: date | None = None
    age: int | None = Field(default=None, ge=0, le=150)
    age_confirmed: bool = False


class StaffRequestIn(RequestIn):
    """A request received by letter, phone or email and entered by the privacy team."""

    channel: Literal["letter", "phone", "email"]
    received_at: AwareDatetime
    # True when the team checked the person's identity itself; otherwise a code is sent if the policy says so.
    identity_verified: bool = False
    birth_date: date | None = None
    age: int | None = Field(default=None, ge=0, le=150)


class VerifiedRequestIn(RequestIn):
    """A request from the company's own app, for a person the app has signed in."""

    birth_date: date | None = None
    age: int | None = Field(default=None, ge=0, le=150)


class Receipt(BaseModel):
    """The answer to a request made by the person.

    `status_token` is shown once: with the reference it lets the person follow this request, and only it.
    """

    reference: str
    type: RequestType
    status: RequestStatus
    due_on: date
    duplicate: bool
    status_token: str | None
    code_sent_to: str | None
    message: str


class StatusEvent(BaseModel):
    """A status the request reached, and when."""

    status: RequestStatus
    at: datetime


class RequestStatusOut(BaseModel):
    """What the person sees of their request: never the identities it names."""

    reference: str
    type: RequestType
    status: RequestStatus
    received_at: datetime
    due_on: date
    extended: bool
    history: list[StatusEvent]


class CodeIn(_Body):
    """The code the person received."""

    code: str = Field(pattern=r"^[0-9]{6}$", description="the 6 digits received by email or text message")


class CodeSent(BaseModel):
    """Where a new code went."""

    sent_to: str


class IdentityOut(BaseModel):
    """An identity the request names."""

    model_config = ConfigDict(from_attributes=True)

    type: str
    value: str
    verified: bool


class EventOut(BaseModel):
    """One move of the request's state machine."""

    model_config = ConfigDict(from_attributes=True)

    from_status: RequestStatus | None
    to_status: RequestStatus
    at: datetime
    actor: str
    note: str | None


class RequestSummary(BaseModel):
    """A request in a list."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    reference: str
    type: RequestType
    status: RequestStatus
    channel: Channel
    received_at: datetime
    due_on: date
    overdue: bool
    approval_required: bool


class RequestDetail(RequestSummary):
    """A request with everything the privacy team needs to handle it."""

    language: str
    identities: list[IdentityOut]
    details: dict[str, Any]
    original_due_on: date
    extended_months: int
    extension_reason: str | None
    verification_method: str
    policy_version: int
    submitted_by: str
    events: list[EventOut]


class RequestCreated(BaseModel):
    """A request entered by staff or an app; `status_token` (shown once) can be passed on to the person."""

    request: RequestDetail
    duplicate: bool
    status_token: str | None
    code_sent_to: str | None
    message: str


class NoteIn(_Body):
    """An optional note kept with the request's history."""

    note: str | None = Field(default=None, max_length=2000)


class ReasonIn(_Body):
    """Why: kept with the request's history."""

    reason: str = Field(min_length=1, max_length=2000)


class ExtensionIn(_Body):
    """An extension of the due date by one or two months, with the reason the person is told."""

    months: int = Field(ge=1, le=2)
    reason: str = Field(min_length=1, max_length=2000)


class ExtensionOut(BaseModel):
    """The extended request, and whether the person was told by mail (otherwise tell them another way)."""

    request: RequestDetail
    person_mailed: bool
