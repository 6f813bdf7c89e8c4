"""The retention API: recent runs and the dry run (retention:read), runs on demand (retention:run), legal holds (retention:holds)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query

from privacydesk.auth.deps import protected_router, require
from privacydesk.auth.permissions import Permission
from privacydesk.auth.principal import Principal
from privacydesk.connectors.registry import Connectors
from privacydesk.db.base import utcnow
from privacydesk.engine.run import default_context
from privacydesk.errors import Invalid
from privacydesk.retention import holds, service
from privacydesk.retention.schemas import HoldIn, HoldOut, PlanOut, QueuedOut, RulePlanOut, RunIn, RunOut
from privacydesk.web.deps import DbSession

router = protected_router(prefix="/retention", tags=["retention"])
READ = [Depends(require(Permission.RETENTION_READ))]
Runner = Annotated[Principal, Depends(require(Permission.RETENTION_RUN))]
Holder = Annotated[Principal, Depends(require(Permission.RETENTION_HOLDS))]


@router.get("/runs", dependencies=READ)
def list_runs(session: DbSession, limit: Annotated[int, Query(ge=1, le=500)] = 20, rule: str | None = None) -> list[RunOut]:
    """The latest rule runs, newest first."""
    return [RunOut.model_validate(run) for run in service.recent(session, limit=limit, rule=rule)]


@router.post("/runs", status_code=202)
def queue_runs(principal: Runner, body: RunIn, session: DbSession) -> QueuedOut:
    """Queue a run of the published policy's rules (or the ones named) now."""
    return QueuedOut(queued=service.queue(session, trigger="api", actor=principal.actor, selected=body.rules))


@router.get("/plan", dependencies=READ)
def plan(session: DbSession, at: datetime | None = None, rule: Annotated[list[str] | None, Query()] = None) -> PlanOut:
    """What each rule of the published policy would do now (or `at` a given moment): due, held, oldest, next due. Changes nothing."""
    policy, version = service.published(session)
    moment = at or utcnow()
    if moment.tzinfo is None:
        raise Invalid("give `at` with its time zone, like 2026-11-01T00:00:00Z")
    with Connectors(policy, default_context(policy)) as pool:
        planned = service.plan(session, policy, pool, moment, rule or ())
    return PlanOut(as_of=moment, policy_version=version.number, rules=[RulePlanOut.model_validate(entry) for entry in planned])


@router.get("/holds", dependencies=READ)
def list_holds(session: DbSession, include_ended: bool = False) -> list[HoldOut]:
    """Legal holds standing now (or all of them), newest first."""
    return [HoldOut.model_validate(hold) for hold in holds.listed(session, include_ended=include_ended)]


@router.post("/holds", status_code=201)
def place_hold(principal: Holder, body: HoldIn, session: DbSession) -> HoldOut:
    """Place a legal hold: the rows or the person's data are kept, whatever the policy's periods, until it ends."""
    identity = None
    if body.identity_type is not None or body.identity_value is not None:
        identity = (body.identity_type or "", body.identity_value or "")
    policy = service.published(session)[0]
    hold = holds.place(
        session,
        reason=body.reason,
        actor=principal.actor,
        system=body.system,
        collection=body.collection,
        keys=body.keys,
        identity=identity,
        ends_at=body.ends_at,
        policy=policy,
    )
    return HoldOut.model_validate(hold)


@router.post("/holds/{hold_id}/release")
def release_hold(hold_id: int, principal: Holder, session: DbSession) -> HoldOut:
    """End a legal hold now."""
    return HoldOut.model_validate(holds.release(session, hold_id, actor=principal.actor))
