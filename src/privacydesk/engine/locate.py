"""Finding a person's rows: their identities first (followed through the rows they match), then references.

Identities grow: the account row found by an e-mail address holds the account id and phone
number, which find the orders and tickets filed under them. Only rows matched by an identity
lend theirs (a device shared with the person belongs to its owner, whose address it holds too).
Each round asks only about values not asked before, so the number of statements depends on
the shape of the policy, not on how many rows a person has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from privacydesk.connectors.base import Key, Row, as_key, comparable
from privacydesk.connectors.registry import Connectors
from privacydesk.engine.plan import Node, Plan

# Identities found in rows lead to more rows; past this many rounds the graph is not a person's any more.
MAX_ROUNDS = 8


@dataclass
class Found:
    """A person's rows of one collection: the few columns the engine needs, by key."""

    node: Node
    key_column: str
    rows: dict[Key, Row] = field(default_factory=dict)
    # Rows an identity matched (the others were reached through references only).
    identified: set[Key] = field(default_factory=set)

    def add(self, rows: list[Row], *, identified: bool = False) -> None:
        """Remember rows not seen yet."""
        for row in rows:
            key = as_key(row[self.key_column])
            self.rows.setdefault(key, row)
            if identified:
                self.identified.add(key)

    def values(self, column: str) -> set[object]:
        """The distinct non-empty values of `column` in these rows."""
        return {row[column] for row in self.rows.values() if row.get(column) is not None}


@dataclass
class Located:
    """Every row of the person the plan's collections hold, and every identity that led there."""

    identities: dict[str, list[object]]
    found: dict[str, Found]


def facts(node: Node, plan: Plan) -> list[str]:
    """The columns read while locating: identities, reference ends and hold starts."""
    spec = node.spec
    children = [edge.target for other in plan.nodes if other.system == node.system for edge in other.parents if edge.parent == node.name]
    columns = [*spec.identities.values(), *(edge.column for edge in node.parents), *children, *(hold.start for hold in spec.holds)]
    return list(dict.fromkeys(columns))


def locate(plan: Plan, connectors: Connectors) -> Located:
    """Find the person's rows in every collection of the plan (read-only)."""
    found = {node.id: Found(node, connectors[node.system].key_column(node.name)) for node in plan.nodes}
    identities = _resolve_identities(plan, connectors, found)
    for node in plan.nodes:  # parents first: a collection is walked once all its parents are complete
        connector = connectors[node.system]
        for edge in node.parents:
            values = found[f"{node.system}.{edge.parent}"].values(edge.target)
            if values:
                found[node.id].add(connector.referencing(node.name, edge.column, values, facts(node, plan)))
    return Located(identities, found)


def _resolve_identities(plan: Plan, connectors: Connectors, found: dict[str, Found]) -> dict[str, list[object]]:
    known: dict[str, dict[str, object]] = {
        kind: {comparable(kind, value): value for value in values} for kind, values in plan.identities.items()
    }
    fresh = {kind: list(values.values()) for kind, values in known.items()}
    for _ in range(MAX_ROUNDS):
        discovered: dict[str, dict[str, object]] = {}
        for node in plan.nodes:
            asked = {kind: values for kind, values in fresh.items() if kind in node.spec.identities and values}
            if not asked:
                continue
            rows = connectors[node.system].find(node.name, asked, facts(node, plan))
            found[node.id].add(rows, identified=True)
            for kind, column in node.spec.identities.items():
                for row in rows:
                    value = row.get(column)
                    if value is not None and comparable(kind, value) not in known.get(kind, {}):
                        discovered.setdefault(kind, {})[comparable(kind, value)] = value
        if not discovered:
            break
        for kind, values in discovered.items():
            known.setdefault(kind, {}).update(values)
        fresh = {kind: list(values.values()) for kind, values in discovered.items()}
    return {kind: list(values.values()) for kind, values in known.items()}
