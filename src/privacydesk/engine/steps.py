"""Steps: the units of execution a durable runner persists and resumes.

A step is one action on one batch of keys of one collection (or one whole-request hand-over to a
delegating system), with a stable id `kind/system/collection/action/batch`. Every step is
idempotent: deleting keys already gone deletes nothing; anonymised values are derived from the
key, so writing them again changes nothing; a rectified value set again changes nothing; an
export reads; a delegation carries a reference the system deduplicates on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from privacydesk.connectors.base import BATCH, Change, Delegated, Delegation, Exported, Key, chunks, key_order
from privacydesk.connectors.registry import Connectors
from privacydesk.engine.decide import Decision, strategies
from privacydesk.engine.plan import Plan

Action = Literal["export", "delete", "anonymise", "rectify", "delegate"]
# Actions that change rows: consecutive steps of these on one system run as one transaction of the system.
CHANGES = frozenset({"delete", "anonymise", "rectify"})


@dataclass(frozen=True)
class Step:
    """One idempotent unit of work."""

    id: str
    system: str
    collection: str | None
    action: Action
    batch: int = 0
    keys: tuple[Key, ...] = ()
    # rectify: column → corrected value.
    values: Mapping[str, str] = field(default_factory=dict)
    # delegate: the identities handed over.
    identities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form to persist."""
        return {
            "id": self.id,
            "system": self.system,
            "collection": self.collection,
            "action": self.action,
            "batch": self.batch,
            "keys": list(self.keys),
            "values": dict(self.values),
            "identities": {kind: list(values) for kind, values in self.identities.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        """The step persisted by `to_dict`."""
        return cls(
            id=data["id"],
            system=data["system"],
            collection=data["collection"],
            action=data["action"],
            batch=data["batch"],
            keys=tuple(data["keys"]),
            values=dict(data["values"]),
            identities={kind: tuple(values) for kind, values in data["identities"].items()},
        )


@dataclass(frozen=True)
class Outcome:
    """What one step did."""

    step: Step
    count: int = 0
    exported: tuple[Exported, ...] = ()
    delegated: Delegated | None = None


def _batches(plan: Plan, system: str, collection: str, action: Action, keys: Sequence[Key]) -> list[Step]:
    ordered = sorted(keys, key=key_order)
    return [
        Step(f"{plan.kind}/{system}/{collection}/{action}/{index:04d}", system, collection, action, index, tuple(chunk))
        for index, chunk in enumerate(chunks(ordered, BATCH))
    ]


def delegation_steps(plan: Plan, identities: Mapping[str, Sequence[object]]) -> list[Step]:
    """One hand-over per delegating system, with every identity known so far."""
    handed = {kind: tuple(str(value) for value in values) for kind, values in identities.items()}
    return [Step(f"{plan.kind}/{system}/*/delegate/0000", system, None, "delegate", identities=handed) for system in plan.delegated]


def export_steps(plan: Plan, keys: Mapping[str, Sequence[Key]]) -> list[Step]:
    """Exports, parents before children, for the keys found per node."""
    return [step for node in plan.nodes for step in _batches(plan, node.system, node.name, "export", keys.get(node.id, ()))]


def erasure_steps(plan: Plan, decisions: Mapping[str, Decision]) -> list[Step]:
    """Deletions and anonymisations, children before parents."""
    steps: list[Step] = []
    for node in plan.children_first():
        decision = decisions[node.id]
        steps.extend(_batches(plan, node.system, node.name, "delete", decision.delete))
        steps.extend(_batches(plan, node.system, node.name, "anonymise", decision.anonymise))
    return steps


def rectification_steps(plan: Plan, identified: Mapping[str, Sequence[Key]], linked: Mapping[str, Sequence[Key]]) -> list[Step]:
    """Updates of the columns declared with a corrected category, per node.

    In rows an identity matched every such column is corrected. Rows reached only through a
    reference leave their identity columns alone: those identify someone else (the person a
    device was shared with), and the row is the person's through the other link.
    """
    steps: list[Step] = []
    for node in plan.nodes:
        values = {column: plan.corrections[spec.category] for column, spec in node.spec.fields.items() if spec.category in plan.corrections}
        others = {column: value for column, value in values.items() if column not in node.spec.identities.values()}
        groups = [(values, identified.get(node.id, ())), (others, linked.get(node.id, ()))]
        batches = [(group, chunk) for group, keys in groups if group for chunk in chunks(sorted(keys, key=key_order), BATCH)]
        steps.extend(
            Step(
                f"{plan.kind}/{node.system}/{node.name}/rectify/{index:04d}", node.system, node.name, "rectify", index, tuple(chunk), group
            )
            for index, (group, chunk) in enumerate(batches)
        )
    return steps


def execute(plan: Plan, step: Step, connectors: Connectors, *, callback: str | None = None) -> Outcome:
    """Run one step; running it again changes nothing more."""
    connector = connectors[step.system]
    if step.action == "delegate":
        system = plan.policy.systems[step.system]
        order = Delegation(
            reference=f"{plan.reference}/{step.id}",
            kind=plan.kind,
            system=step.system,
            collections=tuple(system.collections),
            identities=step.identities,
            corrections=plan.corrections,
            callback=callback,
            details=plan.details,
        )
        return Outcome(step, delegated=connector.delegate(order))
    assert step.collection is not None
    if step.action == "export":
        exported = connector.export(step.collection, step.keys)
        return Outcome(step, len(exported), tuple(exported))
    if step.action == "delete":
        return Outcome(step, connector.delete(step.collection, step.keys))
    if step.action == "anonymise":
        node = plan.node(f"{step.system}.{step.collection}")
        return Outcome(step, connector.anonymise(step.collection, step.keys, strategies(node, plan.policy)))
    return Outcome(step, connector.rectify(step.collection, step.keys, step.values))


def execute_changes(plan: Plan, steps: Sequence[Step], connectors: Connectors) -> list[Outcome]:
    """Run change steps of one system together, in one transaction of the system where it has them; running them again changes nothing more."""
    changes = []
    for step in steps:
        assert step.collection is not None and step.action in CHANGES
        if step.action == "anonymise":
            strategy = strategies(plan.node(f"{step.system}.{step.collection}"), plan.policy)
            changes.append(Change("anonymise", step.collection, step.keys, strategies=strategy))
        elif step.action == "rectify":
            changes.append(Change("rectify", step.collection, step.keys, values=step.values))
        else:
            changes.append(Change("delete", step.collection, step.keys))
    counts = connectors[steps[0].system].apply(changes)
    return [Outcome(step, count) for step, count in zip(steps, counts, strict=True)]
