"""The job queue: transactional enqueue, several worker processes, crash recovery, retries and locks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from privacydesk.config import get_settings
from privacydesk.db.engine import transaction
from privacydesk.jobs.app import app, conninfo
from privacydesk.jobs.service import enqueue
from privacydesk.jobs.worker import running_worker
from tests.jobs_support import create_tables, job_status, raise_flag, rows, wait_until, work_until

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def jobs_db(platform_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated platform database with the test tables, and workers that poll and notice deaths quickly."""
    monkeypatch.setenv("PRIVACYDESK_WORKER_POLL_SECONDS", "0.1")
    monkeypatch.setenv("PRIVACYDESK_WORKER_HEARTBEAT_SECONDS", "0.5")
    monkeypatch.setenv("PRIVACYDESK_WORKER_STALLED_SECONDS", "2")
    get_settings.cache_clear()
    create_tables()
    yield platform_url
    get_settings.cache_clear()


@pytest.fixture
def start_worker(jobs_db: str) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `privacydesk worker` processes that know the test tasks; stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "privacydesk.cli.main", "worker", "--import", "tests.jobs_support", "--concurrency", "4"]
        process = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stderr=subprocess.DEVNULL)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_rolled_back_enqueue_leaves_no_job_and_committed_one_runs(jobs_db: str) -> None:
    with pytest.raises(RuntimeError), transaction() as session:
        enqueue(session, "tests.record")
        raise RuntimeError("the state change failed")
    with transaction() as session:
        committed = enqueue(session, "tests.record")

    work_until(lambda: job_status(committed) == "succeeded")
    assert rows("SELECT id FROM procrastinate_jobs WHERE task_name = 'tests.record'") == [(committed,)]
    assert [key for (key,) in rows("SELECT key FROM job_effects")] == [str(committed)]


def test_unknown_task_is_refused(jobs_db: str) -> None:
    with pytest.raises(ValueError, match="unknown task"), transaction() as session:
        enqueue(session, "tests.no_such_task")


def test_two_worker_processes_run_each_job_exactly_once(start_worker: Callable[[], subprocess.Popen[bytes]]) -> None:
    workers = [start_worker(), start_worker()]
    wait_until(lambda: rows("SELECT count(*) FROM procrastinate_workers")[0][0] == 2)
    with transaction() as session:
        job_ids = {enqueue(session, "tests.record") for _ in range(200)}

    wait_until(
        lambda: rows("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'tests.record' AND status = 'succeeded'")[0][0] == 200
    )
    effects = rows("SELECT key, pid FROM job_effects")
    assert len(effects) == 200
    assert {int(key) for key, _ in effects} == job_ids
    assert {pid for _, pid in effects} == {worker.pid for worker in workers}
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0  # a graceful stop


def test_job_of_a_killed_worker_is_completed_once_by_another(start_worker: Callable[[], subprocess.Popen[bytes]]) -> None:
    first = start_worker()
    with transaction() as session:
        job_id = enqueue(session, "tests.wait_for_flag", key="k")
    wait_until(lambda: rows("SELECT pid FROM job_starts") == [(first.pid,)])
    first.kill()  # SIGKILL: no cleanup, the job stays "doing" and heartbeats stop
    first.wait()
    raise_flag("k")
    assert job_status(job_id) == "doing"

    second = start_worker()
    # Stalled once the dead worker's heartbeat is older than the threshold (or the new worker pruned it).
    wait_until(
        lambda: bool(
            rows(
                "SELECT 1 FROM procrastinate_jobs j LEFT JOIN procrastinate_workers w ON w.id = j.worker_id"
                " WHERE j.id = :id AND (w.id IS NULL OR w.last_heartbeat < now() - interval '3 seconds')",
                id=job_id,
            )
        )
    )
    # What the every-minute periodic run does, without waiting for the minute to turn.
    with transaction() as session:
        enqueue(session, "jobs.retry_stalled", timestamp=0)

    wait_until(lambda: job_status(job_id) == "succeeded")
    assert rows("SELECT pid FROM job_starts ORDER BY at") == [(first.pid,), (second.pid,)]
    assert rows("SELECT key, pid FROM job_effects") == [("k", second.pid)]


def test_housekeeping_tasks_are_periodic() -> None:
    app.perform_import_paths()  # type: ignore[no-untyped-call]
    periodic = {task.task.name: task.cron for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["jobs.retry_stalled"] == "* * * * *"
    assert periodic["jobs.remove_old"] == "17 3 * * *"


def test_jobs_that_succeeded_over_a_week_ago_are_removed(jobs_db: str) -> None:
    with transaction() as session:
        old, recent = enqueue(session, "tests.record"), enqueue(session, "tests.record")
    work_until(lambda: job_status(old) == job_status(recent) == "succeeded")
    with transaction() as session:
        session.execute(text("UPDATE procrastinate_events SET at = at - interval '8 days' WHERE job_id = :id"), {"id": old})
        cleanup = enqueue(session, "jobs.remove_old", timestamp=0)

    work_until(lambda: job_status(cleanup) == "succeeded")
    assert {job_id for (job_id,) in rows("SELECT id FROM procrastinate_jobs WHERE task_name = 'tests.record'")} == {recent}


def test_failing_job_is_retried_with_exponential_backoff(jobs_db: str) -> None:
    with transaction() as session:
        job_id = enqueue(session, "tests.flaky", key="f", failures=2)

    work_until(lambda: job_status(job_id) == "succeeded")
    starts = [at for (at,) in rows("SELECT at FROM job_starts WHERE key = 'f' ORDER BY at")]
    assert len(starts) == 3
    assert len(rows("SELECT 1 FROM job_effects WHERE key = 'f'")) == 1
    # STANDARD_RETRY waits 2 ** (attempt + 1) s: a retry never starts before its wait is over.
    assert (starts[1] - starts[0]).total_seconds() >= 2
    assert (starts[2] - starts[1]).total_seconds() >= 4


def test_jobs_sharing_a_lock_run_one_after_the_other(jobs_db: str) -> None:
    with transaction() as session:
        enqueue(session, "tests.wait_for_flag", lock="one-at-a-time", key="a")
        enqueue(session, "tests.wait_for_flag", lock="one-at-a-time", key="b")
    raise_flag("b")  # "b" would finish at once if it could start

    async def scenario() -> None:
        async with running_worker():
            await asyncio.to_thread(wait_until, lambda: rows("SELECT key FROM job_starts") == [("a",)])
            await asyncio.sleep(0.5)  # room for "b" to start, were the lock not kept (free worker slots remain)
            raise_flag("a")
            await asyncio.to_thread(wait_until, lambda: len(rows("SELECT 1 FROM job_effects")) == 2)

    asyncio.run(scenario())
    (first_done,) = rows("SELECT at FROM job_effects WHERE key = 'a'")[0]
    (second_start,) = rows("SELECT at FROM job_starts WHERE key = 'b'")[0]
    assert second_start >= first_done


def test_queueing_lock_keeps_a_single_waiting_job(jobs_db: str) -> None:
    with transaction() as session:
        first = enqueue(session, "tests.record", queueing_lock="once")
        second = enqueue(session, "tests.record", queueing_lock="once")
        other = enqueue(session, "tests.record")  # the transaction is still usable
    assert first is not None
    assert second is None
    assert other is not None
    assert {job_id for (job_id,) in rows("SELECT id FROM procrastinate_jobs")} == {first, other}


def test_conninfo_of_a_sqlalchemy_url() -> None:
    url = "postgresql+psycopg://pd:p%40ss%20word@db.internal:5433/privacy?sslmode=require"
    assert conninfo(url) == "host=db.internal port=5433 dbname=privacy user=pd password='p@ss word' sslmode=require"
