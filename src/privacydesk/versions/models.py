"""Published policy versions and the events their changes cause."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, String
from sqlalchemy.orm import Mapped, mapped_column

from privacydesk.db.base import Base, utcnow


class PolicyVersion(Base):
    """One published policy: never updated; a change is a new version."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # 1, 2, 3... in publishing order; unique, so concurrent publishers cannot share one.
    number: Mapped[int] = mapped_column(unique=True)
    # SHA-256 of the policy's canonical JSON (LoadedPolicy.version_hash).
    hash: Mapped[str] = mapped_column(String(64), index=True)
    # The validated policy as JSON (field aliases, durations as text): loadable with Policy.model_validate.
    policy: Mapped[dict[str, Any]]
    # The YAML files it was loaded from: [{"name": ..., "text": ...}], the main file first.
    sources: Mapped[list[Any]]
    effective: Mapped[date]
    publisher: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


class PolicyEvent(Base):
    """Something a published version set off, for later work (change notices, re-consent)."""

    __tablename__ = "policy_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50), index=True)
    version_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("policy_versions.id"), index=True)
    # The material changes (Change.model_dump(mode="json")) that caused the event.
    changes: Mapped[list[Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
