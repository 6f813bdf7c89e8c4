"""Outside work a request waits for (manual tasks, webhook answers), the execution record, and downloads. Never commits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.auth import keys
from privacydesk.connectors.base import Delegated, ManualTask, Reported
from privacydesk.connectors.manual import complete
from privacydesk.connectors.webhook import handle_callback
from privacydesk.consent import restrictions
from privacydesk.consent.models import ConsentRestriction
from privacydesk.db.base import utcnow
from privacydesk.engine.results import delegated_json
from privacydesk.errors import Conflict, Invalid, NotFound
from privacydesk.fulfilment import exports
from privacydesk.fulfilment.models import RequestExecution, RequestExport, RequestStep, SubjectDirective
from privacydesk.i18n import format_day
from privacydesk.mail.service import queue_mail
from privacydesk.requests import execution, states, verification
from privacydesk.requests import service as requests
from privacydesk.requests.identities import normalize, value_hash
from privacydesk.requests.models import RequestStatus, SubjectRequest


@dataclass(frozen=True)
class OpenTask:
    """A manual task waiting for its owner, with the request it belongs to."""

    task: ManualTask
    request_id: int
    due_on: date
    created_at: datetime | None


def open_tasks(session: Session) -> list[OpenTask]:
    """Manual tasks not marked done yet, the earliest due first."""
    rows = session.execute(
        select(RequestStep, SubjectRequest.due_on)
        .join(SubjectRequest, SubjectRequest.id == RequestStep.request_id)
        .where(RequestStep.status == "waiting", RequestStep.task_id.is_not(None))
        .order_by(SubjectRequest.due_on, RequestStep.id)
    ).all()
    return [OpenTask(_task(step), step.request_id, due_on, step.started_at) for step, due_on in rows]


def finish_task(
    session: Session, task_id: str, reported: dict[str, Reported], *, actor: str, note: str = "", now: datetime | None = None
) -> SubjectRequest:
    """Record a manual task as done with what its owner reports; the request's run is queued once no other work waits."""
    step = session.scalar(select(RequestStep).where(RequestStep.task_id == task_id).with_for_update())
    if step is None:
        raise NotFound(f"no manual task {task_id}")
    if step.status != "waiting":
        raise Conflict(f"task {task_id} is done already")
    task = _task(step)
    unknown = sorted(set(reported) - set(task.collections))
    if unknown:
        raise Invalid(f"task {task_id} covers the collections {', '.join(task.collections)}; not {', '.join(unknown)}")
    answer = complete(task, reported, note=note)
    _settle(session, step, answer, now=now)
    audit.record(
        session,
        actor=actor,
        action="request.task_done",
        object_type="subject_request",
        object_id=str(step.request_id),
        summary={"task": task_id, "system": step.system, "collections": len(reported)},
    )
    return _continue(session, step.request_id)


def accept_callback(session: Session, system: str, body: bytes, signature: str | None, *, now: datetime | None = None) -> bool:
    """A webhook system's later answer to a delegated request: checked against the system's secret and recorded.

    Returns whether it changed anything (an answer to a step already done changes nothing).
    """
    try:
        reference = str(json.loads(body).get("reference") or "")
    except (ValueError, AttributeError):
        raise Invalid("the callback's body is not a JSON object") from None
    request_reference, _, step_id = reference.partition("/")
    request = session.scalar(select(SubjectRequest).where(SubjectRequest.reference == request_reference))
    step = None
    if request is not None:
        step = session.scalar(
            select(RequestStep).where(RequestStep.request_id == request.id, RequestStep.step_id == step_id).with_for_update()
        )
    if request is None or step is None or step.system != system or step.action != "delegate":
        raise NotFound(f"no request delegated to system {system!r} has the reference {reference[:100]!r}")
    policy = requests.policy_for(session, request)
    answer = handle_callback(system, policy.systems[system], body, signature, now=now)
    if step.status == "done" or answer.status != "done":
        return False
    _settle(session, step, answer, now=now)
    audit.record(
        session,
        actor=f"system:{system}",
        action="request.delegation_answered",
        object_type="subject_request",
        object_id=str(request.id),
        summary={"system": system, "collections": len(answer.collections)},
    )
    _continue(session, request.id)
    return True


def execution_of(session: Session, request_id: int) -> tuple[RequestExecution, list[RequestStep], RequestExport | None]:
    """A request's execution record, its steps in order, and its export if it has one."""
    record = session.get(RequestExecution, request_id)
    if record is None:
        requests.get(session, request_id)
        raise NotFound(f"request {request_id} has not started executing")
    steps = list(session.scalars(select(RequestStep).where(RequestStep.request_id == request_id).order_by(RequestStep.position)))
    export = session.scalar(select(RequestExport).where(RequestExport.request_id == request_id))
    return record, steps, export


def register(session: Session, *, lifted: bool = False) -> list[ConsentRestriction]:
    """The restriction and objection register: standing entries (and lifted ones if asked), the newest first."""
    query = select(ConsentRestriction).order_by(ConsentRestriction.id.desc())
    if not lifted:
        query = query.where(ConsentRestriction.lifted_at.is_(None))
    return list(session.scalars(query))


def directives_for(session: Session, kind: str, value: str, *, actor: str) -> list[tuple[SubjectDirective, str]]:
    """The instructions for after death recorded under this identity (compared as intake stores it), with their request's reference.

    Every lookup is audited, with the identity's keyed hash and how many were found.
    """
    identity = value_hash(kind, normalize(kind, value))
    found = session.execute(
        select(SubjectDirective, SubjectRequest.reference)
        .join(SubjectRequest, SubjectRequest.id == SubjectDirective.request_id)
        .where(SubjectDirective.identity_hashes.contains([identity]))
        .order_by(SubjectDirective.recorded_at)
    ).all()
    audit.record(
        session,
        actor=actor,
        action="request.directives_read",
        object_type="subject_directive",
        summary={"identity": identity, "found": len(found)},
    )
    return [(directive, reference) for directive, reference in found]


def lift(session: Session, restriction_id: int, *, actor: str, now: datetime | None = None) -> tuple[ConsentRestriction, bool]:
    """Lift an entry of the register; when that ends a restriction (Art. 18) a request entered, mail the person (Art. 18(3)).

    Returns the entry and whether the person was mailed: not for an objection, an entry lifted before, a restriction
    that stands on through another entry of the same request, or a request without a verified e-mail address.
    """
    entry = session.get(ConsentRestriction, restriction_id, with_for_update=True)
    standing = entry is not None and entry.lifted_at is None
    entry = restrictions.lift(session, restriction_id, actor=actor, now=now)
    if not standing or entry.reason != "restriction" or entry.reference is None:
        return entry, False
    others = select(ConsentRestriction.id).where(
        ConsentRestriction.reference == entry.reference, ConsentRestriction.reason == "restriction", ConsentRestriction.lifted_at.is_(None)
    )
    request = session.scalars(select(SubjectRequest).where(SubjectRequest.reference == entry.reference)).one_or_none()
    if session.scalar(others.limit(1)) is not None or request is None:
        return entry, False
    address = request.verified_identity("email")
    if address is None:
        return entry, False
    policy = requests.policy_for(session, request)
    lifted_on = format_day((entry.lifted_at or utcnow()).date(), request.language)
    context = {"organization": policy.organization.name, "reference": request.reference, "lifted_on": lifted_on}
    queue_mail(session, to=address, template="restriction_lifted", language=request.language, context=context)
    audit.record(session, actor=actor, action="request.restriction_lift_told", object_type="subject_request", object_id=str(request.id))
    return entry, True


# ---------------------------------------------------------------- downloads
def open_export(session: Session, token: str) -> tuple[RequestExport, SubjectRequest]:
    """The export a link names and its request (every opening is audited); NotFound or LinkExpired otherwise."""
    try:
        export = exports.by_token(session, token)
    except exports.LinkExpired:
        _audit_expired(session, token)
        raise
    request = requests.get(session, export.request_id)
    audit.record(session, actor="subject", action="request.export_opened", object_type="subject_request", object_id=str(request.id))
    return export, request


def send_download_code(session: Session, token: str, *, client: str | None, now: datetime | None = None) -> SubjectRequest:
    """Send a new code to the person's verified address (or, without one, verified phone number), which a download needs."""
    export = exports.by_token(session, token, now=now)
    request = requests.get(session, export.request_id, lock=True)
    channel = next((kind for kind in ("email", "phone") if request.verified_identity(kind) is not None), None)
    if channel is None:
        raise Conflict("this request has no verified email address or phone number to send a code to; ask the privacy team for your copy")
    organization = requests.policy_for(session, request).organization.name
    verification.send_code(session, request, organization=organization, client=client, now=now, channel=channel)
    return request


def download(session: Session, token: str, code: str, *, now: datetime | None = None) -> tuple[RequestExport, verification.Check]:
    """Check the code; a right one counts and audits the download. Commit whatever the outcome: failures count."""
    export = exports.by_token(session, token, now=now, lock=True)
    request = requests.get(session, export.request_id, lock=True)
    check = verification.check_code(session, request, code, now=now)
    if check.outcome is verification.Outcome.verified:
        export.downloads += 1
        audit.record(
            session,
            actor="subject",
            action="request.export_downloaded",
            object_type="subject_request",
            object_id=str(request.id),
            summary={"export": export.id, "downloads": export.downloads},
        )
    return export, check


def staff_download(session: Session, request_id: int, *, actor: str) -> RequestExport:
    """The export of a request for the privacy team (to deliver by other means); audited."""
    export = session.scalar(select(RequestExport).where(RequestExport.request_id == request_id).with_for_update())
    if export is None or export.deleted_at is not None:
        requests.get(session, request_id)
        raise NotFound(f"request {request_id} has no export to download (none was made, or it expired)")
    audit.record(
        session,
        actor=actor,
        action="request.export_downloaded",
        object_type="subject_request",
        object_id=str(request_id),
        summary={"export": export.id},
    )
    return export


# ---------------------------------------------------------------- internals
def _task(step: RequestStep) -> ManualTask:
    stored = (step.result or {}).get("task") or {}
    return ManualTask(
        id=stored["id"],
        system=stored["system"],
        owner=stored["owner"],
        kind=stored["kind"],
        collections=tuple(stored["collections"]),
        identities={kind: tuple(values) for kind, values in stored["identities"].items()},
        corrections=stored["corrections"],
        instructions=stored["instructions"],
    )


def _settle(session: Session, step: RequestStep, answer: Delegated, *, now: datetime | None) -> None:
    reported = answer.collections.values()
    step.status = "done"
    step.result = delegated_json(answer)
    step.count = sum(item.deleted + item.anonymised + item.rectified + len(item.rows) for item in reported)
    step.finished_at = now or utcnow()
    session.flush()


def _continue(session: Session, request_id: int) -> SubjectRequest:
    """Queue the request's run again when no outside work is left; its run finishes it."""
    request = requests.get(session, request_id, lock=True)
    waiting = session.scalar(
        select(func.count()).select_from(RequestStep).where(RequestStep.request_id == request_id, RequestStep.status == "waiting")
    )
    if not waiting and request.status in (RequestStatus.executing, RequestStatus.waiting_manual):
        if request.status is RequestStatus.waiting_manual:
            states.move(session, request, RequestStatus.executing, actor="system")
        execution.schedule(session, request)
    return request


def _audit_expired(session: Session, token: str) -> None:
    export_id = (keys.unsign(exports.LINK_PURPOSE, token) or "").partition(".")[0]
    export = session.get(RequestExport, int(export_id)) if export_id.isdigit() else None
    if export is not None:
        audit.record(
            session, actor="subject", action="request.export_link_expired", object_type="subject_request", object_id=str(export.request_id)
        )
