"""What the retention API reads and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RunOut(BaseModel):
    """One rule run: where it stands and what it did."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    rule: str
    action: str
    trigger: str
    actor: str
    status: str
    phase: str
    policy_version: int | None
    as_of: datetime
    cutoff: datetime
    warn_cutoff: datetime | None
    batches: int
    deleted: int
    anonymised: int
    cascaded: int
    held: int
    # Due rows kept because their person restricted processing (Art. 18).
    restricted: int
    waiting: int
    noticed: int
    details: dict[str, Any]
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class RunIn(BaseModel):
    """Which rules to run now (all of the published policy's when empty)."""

    rules: list[str] = Field(default_factory=list, max_length=200)


class QueuedOut(BaseModel):
    """The rules whose runs were queued (a rule whose run already waits is left out)."""

    queued: list[str]


class RulePlanOut(BaseModel):
    """What one rule would do now."""

    model_config = ConfigDict(from_attributes=True)

    rule: str
    system: str
    collection: str
    action: str
    keep: str
    start: str
    notice: str | None
    cutoff: datetime
    cascade: list[str]
    due: int
    held: int
    oldest: datetime | None
    next_due: datetime | None
    to_warn: int | None
    waiting: int | None
    deletable: int | None
    error: str | None


class PlanOut(BaseModel):
    """The dry run of the published policy's rules."""

    as_of: datetime
    policy_version: int
    rules: list[RulePlanOut]


class HoldIn(BaseModel):
    """A legal hold on rows (system, collection, keys) or on a person (identity_type and identity_value)."""

    reason: str = Field(min_length=1, max_length=2000)
    system: str | None = Field(default=None, max_length=64)
    collection: str | None = Field(default=None, max_length=64)
    keys: list[str] = Field(default_factory=list, max_length=10_000)
    identity_type: str | None = Field(default=None, max_length=32)
    identity_value: str | None = Field(default=None, max_length=320)
    ends_at: datetime | None = None


class HoldOut(BaseModel):
    """A legal hold as recorded."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    system: str | None
    collection: str | None
    keys: list[str] | None
    identity_type: str | None
    identity_value: str | None
    reason: str
    placed_by: str
    placed_at: datetime
    ends_at: datetime | None
    released_at: datetime | None
    released_by: str | None
