"""OpenDSR v2 endpoints, so other controllers can forward requests: discovery, create, status, cancel.

Requests arrive verified by the forwarding controller. Answers and status callbacks are signed
with the client's HMAC key (privacydesk.requests.callbacks); docs/opendsr.md has the details.
"""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.auth.deps import protected_router, require
from privacydesk.auth.permissions import Permission
from privacydesk.auth.principal import Principal
from privacydesk.errors import Conflict, Forbidden, Invalid, NotFound
from privacydesk.requests import callbacks, service
from privacydesk.requests.models import Channel, OpendsrSubmission, RequestType, SubjectRequest
from privacydesk.versions import service as versions
from privacydesk.web.deps import DbSession

PREFIX = "/opendsr/v2"
discovery_router = APIRouter(prefix=PREFIX, tags=["opendsr"])
router = protected_router(Permission.OPENDSR_SUBMIT, prefix=PREFIX, tags=["opendsr"])
Client = Annotated[Principal, Depends(require(Permission.OPENDSR_SUBMIT))]

REQUEST_TYPES = {"access": RequestType.access, "portability": RequestType.portability, "erasure": RequestType.erasure}
# OpenDSR's name for an identity -> the policy's name, where they differ.
IDENTITY_NAMES = {"controller_customer_id": "account_id"}
MAX_CALLBACK_URLS = 5


class OpendsrIdentity(BaseModel):
    """One identity of the person, in clear (the only format accepted: we must find the person's rows)."""

    identity_type: str = Field(min_length=1, max_length=50)
    identity_value: str = Field(min_length=1, max_length=320)
    identity_format: Literal["raw"] = "raw"


class OpendsrRequestIn(BaseModel):
    """A request forwarded by a controller; unknown fields (extensions) are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    subject_request_id: UUID
    subject_request_type: Literal["access", "portability", "erasure"]
    submitted_time: AwareDatetime
    subject_identities: list[OpendsrIdentity] = Field(min_length=1, max_length=10)
    regulation: Literal["gdpr"] = "gdpr"
    api_version: str | None = None
    status_callback_urls: list[str] = Field(default_factory=list, max_length=MAX_CALLBACK_URLS)


class Discovery(BaseModel):
    """What this endpoint supports, and how its answers and callbacks are signed."""

    api_version: str
    supported_identities: list[dict[str, str]]
    supported_subject_request_types: list[str]
    signature: dict[str, str]


async def raw_body(request: Request) -> bytes:
    """The request body exactly as sent (it is echoed back, base64-encoded, in the receipt)."""
    return await request.body()


@discovery_router.get("/discovery")
def discovery(session: DbSession) -> Discovery:
    """The identity types (from the published policy) and request types accepted, and the signature scheme."""
    version = versions.latest(session)
    kinds = versions.policy_of(version).requests.identities if version is not None else []
    names = {policy_name: opendsr_name for opendsr_name, policy_name in IDENTITY_NAMES.items()}
    return Discovery(
        api_version=callbacks.API_VERSION,
        supported_identities=[{"identity_type": names.get(kind, kind), "identity_format": "raw"} for kind in kinds],
        supported_subject_request_types=list(REQUEST_TYPES),
        signature={
            "algorithm": "HMAC-SHA256",
            "signature_header": callbacks.SIGNATURE_HEADER,
            "timestamp_header": callbacks.TIMESTAMP_HEADER,
            "signed": "timestamp + '.' + body",
            "key": f"per client: GET {PREFIX}/callback-key",
        },
    )


@router.get("/callback-key")
def callback_key(principal: Client) -> dict[str, str]:
    """The calling client's key for checking our signatures (hex)."""
    return {"algorithm": "HMAC-SHA256", "key": callbacks.client_key(_token_id(principal)).hex()}


@router.post("/requests", status_code=201, responses={200: {"description": "The same submission again, or an open duplicate"}})
def create(body: OpendsrRequestIn, raw: Annotated[bytes, Depends(raw_body)], session: DbSession, principal: Client) -> Response:
    """Take a forwarded request; the same subject_request_id again returns the first receipt."""
    token_id = _token_id(principal)
    subject_request_id = str(body.subject_request_id)
    submission = _find(session, token_id, subject_request_id)
    if submission is not None:
        return _signed(token_id, _receipt(submission, raw, duplicate=True), 200)
    urls = [_callback_url(url) for url in body.status_callback_urls]
    intake = service.Intake(
        type=REQUEST_TYPES[body.subject_request_type],
        identities=[
            (IDENTITY_NAMES.get(identity.identity_type, identity.identity_type), identity.identity_value)
            for identity in body.subject_identities
        ],
        channel=Channel.opendsr,
    )
    submitted = service.submit(session, intake, actor=principal.actor, vouched_by="opendsr")
    submission = OpendsrSubmission(
        client_token_id=token_id,
        subject_request_id=subject_request_id,
        request_id=submitted.request.id,
        callback_urls=urls,
        submitted_time=body.submitted_time,
    )
    try:
        with session.begin_nested():
            session.add(submission)
            session.flush()
    except IntegrityError:
        raise Conflict("this subject_request_id is being submitted at this very moment; ask for its status") from None
    audit.record(
        session,
        actor=principal.actor,
        action="request.opendsr_submitted",
        object_type="subject_request",
        object_id=str(submitted.request.id),
        summary={"submission": submission.id, "new_request": submitted.created, "callbacks": len(urls)},
    )
    duplicate = not submitted.created
    return _signed(token_id, _receipt(submission, raw, duplicate=duplicate), 200 if duplicate else 201)


@router.get("/requests/{subject_request_id}")
def status(subject_request_id: UUID, session: DbSession, principal: Client) -> Response:
    """The status of one of the caller's submissions."""
    token_id = _token_id(principal)
    submission = _get(session, token_id, str(subject_request_id))
    return _signed(token_id, callbacks.status_body(submission, submission.request), 200)


@router.post("/requests/{subject_request_id}/cancel")
def cancel(subject_request_id: UUID, session: DbSession, principal: Client) -> Response:
    """Cancel one of the caller's submissions, unless the person also asked through another channel."""
    token_id = _token_id(principal)
    submission = _get(session, token_id, str(subject_request_id))
    request = session.get(SubjectRequest, submission.request_id, with_for_update=True)
    assert request is not None  # the foreign key guarantees it
    origins = session.scalar(select(func.count()).select_from(OpendsrSubmission).where(OpendsrSubmission.request_id == request.id))
    if request.channel is not Channel.opendsr or origins != 1:
        raise Conflict("the person also made this request through another channel: it stays open")
    service.cancel(session, request, actor=principal.actor, note="cancelled by the forwarding controller")
    return _signed(token_id, callbacks.status_body(submission, request), 200)


def _token_id(principal: Principal) -> int:
    if principal.token_id is None:
        raise Forbidden("OpenDSR clients authenticate with an API token (Authorization: Bearer pd_...)")
    return principal.token_id


def _find(session: Session, token_id: int, subject_request_id: str) -> OpendsrSubmission | None:
    query = select(OpendsrSubmission).where(
        OpendsrSubmission.client_token_id == token_id, OpendsrSubmission.subject_request_id == subject_request_id
    )
    return session.scalars(query).one_or_none()


def _get(session: Session, token_id: int, subject_request_id: str) -> OpendsrSubmission:
    # Another client's submission is as unknown as one that does not exist.
    submission = _find(session, token_id, subject_request_id)
    if submission is None:
        raise NotFound("no request with this subject_request_id from this client")
    return submission


def _receipt(submission: OpendsrSubmission, raw: bytes, *, duplicate: bool) -> dict[str, Any]:
    request = submission.request
    return {
        **callbacks.status_body(submission, request),
        "received_time": _rfc3339(request.received_at),
        "encoded_request": base64.b64encode(raw).decode(),
        "duplicate": duplicate,
    }


def _signed(token_id: int, body: dict[str, Any], status_code: int) -> Response:
    content = callbacks.encode(body)
    return Response(content=content, status_code=status_code, media_type="application/json", headers=callbacks.sign(token_id, content))


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _callback_url(url: str) -> str:
    """A callback URL: https, or http to this machine (a controller testing its integration)."""
    parts = urlsplit(url)
    if len(url) > 2000 or not parts.hostname or parts.scheme not in ("https", "http"):
        raise Invalid(f"status_callback_urls: {url[:100]!r} is not an http(s) URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise Invalid("status_callback_urls must use https (plain http only to localhost)")
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
