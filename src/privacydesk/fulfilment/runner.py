"""Durable execution: plan a request once, run its stored steps in groups, record each group's completion, finish once.

The job `requests.execute` calls `run`, which first hands an approved request over
(`requests.execution.start` moves it to executing; `begin`, the executor installed for every
request type, only opens its execution record) and loads what the run needs in that same short
transaction, so no lock is held while systems are asked anything. A run:

1. plans, if no run has: locates the person's rows (read-only) and stores the steps and outline.
   An access reads whole rows while locating, so its exports are stored done with the plan, and
   the request finishes in that same transaction;
2. executes the steps not done, in plan order and in groups: consecutive deletions,
   anonymisations and rectifications of one system are one group, made in one transaction of that
   system (bounded by GROUP_KEYS keys); any other step is a group of its own. A group is marked
   running in the transaction that records the previous one done (or plans, or loads the run);
   platform actions (restriction, consent withdrawal...) commit with their completion. Steps found
   running were interrupted: their group runs again (every step is idempotent), and their counts
   are then what their rows show: the keys gone for a deletion, the rows present (in their erased
   or corrected state) for an anonymisation or rectification;
3. waits while a manual task or a webhook's later answer is outstanding (a manual task moves the
   request to waiting_manual); their completion queues the job again;
4. finishes: the last group recorded done, the result from the outline and the recorded counts,
   the export packaged, the request completed, the person mailed, in one transaction.

A killed worker's job is retried (jobs.retry_stalled) and resumes at step 2; a finished request
is left alone.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, joinedload, lazyload

from privacydesk.config import get_settings
from privacydesk.connectors.base import Connector, ManualTask, Unsupported, as_key
from privacydesk.connectors.registry import Connectors
from privacydesk.consent.published import policy_by_hash
from privacydesk.db.base import utcnow
from privacydesk.db.engine import get_engine, transaction
from privacydesk.engine.plan import Plan
from privacydesk.engine.results import delegated_json, jsonable
from privacydesk.engine.steps import CHANGES, Outcome, Step, execute, execute_changes
from privacydesk.errors import PrivacydeskError
from privacydesk.fulfilment import actions, delivery, exports, planning, pools, results
from privacydesk.fulfilment.models import RequestExecution, RequestExport, RequestStep
from privacydesk.jobs.service import enqueue
from privacydesk.policy.models import Policy
from privacydesk.requests import execution, states
from privacydesk.requests.models import RequestStatus, RequestType, SubjectRequest
from privacydesk.retention import holds
from privacydesk.retention.models import LegalHold
from privacydesk.versions.models import PolicyVersion

# For the resume tests only: after the effect of the group holding the step at this position, before
# its completion is recorded, the worker stops still (and is killed).
PAUSE_ENV = "PRIVACYDESK_TEST_PAUSE_AFTER_STEP"
SEND_PORTABLE_TASK = "fulfilment.send_portable"
# Keys one group of changes may hold: one transaction of the system stays short however many rows a person has.
GROUP_KEYS = 10_000
_UNDER_WAY = (RequestStatus.executing, RequestStatus.waiting_manual)
_PLATFORM = frozenset(planning.PLATFORM_ACTIONS.values())
# The run's own reads of the request: its identities in the same statement, none of its events (a state move adds one unread).
_LIGHT = [joinedload(SubjectRequest.identities), lazyload(SubjectRequest.events)]
# Locking the request's row alone: the identities are joined, and a lock does not reach the nullable side of an outer join.
_LOCK = {"of": SubjectRequest}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Pending:
    """A stored step still to run, as it was when the run began."""

    id: int
    position: int
    action: str
    system: str | None
    status: str
    payload: dict[str, Any]


class _Stored(Protocol):
    """A step as planned or as stored: what grouping looks at."""

    @property
    def action(self) -> str: ...

    @property
    def system(self) -> str | None: ...

    @property
    def payload(self) -> dict[str, Any]: ...


S = TypeVar("S", bound=_Stored)


@dataclass(frozen=True)
class _Done:
    """What running a step gave, to be recorded: status, count, result to store, and the manual task if any."""

    status: str
    count: int = 0
    result: dict[str, Any] | None = None
    task: ManualTask | None = None


@dataclass
class _Run:
    """What one run of one request works with."""

    request: SubjectRequest
    policy: Policy
    version_hash: str
    connectors: Connectors
    planned: bool
    # What the plan expects (rows found, holds): the result is assembled on it.
    outline: dict[str, Any] | None = None
    # Steps not done, in groups in order; and the manual task ids (None for a webhook) of steps waiting for outside work.
    pending: list[list[_Pending]] = field(default_factory=list)
    waiting: list[str | None] = field(default_factory=list)
    engine: Plan | None = None
    # The last group's outcome, recorded by the transaction that finishes the request.
    unrecorded: list[tuple[_Pending, _Done]] = field(default_factory=list)
    # Set when nothing was left to run after planning, so the plan's transaction completed the request.
    finished: bool = False
    # The staff legal holds standing when an erasure's or a rectification's run began, for its planning.
    standing: list[LegalHold] = field(default_factory=list)


def begin(session: Session, request: SubjectRequest) -> None:
    """The executor of every request type: open the execution record; the job's run does the rest, step by step."""
    # One statement: it runs after the hand-over's state move, which holds the audit log's lock until the commit.
    session.connection().execute(_OPEN, {"request_id": request.id, "created_at": utcnow()})


# Executed on the session's connection, these are plain statements built once: no ORM unit of work, no statement built per call.
_OPEN = insert(RequestExecution).on_conflict_do_nothing()


def run(request_id: int, *, last_attempt: bool = False) -> None:
    """Hand an approved request over, plan it if no run has, execute its pending steps, and finish it.

    A request neither approved nor under way, or carried out by an executor other than `begin`, is left alone.

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
    """In one transaction: the request handed over if approved, its policy, its steps not done (the first group marked running)."""
    with transaction() as session:
        request = session.get(SubjectRequest, request_id, with_for_update=_LOCK, options=_LIGHT)
        if request is None:
            return None
        execution.start(session, request)
        if request.status not in _UNDER_WAY:
            return None
        loaded = session.execute(
            select(RequestExecution.planned_at, RequestExecution.outline, PolicyVersion.hash)
            .join(PolicyVersion, PolicyVersion.number == request.policy_version)
            .where(RequestExecution.request_id == request_id)
        ).first()
        if loaded is None:  # another executor carries the request out
            return None
        planned_at: datetime | None = loaded[0]
        outline: dict[str, Any] | None = loaded[1]
        version_hash: str = loaded[2]
        policy = policy_by_hash(session, version_hash)
        connectors = pools.connectors(policy, version_hash)
        current = _Run(request, policy, version_hash, connectors, planned=planned_at is not None, outline=outline)
        if current.planned:
            _unfinished(session, current)
        elif request.type in (RequestType.erasure, RequestType.rectification):
            # Read now rather than in a transaction of their own: planning asks the systems outside any transaction.
            current.standing = holds.listed(session, now=utcnow())
    return current


def _unfinished(session: Session, current: _Run) -> None:
    """Read the steps not done into the run, and mark the first group running."""
    query = (
        select(
            RequestStep.id,
            RequestStep.position,
            RequestStep.action,
            RequestStep.system,
            RequestStep.status,
            RequestStep.payload,
            RequestStep.task_id,
        )
        .where(RequestStep.request_id == current.request.id, RequestStep.status != "done")
        .order_by(RequestStep.position)
    )
    pending: list[_Pending] = []
    current.waiting = []
    for row in session.execute(query):
        if row.status == "waiting":
            current.waiting.append(row.task_id)
        else:
            pending.append(_Pending(row.id, row.position, row.action, row.system, row.status, row.payload))
    current.pending = _grouped(pending)
    if current.pending:
        _mark_running(session, current.pending[0])


def _grouped(pending: Sequence[S]) -> list[list[S]]:
    """Consecutive changes of one system (up to GROUP_KEYS keys) form a group; every other step is a group of its own."""
    groups: list[list[S]] = []
    keys = 0
    for step in pending:
        size = len(step.payload.get("keys", ()))
        last = groups[-1] if groups else None
        if (
            last is not None
            and step.action in CHANGES
            and last[0].action in CHANGES
            and last[0].system == step.system
            and keys + size <= GROUP_KEYS
        ):
            last.append(step)
            keys += size
        else:
            groups.append([step])
            keys = size
    return groups


def _proceed(current: _Run) -> None:
    request = current.request
    if request.type in planning.ENGINE_KINDS:
        current.engine = planning.engine_plan(current.policy, request)
    if not current.planned:
        _plan(current)
        if current.finished:
            return
    _execute(current)
    if current.waiting:
        with transaction() as session:
            _wait(session, request.id, manual=any(current.waiting))
        return
    _finish(current)


def _plan(current: _Run) -> None:
    """Store the steps and the outline, the first group marked running (erased rows could not be found again).

    When planning did every step (an access whose rows were read whole), the request finishes in
    the same transaction: the exported rows go into the ZIP and are never stored.
    """
    request = current.request
    planned = planning.plan(current.policy, request, current.connectors, now=utcnow(), standing=current.standing)
    groups = _grouped([step for step in planned.steps if step.result is None])
    first = {id(step) for step in groups[0]} if groups else set()
    with transaction() as session:
        now = utcnow()
        if groups:
            _store_plan(session, current, planned, first, now)
            return
        # Every step was done while planning: the request finishes now, locked as the finish locks it.
        locked = session.get(SubjectRequest, request.id, with_for_update=_LOCK, options=_LIGHT)
        if locked is None or locked.status not in _UNDER_WAY:
            current.finished = True
            return
        claimed = (
            session.connection()
            .execute(
                update(RequestExecution)
                .where(RequestExecution.request_id == request.id, RequestExecution.planned_at.is_(None))
                .values(planned_at=now, outline=planned.outline)
                .execution_options(synchronize_session=False)
            )
            .rowcount
        )
        if not claimed:  # another run planned meanwhile: its steps are the request's
            _unfinished(session, current)
            return
        current.outline = planned.outline
        steps = [
            RequestStep(
                request_id=request.id,
                position=position,
                step_id=step.step_id,
                action=step.action,
                system=step.system,
                collection=step.collection,
                payload=step.payload,
                status="done",
                count=len(step.result["rows"]) if step.result is not None else 0,
                attempts=1,
                started_at=now,
                finished_at=now,
                result=step.result,
            )
            for position, step in enumerate(planned.steps, start=1)
        ]
        _complete(session, current, locked, steps)
        current.finished = True


def _store_plan(session: Session, current: _Run, planned: planning.Planned, first: set[int], now: datetime) -> None:
    """Claim the plan and store its steps (the first group running) in one statement; another run's plan wins if it came first."""
    steps = [
        {
            "position": position,
            "step_id": step.step_id,
            "action": step.action,
            "system": step.system,
            "collection": step.collection,
            "payload": step.payload,
            "status": "done" if step.result is not None else "running" if id(step) in first else "pending",
            "count": len(step.result["rows"]) if step.result is not None else 0,
            # A step done while planning stores its result; the others have none yet (NULL, not JSON null).
            "result": step.result,
        }
        for position, step in enumerate(planned.steps, start=1)
    ]
    parameters = {"request_id": current.request.id, "now": now, "outline": json.dumps(planned.outline), "steps": json.dumps(steps)}
    stored: dict[int, int] = {row.position: row.id for row in session.connection().execute(_STORE_PLAN, parameters)}
    if not stored:  # another run planned meanwhile: its steps are the request's
        _unfinished(session, current)
        return
    current.outline = planned.outline
    # As they were when the run began: none of them was interrupted.
    current.pending = _grouped(
        [
            _Pending(stored[position], position, step.action, step.system, "pending", step.payload)
            for position, step in enumerate(planned.steps, start=1)
            if step.result is None
        ]
    )


# The plan claimed only if no run planned before, and its steps stored: no row back means another run's plan stands.
_STORE_PLAN = text(
    """
    WITH claimed AS (
        UPDATE request_executions SET planned_at = :now, outline = CAST(:outline AS jsonb)
        WHERE request_id = :request_id AND planned_at IS NULL
        RETURNING request_id
    )
    INSERT INTO request_steps (request_id, position, step_id, action, system, collection, payload, status, count, attempts,
        started_at, finished_at, result)
    SELECT claimed.request_id, step.position, step.step_id, step.action, step.system, step.collection, step.payload, step.status,
        step.count, CASE WHEN step.status = 'pending' THEN 0 ELSE 1 END, CASE WHEN step.status <> 'pending' THEN CAST(:now AS timestamptz) END,
        CASE WHEN step.status = 'done' THEN CAST(:now AS timestamptz) END, step.result
    FROM claimed CROSS JOIN jsonb_to_recordset(CAST(:steps AS jsonb)) AS step(position integer, step_id text, action text,
        system text, collection text, payload jsonb, status text, count integer, result jsonb)
    RETURNING id, position
    """
)


def _execute(current: _Run) -> None:
    """Run the pending groups; the last one's outcome is left for the finish to record, unless it waits for outside work."""
    groups = current.pending
    pause = int(os.environ.get(PAUSE_ENV, "0") or 0)
    with _recording() as recorded:
        for index, group in enumerate(groups):
            upcoming = groups[index + 1] if index + 1 < len(groups) else []
            if group[0].action in _PLATFORM:
                with recorded() as session:
                    request = session.get(SubjectRequest, current.request.id, options=_LIGHT)
                    assert request is not None
                    performed = actions.perform(session, group[0].action, request, current.policy, found=group[0].payload)
                    _record(session, current.request.id, [(group[0], _Done("done", 0, performed))], upcoming)
                continue
            done = _effect(current, group)
            if pause and any(step.position == pause for step in group):
                log.warning("pausing after the effect of a group of steps, as %s asks", PAUSE_ENV, extra={"step": pause})
                time.sleep(3600)
            # The last group's outcome is recorded by the finish, unless the request is left waiting instead of finishing.
            if not upcoming and not current.waiting and all(outcome.status == "done" for _, outcome in done):
                current.unrecorded = done
                continue
            with recorded() as session:
                _record(session, current.request.id, done, upcoming)
                for _, outcome in done:
                    if outcome.status == "waiting":
                        _waiting(session, current, outcome.task)


@contextmanager
def _recording() -> Iterator[Callable[[], AbstractContextManager[Session]]]:
    """Transactions for a run's records, on one connection opened for the first of them (not at all when none is needed).

    Losing a step's record in a crash of the platform database only runs the (idempotent) step
    again, so these commits need not wait for the disk; the setting is reset before the connection
    goes back to the pool.
    """
    opened: list[tuple[Connection, Session]] = []

    @contextmanager
    def recorded() -> Iterator[Session]:
        if not opened:
            connection = get_engine().connect()
            connection.exec_driver_sql("SET synchronous_commit TO off")
            connection.commit()
            opened.append((connection, Session(bind=connection, expire_on_commit=False)))
        session = opened[0][1]
        with session.begin():
            yield session

    try:
        yield recorded
    finally:
        for connection, session in opened:
            session.close()
            connection.exec_driver_sql("RESET synchronous_commit")
            connection.commit()
            connection.close()


def _waiting(session: Session, current: _Run, task: ManualTask | None) -> None:
    """Note a step left waiting for outside work; a manual task's owner is told."""
    current.waiting.append(task.id if task is not None else None)
    if task is not None:
        request = session.get(SubjectRequest, current.request.id, options=_LIGHT)
        if request is not None:
            delivery.notify_owner(session, current.policy, request, task)


def _effect(current: _Run, group: list[_Pending]) -> list[tuple[_Pending, _Done]]:
    """Run one group against its system: each step with what to record."""
    assert current.engine is not None
    steps = [Step.from_dict(row.payload) for row in group]
    if group[0].action in CHANGES:
        try:
            outcomes = execute_changes(current.engine, steps, current.connectors)
        except Unsupported:  # some change is not possible there: each step alone, the others still done
            return [(row, _one(current, row, step)) for row, step in zip(group, steps, strict=True)]
        connector = current.connectors[steps[0].system]
        return [
            (row, _Done("done", _settled(connector, outcome.step) if row.status == "running" else outcome.count))
            for row, outcome in zip(group, outcomes, strict=True)
        ]
    return [(group[0], _one(current, group[0], steps[0]))]


def _one(current: _Run, row: _Pending, step: Step) -> _Done:
    """Run one engine step against its system."""
    assert current.engine is not None
    callback = f"{get_settings().base_url}/api/v1/connectors/{step.system}/callback"
    try:
        outcome = execute(current.engine, step, current.connectors, callback=callback)
    except Unsupported as exc:
        return _Done("done", 0, {"unsupported": exc.message})
    if outcome.delegated is not None:
        answer = outcome.delegated
        reported = answer.collections.values()
        count = sum(item.deleted + item.anonymised + item.rectified + len(item.rows) for item in reported)
        return _Done("done" if answer.status == "done" else "waiting", count, delegated_json(answer), answer.task)
    if step.action == "export":
        return _Done("done", outcome.count, _exported(outcome))
    if row.status == "running" and step.action in CHANGES:
        return _Done("done", _settled(current.connectors[step.system], step))
    return _Done("done", outcome.count)


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


def _mark_running(session: Session, group: list[_Pending]) -> None:
    session.execute(
        update(RequestStep)
        .where(RequestStep.id.in_([step.id for step in group]), RequestStep.status.in_(("pending", "running")))
        .values(status="running", attempts=RequestStep.attempts + 1, started_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _record(session: Session, request_id: int, done: list[tuple[_Pending, _Done]], upcoming: list[_Pending]) -> None:
    """Record a group's outcomes (one statement for all its steps) and mark the next group running."""
    now = utcnow().isoformat()
    outcomes = [
        {
            "id": step.id,
            "status": outcome.status,
            "found": outcome.count,
            "stored": outcome.result,
            "task": outcome.task.id if outcome.task is not None else None,
            "finished": now if outcome.status == "done" else None,
        }
        for step, outcome in done
    ]
    session.connection().execute(_RECORDED, {"request_id": request_id, "outcomes": json.dumps(outcomes)})
    if upcoming:
        _mark_running(session, upcoming)


# A group's outcomes, one row each; one constant text however many steps (a JSON null result is stored as NULL). The
# request's id lets the steps be found by index: the planner expects a hundred rows from the function and would scan the table.
_RECORDED = text(
    """
    UPDATE request_steps SET status = done.status, count = done.found, result = done.stored,
        task_id = coalesce(done.task, request_steps.task_id), finished_at = done.finished
    FROM jsonb_to_recordset(CAST(:outcomes AS jsonb)) AS done(id bigint, status text, found integer, stored jsonb, task text,
        finished timestamptz)
    WHERE request_steps.request_id = :request_id AND request_steps.id = done.id
    """
)


def _wait(session: Session, request_id: int, *, manual: bool) -> None:
    """Leave the request waiting for outside work; a manual task shows as waiting_manual."""
    request = session.get(SubjectRequest, request_id, with_for_update=_LOCK, options=_LIGHT)
    if request is not None and manual and request.status is RequestStatus.executing:
        states.move(session, request, RequestStatus.waiting_manual, actor="system")


def _finish(current: _Run) -> None:
    with transaction() as session:
        request = session.get(SubjectRequest, current.request.id, with_for_update=_LOCK, options=_LIGHT)
        if request is None or request.status not in _UNDER_WAY:
            return
        if current.unrecorded:
            _record(session, request.id, current.unrecorded, [])
        steps = list(session.scalars(select(RequestStep).where(RequestStep.request_id == request.id).order_by(RequestStep.position)))
        _complete(session, current, request, steps)


def _complete(session: Session, current: _Run, request: SubjectRequest, steps: list[RequestStep]) -> None:
    """The result assembled and stored, the export packaged, the person mailed and the request completed (locked by the caller)."""
    result, summary = results.assemble(current.outline or {}, steps)
    export = _deliverable(session, current, request, steps) if request.type in (RequestType.access, RequestType.portability) else None
    if export is not None:
        result["export"] = {"id": export.id, "size": export.size, "sha256": export.sha256, "expires_at": export.expires_at.isoformat()}
        summary["export_bytes"] = export.size
    # Exported rows were needed only to package them; delegated rows likewise.
    for step in steps:
        if step.action == "export" and step.result and "rows" in step.result:
            step.result = {key: value for key, value in step.result.items() if key != "rows"}
        elif step.action == "delegate" and step.result and step.result.get("collections"):
            step.result = _without_rows(step.result)
    session.add_all(steps)
    session.connection().execute(_FINISHED, {"request": request.id, "result": result, "finished": utcnow()})
    if not delivery.notify(session, request, current.policy, result, export):
        delivery.text(session, request)
    # The state moves come last: they take the audit log's lock, held until the commit.
    if request.status is RequestStatus.waiting_manual:
        states.move(session, request, RequestStatus.executing, actor="system")
    states.move(session, request, RequestStatus.completed, actor="system", summary=summary)


_FINISHED = (
    update(RequestExecution)
    .where(RequestExecution.request_id == bindparam("request"))
    .values(result=bindparam("result"), finished_at=bindparam("finished"))
)


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
        request = session.get(SubjectRequest, request_id, with_for_update=_LOCK, options=_LIGHT)
        record = session.get(RequestExecution, request_id, with_for_update=True)
        if request is None or record is None or request.status not in _UNDER_WAY:
            return
        record.error = reason
        states.move(session, request, RequestStatus.failed, actor="system", note=reason, summary={"reason": "execution_failed"})
