"""Outbound mail: one row per message, from queued to sent (or failed after the last retry)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Enum, Identity, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from privacydesk.db.base import Base, utcnow


class MailStatus(StrEnum):
    """Where a message is in its delivery."""

    queued = "queued"
    sent = "sent"
    failed = "failed"


class OutboundMail(Base):
    """A rendered message and the record of its delivery attempts."""

    __tablename__ = "outbound_mail"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    to: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8))
    template: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(998))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[MailStatus] = mapped_column(Enum(MailStatus, native_enum=False, length=16), default=MailStatus.queued, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
