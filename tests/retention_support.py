"""Helpers for the retention tests: demo databases on each server, runs at a given moment, hand-written SQL, the audit log."""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, bindparam, create_engine, select, text

from privacydesk.audit.models import AuditEntry
from privacydesk.db.engine import transaction
from privacydesk.policy.loader import load_policy
from privacydesk.policy.models import Policy
from privacydesk.retention import runner
from privacydesk.retention.models import RetentionRun
from privacydesk.versions import service as versions

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "examples"))
import appkit

BACKENDS = [
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]
# Three weeks after the demo data's "now" (2026-11-01): alarms of October are past their 7 days.
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
# Three days after it: the alarms and API calls of the data's last days are still within their 7 days.
SOON = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
LOCALES = {"imou": "pl_PL", "registratura": "ro_RO"}
ENV = {"imou": "IMOU_DB_URL", "registratura": "REGISTRATURA_DB_URL"}


def demo(example: str, request: pytest.FixtureRequest, backend: str, monkeypatch: pytest.MonkeyPatch, *, users: int = 300) -> Engine:
    """The example's demo database on a fresh database of `backend`, its policy's env variable pointing at it."""
    url: str = request.getfixturevalue(f"{backend}_url")
    module = appkit.load_generator(example)
    engine = create_engine(url)
    appkit.build(engine, module.metadata, module.generate, users=users, locale=LOCALES[example])
    monkeypatch.setenv(ENV[example], url)
    request.addfinalizer(engine.dispose)
    return engine


@cache
def policy(example: str) -> Policy:
    """The example's policy."""
    return load_policy(ROOT / "examples" / example / "policy.yaml").policy


def edited_policy(example: str, tmp_path: Path, collection: str, retention: dict[str, Any]) -> Policy:
    """The example's policy with one collection's retention replaced."""
    data = yaml.safe_load((ROOT / "examples" / example / "policy.yaml").read_text(encoding="utf-8"))
    system = next(iter(data["systems"].values()))
    system["collections"][collection]["retention"] = retention
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_policy(path).policy


def run(enforced: Policy, now: datetime, *rules: str, batch_size: int = 50) -> dict[str, runner.Report]:
    """Run the rules (all when none is named) at `now`, by rule id."""
    digest = hashlib.sha256(enforced.model_dump_json().encode()).hexdigest()
    reports = runner.run(
        enforced, policy_hash=digest, policy_version=None, trigger="cli", actor="test", selected=rules, now=now, batch_size=batch_size
    )
    return {report.rule: report for report in reports}


def naive(moment: datetime) -> datetime:
    """A moment as the demo databases store it: naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def ids(engine: Engine, sql: str, **parameters: Any) -> set[Any]:
    """The first column of a hand-written query; list and set parameters expand into IN lists."""
    return {row[0] for row in rows(engine, sql, **parameters)}


def rows(engine: Engine, sql: str, **parameters: Any) -> list[Any]:
    """Every row of a hand-written query; list and set parameters expand into IN lists."""
    with engine.connect() as connection:
        return list(connection.execute(*_bound(sql, parameters)))


def _bound(sql: str, parameters: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    statement = text(sql).bindparams(
        *(bindparam(name, expanding=True) for name, value in parameters.items() if isinstance(value, set | list))
    )
    return statement, {name: sorted(value) if isinstance(value, set) else value for name, value in parameters.items()}


def runs_of(rule: str) -> list[RetentionRun]:
    """The runs of a rule, oldest first."""
    with transaction() as session:
        return list(session.scalars(select(RetentionRun).where(RetentionRun.rule == rule).order_by(RetentionRun.id)))


def audit_of(action: str, run_id: int | None = None) -> list[dict[str, Any]]:
    """Summaries of the audit entries with this action (of one run if given), oldest first."""
    with transaction() as session:
        statement = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        if run_id is not None:
            statement = statement.where(AuditEntry.object_id == str(run_id))
        return [entry.summary for entry in session.scalars(statement)]


def publish(example: str) -> None:
    """Publish the example's policy: the platform's jobs enforce the latest published version."""
    with transaction() as session:
        versions.publish(session, load_policy(ROOT / "examples" / example / "policy.yaml"), publisher="test")
