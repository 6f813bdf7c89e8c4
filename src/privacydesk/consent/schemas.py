"""What the consent API reads and returns (the shared contract of the consent service and the banner)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from privacydesk.consent.checks import Reason

Hash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
SubjectText = Annotated[str, StringConstraints(min_length=1, max_length=400)]
PurposeId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# Strict: "yes" or 1 is not an unambiguous choice.
Choices = Annotated[dict[PurposeId, StrictBool], Field(max_length=100)]


class Input(BaseModel):
    """Base of every request body: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class PublicDecisionIn(Input):
    """A choice made on the banner or the preference centre."""

    subject: SubjectText
    choices: Choices = {}
    method: Literal["accept_all", "reject_all", "custom", "gpc"]
    surface: Literal["banner", "preference_centre"]
    language: Annotated[str, StringConstraints(min_length=2, max_length=5)]
    text_hash: Hash
    policy_version: Hash
    page_url: Annotated[str, StringConstraints(max_length=4000)] | None = None
    gpc: StrictBool = False


class AppDecisionIn(Input):
    """A choice an app collected itself and reports (method api)."""

    subject: SubjectText
    choices: Choices
    method: Literal["api"] = "api"
    surface: Literal["app", "email", "banner", "preference_centre"] = "app"
    language: Annotated[str, StringConstraints(min_length=2, max_length=5)] | None = None
    text_hash: Hash | None = None
    policy_version: Hash | None = None
    page_url: Annotated[str, StringConstraints(max_length=4000)] | None = None


class DecisionOut(BaseModel):
    """The stored decision; record_id is None when there was nothing to change."""

    record_id: uuid.UUID | None
    subject: str
    choices: dict[str, bool]
    expires_at: dict[str, datetime | None]


class WithdrawIn(Input):
    """Purposes to withdraw; all when omitted."""

    purposes: Annotated[list[PurposeId], Field(max_length=100)] | None = None
    surface: Literal["banner", "preference_centre"] = "preference_centre"


class WithdrawOut(BaseModel):
    """The withdrawal's record (None when no consent stood) and the purposes withdrawn."""

    record_id: uuid.UUID | None
    withdrawn: list[str]


class CheckOut(BaseModel):
    """The answer to one check."""

    allowed: bool
    reason: Reason
    record_id: uuid.UUID | None
    expires_at: datetime | None


class CheckIn(Input):
    """One check of a bulk call."""

    subject: SubjectText
    purpose: PurposeId


class BulkCheckIn(Input):
    """Up to 1,000 checks answered together."""

    checks: Annotated[list[CheckIn], Field(min_length=1, max_length=1000)]


class BulkCheckOut(CheckOut):
    """One answer of a bulk call, with what was asked."""

    subject: str
    purpose: str


class ChoiceOut(BaseModel):
    """A purpose as a person's own choices page shows it."""

    allowed: bool
    reason: Reason
    expires_at: datetime | None


class ChoicesOut(BaseModel):
    """A person's standing choices, and the purposes they must decide (again)."""

    choices: dict[str, ChoiceOut]
    needs_decision: list[str]


class LinkIn(Input):
    """Subject keys that name the same person."""

    keys: Annotated[list[SubjectText], Field(min_length=2, max_length=20)]


class LinkOut(BaseModel):
    """Every key now linked to the person (emails as their keyed digest)."""

    keys: list[str]


class HistoryEvent(BaseModel):
    """One event of a person's history, with the evidence of its record."""

    record_id: uuid.UUID
    purpose: str
    event_state: str
    event_time: datetime
    valid_until: datetime | None
    pii_principal_id: str
    collection_method: str
    surface: str | None
    notice_version: str
    policy_version_number: int
    notice_hash: str | None
    language: str | None
    entity_id: str
    recorded_at: datetime
    page_url: str | None
    user_agent: str | None
    gpc: bool
    ip_address: str | None
    source: str | None
    source_method: str | None


class ImportOut(BaseModel):
    """How much an import stored."""

    records: int
    subjects: int


class ConfigOut(BaseModel):
    """What the banner shows, in one language."""

    policy_version: str
    language: str
    languages: list[str]
    texts: dict[str, str]
    purposes: list[dict[str, Any]]
    essential_cookies: list[dict[str, str]]
    text_hash: str
    revision: dict[str, list[str]]
