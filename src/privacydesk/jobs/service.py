"""Queue jobs inside the caller's transaction, so a job exists exactly when the change causing it commits."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from privacydesk.jobs.app import app

# procrastinate's own insert function: it fills every table and fires the notification workers wait on.
_DEFER = text(
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW("
    "CAST(:queue AS varchar), CAST(:task AS varchar), CAST(:priority AS integer), CAST(:lock AS text),"
    " CAST(:queueing_lock AS text), CAST(:args AS jsonb), CAST(:scheduled_at AS timestamptz)"
    ")::procrastinate_job_to_defer_v1]))"
)
_QUEUEING_LOCK_INDEX = "procrastinate_jobs_queueing_lock_idx_v1"


def enqueue(
    session: Session,
    task_name: str,
    *,
    queue: str | None = None,
    priority: int | None = None,
    lock: str | None = None,
    queueing_lock: str | None = None,
    schedule_at: datetime | None = None,
    **args: Any,
) -> int | None:
    """Queue a job of a registered task in the session's transaction and return its id.

    Unset options take the task's defaults. `lock`: jobs sharing it run one at a time, in order.
    `queueing_lock`: at most one such job waits at a time; if one already does, nothing is queued
    and None is returned.
    """
    app.perform_import_paths()  # type: ignore[no-untyped-call]  # (imports TASK_MODULES once)
    task = app.tasks.get(task_name)
    if task is None:
        raise ValueError(f"unknown task {task_name!r}; tasks are registered by the modules in privacydesk.jobs.app.TASK_MODULES")
    values = {
        "queue": queue or task.queue,
        "task": task.name,
        "priority": task.priority if priority is None else priority,
        "lock": lock or task.lock,
        "queueing_lock": queueing_lock or task.queueing_lock,
        "args": json.dumps(args),
        "scheduled_at": schedule_at,
    }
    if values["queueing_lock"] is None:
        return int(session.execute(_DEFER, values).scalar_one())
    try:
        # A savepoint, so a held queueing lock does not abort the caller's transaction.
        with session.begin_nested():
            return int(session.execute(_DEFER, values).scalar_one())
    except IntegrityError as exc:
        if _QUEUEING_LOCK_INDEX in str(exc.orig):
            return None
        raise
