"""Consent housekeeping: decisions enter the audit chain in batches; consents and refusals past their lifetime expire."""

from __future__ import annotations

from privacydesk.consent import ledger, service
from privacydesk.db.engine import transaction
from privacydesk.jobs.app import STANDARD_RETRY, app


@app.periodic(cron="41 * * * *")
@app.task(name="consent.expire", queueing_lock="consent.expire", retry=STANDARD_RETRY)
def expire_consents(timestamp: int) -> None:
    """Record an "expired" event for every decision past its expiry (checks already treat them as expired)."""
    with transaction() as session:
        service.expire_due(session)


@app.periodic(cron="* * * * *")
@app.task(name="consent.audit", queueing_lock="consent.audit", retry=STANDARD_RETRY)
def audit_decisions(timestamp: int) -> None:
    """Append the decisions recorded since the last run to the audit chain, one entry per batch of records."""
    while True:
        # One transaction per batch, so a long backlog never holds the audit chain's lock for long.
        with transaction() as session:
            if ledger.audit_pending(session) < ledger.BATCH:
                return
