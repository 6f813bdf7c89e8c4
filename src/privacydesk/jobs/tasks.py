"""Housekeeping of the queue itself."""

from __future__ import annotations

import logging

from procrastinate.exceptions import ConnectorException

from privacydesk.config import get_settings
from privacydesk.jobs.app import app

log = logging.getLogger(__name__)


@app.periodic(cron="* * * * *")
@app.task(name="jobs.retry_stalled", queueing_lock="jobs.retry_stalled")
async def retry_stalled_jobs(timestamp: int) -> None:
    """Queue again the running jobs of workers that stopped sending heartbeats (crashed, killed, cut off)."""
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=get_settings().worker_stalled_seconds)
    for job in stalled:
        try:
            await app.job_manager.retry_job(job)
        except ConnectorException:  # it finished or was retried since we looked: nothing to do
            continue
        log.warning("retrying a job whose worker stopped", extra={"job_id": job.id, "task": job.task_name, "worker_id": job.worker_id})


@app.periodic(cron="17 3 * * *")
@app.task(name="jobs.remove_old", queueing_lock="jobs.remove_old")
async def remove_old_jobs(timestamp: int) -> None:
    """Delete jobs that succeeded over a week ago (a periodic task alone adds 1,440 a day); failed ones stay for inspection."""
    await app.job_manager.delete_old_jobs(nb_hours=7 * 24)
