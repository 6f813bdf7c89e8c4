"""People under a standing restriction of processing (Art. 18): retention keeps their data as a legal hold would.

Art. 18(1)(b) and (c) let a person ask for restriction instead of erasure, so a restriction must
not be undone by a retention run deleting the data it keeps. Restrictions are entered in the
consent service's register under subject keys, and e-mail keys only as a keyed digest; the
person's identities come from the requests that entered them (their verified identities) and
from the person's account keys. Every row the request engine finds for them is kept, looked up
at the start of each rule run. A restriction that names nobody the policy can look up stops the
run rather than let anything go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacydesk.connectors.base import as_key
from privacydesk.connectors.registry import Connectors
from privacydesk.consent.models import ConsentRestriction, ConsentSubject
from privacydesk.engine.locate import locate
from privacydesk.engine.plan import plan_request
from privacydesk.errors import Invalid
from privacydesk.policy.models import Policy
from privacydesk.requests.models import RequestIdentity, SubjectRequest
from privacydesk.retention.holds import HeldKeys

# Consent subject keys that carry an identity in the clear, and the request identity type it is.
_CLEAR_KEYS = {"account:": "account_id"}


@dataclass
class RestrictedPerson:
    """One person with a standing restriction: its entries, and the identities that find their rows."""

    person_id: int
    restrictions: list[int] = field(default_factory=list)
    identities: dict[str, set[str]] = field(default_factory=dict)


def standing(session: Session) -> list[RestrictedPerson]:
    """Every person under a standing restriction (not an objection), with the identities known for them."""
    entries = session.execute(
        select(ConsentRestriction.id, ConsentRestriction.person_id, ConsentRestriction.reference)
        .where(ConsentRestriction.reason == "restriction", ConsentRestriction.lifted_at.is_(None))
        .order_by(ConsentRestriction.id)
    ).all()
    people: dict[int, RestrictedPerson] = {}
    references: dict[str, set[int]] = {}
    for entry_id, person_id, reference in entries:
        person = people.setdefault(person_id, RestrictedPerson(person_id))
        person.restrictions.append(entry_id)
        if reference:
            references.setdefault(reference, set()).add(person_id)
    if references:
        verified = session.execute(
            select(SubjectRequest.reference, RequestIdentity.type, RequestIdentity.value)
            .join(RequestIdentity, RequestIdentity.request_id == SubjectRequest.id)
            .where(SubjectRequest.reference.in_(references), RequestIdentity.verified.is_(True))
        ).all()
        for reference, kind, value in verified:
            for person_id in references[reference]:
                people[person_id].identities.setdefault(kind, set()).add(value)
    if people:
        keys = session.execute(select(ConsentSubject.person_id, ConsentSubject.key).where(ConsentSubject.person_id.in_(people))).all()
        for person_id, key in keys:
            for prefix, kind in _CLEAR_KEYS.items():
                if key.startswith(prefix):
                    people[person_id].identities.setdefault(kind, set()).add(key.removeprefix(prefix))
    return list(people.values())


def resolve(people: Sequence[RestrictedPerson], policy: Policy, connectors: Connectors) -> HeldKeys:
    """The keys of every restricted person's rows, by `system.collection`, found through the request engine."""
    kept: HeldKeys = {}
    accepted = set(policy.requests.identities)
    for person in people:
        identities = {kind: sorted(values) for kind, values in person.identities.items() if kind in accepted}
        if not identities:
            raise Invalid(
                f"restriction {person.restrictions[0]} names no identity this policy can look up"
                f" (it recognises people by: {', '.join(policy.requests.identities)}); lift it or fix the policy"
            )
        plan = plan_request(policy, "access", identities)
        for node_id, found in locate(plan, connectors).found.items():
            kept.setdefault(node_id, set()).update(str(as_key(key)) for key in found.rows)
    return kept
