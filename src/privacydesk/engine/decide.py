"""What erasure does to each row: delete, anonymise, keep, or hold (Art. 17(3)) until a legal period ends.

A row is held while now < row[hold.from] + hold.keep for any of its collection's holds; a row
whose start is still empty (an open warranty case, an unpaid invoice) is held with no end yet.
Held rows are neither deleted nor anonymised. Rows are decided children first, and a row that
would be deleted while a held, kept or anonymised row still references it is anonymised instead
(with its fields' strategies): foreign keys stay valid and the parent row no longer identifies
the person.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime

from privacydesk.connectors.base import FieldStrategy, Key, Row, key_order, naive_utc
from privacydesk.engine.locate import Located
from privacydesk.engine.plan import Node, Plan
from privacydesk.policy.models import Hold, Policy


@dataclass
class HoldReport:
    """One hold of one collection: how many of the person's rows it keeps, why, and until when."""

    name: str
    basis: str | None
    law: str | None
    keep: str
    start: str
    rows: int = 0
    # The latest end among the held rows whose period has started.
    until: datetime | None = None
    # Rows whose start is still empty: held, with no end date yet.
    open_rows: int = 0


@dataclass
class Decision:
    """The fate of one collection's rows of the person."""

    delete: list[Key] = field(default_factory=list)
    anonymise: list[Key] = field(default_factory=list)
    # Of the anonymised rows: those the policy would delete, anonymised because a kept row references them.
    downgraded: int = 0
    keep: list[Key] = field(default_factory=list)
    held: list[Key] = field(default_factory=list)
    holds: list[HoldReport] = field(default_factory=list)


def held_keys(
    node: Node, rows: Mapping[Key, Row], now: datetime, *, language: str = "en", fallback: tuple[str, ...] = ()
) -> tuple[set[Key], list[HoldReport]]:
    """The keys of rows under a running hold, and one report per hold of the collection that keeps any row."""
    held: set[Key] = set()
    reports: list[HoldReport] = []
    moment = naive_utc(now)
    for hold in node.spec.holds:
        report = _report(hold, language, fallback)
        for key, row in rows.items():
            start = row.get(hold.start)
            if start is None:
                report.open_rows += 1
            else:
                end = naive_utc(hold.keep.after(naive_utc(start)))
                if moment >= end:
                    continue
                report.until = max(report.until or end, end)
            report.rows += 1
            held.add(key)
        if report.rows:
            reports.append(report)
    return held, reports


def decide(
    plan: Plan, located: Located, now: datetime, *, language: str = "en", also_held: Mapping[str, AbstractSet[Key]] | None = None
) -> dict[str, Decision]:
    """The fate of every row found, by node id, deciding children before parents; `also_held` adds held keys per node id."""
    fallback = plan.policy.text_languages()
    # (parent node id, parent column) → values still referenced by rows that stay.
    still_referenced: dict[tuple[str, str], set[object]] = {}
    decisions: dict[str, Decision] = {}
    for node in plan.children_first():
        found = located.found[node.id]
        held, reports = held_keys(node, found.rows, now, language=language, fallback=fallback)
        held |= (also_held or {}).get(node.id, set())
        decision = Decision(holds=reports)
        erase = node.spec.erase or "delete"
        for key in sorted(found.rows, key=key_order):
            row = found.rows[key]
            if key in held:
                decision.held.append(key)
            elif erase == "keep":
                decision.keep.append(key)
            elif erase == "anonymise":
                decision.anonymise.append(key)
            elif any(row.get(column) in values for (parent, column), values in still_referenced.items() if parent == node.id):
                decision.anonymise.append(key)
                decision.downgraded += 1
            else:
                decision.delete.append(key)
        deleted = set(decision.delete)
        for edge in node.parents:
            staying = {row[edge.column] for key, row in found.rows.items() if key not in deleted and row.get(edge.column) is not None}
            still_referenced.setdefault((f"{node.system}.{edge.parent}", edge.target), set()).update(staying)
        decisions[node.id] = decision
    return decisions


def strategies(node: Node, policy: Policy) -> dict[str, FieldStrategy]:
    """How each declared field of the collection is anonymised."""
    return {
        column: FieldStrategy(spec.erase, spec.value, policy.data[spec.category].dpv if spec.category in policy.data else None)
        for column, spec in node.spec.fields.items()
    }


def _report(hold: Hold, language: str, fallback: tuple[str, ...]) -> HoldReport:
    return HoldReport(
        name=hold.name,
        basis=hold.basis,
        law=hold.law.get(language, fallback) if hold.law is not None else None,
        keep=str(hold.keep),
        start=hold.start,
    )
