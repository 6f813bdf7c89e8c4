"""Tasks and helpers for the job and mail tests.

A worker process loads these tasks with `privacydesk worker --import tests.jobs_support` (run from
the repository root, so `tests` is importable). The tasks write to tables the tests create.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from procrastinate import JobContext
from sqlalchemy import text

from privacydesk.db.engine import get_engine, transaction
from privacydesk.jobs.app import STANDARD_RETRY, app
from privacydesk.jobs.worker import running_worker

TABLES = """
CREATE TABLE job_starts (key text NOT NULL, pid integer NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE job_effects (key text NOT NULL, pid integer NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE job_flags (key text PRIMARY KEY);
"""


def create_tables() -> None:
    """Create the tables the test tasks write to (no unique keys: duplicates must stay visible)."""
    with get_engine().begin() as connection:
        connection.execute(text(TABLES))


def _note(table: str, key: str) -> None:
    with transaction() as session:
        session.execute(text(f"INSERT INTO {table} (key, pid) VALUES (:key, :pid)"), {"key": key, "pid": os.getpid()})


@app.task(name="tests.record", pass_context=True)
def record(context: JobContext) -> None:
    """Record an effect keyed by the job's id."""
    _note("job_effects", str(context.job.id))


@app.task(name="tests.wait_for_flag")
def wait_for_flag(key: str) -> None:
    """Note the start, block until the test raises the flag of `key`, then record the effect once."""
    _note("job_starts", key)
    deadline = time.monotonic() + 30
    while not rows("SELECT 1 FROM job_flags WHERE key = :key", key=key):
        if time.monotonic() > deadline:
            raise TimeoutError(f"flag {key} never raised")
        time.sleep(0.05)
    with transaction() as session:
        # Idempotent: a run after one that completed changes nothing.
        session.execute(
            text("INSERT INTO job_effects (key, pid) SELECT :key, :pid WHERE NOT EXISTS (SELECT 1 FROM job_effects WHERE key = :key)"),
            {"key": key, "pid": os.getpid()},
        )


@app.task(name="tests.flaky", retry=STANDARD_RETRY)
def flaky(key: str, failures: int) -> None:
    """Fail the first `failures` runs, then record the effect."""
    _note("job_starts", key)
    if rows("SELECT count(*) FROM job_starts WHERE key = :key", key=key)[0][0] <= failures:
        raise RuntimeError("failing on purpose")
    _note("job_effects", key)


def rows(sql: str, **params: Any) -> list[Any]:
    """The rows of a query on the platform database."""
    with get_engine().connect() as connection:
        return list(connection.execute(text(sql), params))


def raise_flag(key: str) -> None:
    """Let the `wait_for_flag` job of `key` finish."""
    with get_engine().begin() as connection:
        connection.execute(text("INSERT INTO job_flags (key) VALUES (:key)"), {"key": key})


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s"
        time.sleep(0.05)


def work_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    """Run a worker in this process until `condition` holds, then stop it gracefully.

    The worker schedules only the every-minute periodic tasks: the hourly and daily ones (the
    retention run at 02:17, say) would otherwise run in whichever test the clock reaches them,
    deleting rows of the example databases the test then counts.
    """

    async def scenario() -> None:
        async with running_worker():
            await asyncio.to_thread(wait_until, condition, timeout)

    app.perform_import_paths()  # type: ignore[no-untyped-call]  # every task registered before the choice
    scheduled = app.periodic_registry.periodic_tasks
    every_minute = {key: task for key, task in scheduled.items() if task.cron == "* * * * *"}
    app.periodic_registry.periodic_tasks = every_minute
    try:
        asyncio.run(scenario())
    finally:
        app.periodic_registry.periodic_tasks = scheduled


def job_status(job_id: int) -> str:
    """The queue's status of a job: todo, doing, succeeded, failed, ..."""
    return str(rows("SELECT status FROM procrastinate_jobs WHERE id = :id", id=job_id)[0][0])
