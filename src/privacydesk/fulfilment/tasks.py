"""Jobs of fulfilment: a portable copy sent to another controller, result texts to people verified by phone, expired exports deleted."""

from __future__ import annotations

import logging

from procrastinate import JobContext

from privacydesk.db.engine import transaction
from privacydesk.fulfilment import delivery, exports
from privacydesk.fulfilment.runner import SEND_PORTABLE_TASK
from privacydesk.jobs.app import PATIENT_RETRY, STANDARD_RETRY, app

log = logging.getLogger(__name__)


class CopyNotTaken(Exception):
    """The other controller did not take the portable copy; the job is retried later."""


@app.task(name=SEND_PORTABLE_TASK, queue="callbacks", pass_context=True, retry=PATIENT_RETRY)
def send_portable(context: JobContext, export_id: int) -> None:
    """POST a portable copy to the controller the person named; a copy already taken is not sent again."""
    last_attempt = context.job.attempts >= (PATIENT_RETRY.max_attempts or 0)
    # The attempt is committed before raising, so the export keeps the error while the job waits to retry.
    with transaction() as session:
        error = delivery.send_portable(session, export_id, last_attempt=last_attempt)
    if error is not None:
        raise CopyNotTaken(error)


@app.task(name=delivery.TEXT_RESULT_TASK, queue="mail", retry=PATIENT_RETRY)
def text_result(request_id: int) -> None:
    """Text a person verified by phone alone that their request is done (with the download link of an access)."""
    with transaction() as session:
        delivery.text_result(session, request_id)


@app.periodic(cron="23 * * * *")
@app.task(name="fulfilment.purge_exports", queueing_lock="fulfilment.purge_exports", retry=STANDARD_RETRY)
def purge_exports(timestamp: int) -> None:
    """Delete the files of exports whose download link has expired."""
    with transaction() as session:
        deleted = exports.purge(session)
    if deleted:
        log.info("expired exports deleted", extra={"count": deleted})
