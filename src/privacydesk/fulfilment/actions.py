"""Requests carried out on the platform's own registers, in the transaction that records them as done.

Consent is kept per subject key (`email:`, `account:`): a request's verified e-mail addresses and
account ids name the person there, or, for a request naming neither, those its planning found in
the person's rows (the step's payload). A restriction (Art. 18) or an objection (Art. 21) is entered in
the consent service's restriction register, so every consent check for the person answers
"restricted"; an objection to direct marketing (absolute, Art. 21(3)) also withdraws every consent
to a marketing purpose, an objection to named activities restricts the consents that serve them
and enters each activity in the register (most rest on legitimate interests, which no consent
serves), and a consent withdrawal withdraws the consents named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.consent import restrictions
from privacydesk.consent import service as consent
from privacydesk.consent.models import ConsentRestriction
from privacydesk.consent.published import latest
from privacydesk.consent.subjects import SubjectKey, parse
from privacydesk.db.base import utcnow
from privacydesk.errors import Invalid, NotFound
from privacydesk.fulfilment.models import SubjectDirective
from privacydesk.fulfilment.planning import REGISTER_KINDS, identities_of
from privacydesk.policy.models import Policy
from privacydesk.policy.render.notice import marketing_terms
from privacydesk.requests.identities import value_hash
from privacydesk.requests.models import Channel, SubjectRequest

ACTOR = "system"
Payload = Mapping[str, Any]
# Where a withdrawal was made, as consent records name it; letters, calls and forwarded requests have no such place.
_SURFACES = {Channel.web: "preference_centre", Channel.app: "app", Channel.email: "email"}


def perform(session: Session, action: str, request: SubjectRequest, policy: Policy, *, found: Payload | None = None) -> dict[str, Any]:
    """Carry out one platform action for the request; return what it did (no personal data).

    `found`: the identities planning found in the person's rows ({"identities": {kind: values}}), for a request naming none the registers know.
    """
    keys = subject_keys(request, (found or {}).get("identities", {}))
    if action == "restrict":
        return {"restricted": _restrict(session, request, keys, None, "restriction")}
    # Consent is checked against the latest published policy: purposes (and activities) it dropped have nothing left to end.
    published = latest(session)
    current = set(published.purposes)
    if action == "object":
        return _object(session, request, keys, policy, current, set(published.policy.activities))
    if action == "withdraw":
        purposes = [purpose for purpose in request.details.get("consents", []) if purpose in current]
        return {"withdrawn": _withdraw(session, request, keys, purposes)}
    if action == "record":
        return _record(session, request)
    raise Invalid(f"unknown platform action {action!r}")


def subject_keys(request: SubjectRequest, found: Mapping[str, Sequence[str]] | None = None) -> list[SubjectKey]:
    """The consent subject keys of the request's verified identities, and of those `found` in the person's rows."""
    keys: dict[str, SubjectKey] = {}
    for identities in (identities_of(request), found or {}):
        for kind, values in identities.items():
            if kind in REGISTER_KINDS:
                for value in values:
                    try:
                        key = parse(f"{REGISTER_KINDS[kind]}:{value}")
                    except Invalid:  # an account id consent keys cannot name: it cannot have consents either
                        continue
                    keys.setdefault(key.stored, key)
    return list(keys.values())


def marketing_consents(policy: Policy) -> list[str]:
    """The consent purposes pursued for (direct) marketing: those an objection to direct marketing ends."""
    terms = marketing_terms()
    return [
        name
        for name, purpose in policy.consents.items()
        if any(
            term in terms
            for activity in purpose.activities
            if activity in policy.activities
            for term in policy.activities[activity].purposes
        )
    ]


def _object(
    session: Session, request: SubjectRequest, keys: list[SubjectKey], policy: Policy, current: set[str], activities_now: set[str]
) -> dict[str, Any]:
    objection = request.details.get("objection", {})
    activities = set(objection.get("activities", []))
    purposes = marketing_consents(policy) if objection.get("direct_marketing") else []
    purposes += [name for name, purpose in policy.consents.items() if activities & set(purpose.activities) and name not in purposes]
    purposes = [purpose for purpose in purposes if purpose in current]
    withdrawn = _withdraw(session, request, keys, purposes)
    restricted = sum(_restrict(session, request, keys, purpose, "objection") for purpose in purposes)
    # Each activity objected to stands in the register too, whether or not a consent serves it (legitimate interests).
    entered = sum(_restrict(session, request, keys, None, "objection", activity=name) for name in sorted(activities & activities_now))
    return {"purposes": purposes, "withdrawn": withdrawn, "restricted": restricted + entered, "activities": sorted(activities)}


def _restrict(
    session: Session,
    request: SubjectRequest,
    keys: list[SubjectKey],
    purpose: str | None,
    reason: restrictions.Reason,
    *,
    activity: str | None = None,
) -> int:
    """Enter the restriction (of a purpose, of every purpose, or an objection to an activity) for every key of the person, once.

    Returns how many entries were made.
    """
    made = 0
    for key in keys:
        standing = select(ConsentRestriction.id).where(
            ConsentRestriction.reference == request.reference,
            ConsentRestriction.subject_key == key.stored,
            ConsentRestriction.purpose.is_(None) if purpose is None else ConsentRestriction.purpose == purpose,
            ConsentRestriction.activity.is_(None) if activity is None else ConsentRestriction.activity == activity,
        )
        if session.scalar(standing) is None:
            restrictions.restrict(session, key, reason=reason, actor=ACTOR, purpose=purpose, activity=activity, reference=request.reference)
            made += 1
    return made


def _withdraw(session: Session, request: SubjectRequest, keys: list[SubjectKey], purposes: list[str]) -> dict[str, int]:
    """Withdraw the purposes the person gave, under every key; return how many keys withdrew each."""
    withdrawn = dict.fromkeys(purposes, 0)
    if not purposes:
        return withdrawn
    context = consent.Context(source=f"request:{request.reference}", source_method="data_subject_request")
    for key in keys:
        try:
            recorded = consent.withdraw(session, key, purposes, surface=_SURFACES.get(request.channel), context=context, actor=ACTOR)
        except NotFound:  # nothing was ever recorded under this key
            continue
        for purpose in recorded.choices:
            withdrawn[purpose] += 1
    return withdrawn


def _record(session: Session, request: SubjectRequest) -> dict[str, Any]:
    if session.scalar(select(SubjectDirective.id).where(SubjectDirective.request_id == request.id)) is None:
        directive = request.details.get("post_mortem", {})
        session.add(
            SubjectDirective(
                request_id=request.id,
                identity_hashes=sorted(value_hash(kind, value) for kind, values in identities_of(request).items() for value in values),
                instructions=directive.get("instructions", ""),
                trusted_contact=directive.get("trusted_contact"),
                recorded_at=utcnow(),
            )
        )
        session.flush()
        audit.record(session, actor=ACTOR, action="request.directive_recorded", object_type="subject_request", object_id=str(request.id))
    return {"recorded": True}
