"""Retention state: rule runs with their cursors, notices sent before deletion, and legal holds staff place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Identity, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from privacydesk.db.base import Base, utcnow

# running: started (or crashed: a run nobody holds the lock of); done: every batch recorded; failed: stopped by
# an error, resumed by the next run of the rule; stopped: the policy changed under it, a new run starts over.
STATUSES = ("running", "done", "failed", "stopped")
# notice: warning the people whose period ends within the notice; expire: deleting or anonymising what is due.
PHASES = ("notice", "expire")
TRIGGERS = ("cli", "schedule", "api")


class RetentionRun(Base):
    """One run of one rule: where it stands (cursor, the batch in flight) and what it did."""

    __tablename__ = "retention_runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'done', 'failed', 'stopped')", name="status"),
        CheckConstraint("phase IN ('notice', 'expire')", name="phase"),
        CheckConstraint("trigger IN ('cli', 'schedule', 'api')", name="trigger"),
        Index("ix_retention_runs_rule_status", "rule", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # `system.collection` of the policy.
    rule: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    # The published version run (None for a policy file given on the command line) and the policy's digest.
    policy_version: Mapped[int | None] = mapped_column(Integer)
    policy_hash: Mapped[str] = mapped_column(String(64))
    # The moment the run measures periods from: a resumed run keeps it, so it finishes the same work.
    as_of: Mapped[datetime]
    cutoff: Mapped[datetime]
    warn_cutoff: Mapped[datetime | None]
    phase: Mapped[str] = mapped_column(String(16))
    # {"key": last key done}: batches resume after it.
    cursor: Mapped[dict[str, Any] | None]
    # The batch planned and not yet recorded as done; replayed first after a crash.
    pending: Mapped[dict[str, Any] | None]
    batches: Mapped[int] = mapped_column(Integer, default=0)
    # Rows of the rule's own collection.
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    anonymised: Mapped[int] = mapped_column(Integer, default=0)
    # Rows of collections referencing the rule's rows, deleted or anonymised with them.
    cascaded: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)
    # Due rows kept because their person restricted processing (Art. 18), counted once (not also as held).
    restricted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Due rows whose notice period still runs.
    waiting: Mapped[int] = mapped_column(Integer, default=0)
    noticed: Mapped[int] = mapped_column(Integer, default=0)
    # The referencing collections: collection → action (or held) → rows.
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class RetentionNotice(Base):
    """A warning that a person's data will be deleted for inactivity, unless they come back first."""

    __tablename__ = "retention_notices"
    __table_args__ = (Index("ix_retention_notices_rule_person", "rule", "person_hash"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rule: Mapped[str] = mapped_column(String(200))
    # A keyed digest of the row's key: the notice names the person without holding their data.
    person_hash: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("retention_runs.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime]
    delete_not_before: Mapped[datetime]
    # False when the row has no e-mail address: recorded, and the period runs all the same.
    mailed: Mapped[bool] = mapped_column(Boolean)
    language: Mapped[str] = mapped_column(String(5))
    # When the person used the notice's link to keep their account: counts as activity from then on.
    kept_at: Mapped[datetime | None]


class LegalHold(Base):
    """Rows or a person's data that staff ordered kept (litigation, an authority's request) whatever the policy says."""

    __tablename__ = "legal_holds"
    __table_args__ = (
        CheckConstraint(
            "(collection IS NOT NULL AND system IS NOT NULL AND keys IS NOT NULL AND identity_type IS NULL AND identity_value IS NULL)"
            " OR (keys IS NULL AND identity_type IS NOT NULL AND identity_value IS NOT NULL)",
            name="target",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # A hold on rows names them by system, collection and keys (as text).
    system: Mapped[str | None] = mapped_column(String(64))
    collection: Mapped[str | None] = mapped_column(String(64))
    keys: Mapped[list[Any] | None]
    # A hold on a person names one identity; every row the request engine finds for it is held.
    identity_type: Mapped[str | None] = mapped_column(String(32))
    identity_value: Mapped[str | None] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(200))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # None: until released.
    ends_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(200))
