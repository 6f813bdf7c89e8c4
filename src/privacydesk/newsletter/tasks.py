"""Newsletter housekeeping: requests never confirmed are deleted, with their addresses, once their link has expired."""

from __future__ import annotations

from privacydesk.db.engine import transaction
from privacydesk.jobs.app import STANDARD_RETRY, app
from privacydesk.newsletter import service


@app.periodic(cron="23 3 * * *")
@app.task(name="newsletter.purge_unconfirmed", queueing_lock="newsletter.purge_unconfirmed", retry=STANDARD_RETRY)
def purge_unconfirmed(timestamp: int) -> None:
    """Delete subscriptions still pending after the confirmation link's lifetime."""
    with transaction() as session:
        service.purge_unconfirmed(session)
