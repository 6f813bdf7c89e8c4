"""Running a request end to end: check the systems, locate the person's rows, decide, execute the steps.

The building blocks (`prepare`, `decide`, the step builders, `execute`, the `*_result`
functions) are public so that a durable runner can persist the steps, execute them one by one
across restarts and assemble the same result from the outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from datetime import UTC, datetime

from privacydesk.connectors.base import ConnectorContext, Delegated, Key, SchemaProblem, Unsupported
from privacydesk.connectors.registry import Connectors
from privacydesk.connectors.values import LOCALES
from privacydesk.engine.decide import Decision, decide, held_keys
from privacydesk.engine.locate import Located, locate
from privacydesk.engine.plan import Plan, plan_request
from privacydesk.engine.results import (
    AccessResult,
    CollectionAccess,
    CollectionErasure,
    CollectionRectification,
    ErasureResult,
    RectificationResult,
    Value,
)
from privacydesk.engine.steps import Outcome, Step, delegation_steps, erasure_steps, execute, export_steps, rectification_steps
from privacydesk.errors import Invalid
from privacydesk.policy.models import Policy

# Called before each step with the step, its position (from 0) and the number of steps.
Progress = Callable[[Step, int, int], None]


class SchemaMismatch(Invalid):
    """The live systems do not match the policy: nothing was changed."""

    def __init__(self, problems: Sequence[SchemaProblem]) -> None:
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(
            f"the systems do not match the policy, so nothing was done:\n{lines}", details={"problems": [str(p) for p in problems]}
        )
        self.problems = list(problems)


def default_context(policy: Policy) -> ConnectorContext:
    """The platform's secret key, and fake values in the policy's first language."""
    from privacydesk.auth.keys import signing_key

    return ConnectorContext(secret=signing_key(), locale=LOCALES.get(policy.organization.languages[0], "en_GB"))


@contextmanager
def _pool(policy: Policy, connectors: Connectors | None, context: ConnectorContext | None) -> Iterator[Connectors]:
    if connectors is not None:  # the caller's: it closes them
        yield connectors
        return
    with Connectors(policy, context or default_context(policy)) as pool:
        yield pool


def prepare(plan: Plan, connectors: Connectors, *, every_column: bool = False) -> Located:
    """Check every system of the plan against the policy (SchemaMismatch on errors), then locate the person's rows (whole with `every_column`)."""
    problems = [
        problem
        for system in (*plan.row_systems, *plan.delegated)
        for problem in connectors[system].discover()
        if problem.severity == "error" and (problem.collection is None or f"{system}.{problem.collection}" not in plan.unreachable)
    ]
    if problems:
        raise SchemaMismatch(problems)
    return locate(plan, connectors, every_column=every_column)


def run_steps(plan: Plan, steps: Sequence[Step], connectors: Connectors, *, progress: Progress | None = None) -> list[Outcome]:
    """Execute steps in order."""
    outcomes = []
    for index, step in enumerate(steps):
        if progress:
            progress(step, index, len(steps))
        outcomes.append(execute(plan, step, connectors))
    return outcomes


# ---------------------------------------------------------------- access
def run_access(
    policy: Policy,
    identities: Mapping[str, str | Iterable[str]],
    *,
    reference: str | None = None,
    connectors: Connectors | None = None,
    context: ConnectorContext | None = None,
    progress: Progress | None = None,
) -> AccessResult:
    """Export every row of the person, each value annotated with its data category."""
    plan = plan_request(policy, "access", identities, reference=reference)
    with _pool(policy, connectors, context) as pool:
        located = prepare(plan, pool)
        keys = {node_id: list(found.rows) for node_id, found in located.found.items()}
        steps = [*export_steps(plan, keys), *delegation_steps(plan, located.identities)]
        return access_result(plan, located, run_steps(plan, steps, pool, progress=progress))


def access_result(plan: Plan, located: Located, outcomes: Iterable[Outcome]) -> AccessResult:
    """The export assembled from the outcomes of export and delegation steps."""
    collections: dict[str, CollectionAccess] = {}
    result = AccessResult(located.identities)
    for node in plan.nodes:
        if located.found[node.id].rows:
            collections[node.id] = CollectionAccess(node.system, node.name)
    for outcome in outcomes:
        step = outcome.step
        if outcome.delegated is not None:
            result.delegated.append(outcome.delegated)
            for name, reported in outcome.delegated.collections.items():
                target = collections.setdefault(f"{step.system}.{name}", CollectionAccess(step.system, name))
                target.rows.extend(_annotate(plan, step.system, name, row) for row in reported.rows)
            continue
        target = collections[f"{step.system}.{step.collection}"]
        for exported in outcome.exported:
            target.rows.append(_annotate(plan, step.system, step.collection or "", exported.values))
            if exported.attachment is not None:
                target.files.append(exported.attachment)
    result.collections = list(collections.values())
    return result


def _annotate(plan: Plan, system: str, collection: str, row: Mapping[str, object]) -> dict[str, Value]:
    spec = plan.policy.systems[system].collections.get(collection)
    fields = spec.fields if spec is not None else {}
    return {column: Value(value, fields[column].category if column in fields else None) for column, value in row.items()}


# ---------------------------------------------------------------- erasure
def run_erasure(
    policy: Policy,
    identities: Mapping[str, str | Iterable[str]],
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    language: str = "en",
    reference: str | None = None,
    connectors: Connectors | None = None,
    context: ConnectorContext | None = None,
    progress: Progress | None = None,
) -> ErasureResult:
    """Delete or anonymise every row of the person, except what legal holds keep; a dry run only counts."""
    plan = plan_request(policy, "erasure", identities, reference=reference)
    moment = now or datetime.now(UTC)
    with _pool(policy, connectors, context) as pool:
        located = prepare(plan, pool)
        decisions = decide(plan, located, moment, language=language)
        if dry_run:
            return erasure_result(plan, located, decisions, None)
        steps = [*erasure_steps(plan, decisions), *delegation_steps(plan, located.identities)]
        return erasure_result(plan, located, decisions, run_steps(plan, steps, pool, progress=progress))


def erasure_result(plan: Plan, located: Located, decisions: Mapping[str, Decision], outcomes: Iterable[Outcome] | None) -> ErasureResult:
    """Counts per collection: planned when `outcomes` is None (dry run), else what the steps did."""
    done: dict[tuple[str, str], int] = {}
    delegated: list[Delegated] = []
    for outcome in outcomes or ():
        if outcome.delegated is not None:
            delegated.append(outcome.delegated)
        else:
            key = (f"{outcome.step.system}.{outcome.step.collection}", outcome.step.action)
            done[key] = done.get(key, 0) + outcome.count
    result = ErasureResult(located.identities, dry_run=outcomes is None, delegated=delegated)
    for node in plan.children_first():
        decision = decisions[node.id]
        found = len(located.found[node.id].rows)
        item = CollectionErasure(
            node.system, node.name, node.spec.erase or "delete", found, kept=len(decision.keep), held=len(decision.held)
        )
        item.holds = decision.holds
        if outcomes is None:
            item.deleted, item.anonymised, item.downgraded = len(decision.delete), len(decision.anonymise), decision.downgraded
        else:
            item.deleted, item.anonymised = done.get((node.id, "delete"), 0), done.get((node.id, "anonymise"), 0)
            item.downgraded = min(decision.downgraded, item.anonymised)
        result.collections.append(item)
    for answer in delegated:
        for name, reported in answer.collections.items():
            spec = plan.policy.systems[answer.system].collections.get(name)
            erase = (spec.erase if spec is not None else None) or "delete"
            result.collections.append(
                CollectionErasure(answer.system, name, erase, deleted=reported.deleted, anonymised=reported.anonymised, held=reported.held)
            )
    return result


# ---------------------------------------------------------------- rectification
def run_rectification(
    policy: Policy,
    identities: Mapping[str, str | Iterable[str]],
    corrections: Mapping[str, str],
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    reference: str | None = None,
    connectors: Connectors | None = None,
    context: ConnectorContext | None = None,
    progress: Progress | None = None,
) -> RectificationResult:
    """Set the corrected value (by category id) on every column declared with that category, in the person's rows."""
    plan = plan_request(policy, "rectification", identities, corrections=corrections, reference=reference)
    moment = now or datetime.now(UTC)
    with _pool(policy, connectors, context) as pool:
        located = prepare(plan, pool)
        (identified, linked), result = rectifiable(plan, located, moment, dry_run)
        if dry_run:
            return result
        steps = [*rectification_steps(plan, identified, linked), *delegation_steps(plan, located.identities)]
        by_id = {(item.system, item.collection): item for item in result.collections}
        for index, step in enumerate(steps):
            if progress:
                progress(step, index, len(steps))
            try:
                outcome = execute(plan, step, pool)
            except Unsupported as exc:
                by_id[(step.system, step.collection or "")].unsupported = exc.message
                continue
            if outcome.delegated is not None:
                result.delegated.append(outcome.delegated)
                result.collections.extend(
                    CollectionRectification(step.system, name, [], reported.rectified)
                    for name, reported in outcome.delegated.collections.items()
                )
            else:
                by_id[(step.system, step.collection or "")].rectified += outcome.count
        return result


def rectifiable(
    plan: Plan, located: Located, now: datetime, dry_run: bool, *, also_held: Mapping[str, AbstractSet[Key]] | None = None
) -> tuple[tuple[dict[str, list[Key]], dict[str, list[Key]]], RectificationResult]:
    """The keys to correct per node, matched by an identity and linked only (held rows left as they are), and the result to fill.

    `also_held` adds held keys per node id (staff legal holds), as for `decide`.
    """
    identified: dict[str, list[Key]] = {}
    linked: dict[str, list[Key]] = {}
    result = RectificationResult(located.identities, dry_run)
    for node in plan.nodes:
        columns = [column for column, spec in node.spec.fields.items() if spec.category in plan.corrections]
        found = located.found[node.id]
        if not columns or not found.rows:
            continue
        held, _ = held_keys(node, found.rows, now)
        held |= (also_held or {}).get(node.id, set())
        identified[node.id] = [key for key in found.rows if key not in held and key in found.identified]
        linked[node.id] = [key for key in found.rows if key not in held and key not in found.identified]
        planned = len(found.rows) - len(held) if dry_run else 0
        result.collections.append(CollectionRectification(node.system, node.name, columns, planned, len(held)))
    return (identified, linked), result
