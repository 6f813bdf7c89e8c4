"""A worker killed in the middle of an erasure: another one finishes it, nothing erased twice or missed.

The first worker runs with PRIVACYDESK_TEST_PAUSE_AFTER_STEP, so it stops still after the effect of
the group of steps holding that step (rows deleted in the application database, the group's
changes made in one transaction) and before their completion is recorded; it is then killed with
SIGKILL. A second worker takes the job over (stalled-job recovery) and the counts it records are
checked against hand-written SQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from privacydesk.config import get_settings
from privacydesk.db.engine import transaction
from privacydesk.fulfilment.runner import PAUSE_ENV
from privacydesk.jobs.service import enqueue
from privacydesk.requests import execution as hand_over
from privacydesk.requests.models import RequestStatus
from tests.dsr_support import ids, snapshot
from tests.fulfilment_support import (
    example_database,
    execution,
    held_at,
    module_mariadb_url,
    module_postgres_url,
    request_verified,
    start_platform,
)
from tests.jobs_support import rows, wait_until
from tests.requests_support import stored
from tests.test_dsr_imou import candidates, person_rows, unrelated

__all__ = ["module_mariadb_url", "module_postgres_url"]

ROOT = Path(__file__).resolve().parents[1]
HOLDS = {"orders": ("ordered_at", 5), "invoices": ("issued_at", 5), "rma_requests": ("closed_at", 2)}
# The step after whose group's effect the first worker stops.
PAUSE_AT = 3


@pytest.fixture(
    scope="module", params=[pytest.param("postgres", marks=pytest.mark.postgres), pytest.param("mariadb", marks=pytest.mark.mariadb)]
)
def imou(request: pytest.FixtureRequest) -> Iterator[Engine]:
    yield from example_database(request, "imou", request.param, users=80)


@pytest.fixture
def browser(imou: Engine, platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> TestClient:
    client = start_platform(monkeypatch, tmp_path, "imou")
    monkeypatch.setenv("PRIVACYDESK_WORKER_HEARTBEAT_SECONDS", "0.5")
    monkeypatch.setenv("PRIVACYDESK_WORKER_STALLED_SECONDS", "2")
    get_settings.cache_clear()
    return client


@pytest.fixture
def start_worker(browser: TestClient) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `privacydesk worker` processes with the test's settings; killed after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**environment: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "privacydesk.cli.main", "worker", "--concurrency", "1"]
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **environment}, stderr=subprocess.DEVNULL)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _steps(request_id: int) -> list[Any]:
    return rows(
        "SELECT position, action, collection, status, count, attempts, payload FROM request_steps WHERE request_id = :r ORDER BY position",
        r=request_id,
    )


def test_an_erasure_killed_mid_way_is_finished_by_another_worker_exactly_once(
    imou: Engine, browser: TestClient, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    person = max(candidates(imou)[:10], key=lambda found: sum(len(keys) for keys in person_rows(imou, *found).values()))
    found = person_rows(imou, *person)
    bystander = unrelated(imou, found)
    bystander_rows = person_rows(imou, *bystander)
    before = snapshot(imou)

    reference = request_verified(browser, "erasure", person[0])
    request_id = stored(reference).id
    first = start_worker(**{PAUSE_ENV: str(PAUSE_AT)})

    # Paused: the paused step's rows are gone but it is still "running", with the rest of its group.
    def paused() -> bool:
        steps = _steps(request_id)
        if len(steps) < PAUSE_AT or steps[PAUSE_AT - 1].status != "running":
            return False
        step = steps[PAUSE_AT - 1]
        with imou.connect() as c:
            return not ids(c, f"SELECT id FROM {step.collection} WHERE id IN :keys", keys=step.payload["keys"])

    wait_until(paused, timeout=60)
    at_pause = _steps(request_id)
    paused_step = at_pause[PAUSE_AT - 1]
    assert paused_step.action == "delete" and paused_step.payload["keys"]
    # The group is consecutive: the steps before it are done, the steps after it not started.
    group = [step.position for step in at_pause if step.status == "running"]
    assert PAUSE_AT in group and group == list(range(group[0], group[-1] + 1))
    assert all(step.status == "done" for step in at_pause[: group[0] - 1])
    assert all(step.status == "pending" for step in at_pause[group[-1] :])
    # The group's changes are one transaction of the application database: every one of them is made.
    with imou.connect() as c:
        for step in at_pause[group[0] - 1 : group[-1]]:
            assert not ids(c, f"SELECT id FROM {step.collection} WHERE id IN :keys", keys=step.payload["keys"]) or step.action != "delete"
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert stored(reference).status is RequestStatus.executing

    second = start_worker()
    # The new worker's periodic stalled-job recovery may take the job over at once; otherwise nudge it once the
    # dead worker's heartbeat is old enough, as the every-minute run would.
    stalled = (
        "SELECT 1 FROM procrastinate_jobs j LEFT JOIN procrastinate_workers w ON w.id = j.worker_id"
        " WHERE j.task_name = 'requests.execute' AND j.status = 'doing' AND (w.id IS NULL OR w.last_heartbeat < now() - interval '3 seconds')"
    )
    wait_until(lambda: stored(reference).status is RequestStatus.completed or bool(rows(stalled)), timeout=60)
    if stored(reference).status is not RequestStatus.completed:
        with transaction() as session:
            enqueue(session, "jobs.retry_stalled", timestamp=0)
    wait_until(lambda: stored(reference).status is RequestStatus.completed, timeout=60)

    record = execution(reference)
    assert record.planned_at is not None and record.result is not None
    held = held_at(imou, found, HOLDS, record.planned_at)
    after = snapshot(imou)
    steps = _steps(request_id)
    assert all(step.status == "done" for step in steps)
    assert [step.attempts for step in steps] == [2 if step.position in group else 1 for step in steps]
    # Nothing missed: every row of the person is gone or anonymised, except the held ones.
    gone = {table: {key for key in keys if key not in after[table]} for table, keys in found.items()}
    for table, keys in found.items():
        for key in keys - gone[table]:
            assert key in held.get(table, set()) or after[table][key] != before[table][key], (table, key)
    # Nothing twice: each deleted row is counted once, by the step that deleted it (the paused one included).
    deleted = {item["collection"]: item["deleted"] for item in record.result["collections"] if item["deleted"]}
    assert deleted == {table: len(keys) for table, keys in gone.items() if keys}
    assert sum(step.count for step in steps if step.action == "delete") == sum(len(keys) for keys in gone.values())
    assert paused_step.collection in deleted and steps[PAUSE_AT - 1].count == len(paused_step.payload["keys"])
    assert all(after[table][key] == before[table][key] for table, keys in bystander_rows.items() for key in keys)

    # Running the finished request again changes nothing.
    events = len(stored(reference).events)
    with transaction() as session:
        hand_over.schedule(session, stored(reference))
    wait_until(
        lambda: rows("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'requests.execute' AND status <> 'succeeded'") == [(0,)]
    )
    assert snapshot(imou) == after
    assert len(stored(reference).events) == events and _steps(request_id) == steps
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 0
