"""Legal holds staff place on named rows or on a person: nothing they cover is deleted or anonymised while they stand.

A hold on rows names a system, a collection and row keys. A hold on a person names one identity
(an e-mail address, an account id...); every row the request engine finds for it, in every
system, is held, and it is looked up again at the start of each rule run, so rows the person
gained since are held too. A person hold that cannot be looked up stops the run rather than let
anything go. Erasure requests keep what standing holds cover in the same way (fulfilment.planning).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import DateTime, bindparam, or_, select
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.connectors.base import as_key
from privacydesk.connectors.registry import Connectors
from privacydesk.db.base import utcnow
from privacydesk.engine.locate import locate
from privacydesk.engine.plan import plan_request
from privacydesk.errors import Conflict, Invalid, NotFound
from privacydesk.policy.models import Policy
from privacydesk.retention.models import LegalHold

# node id (`system.collection`) → keys held, as text.
HeldKeys = dict[str, set[str]]


def place(
    session: Session,
    *,
    reason: str,
    actor: str,
    system: str | None = None,
    collection: str | None = None,
    keys: Sequence[str] = (),
    identity: tuple[str, str] | None = None,
    ends_at: datetime | None = None,
    policy: Policy | None = None,
    now: datetime | None = None,
) -> LegalHold:
    """Place a hold on rows (system, collection, keys) or on a person (identity type and value); checked against `policy` if given."""
    moment = now or utcnow()
    reason = reason.strip()
    if not reason:
        raise Invalid("a legal hold needs a reason (the case, the authority's request...)")
    if ends_at is not None and ends_at <= moment:
        raise Invalid("a legal hold's end must be in the future")
    cleaned = [key.strip() for key in keys if key.strip()]
    if identity is not None:
        if system or collection or cleaned:
            raise Invalid("a legal hold names either rows (system, collection, keys) or a person (identity), not both")
        kind, value = identity[0].strip(), identity[1].strip()
        if not kind or not value:
            raise Invalid("a person hold needs an identity type and value, like email=someone@example.com")
        if policy is not None and kind not in policy.requests.identities:
            raise Invalid(f"unknown identity type {kind!r}; this policy recognises people by: {', '.join(policy.requests.identities)}")
        hold = LegalHold(identity_type=kind, identity_value=value, reason=reason, placed_by=actor, placed_at=moment, ends_at=ends_at)
    else:
        if not system or not collection or not cleaned:
            raise Invalid("a legal hold on rows needs the system, the collection and at least one row key")
        known = policy.systems.get(system) if policy is not None else None
        if policy is not None and (known is None or collection not in known.collections):
            raise Invalid(f"the policy has no collection {system}.{collection}")
        hold = LegalHold(
            system=system,
            collection=collection,
            keys=sorted(set(cleaned)),
            reason=reason,
            placed_by=actor,
            placed_at=moment,
            ends_at=ends_at,
        )
    session.add(hold)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="retention.hold.place",
        object_type="legal_hold",
        object_id=str(hold.id),
        # Which rows or whose data is the hold's business; the log says what kind of hold it is.
        summary={
            "on": "person" if identity is not None else f"{system}.{collection}",
            "rows": len(hold.keys or []),
            "identity_type": hold.identity_type,
            "ends_at": ends_at.isoformat() if ends_at else None,
        },
    )
    return hold


def release(session: Session, hold_id: int, *, actor: str, now: datetime | None = None) -> LegalHold:
    """End a hold now; its rows follow the policy again from the next run."""
    hold = session.get(LegalHold, hold_id, with_for_update=True)
    if hold is None:
        raise NotFound(f"there is no legal hold {hold_id}")
    if hold.released_at is not None:
        raise Conflict(f"legal hold {hold_id} was already released")
    hold.released_at, hold.released_by = now or utcnow(), actor
    audit.record(session, actor=actor, action="retention.hold.release", object_type="legal_hold", object_id=str(hold.id))
    return hold


def listed(session: Session, *, include_ended: bool = False, now: datetime | None = None) -> list[LegalHold]:
    """Holds, newest first: those standing at `now`, or all of them."""
    if include_ended:
        return list(session.scalars(select(LegalHold).order_by(LegalHold.id.desc())))
    return list(session.scalars(_STANDING, {"now": now or utcnow()}))


# Built once: every erasure and rectification reads the standing holds as it starts.
_STANDING = (
    select(LegalHold)
    .where(
        LegalHold.released_at.is_(None),
        or_(LegalHold.ends_at.is_(None), LegalHold.ends_at > bindparam("now", type_=DateTime(timezone=True))),
    )
    .order_by(LegalHold.id.desc())
)


def resolve(holds: Sequence[LegalHold], policy: Policy, connectors: Connectors) -> HeldKeys:
    """The keys every standing hold covers, by `system.collection`; person holds are looked up through the request engine."""
    held: HeldKeys = {}
    for hold in holds:
        for node_id, keys in covered(hold, policy, connectors).items():
            held.setdefault(node_id, set()).update(keys)
    return held


def covered(hold: LegalHold, policy: Policy, connectors: Connectors) -> HeldKeys:
    """The keys one hold covers, by `system.collection`: its rows, or every row the request engine finds for its person."""
    if hold.keys is not None:
        return {f"{hold.system}.{hold.collection}": {str(key) for key in hold.keys}}
    assert hold.identity_type is not None and hold.identity_value is not None
    try:
        plan = plan_request(policy, "access", {hold.identity_type: hold.identity_value})
    except Invalid as exc:
        raise Invalid(f"legal hold {hold.id} cannot be looked up under this policy ({exc.message}); release it or fix the policy") from None
    return {node_id: {str(as_key(key)) for key in found.rows} for node_id, found in locate(plan, connectors).found.items() if found.rows}
