"""A finished request's result: the plan's outline with the counts its steps recorded, and a summary for the audit log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from privacydesk.fulfilment.models import RequestStep


def assemble(outline: dict[str, Any], steps: Sequence[RequestStep]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The result (per collection, what was done; holds with basis and end) and its audit summary (counts only)."""
    done: Counter[tuple[str, str]] = Counter()
    unsupported: dict[str, str] = {}
    delegated: list[dict[str, Any]] = []
    actions: dict[str, Any] = {}
    for step in steps:
        where = f"{step.system}.{step.collection}"
        result = step.result or {}
        if step.action == "delegate":
            delegated.append({key: value for key, value in result.items() if key != "collections"} | {"collections": _counts(result)})
        elif "unsupported" in result:
            unsupported[where] = result["unsupported"]
        elif step.system is None:
            actions[step.action] = result
        else:
            done[(where, step.action)] += step.count
    collections = [_counted(item, done, unsupported) for item in outline.get("collections", [])]
    for answer in delegated:
        collections.extend({"system": answer["system"], "collection": name, **counts} for name, counts in answer["collections"].items())
    result = {"collections": collections, "delegated": delegated, **actions}
    totals: Counter[str] = Counter()
    for item in collections:
        for name in ("exported", "deleted", "anonymised", "held", "kept", "rectified"):
            totals[name] += int(item.get(name) or 0)
    summary = {"steps": len(steps), **{name: count for name, count in totals.items() if count}, **_action_summary(actions)}
    return result, summary


def _counted(item: dict[str, Any], done: Counter[tuple[str, str]], unsupported: dict[str, str]) -> dict[str, Any]:
    """One collection of the outline with the counts its steps recorded in place of the planned ones."""
    where = f"{item['system']}.{item['collection']}"
    counted = dict(item)
    if "erase" in item:  # erasure: deleted and anonymised are what the steps did; held and kept are as planned
        counted["deleted"] = done[(where, "delete")]
        counted["anonymised"] = done[(where, "anonymise")]
        counted["downgraded"] = min(item.get("downgraded", 0), counted["anonymised"])
    elif "columns" in item:
        counted["rectified"] = done[(where, "rectify")]
        counted["unsupported"] = unsupported.get(where, item.get("unsupported"))
    else:
        counted["exported"] = done[(where, "export")]
    return counted


def _counts(answer: dict[str, Any]) -> dict[str, dict[str, int]]:
    """A delegated answer's counts per collection, without the rows it may carry."""
    return {
        name: {key: value for key, value in reported.items() if key != "rows"} | {"exported": len(reported.get("rows", []))}
        for name, reported in answer.get("collections", {}).items()
    }


def _action_summary(actions: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for result in actions.values():
        if "restricted" in result:
            summary["restricted"] = result["restricted"]
        if "withdrawn" in result:
            summary["withdrawn"] = sum(result["withdrawn"].values())
        if result.get("recorded"):
            summary["recorded"] = True
    return summary
