"""Jobs of the requests domain: execution hand-over, due-date reminders, expiry of unverified requests, OpenDSR callbacks."""

from __future__ import annotations

import logging

from procrastinate import JobContext

from privacydesk.db.engine import transaction
from privacydesk.fulfilment import runner
from privacydesk.jobs.app import PATIENT_RETRY, STANDARD_RETRY, app
from privacydesk.requests import callbacks, deadlines, execution, expiry
from privacydesk.versions import service as versions

log = logging.getLogger(__name__)


class CallbackNotDelivered(Exception):
    """The controller's callback URL did not take the status; the job is retried later."""


@app.task(name=execution.EXECUTE_TASK, pass_context=True, retry=PATIENT_RETRY)
def execute(context: JobContext, request_id: int) -> None:
    """Hand an approved request to the executor of its type, then run its stored steps (a later run resumes them).

    Each step commits on its own, so a killed run loses no finished step.
    """
    runner.run(request_id, last_attempt=context.job.attempts >= (PATIENT_RETRY.max_attempts or 0))


@app.periodic(cron="5 * * * *")
@app.task(name="requests.remind", queueing_lock="requests.remind", retry=STANDARD_RETRY)
def remind(timestamp: int) -> None:
    """Remind the DPO of requests due in 7 and in 2 days (each reminder once)."""
    with transaction() as session:
        version = versions.latest(session)
        if version is None:
            return
        sent = deadlines.send_reminders(session, versions.policy_of(version))
    if sent:
        log.info("due-date reminders queued", extra={"count": sent})


@app.periodic(cron="35 * * * *")
@app.task(name="requests.expire_unverified", queueing_lock="requests.expire_unverified", retry=STANDARD_RETRY)
def expire_unverified(timestamp: int) -> None:
    """Expire the requests whose person never entered their code (hourly), a batch per transaction."""
    total = 0
    while True:
        with transaction() as session:
            expired = expiry.expire_unverified(session)
        total += expired
        if expired < expiry.BATCH:
            break
    if total:
        log.info("unverified requests expired", extra={"count": total})


@app.task(name=callbacks.CALLBACK_TASK, queue="callbacks", pass_context=True, retry=PATIENT_RETRY)
def opendsr_callback(context: JobContext, callback_id: int) -> None:
    """POST one signed status callback; one already delivered is not sent again."""
    last_attempt = context.job.attempts >= (PATIENT_RETRY.max_attempts or 0)
    # The attempt is committed before raising, so the row keeps the error while the job waits to retry.
    with transaction() as session:
        error = callbacks.deliver(session, callback_id, last_attempt=last_attempt)
    if error is not None:
        raise CallbackNotDelivered(error)
