"""Retention rules read from the policy, the order they run in, what deleting a row takes with it, and the dry run.

A rule is a collection's `retention`. Rules run system by system, children before parents, so the
rows that point at a parent are gone before the parent is. Deleting a row takes with it the rows
of the same system that reference it (transitively): it is an erasure of those rows, decided by
the request engine, so holds keep what they keep and a row still referenced by a held row is
anonymised instead of deleted. Anonymising touches the rule's rows only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from privacydesk.connectors.base import Cutoff, Key, Row, naive_utc
from privacydesk.connectors.registry import Connectors, connector_class
from privacydesk.engine.locate import Found, Located, facts
from privacydesk.engine.plan import Edge, Node, Plan
from privacydesk.errors import Invalid, PrivacydeskError
from privacydesk.policy.durations import Duration
from privacydesk.policy.models import Collection, Policy, RetentionRule


@dataclass(frozen=True)
class Rule:
    """The retention rule of one collection."""

    system: str
    collection: str
    spec: Collection
    retention: RetentionRule

    @property
    def id(self) -> str:
        """`system.collection`."""
        return f"{self.system}.{self.collection}"


@dataclass(frozen=True)
class Moments:
    """The cutoffs of one rule at one moment."""

    now: datetime
    # Rows whose start is before it are past their period.
    cutoff: datetime
    # Notice rules: rows whose start is before it are within the notice of their deletion.
    warn: datetime | None
    # The collection's holds: rows whose hold start is empty or on or after `before` are kept.
    holds: tuple[Cutoff, ...]


def rules(policy: Policy, selected: Sequence[str] = ()) -> list[Rule]:
    """The rules of the systems reached row by row, children first; `selected` picks some by `system.collection` or collection."""
    found: list[Rule] = []
    for system_name, system in policy.systems.items():
        if connector_class(system.connector).delegates:
            continue  # the system applies its own retention
        for name in children_first(system_name, system.collections):
            spec = system.collections[name]
            if spec.retention is not None:
                found.append(_checked(Rule(system_name, name, spec, spec.retention)))
    if not selected:
        return found
    chosen: set[str] = set()
    for name in selected:
        matches = [rule.id for rule in found if name in (rule.id, rule.collection)]
        if len(matches) != 1:
            known = ", ".join(rule.id for rule in found) or "none"
            problem = "names several rules; write it as system.collection" if matches else "is not a retention rule of this policy"
            raise Invalid(f"{name!r} {problem} (rules: {known})")
        chosen.update(matches)
    return [rule for rule in found if rule.id in chosen]


def _checked(rule: Rule) -> Rule:
    if rule.retention.notice is not None and "." in rule.retention.start:
        raise Invalid(f"{rule.id}: a rule with a notice runs from an activity column of its own table, not from {rule.retention.start}")
    if rule.retention.notice is not None and not rule.retention.notice < rule.retention.keep:
        raise Invalid(f"{rule.id}: the notice ({rule.retention.notice}) must be shorter than the period ({rule.retention.keep})")
    return rule


def children_first(system: str, collections: Mapping[str, Collection]) -> list[str]:
    """The collections ordered so that every collection comes before those it references; Invalid on a cycle."""
    waiting = {name: set[str]() for name in collections}
    for child, spec in collections.items():
        for target in spec.references.values():
            parent = target.split(".")[0]
            if parent in waiting and parent != child:
                waiting[parent].add(child)
    ordered: list[str] = []
    while waiting:
        ready = [name for name, children in waiting.items() if not children]
        if not ready:
            raise Invalid(
                f"the references of system {system!r} form a cycle among {', '.join(sorted(waiting))}; retention cannot order them"
            )
        for name in ready:
            ordered.append(name)
            del waiting[name]
        for children in waiting.values():
            children.difference_update(ready)
    return ordered


def moments(rule: Rule, now: datetime) -> Moments:
    """The rule's cutoffs at `now`."""
    keep, notice = rule.retention.keep, rule.retention.notice
    warn = _before(keep, _after(notice, now)) if notice is not None else None
    holds = tuple(Cutoff(hold.start, _before(hold.keep, now)) for hold in rule.spec.holds)
    return Moments(now, _before(keep, now), warn, holds)


def _before(duration: Duration, moment: datetime) -> datetime:
    earlier = duration.before(moment)
    assert isinstance(earlier, datetime)
    return earlier


def _after(duration: Duration, moment: datetime) -> datetime:
    later = duration.after(moment)
    assert isinstance(later, datetime)
    return later


# ---------------------------------------------------------------- what a rule's rows take with them
def cascade(policy: Policy, rule: Rule) -> Plan:
    """An erasure plan of the rule's collection and, for deletions, of every collection referencing it, parents first."""
    collections = policy.systems[rule.system].collections
    names = [rule.collection]
    if rule.retention.action == "delete":
        for name in names:  # grows while walked: children of children
            names.extend(
                child
                for child, spec in collections.items()
                if child not in names and any(target.split(".")[0] == name for target in spec.references.values())
            )
    # The rule decides its own rows; the collection's holds are applied when they are selected.
    root = Node(rule.system, rule.collection, rule.spec.model_copy(update={"erase": rule.retention.action, "holds": []}))
    nodes = [root]
    for name in reversed(children_first(rule.system, collections)):
        if name in names and name != rule.collection:
            spec = collections[name]
            edges = tuple(
                Edge(name, column, target.split(".")[0], target.split(".")[1])
                for column, target in spec.references.items()
                if target.split(".")[0] in names and target.split(".")[0] != name
            )
            nodes.append(Node(rule.system, name, spec, edges))
    return Plan(policy, "erasure", {}, {}, f"retention/{rule.id}", tuple(nodes), ())


def root_columns(plan: Plan) -> list[str]:
    """The columns of the rule's rows that referencing rows point at."""
    root = plan.nodes[0]
    return list(dict.fromkeys(edge.target for node in plan.nodes[1:] for edge in node.parents if edge.parent == root.name))


def locate_cascade(plan: Plan, connectors: Connectors, root_rows: Mapping[Key, Row]) -> Located:
    """The rule's rows and every row referencing them, collection by collection, parents first."""
    found = {node.id: Found(node, connectors[node.system].key_column(node.name)) for node in plan.nodes}
    found[plan.nodes[0].id].rows.update(root_rows)
    for node in plan.nodes[1:]:
        connector = connectors[node.system]
        for edge in node.parents:
            values = found[f"{node.system}.{edge.parent}"].values(edge.target)
            if values:
                found[node.id].add(connector.referencing(node.name, edge.column, values, facts(node, plan)))
    return Located({}, found)


# ---------------------------------------------------------------- the dry run
# Counts the people of a notice rule: (to warn, waiting for their notice to run out, deletable).
NoticeCounter = Callable[["Rule", "Moments"], tuple[int, int, int]]


@dataclass
class RulePlan:
    """What one rule would do now."""

    rule: str
    system: str
    collection: str
    action: str
    keep: str
    start: str
    notice: str | None
    cutoff: datetime
    # Collections whose rows referencing the due rows would go with them.
    cascade: list[str] = field(default_factory=list)
    # Rows past their period that no hold keeps: the next run deletes or anonymises them (for notice rules, those
    # whose notice has run out: `deletable`).
    due: int = 0
    # Rows past their period that a hold (of the collection, or placed by staff) keeps.
    held: int = 0
    oldest: datetime | None = None
    # When the next row not yet due falls due.
    next_due: datetime | None = None
    # Notice rules: people to warn now, people whose notice still runs, and people whose notice has run out.
    to_warn: int | None = None
    waiting: int | None = None
    deletable: int | None = None
    # Why the system could not be asked.
    error: str | None = None


def dry_run(
    policy: Policy,
    chosen: Sequence[Rule],
    connectors: Connectors,
    now: datetime,
    legal: Mapping[str, set[str]],
    classify: NoticeCounter,
) -> list[RulePlan]:
    """Count, per rule, what is due, held and next; change nothing. `classify` counts the notice states of notice rules."""
    plans: list[RulePlan] = []
    for rule in chosen:
        at = moments(rule, now)
        entry = RulePlan(
            rule.id,
            rule.system,
            rule.collection,
            rule.retention.action,
            str(rule.retention.keep),
            rule.retention.start,
            str(rule.retention.notice) if rule.retention.notice else None,
            at.cutoff,
            [node.name for node in cascade(policy, rule).nodes[1:]],
        )
        try:
            _count(entry, rule, connectors, at, legal.get(rule.id, set()))
            if rule.retention.notice is not None:
                entry.to_warn, entry.waiting, entry.deletable = classify(rule, at)
        except PrivacydeskError as exc:
            entry.error = exc.message
        plans.append(entry)
    return plans


def _count(entry: RulePlan, rule: Rule, connectors: Connectors, at: Moments, legally_held: set[str]) -> None:
    connector = connectors[rule.system]
    overdue = connector.overdue(rule.collection, rule.retention.start, at.cutoff, holds=at.holds)
    held_due = (
        connector.overdue(rule.collection, rule.retention.start, at.cutoff, holds=at.holds, among=sorted(legally_held)).rows
        if legally_held
        else 0
    )
    entry.due, entry.held, entry.oldest = overdue.rows - held_due, overdue.held + held_due, overdue.oldest
    if overdue.next_start is not None:
        entry.next_due = naive_utc(_after(rule.retention.keep, overdue.next_start))
