"""The consent API of the company's own servers: checks (consent:read), decisions, links and imports (consent:write)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request

from privacydesk.auth.deps import protected_router, require
from privacydesk.auth.permissions import Permission
from privacydesk.auth.principal import Principal
from privacydesk.consent import checks, imports, receipts, service, subjects
from privacydesk.consent.schemas import (
    AppDecisionIn,
    BulkCheckIn,
    BulkCheckOut,
    CheckOut,
    DecisionOut,
    HistoryEvent,
    ImportOut,
    LinkIn,
    LinkOut,
)
from privacydesk.consent.service import Context, Decision
from privacydesk.errors import Invalid
from privacydesk.web.deps import DbSession

router = protected_router(prefix="/consent", tags=["consent"])
Reader = Annotated[Principal, Depends(require(Permission.CONSENT_READ))]
Writer = Annotated[Principal, Depends(require(Permission.CONSENT_WRITE))]
MAX_IMPORT_BYTES = 20 * 1024 * 1024


async def uploaded_csv(request: Request) -> str:
    """The CSV in the request: the raw body, or the `file` field of a multipart form."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        upload = (await request.form()).get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("send the CSV in the form field 'file'")
        raw = await upload.read()
    else:
        raw = await request.body()
    if len(raw) > MAX_IMPORT_BYTES:
        raise Invalid(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB; split it")
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the CSV must be UTF-8 text") from None
    if not content.strip():
        raise Invalid("the request carries no CSV: send it as the body (text/csv), or as the form field 'file'")
    return content


@router.get("/check")
def check(subject: str, purpose: str, session: DbSession, _: Reader) -> CheckOut:
    """May `purpose` be pursued for `subject` now? One indexed read; never audited."""
    answer = checks.check(session, subjects.parse(subject), purpose)
    return CheckOut(allowed=answer.allowed, reason=answer.reason, record_id=answer.record_id, expires_at=answer.expires_at)


@router.post("/check")
def check_many(body: BulkCheckIn, session: DbSession, _: Reader) -> list[BulkCheckOut]:
    """Up to 1,000 checks in one call, answered in order."""
    asked = [(subjects.parse(item.subject), item.purpose) for item in body.checks]
    answers = checks.check_many(session, asked)
    return [
        BulkCheckOut(
            subject=subject.shown, purpose=purpose, allowed=a.allowed, reason=a.reason, record_id=a.record_id, expires_at=a.expires_at
        )
        for (subject, purpose), a in zip(asked, answers, strict=True)
    ]


@router.get("/subjects/{subject}/history")
def history(subject: str, session: DbSession, _: Reader) -> list[HistoryEvent]:
    """Every event of the person the key names, through all linked keys, oldest first."""
    return [
        HistoryEvent(
            record_id=entry.record.record_id,
            purpose=entry.event.purpose,
            event_state=entry.event.event_state,
            event_time=entry.event.event_time,
            valid_until=entry.event.valid_until,
            pii_principal_id=entry.record.pii_principal_id,
            collection_method=entry.record.collection_method,
            surface=entry.record.surface,
            notice_version=entry.record.notice_version,
            policy_version_number=entry.record.policy_version_number,
            notice_hash=entry.record.notice_hash,
            language=entry.record.language,
            entity_id=entry.record.entity_id,
            recorded_at=entry.record.recorded_at,
            page_url=entry.record.page_url,
            user_agent=entry.record.user_agent,
            gpc=entry.record.gpc,
            ip_address=entry.record.ip_address,
            source=entry.record.source,
            source_method=entry.record.source_method,
        )
        for entry in service.history(session, subjects.parse(subject))
    ]


@router.post("/decisions", status_code=201)
def decide(body: AppDecisionIn, request: Request, session: DbSession, principal: Writer) -> DecisionOut:
    """Record a choice an app collected itself (method api)."""
    decision = Decision(
        subjects.parse(body.subject),
        body.choices,
        body.method,
        body.surface,
        Context(page_url=body.page_url, user_agent=request.headers.get("user-agent")),
        language=body.language,
        text_hash=body.text_hash,
        policy_version=body.policy_version,
    )
    recorded = service.record_decision(session, decision, actor=principal.actor)
    return DecisionOut(record_id=recorded.record_id, subject=recorded.subject, choices=recorded.choices, expires_at=recorded.expires_at)


@router.post("/links")
def link(body: LinkIn, session: DbSession, principal: Writer) -> LinkOut:
    """Declare that the keys name one person (a cookie id, an account, a verified email)."""
    return LinkOut(keys=service.link(session, [subjects.parse(key) for key in body.keys], actor=principal.actor))


@router.get("/receipts/{record_id}")
def receipt(record_id: uuid.UUID, session: DbSession, _: Reader) -> dict[str, Any]:
    """The record as a receipt signed with Ed25519 (verify with the key at /api/v1/public/consent/receipt-key)."""
    return receipts.receipt(session, record_id)


@router.post(
    "/import",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}
                },
            },
        }
    },
)
def import_csv(content: Annotated[str, Depends(uploaded_csv)], session: DbSession, principal: Writer) -> ImportOut:
    """Import consents collected elsewhere (CSV: subject, purpose, decision, given_at, source, method?): all rows or none."""
    counts = imports.import_csv(session, content, actor=principal.actor)
    return ImportOut(records=counts["records"], subjects=counts["subjects"])
