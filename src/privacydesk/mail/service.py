"""Queue mail in the caller's transaction and deliver it through SMTP."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from privacydesk.config import Settings, get_settings
from privacydesk.db.base import utcnow
from privacydesk.errors import Invalid
from privacydesk.i18n import LANGUAGES
from privacydesk.jobs.service import enqueue
from privacydesk.mail.models import MailStatus, OutboundMail
from privacydesk.mail.render import render

SEND_TASK = "mail.send"
# Built once: the queued message is a plain row, only read back by its delivery job.
_QUEUE = insert(OutboundMail).returning(OutboundMail.id)


def queue_mail(
    session: Session,
    *,
    to: str,
    template: str,
    language: str,
    context: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    subject: str | None = None,
) -> OutboundMail:
    """Render `template` in `language`, store the message and queue its delivery, all in the caller's transaction.

    `subject` replaces the template's translated subject, for messages whose sender writes it (newsletter issues).
    """
    if language not in LANGUAGES:
        raise Invalid(f"unsupported language {language!r}; supported: {', '.join(LANGUAGES)}")
    if "@" not in parseaddr(to)[1]:
        raise Invalid(f"not an email address: {to!r}")
    if any("\r" in text or "\n" in text for text in (to, subject or "", *(headers or {}), *(headers or {}).values())):
        raise Invalid("mail headers may not contain line breaks")
    settings = get_settings()
    rendered = render(template, language, {"base_url": settings.base_url, **(context or {})}, subject=subject)
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    values: dict[str, Any] = {
        "to": to,
        "language": language,
        "template": template,
        "subject": rendered.subject,
        "text_body": rendered.text,
        "html_body": rendered.html,
        # A Message-ID fixed now stays the same on every retry, so receivers can drop a duplicate.
        "headers": {"Message-ID": make_msgid(domain=domain), **(headers or {})},
        "status": MailStatus.queued,
        "attempts": 0,
        "created_at": utcnow(),
    }
    mail_id: int = session.connection().execute(_QUEUE, values).scalar_one()
    enqueue(session, SEND_TASK, mail_id=mail_id)
    return OutboundMail(id=mail_id, **values)


def deliver(session: Session, mail_id: int, *, last_attempt: bool) -> str | None:
    """Send a queued message once and record the outcome; return the error, or None when sent (or sent before).

    The row stays locked while sending, so two runs of the job can never both send it.
    """
    mail = session.get(OutboundMail, mail_id, with_for_update=True)
    if mail is None or mail.status != MailStatus.queued:
        return None
    mail.attempts += 1
    settings = get_settings()
    try:
        _send(_message(mail, settings), settings)
    except (OSError, smtplib.SMTPException) as exc:
        mail.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if last_attempt:
            mail.status = MailStatus.failed
        return mail.last_error
    mail.status = MailStatus.sent
    mail.sent_at = utcnow()
    mail.last_error = None
    return None


def _message(mail: OutboundMail, settings: Settings) -> EmailMessage:
    message = EmailMessage()
    # Bodies first: making the message multipart moves Content-* headers set earlier into the first part.
    message.set_content(mail.text_body)
    message.add_alternative(mail.html_body, subtype="html")
    message["From"] = settings.mail_from
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Content-Language"] = mail.language
    for name, value in mail.headers.items():
        message[name] = value
    return message


def _send(message: EmailMessage, settings: Settings) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_username, password)
        smtp.send_message(message)
