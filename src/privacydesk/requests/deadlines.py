"""When a request must be answered, extensions of that date, reminders before it, and what is overdue.

The due date is the receipt day plus one month (GDPR Art. 12(3)), or plus the policy's
`requests.deadline` when that is earlier. Counting follows Regulation (EEC, Euratom) No 1182/71
on periods: the day of receipt is not counted, and a period in months ends when the day with the
same number ends, or the month's last day when there is none (31 January -> 28 or 29 February;
30 days from 1 June -> 1 July). We do not push the end past a weekend or public holiday (Art. 3(4)):
answering on the earlier day is always in time. Days are UTC calendar days; in Europe that can
only make the due date earlier, never later.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from dateutil.relativedelta import relativedelta
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.config import get_settings
from privacydesk.db.base import utcnow
from privacydesk.errors import Conflict, Invalid
from privacydesk.i18n import LANGUAGES, format_day, gettext
from privacydesk.mail.service import queue_mail
from privacydesk.policy.durations import Duration
from privacydesk.policy.models import Policy
from privacydesk.requests.models import OPEN_STATUSES, ReminderSent, RequestType, SubjectRequest

log = logging.getLogger(__name__)

LEGAL_PERIOD = Duration(1, "month")
MAX_EXTENSION_MONTHS = 2
# Days before the due date the DPO is reminded, once each.
REMINDER_DAYS = (7, 2)
MAX_REASON_LENGTH = 2000


def _(message: str) -> str:
    """Mark a msgid for extraction; translated later with gettext(lang, ...)."""
    return message


TYPE_LABELS = {
    RequestType.access: _("Access to personal data"),
    RequestType.portability: _("Data portability"),
    RequestType.rectification: _("Rectification"),
    RequestType.erasure: _("Erasure"),
    RequestType.restriction: _("Restriction of processing"),
    RequestType.objection: _("Objection to processing"),
    RequestType.consent_withdrawal: _("Withdrawal of consent"),
    RequestType.post_mortem: _("Instructions for after death"),
}


def receipt_day(received_at: datetime) -> date:
    """The calendar day (UTC) a request was received."""
    return received_at.astimezone(UTC).date()


def due_date(received_at: datetime, deadline: Duration) -> date:
    """The last day to answer a request received at `received_at`, under a policy promising `deadline`."""
    day = receipt_day(received_at)
    return min(LEGAL_PERIOD.after(day), deadline.after(day))


def today(now: datetime | None = None) -> date:
    """The current UTC calendar day."""
    return (now or utcnow()).astimezone(UTC).date()


def is_overdue(request: SubjectRequest, now: datetime | None = None) -> bool:
    """Whether `request` is still open after its due day ended."""
    return request.status in OPEN_STATUSES and today(now) > request.due_on


def overdue_clause(now: datetime | None = None) -> ColumnElement[bool]:
    """The SQL condition `is_overdue` stands for."""
    return and_(SubjectRequest.status.in_(OPEN_STATUSES), SubjectRequest.due_on < today(now))


def extend(session: Session, request: SubjectRequest, *, months: int, reason: str, actor: str, now: datetime | None = None) -> bool:
    """Extend the due date by `months` more (two at most in all), telling the person by mail; True if a mail was queued.

    Allowed only while the first period runs, that is until the original due day ends (Art. 12(3)).
    """
    reason = reason.strip()
    if not reason:
        raise Invalid("give the reason for the extension: the person is told it")
    if len(reason) > MAX_REASON_LENGTH:
        raise Invalid(f"the reason may have at most {MAX_REASON_LENGTH} characters")
    if months < 1 or request.extended_months + months > MAX_EXTENSION_MONTHS:
        raise Invalid(
            f"a request may be extended by {MAX_EXTENSION_MONTHS} months in all; this one has {request.extended_months} already",
            details={"extended_months": request.extended_months},
        )
    if request.status not in OPEN_STATUSES:
        raise Conflict(f"the request is {request.status}: there is nothing left to extend")
    if today(now) > request.original_due_on:
        raise Conflict(
            f"the extension had to be decided and told to the person by {request.original_due_on.isoformat()}, the end of the first period"
        )
    request.extended_months += months
    request.due_on = request.original_due_on + relativedelta(months=request.extended_months)
    request.extension_reason = reason
    request.updated_at = now or utcnow()
    email = request.identity("email")
    if email is not None:
        queue_mail(
            session,
            to=email,
            template="request_extended",
            language=request.language,
            context={"reference": request.reference, "due_on": format_day(request.due_on, request.language), "reason": reason},
        )
    audit.record(
        session,
        actor=actor,
        action="request.extended",
        object_type="subject_request",
        object_id=str(request.id),
        summary={"months": months, "due_on": request.due_on.isoformat(), "person_mailed": email is not None},
    )
    return email is not None


def dpo_contact(policy: Policy) -> str | None:
    """Where reminders go: the DPO, else the organisation's contact, else the requests channel."""
    candidates = (policy.organization.dpo, policy.organization.contact, policy.requests.channels)
    return next((party.email for party in candidates if party is not None and party.email), None)


def send_reminders(session: Session, policy: Policy, *, now: datetime | None = None) -> int:
    """Remind the DPO of open requests due within REMINDER_DAYS days, each reminder once; return how many were queued."""
    now = now or utcnow()
    contact = dpo_contact(policy)
    if contact is None:
        log.warning("due-date reminders are not sent: the policy names no DPO or contact email")
        return 0
    language = next((lang for lang in policy.organization.languages if lang in LANGUAGES), "en")
    day = today(now)
    due_soon = select(SubjectRequest).where(
        SubjectRequest.status.in_(OPEN_STATUSES),
        SubjectRequest.due_on >= day,
        SubjectRequest.due_on <= day + relativedelta(days=max(REMINDER_DAYS)),
    )
    sent = 0
    for request in session.scalars(due_soon.order_by(SubjectRequest.due_on, SubjectRequest.id)):
        days_left = (request.due_on - day).days
        threshold = min(days for days in REMINDER_DAYS if days_left <= days)
        claimed = session.execute(
            insert(ReminderSent)
            .values(request_id=request.id, days_before=threshold, due_on=request.due_on, sent_at=now)
            .on_conflict_do_nothing()
            .returning(ReminderSent.request_id)
        ).first()
        if claimed is None:
            continue
        queue_mail(
            session,
            to=contact,
            template="request_reminder",
            language=language,
            context={
                "reference": request.reference,
                "request_id": request.id,
                "type_label": gettext(language, TYPE_LABELS[request.type]),
                "due_on": format_day(request.due_on, language),
                "days_left": days_left,
                "admin_url": f"{get_settings().base_url}/api/v1/requests/{request.id}",
            },
        )
        audit.record(
            session,
            actor="system",
            action="request.reminder_sent",
            object_type="subject_request",
            object_id=str(request.id),
            summary={"days_before": threshold, "due_on": request.due_on.isoformat()},
        )
        sent += 1
    return sent
