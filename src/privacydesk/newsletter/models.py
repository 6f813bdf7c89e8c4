"""Newsletter subscriptions: who asked for which email purpose, and where the request stands.

The consent itself (given, withdrawn) lives in the consent tables under the subject key
"email:<keyed digest>"; a subscription holds what sending needs: the address and the language.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from privacydesk.db.base import Base, utcnow

# pending: the confirmation mail is out; confirmed: the link was used; unsubscribed: withdrawn through a mail's link.
STATUSES = ("pending", "confirmed", "unsubscribed")


class NewsletterSubscription(Base):
    """One address subscribed (or asking to be) to one consent purpose sent by email."""

    __tablename__ = "newsletter_subscriptions"
    __table_args__ = (
        UniqueConstraint("email_key", "purpose"),
        CheckConstraint("status IN ('pending', 'confirmed', 'unsubscribed')", name="status"),
        Index("ix_newsletter_subscriptions_purpose_status", "purpose", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The consent subject key of the address (its keyed digest): how a subscription is found.
    email_key: Mapped[str] = mapped_column(String(300))
    purpose: Mapped[str] = mapped_column(String(64))
    # The address itself, needed to send; erased when the person unsubscribes.
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(5))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Bound into the confirmation link: a new request or an unsubscribe makes earlier links useless.
    confirm_nonce: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
