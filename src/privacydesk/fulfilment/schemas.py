"""Bodies of the fulfilment API: manual tasks, execution records, webhook answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ReportedIn(BaseModel):
    """What the owner did in one collection (and, for an access request, the rows they exported)."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] = Field(default_factory=list, max_length=100_000)
    deleted: int = Field(0, ge=0)
    anonymised: int = Field(0, ge=0)
    held: int = Field(0, ge=0)
    rectified: int = Field(0, ge=0)


class TaskDoneIn(BaseModel):
    """A manual task marked done, with what was done per collection."""

    model_config = ConfigDict(extra="forbid")

    collections: dict[str, ReportedIn] = Field(default_factory=dict)
    note: str = Field("", max_length=2000)


class TaskOut(BaseModel):
    """A manual task waiting for a system's owner."""

    id: str
    request_id: int
    system: str
    owner: str
    kind: str
    collections: list[str]
    identities: dict[str, list[str]]
    corrections: dict[str, str]
    instructions: str
    due_on: date | None
    created_at: datetime | None


class StepOut(BaseModel):
    """One step of a request's execution."""

    model_config = ConfigDict(from_attributes=True)

    position: int
    step_id: str
    action: str
    system: str | None
    collection: str | None
    status: str
    count: int
    attempts: int
    task_id: str | None
    started_at: datetime | None
    finished_at: datetime | None


class ExportOut(BaseModel):
    """A request's export: its size, checksum, lifetime and use."""

    model_config = ConfigDict(from_attributes=True)

    size: int
    sha256: str
    created_at: datetime
    expires_at: datetime
    deleted_at: datetime | None
    downloads: int
    delivered_at: datetime | None
    delivery_error: str | None


class ExecutionOut(BaseModel):
    """How a request's execution went: planned outline, steps, result."""

    request_id: int
    planned_at: datetime | None
    finished_at: datetime | None
    error: str | None
    outline: dict[str, Any] | None
    result: dict[str, Any] | None
    steps: list[StepOut]
    export: ExportOut | None


class CallbackOut(BaseModel):
    """Whether a webhook's answer changed anything (an answer already recorded does not)."""

    recorded: bool


class RestrictionOut(BaseModel):
    """An entry of the restriction and objection register: while it stands, consent checks answer "restricted"."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    subject_key: str
    # None: every purpose (or, with an activity, none).
    purpose: str | None
    # An objection to this activity of the policy: the company's processing for it stops; checks of purposes are not changed.
    activity: str | None
    reason: str
    # The request that entered it, if one did.
    reference: str | None
    created_at: datetime
    created_by: str
    lifted_at: datetime | None
    lifted_by: str | None


class DirectiveQuery(BaseModel):
    """Whose instructions for after death to look up: one identity, as the person gave it (in the body, never in the address)."""

    type: str = Field(min_length=1, max_length=40)
    value: str = Field(min_length=1, max_length=320)


class DirectiveOut(BaseModel):
    """Instructions a person left for their data after their death (Art. 85 of the French Data Protection Act, and the like)."""

    id: int
    request_id: int
    reference: str
    instructions: str
    trusted_contact: str | None
    recorded_at: datetime


class LiftedOut(RestrictionOut):
    """A lifted entry, and whether the person was mailed that their restriction is lifted (Art. 18(3)).

    False for an objection, an entry lifted before, a restriction standing on through another entry, or no verified address:
    tell the person another way.
    """

    person_mailed: bool = False
