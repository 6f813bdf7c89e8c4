"""The manual connector: for systems with no API, a task for the system's owner, who marks it done.

`delegate` returns a pending result carrying the task; whoever stores requests keeps the task and
calls `complete` when the owner reports the work done, which gives the final result.
"""

from __future__ import annotations

import hashlib

from privacydesk.connectors.base import (
    ConnectorContext,
    Delegated,
    DelegatingConnector,
    Delegation,
    ManualTask,
    Reported,
    SchemaProblem,
)
from privacydesk.policy.models import System

_WHAT = {
    "access": "Export every record of the person below from these collections and attach the export",
    "erasure": "Delete (or anonymise, as the policy says) every record of the person below in these collections, except records under a legal hold",
    "rectification": "Correct the records of the person below in these collections",
    "restriction": "Restrict the processing of the person's records below in these collections (Art. 18 GDPR): keep them, use them"
    " for nothing but storage and legal claims until the privacy team lifts the restriction",
    "objection": "Stop processing the person's records below in these collections for what they objected to (Art. 21 GDPR)",
}


class ManualConnector(DelegatingConnector):
    """A system worked by hand by its `owner`."""

    def __init__(self, name: str, system: System, context: ConnectorContext) -> None:
        self.name = name
        self.system = system

    def discover(self) -> list[SchemaProblem]:
        """A manual system needs an owner to give the task to."""
        if not self.system.owner:
            return [SchemaProblem(self.name, None, "a manual system needs an owner (who carries out requests by hand)")]
        return []

    def delegate(self, order: Delegation) -> Delegated:
        """A pending result with the owner's task; the same order always gives the same task id."""
        task = ManualTask(
            id=hashlib.sha256(order.reference.encode()).hexdigest()[:32],
            system=self.name,
            owner=self.system.owner or "",
            kind=order.kind,
            collections=order.collections,
            identities=order.identities,
            corrections=order.corrections,
            instructions=instructions(order),
        )
        return Delegated(self.name, "pending", task=task, message=f"waiting for {task.owner}", reference=order.reference)


def instructions(order: Delegation) -> str:
    """What the owner is asked to do, in plain words."""
    lines = [f"{_WHAT[order.kind]} (system {order.system}: {', '.join(order.collections) or 'all records'})."]
    lines.extend(f"- {kind}: {', '.join(values)}" for kind, values in order.identities.items())
    lines.extend(f"- set {category} to: {value}" for category, value in order.corrections.items())
    if order.details.get("reason"):
        lines.append(f"- ground: {order.details['reason']}")
    if order.details.get("direct_marketing"):
        lines.append("- objected to: direct marketing (every form of it)")
    if order.details.get("activities"):
        lines.append(f"- objected to: {', '.join(order.details['activities'])}")
    lines.append("Mark the task done when finished.")
    return "\n".join(lines)


def complete(task: ManualTask, reported: dict[str, Reported] | None = None, *, note: str = "") -> Delegated:
    """The final result of a manual task its owner marked done, with what they report per collection."""
    return Delegated(task.system, "done", reported or {}, task=task, message=note or f"done by {task.owner}")
