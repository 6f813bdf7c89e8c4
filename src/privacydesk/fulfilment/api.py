"""The fulfilment API: manual tasks and execution records for the privacy team, and webhook systems' answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from privacydesk.auth.deps import protected_router, require
from privacydesk.auth.permissions import Permission
from privacydesk.auth.principal import Principal
from privacydesk.connectors.base import Reported
from privacydesk.connectors.webhook import SIGNATURE_HEADER
from privacydesk.errors import Invalid
from privacydesk.fulfilment import service
from privacydesk.fulfilment.schemas import (
    CallbackOut,
    DirectiveOut,
    DirectiveQuery,
    ExecutionOut,
    ExportOut,
    LiftedOut,
    RestrictionOut,
    StepOut,
    TaskDoneIn,
    TaskOut,
)
from privacydesk.web.deps import DbSession

tasks_router = protected_router(prefix="/tasks", tags=["manual tasks"])
executions_router = protected_router(prefix="/requests", tags=["requests"])
register_router = protected_router(prefix="/restrictions", tags=["restrictions"])
directives_router = protected_router(prefix="/directives", tags=["restrictions"])
# Authenticated by the signature of the system's own secret, not by a token: listed as public in auth.guard.
callbacks_router = APIRouter(prefix="/connectors", tags=["connectors"])

READ = [Depends(require(Permission.REQUESTS_READ))]
Manager = Annotated[Principal, Depends(require(Permission.REQUESTS_MANAGE))]
MAX_CALLBACK_BYTES = 50_000_000


@tasks_router.get("", dependencies=READ)
def open_tasks(session: DbSession) -> list[TaskOut]:
    """Manual tasks waiting for their owners, the earliest due first."""
    return [
        TaskOut(
            id=item.task.id,
            request_id=item.request_id,
            system=item.task.system,
            owner=item.task.owner,
            kind=item.task.kind,
            collections=list(item.task.collections),
            identities={kind: list(values) for kind, values in item.task.identities.items()},
            corrections=dict(item.task.corrections),
            instructions=item.task.instructions,
            due_on=item.due_on,
            created_at=item.created_at,
        )
        for item in service.open_tasks(session)
    ]


@tasks_router.post("/{task_id}/done")
def task_done(task_id: str, body: TaskDoneIn, session: DbSession, principal: Manager) -> ExecutionOut:
    """Mark a manual task done with what was done per collection; the request finishes once nothing else waits."""
    reported = {
        name: Reported(tuple(item.rows), item.deleted, item.anonymised, item.held, item.rectified)
        for name, item in body.collections.items()
    }
    request = service.finish_task(session, task_id, reported, actor=principal.actor, note=body.note)
    return _execution(session, request.id)


@executions_router.get("/{request_id}/execution", dependencies=READ)
def execution_record(request_id: int, session: DbSession) -> ExecutionOut:
    """A request's execution: the outline planned, every step with its status and count, the result, the export."""
    return _execution(session, request_id)


@executions_router.get("/{request_id}/export", response_class=FileResponse)
def export_file(request_id: int, session: DbSession, principal: Manager) -> FileResponse:
    """The request's export (ZIP), for the team to deliver another way; every download is audited."""
    export = service.staff_download(session, request_id, actor=principal.actor)
    return FileResponse(export.path, media_type="application/zip", filename=f"request-{request_id}.zip")


async def raw_body(request: Request) -> bytes:
    """The request body as sent: the signature covers its exact bytes."""
    body = await request.body()
    if len(body) > MAX_CALLBACK_BYTES:
        raise Invalid(f"the answer is larger than {MAX_CALLBACK_BYTES} bytes")
    return body


@callbacks_router.post("/{system}/callback")
def delegation_answer(
    system: str,
    body: Annotated[bytes, Depends(raw_body)],
    session: DbSession,
    signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
) -> CallbackOut:
    """A webhook system's later answer to a request it accepted (202), signed with the system's secret."""
    return CallbackOut(recorded=service.accept_callback(session, system, body, signature))


@register_router.get("", dependencies=READ)
def restriction_register(session: DbSession, lifted: bool = False) -> list[RestrictionOut]:
    """The restriction and objection register (Art. 18, 21): standing entries, with `lifted=true` the lifted ones too."""
    return [RestrictionOut.model_validate(entry) for entry in service.register(session, lifted=lifted)]


@register_router.post("/{restriction_id}/lift")
def lift_restriction(restriction_id: int, session: DbSession, principal: Manager) -> LiftedOut:
    """Lift an entry: checks answer from the person's decisions again, and the person is mailed (Art. 18(3))."""
    entry, mailed = service.lift(session, restriction_id, actor=principal.actor)
    return LiftedOut.model_validate(entry).model_copy(update={"person_mailed": mailed})


@directives_router.post("/search")
def find_directives(body: DirectiveQuery, session: DbSession, principal: Manager) -> list[DirectiveOut]:
    """The instructions for after death recorded under an identity (a trusted contact's enquiry); every lookup is audited."""
    return [
        DirectiveOut(
            id=directive.id,
            request_id=directive.request_id,
            reference=reference,
            instructions=directive.instructions,
            trusted_contact=directive.trusted_contact,
            recorded_at=directive.recorded_at,
        )
        for directive, reference in service.directives_for(session, body.type, body.value, actor=principal.actor)
    ]


def _execution(session: Session, request_id: int) -> ExecutionOut:
    record, steps, export = service.execution_of(session, request_id)
    return ExecutionOut(
        request_id=request_id,
        planned_at=record.planned_at,
        finished_at=record.finished_at,
        error=record.error,
        outline=record.outline,
        result=record.result,
        steps=[StepOut.model_validate(step) for step in steps],
        export=ExportOut.model_validate(export) if export is not None else None,
    )
