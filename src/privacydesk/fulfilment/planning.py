"""An executing request's steps: engine steps over the person's located rows, or one action on the platform's registers.

Access, portability, erasure and rectification locate the person's rows through the connectors
and store one step per batch of keys (plus one hand-over per webhook or manual system), with an
outline of what the plan expects (rows found, holds with their basis and end). An erasure also
keeps every row a standing staff legal hold covers (retention.holds), and names that hold (its
reason, who placed it, its end) next to the policy's holds. Restriction, objection, consent
withdrawal and instructions for after death change only the platform's own tables: one step,
executed in the transaction that records its completion; a restriction or an objection is also
handed to every delegating system (webhook, manual). The registers name people by e-mail
address and account id: a request naming neither (a phone number alone) first finds them in the
person's rows, read-only, and its step carries them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from privacydesk.connectors.base import Key, RequestKind
from privacydesk.connectors.registry import Connectors
from privacydesk.engine.decide import decide
from privacydesk.engine.locate import Located
from privacydesk.engine.plan import Plan, plan_request
from privacydesk.engine.results import jsonable
from privacydesk.engine.run import erasure_result, prepare, rectifiable
from privacydesk.engine.steps import Step, delegation_steps, erasure_steps, export_steps, rectification_steps
from privacydesk.policy.models import Policy
from privacydesk.requests.models import RequestType, SubjectRequest
from privacydesk.retention import holds
from privacydesk.retention.models import LegalHold

ENGINE_KINDS: dict[RequestType, RequestKind] = {
    RequestType.access: "access",
    RequestType.portability: "access",
    RequestType.erasure: "erasure",
    RequestType.rectification: "rectification",
    # On the platform's register, and handed over to the systems that carry requests out themselves.
    RequestType.restriction: "restriction",
    RequestType.objection: "objection",
}
# Identity types the consent service and its restriction register name people by, and the key kind of each.
REGISTER_KINDS = {"email": "email", "account_id": "account"}
PLATFORM_ACTIONS: dict[RequestType, str] = {
    RequestType.restriction: "restrict",
    RequestType.objection: "object",
    RequestType.consent_withdrawal: "withdraw",
    RequestType.post_mortem: "record",
}


@dataclass(frozen=True)
class PlannedStep:
    """A step as stored: its stable id, what it does and where, and its arguments."""

    step_id: str
    action: str
    system: str | None = None
    collection: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    # Set when the step was done while planning (an export of rows the lookup read whole): what it stores.
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class Planned:
    """The steps of a request in execution order, and the outline the result is checked against."""

    steps: list[PlannedStep]
    outline: dict[str, Any]


def identities_of(request: SubjectRequest) -> dict[str, list[str]]:
    """The request's verified identities by type: executors never act on an identity that is only claimed."""
    found: dict[str, list[str]] = {}
    for identity in request.identities:
        if identity.verified:
            found.setdefault(identity.type, []).append(identity.value)
    return found


def engine_plan(policy: Policy, request: SubjectRequest) -> Plan:
    """The engine's plan of a request; the same every time for the same request, so a resumed run rebuilds it."""
    corrections = {item["category"]: item["value"] for item in request.details.get("corrections", [])}
    details: dict[str, Any] = {}
    if request.type is RequestType.restriction:
        details = {"reason": request.details.get("restriction_reason")}
    elif request.type is RequestType.objection:
        details = dict(request.details.get("objection", {}))
    return plan_request(
        policy, ENGINE_KINDS[request.type], identities_of(request), corrections=corrections, reference=request.reference, details=details
    )


def plan(policy: Policy, request: SubjectRequest, connectors: Connectors, *, now: datetime, standing: Sequence[LegalHold] = ()) -> Planned:
    """Locate the person's rows and decide their fate (read-only), or name the platform action.

    `standing`: the staff legal holds standing now (`holds.listed`), read by the caller in its own
    transaction; an erasure keeps the rows they cover.
    """
    if request.type in PLATFORM_ACTIONS:
        return _on_registers(policy, request, connectors)
    engine = engine_plan(policy, request)
    # An access reads whole rows while locating them: its exports need no statement of their own.
    located = prepare(engine, connectors, every_column=engine.kind == "access")
    steps: list[Step]
    if engine.kind == "access":
        steps = export_steps(engine, {node_id: list(found.rows) for node_id, found in located.found.items()})
        outline: dict[str, Any] = {
            "collections": [
                {"system": found.node.system, "collection": found.node.name, "found": len(found.rows)}
                for found in located.found.values()
                if found.rows
            ]
        }
    elif engine.kind == "erasure":
        staff = staff_holds(located, policy, connectors, standing)
        decisions = decide(engine, located, now, language=request.language, also_held=_held_by(staff))
        steps = erasure_steps(engine, decisions)
        outline = erasure_result(engine, located, decisions, None).to_json()
        name_staff_holds(outline, staff)
    else:
        staff = staff_holds(located, policy, connectors, standing)
        (identified, linked), planned = rectifiable(engine, located, now, True, also_held=_held_by(staff))
        steps = rectification_steps(engine, identified, linked)
        outline = planned.to_json()
        name_staff_holds(outline, staff)
    steps += delegation_steps(engine, located.identities)
    # The request keeps the identities it names; the outline does not repeat those found on the way.
    outline.pop("identities", None)
    return Planned(
        [
            PlannedStep(step.id, step.action, step.system, step.collection, step.to_dict(), _read(step, located, connectors))
            for step in steps
        ],
        outline,
    )


def _on_registers(policy: Policy, request: SubjectRequest, connectors: Connectors) -> Planned:
    """The platform action, and for a restriction or objection a hand-over to every system that carries requests out itself."""
    action = PLATFORM_ACTIONS[request.type]
    step_id = f"{request.type.value}/platform/*/{action}/0000"
    if action == "record":
        return Planned([PlannedStep(step_id, action)], {})
    found = _register_identities(policy, request, connectors)
    steps = [PlannedStep(step_id, action, payload={"identities": found})]
    if request.type in ENGINE_KINDS:
        identities = identities_of(request)
        for kind, values in found.items():
            identities[kind] = list(dict.fromkeys([*identities.get(kind, []), *values]))
        handed = delegation_steps(engine_plan(policy, request), identities)
        steps.extend(PlannedStep(step.id, step.action, step.system, None, step.to_dict()) for step in handed)
    return Planned(steps, {})


def _register_identities(policy: Policy, request: SubjectRequest, connectors: Connectors) -> dict[str, list[str]]:
    """The e-mail addresses and account ids found in the person's rows, when the request names none (else nothing to add)."""
    verified = identities_of(request)
    if any(kind in REGISTER_KINDS for kind in verified):
        return {}
    engine = plan_request(policy, "access", verified, reference=request.reference)
    if not engine.nodes:
        return {}
    found = prepare(engine, connectors).identities
    return {kind: sorted({str(value) for value in found[kind]}) for kind in REGISTER_KINDS if found.get(kind)}


def _read(step: Step, located: Located, connectors: Connectors) -> dict[str, Any] | None:
    """The rows of an export step as stored, from the whole rows located; None for other steps and for files, which only an export opens."""
    if step.action != "export" or connectors[step.system].attachments:
        return None
    rows = located.found[f"{step.system}.{step.collection}"].rows
    return {"rows": [{column: jsonable(value) for column, value in rows[key].items()} for key in step.keys], "files": []}


def staff_holds(
    located: Located, policy: Policy, connectors: Connectors, standing: Sequence[LegalHold]
) -> list[tuple[LegalHold, dict[str, set[Key]]]]:
    """The standing staff holds that cover any of the located rows, each with the keys of those rows it covers, by node id."""
    covering = []
    for hold in standing:
        covered = holds.covered(hold, policy, connectors)
        keys = {
            node_id: {key for key in found.rows if str(key) in covered[node_id]}
            for node_id, found in located.found.items()
            if node_id in covered
        }
        keys = {node_id: held for node_id, held in keys.items() if held}
        if keys:
            covering.append((hold, keys))
    return covering


def _held_by(staff: list[tuple[LegalHold, dict[str, set[Key]]]]) -> dict[str, set[Key]]:
    """The keys the staff holds keep, by node id, all holds together."""
    held: dict[str, set[Key]] = {}
    for _, keys in staff:
        for node_id, covered in keys.items():
            held.setdefault(node_id, set()).update(covered)
    return held


def name_staff_holds(outline: dict[str, Any], staff: list[tuple[LegalHold, dict[str, set[Key]]]]) -> None:
    """Add each staff hold to the holds of the collections whose rows it keeps: its reason, who placed it, when, and its end."""
    for item in outline.get("collections", []):
        node_id = f"{item['system']}.{item['collection']}"
        for hold, keys in staff:
            if node_id in keys:
                item.setdefault("holds", []).append(
                    {
                        "name": f"legal_hold_{hold.id}",
                        "legal_hold": hold.id,
                        "reason": hold.reason,
                        "placed_by": hold.placed_by,
                        "placed_at": hold.placed_at.isoformat(),
                        "until": hold.ends_at.isoformat() if hold.ends_at else None,
                        "rows": len(keys[node_id]),
                        "open_rows": 0,
                    }
                )
