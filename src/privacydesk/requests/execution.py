"""The hand-over of approved requests to whatever carries them out: executors, registered per request type.

An executor is a callable `executor(session, request)`. It runs in the transaction of the job
`requests.execute`, after the request moved to `executing`. It may finish the work and call
`service.complete` (or `service.fail`), or queue its own jobs and leave the request executing for
them to finish. If it raises, the transaction rolls back, so the request is `approved` again and
the job is retried.

Executors come from `register(type, executor)` or from entry points in the group
`privacydesk.request_executors`, named after the request type (`erasure = "pkg.module:function"`);
privacydesk installs `fulfilment.runner.begin` for every type, whose stored steps the same job then
runs (`fulfilment.runner.run`). With no executor for its type, a request stays `approved` and
nothing happens; queue `requests.execute` again (POST /api/v1/requests/{id}/execute) once one is
installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from sqlalchemy.orm import Session

from privacydesk.jobs.service import enqueue
from privacydesk.requests import states
from privacydesk.requests.models import RequestStatus, RequestType, SubjectRequest

ENTRY_POINT_GROUP = "privacydesk.request_executors"
EXECUTE_TASK = "requests.execute"
Executor = Callable[[Session, SubjectRequest], None]

log = logging.getLogger(__name__)
_registered: dict[RequestType, Executor] = {}


def register(request_type: RequestType, executor: Executor) -> None:
    """Make `executor` carry out requests of `request_type` in this process (replacing any earlier one)."""
    _registered[request_type] = executor


def unregister(request_type: RequestType) -> None:
    """Forget the executor registered for `request_type` in this process."""
    _registered.pop(request_type, None)


def executor_for(request_type: RequestType) -> Executor | None:
    """The executor of a request type: registered in this process, else installed as an entry point."""
    if request_type in _registered:
        return _registered[request_type]
    point = _installed().get(request_type.value)
    return _loaded(point) if point is not None else None


@cache
def _loaded(point: EntryPoint) -> Executor:
    # Once per process: loading an entry point imports its module and looks its object up every time.
    loaded: Executor = point.load()
    return loaded


@cache
def _installed() -> dict[str, EntryPoint]:
    # Read once per process: installed packages do not change while it runs, and scanning them takes milliseconds.
    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def schedule(session: Session, request: SubjectRequest) -> None:
    """Queue the execution of an approved request, in the caller's transaction (once, however often it is asked)."""
    # The lock runs the jobs of one request one after the other: a resumed run never overlaps another.
    name = f"{EXECUTE_TASK}:{request.id}"
    enqueue(session, EXECUTE_TASK, lock=name, queueing_lock=name, request_id=request.id)


def start(session: Session, request: SubjectRequest, *, now: datetime | None = None) -> bool:
    """Move an approved request to executing and run its executor; False (and no change) if it is not approved or has none."""
    if request.status is not RequestStatus.approved:
        return False
    executor = executor_for(request.type)
    if executor is None:
        log.info(
            "no executor for this request type yet: the request stays approved", extra={"request_id": request.id, "type": request.type}
        )
        return False
    states.move(session, request, RequestStatus.executing, actor="system", now=now)
    executor(session, request)
    return True
