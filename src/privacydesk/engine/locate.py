"""Finding a person's rows: their identities first (followed through the rows they match), then references.

Identities grow: the account row found by an e-mail address holds the account id and phone
number, which find the orders and tickets filed under them. Only rows matched by an identity
lend theirs (a device shared with the person belongs to its owner, whose address it holds too).
Each collection is asked only about values not asked of it before, so the number of statements
depends on the shape of the policy, not on how many rows a person has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from privacydesk.connectors.base import EVERY_COLUMN, Key, Row, as_key, comparable
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


def locate(plan: Plan, connectors: Connectors, *, every_column: bool = False) -> Located:
    """Find the person's rows in every collection of the plan (read-only); with `every_column`, whole rows (what an export holds)."""
    found = {node.id: Found(node, connectors[node.system].key_column(node.name)) for node in plan.nodes}
    columns = {node.id: EVERY_COLUMN if every_column else facts(node, plan) for node in plan.nodes}
    with ExitStack() as reads:
        for system in plan.row_systems:
            reads.enter_context(connectors[system].reading())
        identities = _resolve_identities(plan, connectors, found, columns)
        for node in plan.nodes:  # parents first: a collection is walked once all its parents are complete
            links: dict[str, set[object]] = {}
            for edge in node.parents:
                values = found[f"{node.system}.{edge.parent}"].values(edge.target)
                if values:
                    links.setdefault(edge.column, set()).update(values)
            if links:  # every reference of the collection in one lookup
                found[node.id].add(connectors[node.system].linked(node.name, links, columns[node.id]))
    return Located(identities, found)


def _resolve_identities(
    plan: Plan, connectors: Connectors, found: dict[str, Found], columns: Mapping[str, Sequence[str]]
) -> dict[str, list[object]]:
    """Every identity of the person, each asked of every collection holding its kind once.

    Values found in a collection's rows are asked of the collections after it in the same pass
    (the account row's phone number goes with the e-mail address to the orders), so a second pass
    asks only the collections before it; passes end when one asks nothing.
    """
    known: dict[str, dict[str, object]] = {
        kind: {comparable(kind, value): value for value in values} for kind, values in plan.identities.items()
    }
    # Per collection and kind, the values (as compared) it was asked about.
    asked: dict[tuple[str, str], set[str]] = {}
    for _ in range(MAX_ROUNDS):
        progressed = False
        for node in plan.nodes:
            question: dict[str, list[object]] = {}
            for kind, column in node.spec.identities.items():
                seen = asked.setdefault((node.id, kind), set())
                new = {compared: value for compared, value in known.get(kind, {}).items() if compared not in seen}
                seen.update(new)
                values = _unseen(found[node.id], column, list(new.values()))
                if values:
                    question[kind] = values
            if not question:
                continue
            progressed = True
            rows = connectors[node.system].find(node.name, question, columns[node.id])
            found[node.id].add(rows, identified=True)
            for kind, column in node.spec.identities.items():
                for row in rows:
                    value = row.get(column)
                    if value is not None:
                        known.setdefault(kind, {}).setdefault(comparable(kind, value), value)
        if not progressed:
            break
    return {kind: list(values.values()) for kind, values in known.items()}


def _unseen(found: Found, column: str, values: Sequence[object]) -> list[object]:
    """The values worth asking `column` about: an identity that is the collection's key leads only to rows already found by it."""
    if column != found.key_column:
        return list(values)
    return [value for value in values if as_key(value) not in found.identified]
