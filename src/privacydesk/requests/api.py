"""The requests API: the person's endpoints under /api/v1/public/requests, the privacy team's under /api/v1/requests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from privacydesk.auth.deps import protected_router, require
from privacydesk.auth.permissions import Permission
from privacydesk.auth.principal import Principal
from privacydesk.requests import deadlines, service
from privacydesk.requests.models import Channel, RequestStatus, RequestType, SubjectRequest
from privacydesk.requests.schemas import (
    CodeIn,
    CodeSent,
    EventOut,
    ExtensionIn,
    ExtensionOut,
    IdentityOut,
    NoteIn,
    PublicRequestIn,
    ReasonIn,
    Receipt,
    RequestCreated,
    RequestDetail,
    RequestIn,
    RequestStatusOut,
    RequestSummary,
    StaffRequestIn,
    StatusEvent,
    VerifiedRequestIn,
)
from privacydesk.requests.verification import Check, Outcome
from privacydesk.web.deps import DbSession

public_router = APIRouter(prefix="/public/requests", tags=["requests (public)"])
# Each route names its permission, so a token scoped to one task (an app submitting) needs no other.
router = protected_router(prefix="/requests", tags=["requests"])

StatusToken = Annotated[str, Header(alias="X-Status-Token", min_length=16, max_length=200, description="the token given with the receipt")]
READ = [Depends(require(Permission.REQUESTS_READ))]
Manager = Annotated[Principal, Depends(require(Permission.REQUESTS_MANAGE))]
Approver = Annotated[Principal, Depends(require(Permission.REQUESTS_APPROVE))]
App = Annotated[Principal, Depends(require(Permission.REQUESTS_SUBMIT_VERIFIED))]
_DUPLICATE = "an open request of this type for these identities exists already: this is that request"


# ---------------------------------------------------------------- the person
@public_router.post("", status_code=201, responses={200: {"model": Receipt, "description": "An open duplicate exists: that request"}})
def make_request(body: PublicRequestIn, session: DbSession, request: Request, response: Response) -> Receipt:
    """Make a request (privacy centre, "delete my account" buttons); a code is sent to verify the person."""
    submitted = service.submit(
        session,
        _intake(body, Channel.web, birth_date=body.birth_date, age=body.age, age_confirmed=body.age_confirmed),
        actor="subject",
        client=_client(request),
    )
    if not submitted.created:
        response.status_code = 200
    found = submitted.request
    if submitted.created:
        message = (
            f"request received; enter the code sent to your {submitted.code_sent_to}" if submitted.code_sent_to else "request received"
        )
    else:
        message = _DUPLICATE + (f"; a new code was sent to your {submitted.code_sent_to}" if submitted.code_sent_to else "")
    return Receipt(
        reference=found.reference,
        type=found.type,
        status=found.status,
        due_on=found.due_on,
        duplicate=not submitted.created,
        status_token=submitted.status_token,
        code_sent_to=submitted.code_sent_to,
        message=message,
    )


@public_router.get("/{reference}")
def request_status(reference: str, token: StatusToken, session: DbSession) -> RequestStatusOut:
    """The status of the caller's own request: the reference and its status token together."""
    return _status(service.by_status_token(session, reference, token))


@public_router.post("/{reference}/code", status_code=202)
def send_new_code(reference: str, token: StatusToken, session: DbSession, request: Request) -> CodeSent:
    """Send a new verification code (the previous one stops working)."""
    found = service.by_status_token(session, reference, token, lock=True)
    return CodeSent(sent_to=service.resend_code(session, found, client=_client(request)))


@public_router.post("/{reference}/verify", response_model=RequestStatusOut)
def verify(reference: str, body: CodeIn, token: StatusToken, session: DbSession) -> RequestStatusOut | JSONResponse:
    """Verify the request with the code received; wrong tries count even though the answer is an error."""
    found = service.by_status_token(session, reference, token, lock=True)
    check = service.verify_code(session, found, body.code)
    if check.outcome is Outcome.verified:
        return _status(found)
    # Returned, not raised: raising would roll the counted try back.
    return _refused(check)


@public_router.post("/{reference}/cancel")
def withdraw(reference: str, token: StatusToken, session: DbSession) -> RequestStatusOut:
    """Withdraw the caller's own request, while it is not being carried out."""
    found = service.by_status_token(session, reference, token, lock=True)
    service.cancel(session, found, actor="subject")
    return _status(found)


# ---------------------------------------------------------------- the privacy team and the company's apps
@router.get("", dependencies=READ)
def list_requests(
    session: DbSession,
    status: RequestStatus | None = None,
    request_type: Annotated[RequestType | None, Query(alias="type")] = None,
    overdue: Annotated[bool, Query(description="only open requests past their due day")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[RequestSummary]:
    """Requests, the earliest due first."""
    found = service.list_requests(session, status=status, request_type=request_type, overdue=overdue, limit=limit, offset=offset)
    return [_summary(request) for request in found]


@router.get("/{request_id}", dependencies=READ)
def get_request(request_id: int, session: DbSession) -> RequestDetail:
    """One request with its identities, details and history."""
    return detail(service.get(session, request_id))


@router.post("", status_code=201, responses={200: {"model": RequestCreated, "description": "An open duplicate exists: that request"}})
def enter_request(body: StaffRequestIn, session: DbSession, principal: Manager, response: Response) -> RequestCreated:
    """Enter a request received by letter, phone or email, with the time it was received."""
    intake = _intake(body, Channel(body.channel), received_at=body.received_at, birth_date=body.birth_date, age=body.age)
    submitted = service.submit(session, intake, actor=principal.actor, vouched_by="staff" if body.identity_verified else None)
    return _created(submitted, response)


@router.post(
    "/verified", status_code=201, responses={200: {"model": RequestCreated, "description": "An open duplicate exists: that request"}}
)
def submit_verified(body: VerifiedRequestIn, session: DbSession, principal: App, response: Response) -> RequestCreated:
    """Submit a request from the company's own app, which has verified the person (token scope requests:submit_verified)."""
    intake = _intake(body, Channel.app, birth_date=body.birth_date, age=body.age)
    return _created(service.submit(session, intake, actor=principal.actor, vouched_by="app"), response)


@router.post("/{request_id}/verify")
def verify_manually(request_id: int, body: NoteIn, session: DbSession, principal: Manager) -> RequestDetail:
    """Record that the team verified the person's identity itself."""
    found = service.get(session, request_id, lock=True)
    service.verify_manually(session, found, actor=principal.actor, note=body.note)
    return detail(found)


@router.post("/{request_id}/approve")
def approve(request_id: int, body: NoteIn, session: DbSession, principal: Approver) -> RequestDetail:
    """Approve a request awaiting approval; its execution is queued."""
    found = service.get(session, request_id, lock=True)
    service.approve(session, found, actor=principal.actor, note=body.note)
    return detail(found)


@router.post("/{request_id}/reject")
def reject(request_id: int, body: ReasonIn, session: DbSession, principal: Approver) -> RequestDetail:
    """Refuse a request before its execution, with the reason."""
    found = service.get(session, request_id, lock=True)
    service.reject(session, found, actor=principal.actor, reason=body.reason)
    return detail(found)


@router.post("/{request_id}/cancel")
def cancel(request_id: int, body: NoteIn, session: DbSession, principal: Manager) -> RequestDetail:
    """Cancel a request the person withdrew by other means."""
    found = service.get(session, request_id, lock=True)
    service.cancel(session, found, actor=principal.actor, note=body.note)
    return detail(found)


@router.post("/{request_id}/extend")
def extend(request_id: int, body: ExtensionIn, session: DbSession, principal: Manager) -> ExtensionOut:
    """Extend the due date by one or two months (Art. 12(3)); the person is told by mail."""
    found = service.get(session, request_id, lock=True)
    mailed = deadlines.extend(session, found, months=body.months, reason=body.reason, actor=principal.actor)
    return ExtensionOut(request=detail(found), person_mailed=mailed)


@router.post("/{request_id}/execute", status_code=202)
def execute(request_id: int, session: DbSession, principal: Manager) -> RequestDetail:
    """Queue the execution of an approved request again, once an executor for its type is installed."""
    found = service.get(session, request_id, lock=True)
    service.request_execution(session, found)
    return detail(found)


# ---------------------------------------------------------------- helpers
def _intake(
    body: RequestIn,
    channel: Channel,
    *,
    received_at: datetime | None = None,
    birth_date: date | None = None,
    age: int | None = None,
    age_confirmed: bool = False,
) -> service.Intake:
    return service.Intake(
        type=body.type,
        identities=[(identity.type, identity.value) for identity in body.identities],
        channel=channel,
        language=body.language,
        details=body,
        received_at=received_at,
        birth_date=birth_date,
        age=age,
        age_confirmed=age_confirmed,
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _status(request: SubjectRequest) -> RequestStatusOut:
    return RequestStatusOut(
        reference=request.reference,
        type=request.type,
        status=request.status,
        received_at=request.received_at,
        due_on=request.due_on,
        extended=request.extended_months > 0,
        history=[StatusEvent(status=event.to_status, at=event.at) for event in request.events],
    )


_REFUSALS = {
    Outcome.wrong: (422, "wrong_code", "the code is wrong"),
    Outcome.locked: (429, "too_many_attempts", "too many wrong codes: ask for a new code"),
    Outcome.expired: (422, "code_expired", "the code has expired: ask for a new code"),
    Outcome.missing: (409, "no_code", "no code is waiting for this request: ask for a new code"),
}


def _refused(check: Check) -> JSONResponse:
    status, code, message = _REFUSALS[check.outcome]
    if check.outcome is Outcome.wrong:
        message = f"{message}; {check.attempts_left} tries left"
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": {"attempts_left": check.attempts_left}}}, status_code=status
    )


def _summary(request: SubjectRequest) -> RequestSummary:
    return RequestSummary(
        id=request.id,
        reference=request.reference,
        type=request.type,
        status=request.status,
        channel=request.channel,
        received_at=request.received_at,
        due_on=request.due_on,
        overdue=deadlines.is_overdue(request),
        approval_required=request.approval_required,
    )


def detail(request: SubjectRequest) -> RequestDetail:
    """Everything about a request, for the privacy team."""
    return RequestDetail(
        **_summary(request).model_dump(),
        language=request.language,
        identities=[IdentityOut.model_validate(identity) for identity in request.identities],
        details=request.details,
        original_due_on=request.original_due_on,
        extended_months=request.extended_months,
        extension_reason=request.extension_reason,
        verification_method=request.verification_method,
        policy_version=request.policy_version,
        submitted_by=request.submitted_by,
        events=[EventOut.model_validate(event) for event in request.events],
    )


def _created(submitted: service.Submitted, response: Response) -> RequestCreated:
    if not submitted.created:
        response.status_code = 200
    return RequestCreated(
        request=detail(submitted.request),
        duplicate=not submitted.created,
        status_token=submitted.status_token,
        code_sent_to=submitted.code_sent_to,
        message=_DUPLICATE if not submitted.created else "request received",
    )
