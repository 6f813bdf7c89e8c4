"""Durable execution: plan a request once, run its stored steps in order, record each completion, finish once.

The job `requests.execute` calls `run` after handing the request over (`requests.execution.start`
moves it to executing; `begin`, the executor installed for every request type, only opens its
execution record, so no lock is held while systems are asked anything). A run:

1. plans, if no run has: locates the person's rows (read-only) and stores the steps and outline;
2. executes the steps not done, in plan order. A step is marked running in the transaction that
   records the previous one done; platform actions (restriction, consent withdrawal...) commit
   with their completion. A step found running was interrupted: it runs again (every step is
   idempotent), and its count is then what its rows show: the keys gone for a deletion, the rows
   present (in their erased or corrected state) for an anonymisation or rectification;
3. waits while a manual task or a webhook's later answer is outstanding (a manual task moves the
   request to waiting_manual); their completion queues the job again;
4. finishes: the result from the outline and the recorded counts, the export packaged, the
   request completed, the person mailed, in one transaction.

A killed worker's job is retried (jobs.retry_stalled) and resumes at step 2; a finished request
is left alone.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, insert, literal, null, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from privacydesk.config import get_settings
from privacydesk.connectors.base import Connector, ManualTask, Unsupported, as_key
from privacydesk.connectors.registry import Connectors
from privacydesk.consent.published import policy_by_hash
from privacydesk.db.base import utcnow
from privacydesk.db.engine import get_engine, transaction
from privacydesk.engine.plan import Plan
from privacydesk.engine.results import delegated_json, jsonable
from privacydesk.engine.steps import Outcome, Step, execute
from privacydesk.errors import PrivacydeskError
from privacydesk.fulfilment import actions, delivery, exports, planning, pools, results
from privacydesk.fulfilment.models import RequestExecution, RequestExport, RequestStep
from privacydesk.jobs.service import enqueue
from privacydesk.policy.models import Policy
from privacydesk.requests import states
from privacydesk.requests.models import RequestStatus, RequestType, SubjectRequest
from privacydesk.versions.models import PolicyVersion

# For the resume tests only: after the effect of the step at this position, before its completion is
# recorded, the worker stops still (and is killed).
PAUSE_ENV = "PRIVACYDESK_TEST_PAUSE_AFTER_STEP"
SEND_PORTABLE_TASK = "fulfilment.send_portable"
_UNDER_WAY = (RequestStatus.executing, RequestStatus.waiting_manual)
_COUNTED_AGAIN = frozenset({"delete", "anonymise", "rectify"})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Pending:
    """A stored step still to run, as it was when the run began."""

    id: int
    position: int
    action: str
    status: str
    payload: dict[str, Any]


@dataclass
class _Run:
    """What one run of one request works with."""

    request: SubjectRequest
    policy: Policy
    version_hash: str
    connectors: Connectors
    planned: bool
    # Steps not done, in order; and the manual task ids (None for a webhook) of steps waiting for outside work.
    pending: list[_Pending] = field(default_factory=list)
    waiting: list[str | None] = field(default_factory=list)
    engine: Plan | None = None


def begin(session: Session, request: SubjectRequest) -> None:
    """The executor of every request type: open the execution record; the job's run does the rest, step by step."""
    if session.get(RequestExecution, request.id) is None:
        session.add(RequestExecution(request_id=request.id))
        session.flush()


def run(request_id: int, *, last_attempt: bool = False) -> None:
    """Plan the request if no run has, execute its pending steps, and finish it; a request not under way is left alone.

    A failure that cannot pass (the systems do not match the policy, a bad request) fails the
    request at once; any other fails it on the job's last attempt and is raised before that.
    """
    current = _load(request_id)
    if current is None:
        return
    try:
        _proceed(current)
    except Exception as exc:
        final = isinstance(exc, PrivacydeskError) and exc.status_code < 500
        if not (final or last_attempt):
            raise
        reason = exc.message if isinstance(exc, PrivacydeskError) else f"{type(exc).__name__}: {exc}"
        log.warning("request failed", extra={"request_id": request_id, "reason": reason})
        _fail(request_id, reason)


def _load(request_id: int) -> _Run | None:
    """The request, its policy and its steps not done; the first of them marked running, in one transaction."""
    with transaction() as session:
        request = session.get(SubjectRequest, request_id)
        record = session.get(RequestExecution, request_id)
        if request is None or record is None or request.status not in _UNDER_WAY:
            return None
        version_hash = session.scalar(select(PolicyVersion.hash).where(PolicyVersion.number == request.policy_version))
        assert version_hash is not None
        policy = policy_by_hash(session, version_hash)
        current = _Run(request, policy, version_hash, pools.connectors(policy, version_hash), planned=record.planned_at is not None)
        _unfinished(session, current)
    return current


def _unfinished(session: Session, current: _Run) -> None:
    """Read the steps not done into the run, and mark the first one running."""
    query = (
        select(RequestStep.id, RequestStep.position, RequestStep.action, RequestStep.status, RequestStep.payload, RequestStep.task_id)
        .where(RequestStep.request_id == current.request.id, RequestStep.status != "done")
        .order_by(RequestStep.position)
    )
    current.pending, current.waiting = [], []
    for row in session.execute(query):
        if row.status == "waiting":
            current.waiting.append(row.task_id)
        else:
            current.pending.append(_Pending(row.id, row.position, row.action, row.status, row.payload))
    if current.pending:
        _mark_running(session, current.pending[0])


def _proceed(current: _Run) -> None:
    request = current.request
    if request.type in planning.ENGINE_KINDS:
        current.engine = planning.engine_plan(current.policy, request)
    if not current.planned:
        _plan(current)
    _execute(current)
    if current.waiting:
        with transaction() as session:
            _wait(session, request.id, manual=any(current.waiting))
        return
    _finish(current)


def _plan(current: _Run) -> None:
    """Store the steps and the outline, the first step marked running (erased rows could not be found again)."""
    request = current.request
    planned = planning.plan(current.policy, request, current.connectors, now=utcnow())
    with transaction() as session:
        record = session.get(RequestExecution, request.id, with_for_update=True)
        assert record is not None
        if record.planned_at is not None:  # another run planned meanwhile: its steps are the request's
            _unfinished(session, current)
            return
        rows = [
            {
                "request_id": request.id,
                "position": position,
                "step_id": step.step_id,
                "action": step.action,
                "system": step.system,
                "collection": step.collection,
                "payload": step.payload,
                "status": "running" if position == 1 else "pending",
                "count": 0,
                "attempts": 1 if position == 1 else 0,
                "started_at": utcnow() if position == 1 else None,
            }
            for position, step in enumerate(planned.steps, start=1)
        ]
        if rows:
            inserted = session.execute(insert(RequestStep).returning(RequestStep.id, RequestStep.position), rows)
            ids = {position: step_id for step_id, position in inserted}
            current.pending = [
                _Pending(ids[position], position, step.action, "pending", step.payload)
                for position, step in enumerate(planned.steps, start=1)
            ]
        record.outline = planned.outline
        record.planned_at = utcnow()


def _execute(current: _Run) -> None:
    pending = current.pending
    pause = int(os.environ.get(PAUSE_ENV, "0") or 0)
    # One connection for the run's many short transactions: checked out (and pinged) once, not once per step.
    with get_engine().connect() as connection, Session(bind=connection, expire_on_commit=False) as session:
        # Losing a step's record in a crash of the platform database only runs the (idempotent) step again,
        # so those commits need not wait for the disk; the setting is reset before the connection goes back.
        connection.exec_driver_sql("SET synchronous_commit TO off")
        connection.commit()
        try:
            for index, step in enumerate(pending):
                upcoming = pending[index + 1] if index + 1 < len(pending) else None
                with session.begin():
                    if step.action in _PLATFORM:
                        request = session.get(SubjectRequest, current.request.id)
                        assert request is not None
                        outcome = actions.perform(session, step.action, request, current.policy)
                        _record(session, step, "done", 0, outcome, None, upcoming)
                        continue
                status, count, result, task = _effect(current, step)
                if pause and step.position == pause:
                    log.warning("pausing after the effect of a step, as %s asks", PAUSE_ENV, extra={"step": step.position})
                    time.sleep(3600)
                with session.begin():
                    _record(session, step, status, count, result, task, upcoming)
                    if status == "waiting":
                        current.waiting.append(task.id if task is not None else None)
                        request = session.get(SubjectRequest, current.request.id)
                        if task is not None and request is not None:
                            delivery.notify_owner(session, current.policy, request, task)
        finally:
            connection.exec_driver_sql("RESET synchronous_commit")
            connection.commit()


_PLATFORM = frozenset(planning.PLATFORM_ACTIONS.values())


def _effect(current: _Run, row: _Pending) -> tuple[str, int, dict[str, Any] | None, ManualTask | None]:
    """Run one engine step against its system: (status, count, result to store, manual task or None)."""
    assert current.engine is not None
    step = Step.from_dict(row.payload)
    callback = f"{get_settings().base_url}/api/v1/connectors/{step.system}/callback"
    try:
        outcome = execute(current.engine, step, current.connectors, callback=callback)
    except Unsupported as exc:
        return "done", 0, {"unsupported": exc.message}, None
    if outcome.delegated is not None:
        answer = outcome.delegated
        reported = answer.collections.values()
        count = sum(item.deleted + item.anonymised + item.rectified + len(item.rows) for item in reported)
        return ("done" if answer.status == "done" else "waiting"), count, delegated_json(answer), answer.task
    if step.action == "export":
        return "done", outcome.count, _exported(outcome), None
    if row.status == "running" and step.action in _COUNTED_AGAIN:
        return "done", _settled(current.connectors[step.system], step), None, None
    return "done", outcome.count, None, None


def _exported(outcome: Outcome) -> dict[str, Any]:
    """The rows an export step read, stored with its completion until the export is packaged."""
    rows = [{column: jsonable(value) for column, value in item.values.items()} for item in outcome.exported]
    files = [{"path": item.attachment.path, "size": item.attachment.size} for item in outcome.exported if item.attachment is not None]
    return {"rows": rows, "files": files}


def _settled(connector: Connector, step: Step) -> int:
    """The count of an interrupted step run again: the keys now gone (deletion), or the rows there (anonymised, corrected)."""
    assert step.collection is not None
    key = connector.key_column(step.collection)
    present = {as_key(item.values[key]) for item in connector.export(step.collection, step.keys)}
    if step.action == "delete":
        return sum(1 for item in step.keys if as_key(item) not in present)
    return len(present)


def _mark_running(session: Session, step: _Pending) -> None:
    session.execute(
        update(RequestStep)
        .where(RequestStep.id == step.id, RequestStep.status.in_(("pending", "running")))
        .values(status="running", attempts=RequestStep.attempts + 1, started_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _record(
    session: Session,
    step: _Pending,
    status: str,
    count: int,
    result: dict[str, Any] | None,
    task: ManualTask | None,
    upcoming: _Pending | None,
) -> None:
    """Record a step's outcome and mark the next one running: one statement, one round trip besides the commit."""
    recorded = RequestStep.id == step.id

    def outcome(value: Any, other: Any) -> Any:
        return case((recorded, value), else_=other)

    ids = [step.id] if upcoming is None else [step.id, upcoming.id]
    session.execute(
        update(RequestStep)
        .where(RequestStep.id.in_(ids))
        .values(
            status=outcome(status, "running"),
            count=outcome(count, RequestStep.count),
            result=outcome(null() if result is None else literal(result, JSONB), RequestStep.result),
            task_id=outcome(task.id, RequestStep.task_id) if task is not None else RequestStep.task_id,
            finished_at=outcome(utcnow() if status == "done" else null(), RequestStep.finished_at),
            attempts=outcome(RequestStep.attempts, RequestStep.attempts + 1),
            started_at=outcome(RequestStep.started_at, utcnow()),
        )
        .execution_options(synchronize_session=False)
    )


def _wait(session: Session, request_id: int, *, manual: bool) -> None:
    """Leave the request waiting for outside work; a manual task shows as waiting_manual."""
    request = session.get(SubjectRequest, request_id, with_for_update=True)
    if request is not None and manual and request.status is RequestStatus.executing:
        states.move(session, request, RequestStatus.waiting_manual, actor="system")


def _finish(current: _Run) -> None:
    with transaction() as session:
        request = session.get(SubjectRequest, current.request.id, with_for_update=True)
        record = session.get(RequestExecution, current.request.id, with_for_update=True)
        if request is None or record is None or request.status not in _UNDER_WAY:
            return
        steps = list(session.scalars(select(RequestStep).where(RequestStep.request_id == request.id).order_by(RequestStep.position)))
        result, summary = results.assemble(record.outline or {}, steps)
        export = _deliverable(session, current, request, steps) if request.type in (RequestType.access, RequestType.portability) else None
        if export is not None:
            result["export"] = {"id": export.id, "size": export.size, "sha256": export.sha256, "expires_at": export.expires_at.isoformat()}
            summary["export_bytes"] = export.size
        # Exported rows were needed only to package them; delegated rows likewise.
        session.execute(
            update(RequestStep)
            .where(RequestStep.request_id == request.id, RequestStep.action == "export")
            .values(result=RequestStep.result.delete_path(["rows"]))
            .execution_options(synchronize_session=False)
        )
        for step in steps:
            if step.action == "delegate" and step.result and step.result.get("collections"):
                step.result = _without_rows(step.result)
        record.result = result
        record.finished_at = utcnow()
        # The state moves come last: they take the audit log's lock, held until the commit.
        if request.status is RequestStatus.waiting_manual:
            states.move(session, request, RequestStatus.executing, actor="system")
        states.move(session, request, RequestStatus.completed, actor="system", summary=summary)
        delivery.notify(session, request, current.policy, result, export)


def _deliverable(session: Session, current: _Run, request: SubjectRequest, steps: list[RequestStep]) -> RequestExport:
    gathered = exports.gather(current.policy, request, steps, current.connectors)
    export = exports.record(session, request, exports.package(current.policy, current.version_hash, request, gathered))
    if request.details.get("portability", {}).get("to") == "controller":
        enqueue(session, SEND_PORTABLE_TASK, queueing_lock=f"{SEND_PORTABLE_TASK}:{export.id}", export_id=export.id)
    return export


def _without_rows(result: dict[str, Any]) -> dict[str, Any]:
    stripped = {key: value for key, value in result.items() if key != "rows"}
    if "collections" in stripped:
        stripped["collections"] = {
            name: {key: value for key, value in item.items() if key != "rows"} for name, item in stripped["collections"].items()
        }
    return stripped


def _fail(request_id: int, reason: str) -> None:
    with transaction() as session:
        request = session.get(SubjectRequest, request_id, with_for_update=True)
        record = session.get(RequestExecution, request_id, with_for_update=True)
        if request is None or record is None or request.status not in _UNDER_WAY:
            return
        record.error = reason
        states.move(session, request, RequestStatus.failed, actor="system", note=reason, summary={"reason": "execution_failed"})
