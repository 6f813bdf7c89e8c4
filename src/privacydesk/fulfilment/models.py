"""What executing a request leaves behind: its planned steps, their outcomes, exports, and directives for after death."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from privacydesk.db.base import Base, utcnow

# The life of a step: pending -> running -> done, or waiting (a manual task, a webhook's later answer) -> done.
STEP_STATUSES = ("pending", "running", "waiting", "done")


class RequestExecution(Base):
    """One request's execution: created when it starts, planned once, finished once."""

    __tablename__ = "request_executions"

    request_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subject_requests.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the steps are stored: the person's rows were located and what happens to each decided then.
    planned_at: Mapped[datetime | None]
    # What the plan expects: rows found per collection, holds (with basis and end), planned counts. No identities.
    outline: Mapped[dict[str, Any] | None]
    finished_at: Mapped[datetime | None]
    # What was done, per collection or action; no personal data beyond what the request itself holds.
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)


class RequestStep(Base):
    """One idempotent unit of a request's execution, in plan order; its outcome is stored with its completion."""

    __tablename__ = "request_steps"
    __table_args__ = (
        UniqueConstraint("request_id", "step_id"),
        Index("ix_request_steps_request_position", "request_id", "position"),
        CheckConstraint(f"status IN ({', '.join(repr(status) for status in STEP_STATUSES)})", name="status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    request_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subject_requests.id", ondelete="CASCADE"))
    position: Mapped[int]
    # `kind/system/collection/action/batch`: stable, so a resumed run recognises its steps.
    step_id: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(20))
    system: Mapped[str | None] = mapped_column(String(64))
    collection: Mapped[str | None] = mapped_column(String(64))
    # The engine step (keys, corrected values, identities handed over) or the platform action's arguments.
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    count: Mapped[int] = mapped_column(default=0)
    # Exported rows until the export is packaged, a delegated answer, or what a platform action did.
    result: Mapped[dict[str, Any] | None]
    # A manual system's task, marked done by its owner through the API.
    task_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class RequestExport(Base):
    """A packaged export (ZIP) of an access or portability request, downloadable until it expires."""

    __tablename__ = "request_exports"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    request_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subject_requests.id", ondelete="CASCADE"), unique=True)
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # Set when the file was deleted (after expiry); the row stays as the record of what was delivered.
    deleted_at: Mapped[datetime | None]
    downloads: Mapped[int] = mapped_column(default=0)
    # Portability to another controller: when the copy was taken by its address, or the last error.
    delivered_at: Mapped[datetime | None]
    delivery_error: Mapped[str | None] = mapped_column(Text)


class SubjectDirective(Base):
    """A person's instructions for what becomes of their data after their death, as recorded and acknowledged."""

    __tablename__ = "subject_directives"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    request_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("subject_requests.id", ondelete="CASCADE"), unique=True)
    # Keyed hashes of the identities, so a later enquiry (by a trusted contact) finds the directive.
    identity_hashes: Mapped[list[Any]]
    instructions: Mapped[str] = mapped_column(Text)
    trusted_contact: Mapped[str | None] = mapped_column(String(500))
    recorded_at: Mapped[datetime]
