"""`privacydesk worker`: a standalone job worker."""

from __future__ import annotations

import asyncio
import importlib
from typing import Annotated

import typer


def worker(
    concurrency: Annotated[int | None, typer.Option(help="jobs run at once (default: PRIVACYDESK_WORKER_CONCURRENCY)", min=1)] = None,
    queue: Annotated[
        list[str] | None, typer.Option("--queue", "-q", help="serve only this queue (repeatable; default: every queue)")
    ] = None,
    modules: Annotated[
        list[str] | None,
        typer.Option("--import", help="also import this module (on the Python path), which registers more tasks (repeatable)"),
    ] = None,
) -> None:
    """Process jobs until SIGINT/SIGTERM; run as many workers as needed, on any machine, against one database."""
    from privacydesk.config import get_settings
    from privacydesk.jobs.worker import run_worker
    from privacydesk.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    for module in modules or []:
        importlib.import_module(module)
    asyncio.run(run_worker(concurrency=concurrency, queues=queue))
