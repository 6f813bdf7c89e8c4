"""Running workers: standalone (`privacydesk worker`, any number on any machine) or inside `serve`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Iterable

from procrastinate.app import WorkerOptions

from privacydesk.config import get_settings
from privacydesk.jobs.app import app

log = logging.getLogger(__name__)


def worker_options(*, concurrency: int | None = None, queues: Iterable[str] | None = None) -> WorkerOptions:
    """Worker settings from the platform settings; `queues=None` serves every queue."""
    settings = get_settings()
    options: WorkerOptions = {
        "name": f"{socket.gethostname()}:{os.getpid()}",
        "concurrency": concurrency or settings.worker_concurrency,
        "update_heartbeat_interval": settings.worker_heartbeat_seconds,
        "stalled_worker_timeout": settings.worker_stalled_seconds,
        "fetch_job_polling_interval": settings.worker_poll_seconds,
        "abort_job_polling_interval": settings.worker_poll_seconds,
    }
    if queues:
        options["queues"] = list(queues)
    return options


async def run_worker(*, concurrency: int | None = None, queues: Iterable[str] | None = None) -> None:
    """Process jobs until SIGINT or SIGTERM, then finish the running jobs and stop."""
    async with app.open_async():
        await app.run_worker_async(**worker_options(concurrency=concurrency, queues=queues))


@contextlib.asynccontextmanager
async def running_worker(*, queues: Iterable[str] | None = None) -> AsyncIterator[None]:
    """A worker processing jobs (of every queue, or of `queues`) in this process while the block runs; stopped gracefully on exit."""
    options = worker_options(queues=queues)
    # The host process (uvicorn) owns the signals; this worker stops when cancelled.
    options["install_signal_handlers"] = False
    async with app.open_async():
        worker = asyncio.create_task(app.run_worker_async(**options))
        worker.add_done_callback(_report_stop)
        try:
            yield
        finally:
            if not worker.done():  # a crashed worker was reported already
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker


def _report_stop(worker: asyncio.Task[None]) -> None:
    # Said at once: the service keeps answering without its worker, and jobs would only pile up.
    if not worker.cancelled() and worker.exception() is not None:
        log.error("the in-process job worker stopped", exc_info=worker.exception())
