"""The public consent API the banner and the preference centre call, and /.well-known/gpc.json.

No credentials: a subject is named only by its consent id (cid:<uuid4>), a random value the
person's browser holds; account and email keys are for the authenticated server API. Every
route is rate limited per client address.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from privacydesk.consent import checks, receipts, revisions, service, subjects
from privacydesk.consent.checkcache import CheckCache
from privacydesk.consent.hotpath import CACHE_STATE
from privacydesk.consent.published import latest
from privacydesk.consent.ratelimit import limit_public
from privacydesk.consent.schemas import ChoiceOut, ChoicesOut, ConfigOut, DecisionOut, PublicDecisionIn, WithdrawIn, WithdrawOut
from privacydesk.consent.service import Context, Decision
from privacydesk.consent.texts import banner_config, language_for
from privacydesk.db.engine import transaction
from privacydesk.errors import Invalid, NotFound
from privacydesk.web.deps import DbSession

router = APIRouter(prefix="/public/consent", tags=["consent (public)"], dependencies=[Depends(limit_public)])
well_known_router = APIRouter(tags=["consent (public)"])
# The actor of decisions people make themselves, in the audit log.
DATA_SUBJECT = "data_subject"
NEEDS_DECISION = ("no_record", "expired", "revised")


def public_subject(raw: str) -> subjects.SubjectKey:
    """A consent id; account and email keys are refused here, since anyone could type them."""
    subject = subjects.parse(raw)
    if subject.kind != "cid":
        raise Invalid("the public consent endpoints take a consent id (cid:<uuid4>) only; account and email keys belong to the server API")
    return subject


def request_context(request: Request, *, page_url: str | None = None, gpc: bool = False) -> Context:
    """The evidence a request carries: the page, the browser, the Global Privacy Control signal, the address."""
    return Context(
        page_url=page_url,
        user_agent=request.headers.get("user-agent"),
        gpc=gpc or request.headers.get("sec-gpc", "").strip() == "1",
        ip=request.client.host if request.client else None,
    )


def banner_decision(body: PublicDecisionIn, request: Request) -> Decision:
    """The decision a banner or preference-centre request stands for."""
    return Decision(
        public_subject(body.subject),
        body.choices,
        body.method,
        body.surface,
        request_context(request, page_url=body.page_url, gpc=body.gpc),
        language=body.language,
        text_hash=body.text_hash,
        policy_version=body.policy_version,
    )


def decision_out(recorded: service.Recorded) -> DecisionOut:
    """The answer to a recorded decision."""
    return DecisionOut(record_id=recorded.record_id, subject=recorded.subject, choices=recorded.choices, expires_at=recorded.expires_at)


@router.get("/config")
def config(session: DbSession, response: Response, lang: str | None = None) -> ConfigOut:
    """The banner's texts, purposes and cookies in one language, with the hash a decision must quote."""
    policy = latest(session)
    language = language_for(policy.policy, lang)
    revisions.ensure_synced(session, policy.number)
    shown = banner_config(policy.policy, policy.hash, language)
    response.headers["Cache-Control"] = "public, max-age=60"
    return ConfigOut(
        policy_version=policy.hash,
        language=language,
        languages=list(policy.policy.organization.languages),
        texts=shown["texts"],
        purposes=shown["purposes"],
        essential_cookies=shown["essential_cookies"],
        text_hash=shown["text_hash"],
        revision={"changed_purposes": revisions.changed_in(session, policy.number)},
    )


@router.post("/decisions", status_code=201, responses={200: {"description": "Nothing to record: explicit choices stand over a GPC signal"}})
async def decide(body: PublicDecisionIn, request: Request, response: Response) -> DecisionOut:
    """Record a choice made on the banner or the preference centre (a new consent id's first one takes decisionlane.py)."""
    decision = banner_decision(body, request)
    recorded = await run_in_threadpool(_record, decision)
    cache: CheckCache | None = getattr(request.state, CACHE_STATE, None)
    if cache is not None:
        # This process's checks see the change at once; the others on the database's notice.
        cache.forget([decision.subject.stored])
    if recorded.record_id is None:
        response.status_code = 200
    return decision_out(recorded)


def _record(decision: Decision) -> service.Recorded:
    with transaction() as session:
        return service.record_decision(session, decision, actor=DATA_SUBJECT, require_notice=True)


@router.get("/subjects/{subject}/choices")
def choices(subject: str, session: DbSession, response: Response) -> ChoicesOut:
    """The person's standing choice per purpose, and the purposes to ask about (never decided, expired or revised)."""
    key = public_subject(subject)
    purposes = latest(session).purposes
    answers = checks.check_many(session, [(key, purpose) for purpose in purposes])
    response.headers["Cache-Control"] = "no-store"
    return ChoicesOut(
        choices={p: ChoiceOut(allowed=a.allowed, reason=a.reason, expires_at=a.expires_at) for p, a in zip(purposes, answers, strict=True)},
        needs_decision=[p for p, a in zip(purposes, answers, strict=True) if a.reason in NEEDS_DECISION],
    )


@router.post("/subjects/{subject}/withdraw")
def withdraw(subject: str, request: Request, session: DbSession, body: WithdrawIn | None = None) -> WithdrawOut:
    """Withdraw the consents given (all, or the purposes listed); refusals stay refusals."""
    body = body or WithdrawIn()
    recorded = service.withdraw(
        session, public_subject(subject), body.purposes, surface=body.surface, context=request_context(request), actor=DATA_SUBJECT
    )
    return WithdrawOut(record_id=recorded.record_id, withdrawn=sorted(recorded.choices))


@router.get("/receipt-key")
def receipt_key() -> dict[str, str]:
    """The public key that verifies consent receipts."""
    return receipts.public_key_document()


@well_known_router.get("/.well-known/gpc.json")
def gpc_support(session: DbSession) -> JSONResponse:
    """Global Privacy Control support: the signal is honoured as a refusal of every consent purpose."""
    document: dict[str, object] = {"gpc": True}
    try:
        updated: date = latest(session).published_at.date()
        document["lastUpdate"] = updated.isoformat()
    except NotFound:
        pass
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=3600"})
