"""What the policy-versions API reads and returns."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from privacydesk.versions.diff import Change


class VersionSummary(BaseModel):
    """A published version without its content."""

    model_config = ConfigDict(from_attributes=True)

    number: int
    hash: str
    effective: date
    publisher: str
    published_at: datetime


class Source(BaseModel):
    """One YAML file a version was loaded from."""

    name: str
    text: str


class VersionDetail(VersionSummary):
    """A published version with its policy (as JSON) and the YAML it came from."""

    policy: dict[str, Any]
    sources: list[Source]


class Finding(BaseModel):
    """A linter warning that did not block publishing."""

    rule: str
    name: str
    severity: str
    file: str
    line: int
    column: int
    path: str
    message: str
    hint: str


class PublishOutcome(BaseModel):
    """The version a publish produced or found, and what changed versus the previous one."""

    created: bool
    version: VersionSummary
    # Empty for the first version and when the content equals the latest version.
    changes: list[Change]
    warnings: list[Finding]


class VersionDiff(BaseModel):
    """The changes from one version to another, structured and as text lines."""

    old: int
    new: int
    material: bool
    changes: list[Change]
    lines: list[str]
