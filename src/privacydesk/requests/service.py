"""Taking requests in, verifying the person, approving, and the moves the engine makes. Functions never commit."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from hmac import compare_digest

from dateutil.relativedelta import relativedelta
from sqlalchemy import distinct, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.auth.service import hash_token
from privacydesk.consent import published
from privacydesk.db.base import utcnow
from privacydesk.errors import Conflict, Invalid, NotFound
from privacydesk.policy.models import Policy
from privacydesk.requests import deadlines, execution, identities, refusals, states, verification
from privacydesk.requests import details as request_details
from privacydesk.requests.models import OPEN_STATUSES, Channel, RequestIdentity, RequestStatus, RequestType, SubjectRequest
from privacydesk.requests.schemas import RequestDetails
from privacydesk.versions.models import PolicyVersion

# Requests one client address may make in RATE_WINDOW through the public API.
REQUESTS_PER_CLIENT = 10
# Clocks differ a little; a receipt time further ahead than this is a mistake.
CLOCK_SKEW = timedelta(minutes=5)
_UNVERIFIED = (RequestStatus.received, RequestStatus.verifying)


@dataclass(frozen=True)
class Intake:
    """A request as it arrives, from any channel."""

    type: RequestType
    identities: list[tuple[str, str]]
    channel: Channel
    language: str | None = None
    details: RequestDetails = field(default_factory=RequestDetails)
    received_at: datetime | None = None
    birth_date: date | None = None
    age: int | None = None
    age_confirmed: bool = False


@dataclass(frozen=True)
class Submitted:
    """The outcome of an intake: the request, whether it is new, and what the caller must be told once."""

    request: SubjectRequest
    created: bool
    # A new status token: for a new request, or for an unverified duplicate the person resumes.
    status_token: str | None = None
    code_sent_to: str | None = None


def submit(
    session: Session,
    intake: Intake,
    *,
    actor: str,
    vouched_by: str | None = None,
    client: str | None = None,
    now: datetime | None = None,
) -> Submitted:
    """Take a request in under the latest published policy, or find the open one it duplicates.

    `vouched_by` (app, opendsr, staff) says who verified the person already; `client` is the
    caller's address, rate limited when given.
    """
    now = now or utcnow()
    try:
        # The latest version's number and hash read; its policy parsed once per process.
        version = published.latest(session)
    except NotFound:
        raise Conflict("no policy is published yet: requests are taken under a published policy") from None
    policy = version.policy
    if client is not None:
        verification.throttle(
            session,
            f"intake-client:{client}",
            limit=REQUESTS_PER_CLIENT,
            message="too many requests from your address in the last hour; try again later",
            now=now,
        )
    pairs = identities.parse(intake.identities, policy.requests.identities)
    details = request_details.check(intake.type, intake.details, policy)
    age_check = _check_age(intake, policy.requests.minimum_age, now)
    received_at = _check_received_at(intake.received_at, now)
    channel = verification.CODE_CHANNELS.get(policy.requests.verification)
    needs_code = vouched_by is None and channel is not None
    if needs_code and intake.channel is Channel.web and not any(kind == channel for kind, _ in pairs):
        raise Invalid(f"this organisation verifies requests with a code sent to your {channel}: give your {channel}")

    key = identities.set_key(pairs)
    hashes = [identities.value_hash(kind, value) for kind, value in pairs]
    existing = _open_duplicate(session, intake.type, key, hashes)
    if existing is not None:
        return _duplicate(session, existing, policy, intake=intake, actor=actor, vouched_by=vouched_by, client=client, now=now)
    deadline = deadlines.due_date(received_at, policy.requests.deadline)
    token = secrets.token_urlsafe(32)
    request = SubjectRequest(
        reference=str(uuid.uuid4()),
        type=intake.type,
        status=RequestStatus.received,
        channel=intake.channel,
        language=intake.language or policy.organization.languages[0],
        details=details,
        identity_key=key,
        status_token_hash=hash_token(token),
        verification_method=vouched_by or policy.requests.verification,
        approval_required=policy.requests.approval and not request_details.is_absolute(intake.type, details),
        policy_version=version.number,
        submitted_by=actor,
        received_at=received_at,
        due_on=deadline,
        original_due_on=deadline,
        extended_months=0,
        created_at=now,
        updated_at=now,
        identities=[
            RequestIdentity(type=kind, value=value, value_hash=value_hash, verified=vouched_by is not None)
            for (kind, value), value_hash in zip(pairs, hashes, strict=True)
        ],
    )
    try:
        with session.begin_nested():
            session.add(request)
            session.flush()
    except IntegrityError:
        # The same request arrived at the same moment through another call: that one is the request.
        existing = _open_duplicate(session, intake.type, key, hashes)
        if existing is None:
            raise
        return _duplicate(session, existing, policy, intake=intake, actor=actor, vouched_by=vouched_by, client=client, now=now)
    summary = {
        "channel": intake.channel.value,
        "identities": sorted(identity.value_hash for identity in request.identities),
        "policy_version": version.number,
        "due_on": deadline.isoformat(),
        "age_check": age_check,
    }
    states.receive(session, request, actor=actor, now=now, summary=summary)
    if vouched_by is not None:
        states.move(session, request, RequestStatus.verified, actor=actor, now=now, summary={"by": vouched_by})
        _after_verification(session, request, now=now)
        return Submitted(request, created=True, status_token=token)
    states.move(session, request, RequestStatus.verifying, actor="system", now=now)
    sent_to = None
    if channel is not None and request.identity(channel) is not None:
        verification.send_code(session, request, organization=policy.organization.name, client=client, now=now)
        sent_to = channel
    return Submitted(request, created=True, status_token=token, code_sent_to=sent_to)


def get(session: Session, request_id: int, *, lock: bool = False) -> SubjectRequest:
    """The request with this id, or NotFound; `lock` holds its row until the transaction ends."""
    request = session.get(SubjectRequest, request_id, with_for_update=lock)
    if request is None:
        raise NotFound(f"no request {request_id}")
    return request


def by_status_token(session: Session, reference: str, token: str, *, lock: bool = False) -> SubjectRequest:
    """The request a person follows with its reference and status token; NotFound unless both match."""
    query = select(SubjectRequest).where(SubjectRequest.reference == reference)
    request = session.scalars(query.with_for_update() if lock else query).one_or_none()
    # Compared in constant time, and the same answer for an unknown reference as for a wrong token.
    if request is None or not compare_digest(hash_token(token).encode(), request.status_token_hash.encode()):
        raise NotFound("no request with this reference and status token")
    return request


def list_requests(
    session: Session,
    *,
    status: RequestStatus | None = None,
    request_type: RequestType | None = None,
    overdue: bool = False,
    limit: int = 100,
    offset: int = 0,
    now: datetime | None = None,
) -> list[SubjectRequest]:
    """Requests, the earliest due first; `overdue` keeps the open ones past their due day."""
    query = select(SubjectRequest)
    if status is not None:
        query = query.where(SubjectRequest.status == status)
    if request_type is not None:
        query = query.where(SubjectRequest.type == request_type)
    if overdue:
        query = query.where(deadlines.overdue_clause(now))
    return list(session.scalars(query.order_by(SubjectRequest.due_on, SubjectRequest.id).limit(limit).offset(offset)))


def policy_for(session: Session, request: SubjectRequest) -> Policy:
    """The policy version the request was received under (parsed once per process)."""
    version_hash = session.scalar(select(PolicyVersion.hash).where(PolicyVersion.number == request.policy_version))
    if version_hash is None:
        raise NotFound(f"there is no policy version {request.policy_version}")
    return published.policy_by_hash(session, version_hash)


def resend_code(session: Session, request: SubjectRequest, *, client: str | None, now: datetime | None = None) -> str:
    """Send a new code for a request awaiting verification; return where it went."""
    if request.status is not RequestStatus.verifying:
        raise Conflict(f"the request is {request.status}: it does not wait for a code")
    verification.send_code(session, request, organization=policy_for(session, request).organization.name, client=client, now=now)
    return verification.code_channel(request) or ""


def verify_code(session: Session, request: SubjectRequest, code: str, *, now: datetime | None = None) -> verification.Check:
    """Check the person's code; a right one verifies the request. Commit whatever the outcome: failures count."""
    if request.status is not RequestStatus.verifying:
        raise Conflict(f"the request is {request.status}: it does not wait for a code")
    check = verification.check_code(session, request, code, now=now)
    if check.outcome is verification.Outcome.verified:
        channel = verification.code_channel(request)
        # Only the identity the code went to is proven; the others stay claims until the team checks them.
        for identity in request.identities:
            identity.verified = identity.verified or (identity.type == channel and identity.value == request.identity(channel))
        states.move(session, request, RequestStatus.verified, actor="subject", now=now, summary={"by": verification.code_channel(request)})
        _after_verification(session, request, now=now)
    return check


def verify_manually(session: Session, request: SubjectRequest, *, actor: str, note: str | None = None, now: datetime | None = None) -> None:
    """Record that the privacy team verified the person itself (a letter with a signature, a call back...)."""
    if request.status not in _UNVERIFIED:
        raise Conflict(f"the request is {request.status}: it is not waiting for verification")
    request.verification_method = "staff"
    for identity in request.identities:
        identity.verified = True
    states.move(session, request, RequestStatus.verified, actor=actor, now=now, note=note, summary={"by": "staff"})
    _after_verification(session, request, now=now)


def approve(session: Session, request: SubjectRequest, *, actor: str, note: str | None = None, now: datetime | None = None) -> None:
    """Approve a request awaiting approval and queue its execution."""
    if request.status is not RequestStatus.awaiting_approval:
        raise Conflict(f"the request is {request.status}: only a request awaiting approval can be approved")
    states.move(session, request, RequestStatus.approved, actor=actor, now=now, note=note)
    execution.schedule(session, request)


def reject(session: Session, request: SubjectRequest, *, actor: str, reason: str, now: datetime | None = None) -> bool:
    """Refuse a request before it is executed (unverifiable, manifestly unfounded...), with the reason kept in its history.

    The person is mailed the reason and their remedies (Art. 12(4)); True if they were, False when the request names no
    e-mail address (tell them another way).
    """
    reason = reason.strip()
    if not reason:
        raise Invalid("give the reason for refusing: the person must be told it (Art. 12(4))")
    if len(reason) > deadlines.MAX_REASON_LENGTH:
        raise Invalid(f"the reason may have at most {deadlines.MAX_REASON_LENGTH} characters")
    mailed = request.identity("email") is not None
    summary = {"reason_given": True, "person_mailed": mailed}
    states.move(session, request, RequestStatus.rejected, actor=actor, now=now, note=reason, summary=summary)
    return refusals.notify(session, request, policy_for(session, request), reason)


def cancel(session: Session, request: SubjectRequest, *, actor: str, note: str | None = None, now: datetime | None = None) -> None:
    """Withdraw a request that is not being executed yet."""
    states.move(session, request, RequestStatus.cancelled, actor=actor, now=now, note=note)


def request_execution(session: Session, request: SubjectRequest) -> None:
    """Queue the execution of an approved request again (after an executor was installed)."""
    if request.status is not RequestStatus.approved:
        raise Conflict(f"the request is {request.status}: only an approved request can be executed")
    execution.schedule(session, request)


def complete(session: Session, request: SubjectRequest, *, actor: str, note: str | None = None, now: datetime | None = None) -> None:
    """Mark an executing request done (called by executors)."""
    states.move(session, request, RequestStatus.completed, actor=actor, now=now, note=note)


def fail(session: Session, request: SubjectRequest, *, actor: str, reason: str, now: datetime | None = None) -> None:
    """Mark an executing request failed for good (called by executors)."""
    states.move(session, request, RequestStatus.failed, actor=actor, now=now, note=reason)


def _after_verification(session: Session, request: SubjectRequest, *, now: datetime | None) -> None:
    if request.approval_required:
        states.move(session, request, RequestStatus.awaiting_approval, actor="system", now=now)
        return
    states.move(session, request, RequestStatus.approved, actor="system", now=now, summary={"approval": "not required"})
    execution.schedule(session, request)


def _open_duplicate(session: Session, request_type: RequestType, key: str, hashes: list[str]) -> SubjectRequest | None:
    """The open request of this type naming these identities, or all of them among more (a repeat that names fewer)."""
    query = select(SubjectRequest).where(
        SubjectRequest.type == request_type, SubjectRequest.identity_key == key, SubjectRequest.status.in_(OPEN_STATUSES)
    )
    same = session.scalars(query.with_for_update()).first()
    if same is not None:
        return same
    covering = session.scalar(
        select(RequestIdentity.request_id)
        .join(SubjectRequest, SubjectRequest.id == RequestIdentity.request_id)
        .where(SubjectRequest.type == request_type, SubjectRequest.status.in_(OPEN_STATUSES), RequestIdentity.value_hash.in_(hashes))
        .group_by(RequestIdentity.request_id)
        .having(func.count(distinct(RequestIdentity.value_hash)) == len(set(hashes)))
        .order_by(RequestIdentity.request_id)
        .limit(1)
    )
    if covering is None:
        return None
    return session.scalars(
        select(SubjectRequest).where(SubjectRequest.id == covering, SubjectRequest.status.in_(OPEN_STATUSES)).with_for_update()
    ).first()


def _duplicate(
    session: Session,
    existing: SubjectRequest,
    policy: Policy,
    *,
    intake: Intake,
    actor: str,
    vouched_by: str | None,
    client: str | None,
    now: datetime,
) -> Submitted:
    """The open request a new one repeats; an unverified one is verified by a voucher, or resumed by the person."""
    if existing.status not in _UNVERIFIED:
        return Submitted(existing, created=False)
    if vouched_by is not None:
        existing.verification_method = vouched_by
        for identity in existing.identities:
            identity.verified = True
        states.move(session, existing, RequestStatus.verified, actor=actor, now=now, summary={"by": vouched_by})
        _after_verification(session, existing, now=now)
        return Submitted(existing, created=False)
    channel = verification.code_channel(existing)
    if intake.channel is not Channel.web or channel is None or existing.identity(channel) is None:
        return Submitted(existing, created=False)
    # The person lost the page or the code: a new token and a new code. Whoever asks learns nothing
    # (the status is only "verifying"), and only the owner of the identity receives the code.
    token = secrets.token_urlsafe(32)
    existing.status_token_hash = hash_token(token)
    existing.updated_at = now
    audit.record(session, actor=actor, action="request.resumed", object_type="subject_request", object_id=str(existing.id))
    verification.send_code(session, existing, organization=policy.organization.name, client=client, now=now)
    return Submitted(existing, created=False, status_token=token, code_sent_to=channel)


def _check_age(intake: Intake, minimum: int | None, now: datetime) -> str | None:
    """Refuse a person younger than the policy's minimum age; return how the age was checked (for the audit log)."""
    if minimum is None:
        return None
    age, checked = intake.age, "age" if intake.age is not None else None
    if intake.birth_date is not None:
        day = deadlines.today(now)
        if intake.birth_date > day:
            raise Invalid("the birth date is in the future")
        age, checked = relativedelta(day, intake.birth_date).years, "birth_date"
    if age is not None and age < minimum:
        raise Invalid(
            f"requests here must be made by someone aged at least {minimum}; a parent or guardian can make it on your behalf",
            details={"minimum_age": minimum},
        )
    if age is None:
        if intake.channel is Channel.web and not intake.age_confirmed:
            raise Invalid(f"confirm that you are at least {minimum} years old (age_confirmed: true)", details={"minimum_age": minimum})
        checked = "confirmed" if intake.age_confirmed else "not_asked"
    return checked


def _check_received_at(received_at: datetime | None, now: datetime) -> datetime:
    if received_at is None:
        return now
    if received_at.tzinfo is None:
        raise Invalid("give the time of receipt with its time zone, like 2024-05-01T09:30:00+02:00")
    if received_at > now + CLOCK_SKEW:
        raise Invalid("the time of receipt is in the future")
    return received_at
