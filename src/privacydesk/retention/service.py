"""Retention as the platform runs it: the published policy, queued runs, recent runs and the dry run. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.connectors.registry import Connectors
from privacydesk.errors import Invalid
from privacydesk.jobs.service import enqueue
from privacydesk.policy.models import Policy
from privacydesk.retention import holds, notices, restricted
from privacydesk.retention.models import RetentionRun
from privacydesk.retention.planner import Moments, Rule, RulePlan, dry_run, rules
from privacydesk.versions import service as versions
from privacydesk.versions.models import PolicyVersion

RUN_TASK = "retention.run_rule"


def published(session: Session) -> tuple[Policy, PolicyVersion]:
    """The latest published policy, which retention enforces when the platform runs it."""
    version = versions.latest(session)
    if version is None:
        raise Invalid("no policy has been published yet: publish one with `privacydesk policy publish`")
    return versions.policy_of(version), version


def queue(session: Session, *, trigger: str, actor: str, selected: Sequence[str] = ()) -> list[str]:
    """Queue one job per rule of the published policy; a rule whose job already waits is not queued twice."""
    policy, version = published(session)
    queued = []
    for rule in rules(policy, selected):
        lock = f"retention:{rule.id}"
        if enqueue(session, RUN_TASK, lock=lock, queueing_lock=lock, rule=rule.id, trigger=trigger, actor=actor) is not None:
            queued.append(rule.id)
    audit.record(
        session,
        actor=actor,
        action="retention.queue",
        object_type="policy_version",
        object_id=str(version.number),
        summary={"rules": queued, "trigger": trigger},
    )
    return queued


def recent(session: Session, *, limit: int = 20, rule: str | None = None) -> list[RetentionRun]:
    """The latest rule runs, newest first."""
    statement = select(RetentionRun).order_by(RetentionRun.id.desc()).limit(limit)
    if rule is not None:
        statement = statement.where(RetentionRun.rule == rule)
    return list(session.scalars(statement))


def plan(session: Session, policy: Policy, connectors: Connectors, now: datetime, selected: Sequence[str] = ()) -> list[RulePlan]:
    """The dry run of the policy's rules at `now`, with standing legal holds and restrictions, and the notices already sent."""
    held = holds.resolve(holds.listed(session, now=now), policy, connectors)
    # The dry run counts rows a restriction keeps among the held ones.
    for node_id, keys in restricted.resolve(restricted.standing(session), policy, connectors).items():
        held.setdefault(node_id, set()).update(keys)

    def people(rule: Rule, at: Moments) -> tuple[int, int, int]:
        assert at.warn is not None
        counts = {"warn": 0, "wait": 0, "delete": 0, "skip": 0}
        legally_held = held.get(rule.id, set())
        connector = connectors[rule.system]
        after = None
        while keys := connector.expired(rule.collection, rule.retention.start, at.warn, after=after, holds=at.holds):
            free = [key for key in keys if str(key) not in legally_held]
            for _, _, verdict in notices.standings(session, rule, connector, free, at):
                counts[verdict] += 1
            after = keys[-1]
        return counts["warn"], counts["wait"], counts["delete"]

    return dry_run(policy, rules(policy, selected), connectors, now, held, people)
