"""The delivery job of outbound mail."""

from __future__ import annotations

from procrastinate import JobContext

from privacydesk.db.engine import transaction
from privacydesk.jobs.app import PATIENT_RETRY, app
from privacydesk.mail import service


class MailNotDelivered(Exception):
    """The SMTP server could not take the message; the job is retried later."""


@app.task(name=service.SEND_TASK, queue="mail", pass_context=True, retry=PATIENT_RETRY)
def send_mail(context: JobContext, mail_id: int) -> None:
    """Send one queued message; a message already sent is not sent again."""
    last_attempt = context.job.attempts >= (PATIENT_RETRY.max_attempts or 0)
    # The attempt is committed before raising, so the row keeps the error while the job waits to retry.
    with transaction() as session:
        error = service.deliver(session, mail_id, last_attempt=last_attempt)
    if error is not None:
        raise MailNotDelivered(error)
