"""An executing request's steps: engine steps over the person's located rows, or one action on the platform's registers.

Access, portability, erasure and rectification locate the person's rows through the connectors
and store one step per batch of keys (plus one hand-over per webhook or manual system), with an
outline of what the plan expects (rows found, holds with their basis and end). Restriction,
objection, consent withdrawal and instructions for after death change only the platform's own
tables: one step, executed in the transaction that records its completion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from privacydesk.connectors.base import RequestKind
from privacydesk.connectors.registry import Connectors
from privacydesk.engine.decide import decide
from privacydesk.engine.plan import Plan, plan_request
from privacydesk.engine.run import erasure_result, prepare, rectifiable
from privacydesk.engine.steps import Step, delegation_steps, erasure_steps, export_steps, rectification_steps
from privacydesk.policy.models import Policy
from privacydesk.requests.models import RequestType, SubjectRequest

ENGINE_KINDS: dict[RequestType, RequestKind] = {
    RequestType.access: "access",
    RequestType.portability: "access",
    RequestType.erasure: "erasure",
    RequestType.rectification: "rectification",
}
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
    return plan_request(policy, ENGINE_KINDS[request.type], identities_of(request), corrections=corrections, reference=request.reference)


def plan(policy: Policy, request: SubjectRequest, connectors: Connectors, *, now: datetime) -> Planned:
    """Locate the person's rows and decide their fate (read-only), or name the platform action."""
    if request.type in PLATFORM_ACTIONS:
        action = PLATFORM_ACTIONS[request.type]
        return Planned([PlannedStep(f"{request.type.value}/platform/*/{action}/0000", action)], {})
    engine = engine_plan(policy, request)
    located = prepare(engine, connectors)
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
        decisions = decide(engine, located, now, language=request.language)
        steps = erasure_steps(engine, decisions)
        outline = erasure_result(engine, located, decisions, None).to_json()
    else:
        (identified, linked), planned = rectifiable(engine, located, now, True)
        steps = rectification_steps(engine, identified, linked)
        outline = planned.to_json()
    steps += delegation_steps(engine, located.identities)
    # The request keeps the identities it names; the outline does not repeat those found on the way.
    outline.pop("identities", None)
    return Planned([PlannedStep(step.id, step.action, step.system, step.collection, step.to_dict()) for step in steps], outline)
