"""Retention jobs: every rule of the published policy queued daily, one job per rule run, and keep-link activity updates."""

from __future__ import annotations

import logging

from privacydesk.connectors.base import Key
from privacydesk.connectors.registry import Connectors
from privacydesk.db.engine import transaction
from privacydesk.engine.run import default_context
from privacydesk.errors import Invalid
from privacydesk.jobs.app import PATIENT_RETRY, STANDARD_RETRY, app
from privacydesk.retention import notices, runner, service
from privacydesk.retention.models import RetentionNotice
from privacydesk.retention.planner import rules

logger = logging.getLogger(__name__)


class RuleRunFailed(RuntimeError):
    """A rule run stopped on an error; the job is retried and resumes it."""


@app.periodic(cron="17 2 * * *")
@app.task(name="retention.schedule", queueing_lock="retention.schedule", retry=STANDARD_RETRY)
def schedule(timestamp: int) -> None:
    """Queue a run of every rule of the published policy (daily)."""
    with transaction() as session:
        try:
            service.queue(session, trigger="schedule", actor="system")
        except Invalid as exc:  # nothing published yet: nothing to enforce
            logger.info("retention not scheduled: %s", exc.message)


@app.task(name=service.RUN_TASK, retry=PATIENT_RETRY)
def run_rule(rule: str, trigger: str, actor: str) -> None:
    """Run (or resume) one rule against the systems of the latest published policy."""
    with transaction() as session:
        policy, version = service.published(session)
    try:
        reports = runner.run(policy, policy_hash=version.hash, policy_version=version.number, trigger=trigger, actor=actor, selected=[rule])
    except Invalid as exc:  # the rule left the policy since it was queued
        logger.info("retention rule %s not run: %s", rule, exc.message)
        return
    for report in reports:
        if report.status == "failed":
            raise RuleRunFailed(f"retention rule {report.rule} failed (run {report.run_id}): {report.error}")


@app.task(name=notices.KEEP_TASK, retry=PATIENT_RETRY)
def keep_activity(notice_id: int, key: Key) -> None:
    """Write a keep-link click into the row's activity column (the click already counts; this tells the application)."""
    with transaction() as session:
        notice = session.get(RetentionNotice, notice_id)
        if notice is None or notice.kept_at is None:
            return
        kept_at, rule_id = notice.kept_at, notice.rule
        policy, _ = service.published(session)
    rule = next((rule for rule in rules(policy) if rule.id == rule_id), None)
    if rule is None:
        return
    with Connectors(policy, default_context(policy)) as pool:
        notices.touch(pool[rule.system], rule, key, kept_at)
