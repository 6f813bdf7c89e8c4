"""The plan of a request: which collections can hold a person's rows, and in which order to visit them.

A person's rows are in the collections with identities, and in every collection reachable from
those by references. Within a system, collections are ordered parents before children (access
walks that way; erasure runs it backwards, children first, so foreign keys always hold). A
reference cycle cannot be ordered and is reported.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from privacydesk.connectors.base import RequestKind
from privacydesk.connectors.registry import connector_class
from privacydesk.errors import Invalid
from privacydesk.policy.models import Collection, Policy

KINDS: tuple[RequestKind, ...] = ("access", "erasure", "rectification", "restriction", "objection")


@dataclass(frozen=True)
class Edge:
    """A reference: rows of `child` whose `column` holds a value of `parent.target`."""

    child: str
    column: str
    parent: str
    target: str


@dataclass(frozen=True)
class Node:
    """One collection of the plan."""

    system: str
    name: str
    spec: Collection
    # References to parent collections of the plan, by which this collection's rows are found.
    parents: tuple[Edge, ...] = ()

    @property
    def id(self) -> str:
        """`system.collection`."""
        return f"{self.system}.{self.name}"


@dataclass(frozen=True)
class Plan:
    """What a request touches, before any system is asked anything."""

    policy: Policy
    kind: RequestKind
    identities: Mapping[str, tuple[str, ...]]
    # Category id → corrected value (rectification only).
    corrections: Mapping[str, str]
    # Names the request towards systems that deduplicate (webhooks) and seeds manual task ids: the
    # request's own id, so that a resumed request is recognised; a fresh random one when not given.
    reference: str
    # Parents before children, system by system in the policy's order.
    nodes: tuple[Node, ...]
    # Systems that execute the whole request themselves (webhook, manual).
    delegated: tuple[str, ...]
    # Collections no identity or reference leads to: they cannot hold a findable person's rows.
    unreachable: tuple[str, ...] = field(default=())
    # What a restriction or objection asks, handed to delegating systems with it.
    details: Mapping[str, Any] = field(default_factory=dict)

    def node(self, node_id: str) -> Node:
        """The node `system.collection`."""
        return next(node for node in self.nodes if node.id == node_id)

    def children_first(self) -> tuple[Node, ...]:
        """The erasure order."""
        return tuple(reversed(self.nodes))

    @property
    def row_systems(self) -> tuple[str, ...]:
        """Systems reached row by row, in plan order."""
        return tuple(dict.fromkeys(node.system for node in self.nodes))


def plan_request(
    policy: Policy,
    kind: str,
    identities: Mapping[str, str | Iterable[str]],
    *,
    corrections: Mapping[str, str] | None = None,
    reference: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> Plan:
    """Check the request against the policy and order the collections it touches; Invalid on any problem."""
    if kind not in KINDS:
        raise Invalid(f"unknown request type {kind!r}; expected one of: {', '.join(KINDS)}")
    given = _identities(policy, identities)
    fixes = _corrections(policy, kind, corrections or {})
    nodes: list[Node] = []
    unreachable: list[str] = []
    delegated: list[str] = []
    for system_name, system in policy.systems.items():
        if connector_class(system.connector).delegates:
            delegated.append(system_name)
            continue
        ordered, skipped = _order(system_name, system.collections)
        nodes.extend(ordered)
        unreachable.extend(f"{system_name}.{name}" for name in skipped)
    return Plan(
        policy, kind, given, fixes, reference or uuid.uuid4().hex, tuple(nodes), tuple(delegated), tuple(unreachable), dict(details or {})
    )


def _identities(policy: Policy, identities: Mapping[str, str | Iterable[str]]) -> dict[str, tuple[str, ...]]:
    accepted = policy.requests.identities
    given: dict[str, tuple[str, ...]] = {}
    for identity, values in identities.items():
        if identity not in accepted:
            raise Invalid(f"unknown identity type {identity!r}; this policy recognises people by: {', '.join(accepted)}")
        cleaned = tuple(dict.fromkeys(value.strip() for value in ([values] if isinstance(values, str) else values)))
        if not all(cleaned):
            raise Invalid(f"the {identity} is empty")
        if cleaned:
            given[identity] = cleaned
    if not given:
        raise Invalid("give at least one identity (like email=someone@example.com) to find the person's data")
    return given


def _corrections(policy: Policy, kind: str, corrections: Mapping[str, str]) -> dict[str, str]:
    if kind != "rectification":
        if corrections:
            raise Invalid(f"corrected values are only for rectification requests, not {kind}")
        return {}
    if not corrections:
        raise Invalid("a rectification needs at least one corrected value, like name=Jan Kowalski (category id = value)")
    held = {
        spec.category
        for system in policy.systems.values()
        for collection in system.collections.values()
        for spec in collection.fields.values()
    }
    for category in corrections:
        if category not in policy.data:
            raise Invalid(f"unknown data category {category!r}; the policy declares: {', '.join(policy.data)}")
        if category not in held:
            raise Invalid(f"no system declares a field of category {category!r}, so there is nothing to rectify")
    return dict(corrections)


def _order(system: str, collections: Mapping[str, Collection]) -> tuple[list[Node], list[str]]:
    """The reachable collections, parents first, and the unreachable ones; Invalid on a reference cycle."""
    edges = [
        Edge(child, column, target.split(".")[0], target.split(".")[1])
        for child, spec in collections.items()
        for column, target in spec.references.items()
        if target.split(".")[0] in collections
    ]
    reachable = [name for name, spec in collections.items() if spec.identities]
    for name in reachable:
        reachable.extend(edge.child for edge in edges if edge.parent == name and edge.child not in reachable)
    inside = [edge for edge in edges if edge.parent in reachable and edge.child in reachable]
    waiting = {name: {edge.parent for edge in inside if edge.child == name} for name in collections if name in reachable}
    ordered: list[str] = []
    while waiting:
        ready = [name for name, parents in waiting.items() if not parents]
        if not ready:
            raise Invalid(f"the references of system {system!r} form a cycle ({_cycle(waiting)}); they cannot be ordered for erasure")
        for name in ready:
            ordered.append(name)
            del waiting[name]
        for parents in waiting.values():
            parents.difference_update(ready)
    nodes = [Node(system, name, collections[name], tuple(edge for edge in inside if edge.child == name)) for name in ordered]
    return nodes, [name for name in collections if name not in reachable]


def _cycle(waiting: Mapping[str, set[str]]) -> str:
    """One cycle among collections that all wait for a parent, as `a -> b -> a`."""
    path = [next(iter(waiting))]
    while True:
        parent = sorted(waiting[path[-1]])[0]
        if parent in path:
            loop = [*path[path.index(parent) :], parent]
            return " -> ".join(reversed(loop))
        path.append(parent)
