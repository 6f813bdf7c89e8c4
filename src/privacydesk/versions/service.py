"""Publish, list and compare policy versions. Functions take the session and never commit."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.db.base import utcnow
from privacydesk.errors import Invalid, NotFound
from privacydesk.policy.errors import PolicyLoadError, Position
from privacydesk.policy.lint import Finding, lint
from privacydesk.policy.loader import LoadedPolicy, load_policy
from privacydesk.policy.models import Policy
from privacydesk.versions.diff import PolicyDiff, diff_policies
from privacydesk.versions.models import PolicyEvent, PolicyVersion


class PolicyRejected(Invalid):
    """The policy does not load, or the linter finds errors in it: nothing was published."""

    def __init__(self, message: str, lines: list[str], *, details: dict[str, object]) -> None:
        super().__init__(message, details=details)
        self.lines = lines


@dataclass(frozen=True)
class Published:
    """The outcome of a publish: the version, whether it is new, and what changed."""

    version: PolicyVersion
    created: bool
    # Versus the previous version; None for the first version or when nothing changed.
    diff: PolicyDiff | None
    warnings: list[Finding]


def publish(session: Session, loaded: LoadedPolicy, *, publisher: str, effective: date | None = None) -> Published:
    """Store `loaded` as the next version unless the latest version has the same content."""
    base = loaded.files[0].parent
    findings = [_relative(finding, base) for finding in lint(loaded)]
    errors = [finding for finding in findings if finding.severity == "error"]
    if errors:
        raise PolicyRejected(
            f"the linter found {len(errors)} error(s); fix them before publishing",
            [_finding_line(finding) for finding in errors],
            details={"findings": [finding.as_dict() for finding in errors]},
        )
    warnings = [finding for finding in findings if finding.severity != "error"]
    # Serialises publishers (SELECT still runs): the next number is read and taken under the lock.
    session.execute(text("LOCK TABLE policy_versions IN SHARE ROW EXCLUSIVE MODE"))
    previous = latest(session)
    digest = loaded.version_hash
    if previous is not None and previous.hash == digest:
        return Published(previous, created=False, diff=None, warnings=warnings)
    version = PolicyVersion(
        number=previous.number + 1 if previous else 1,
        hash=digest,
        policy=loaded.policy.model_dump(mode="json", by_alias=True),
        sources=read_sources(loaded),
        effective=effective or loaded.policy.organization.effective,
        publisher=publisher,
        published_at=utcnow(),
    )
    session.add(version)
    session.flush()
    diff = diff_policies(policy_of(previous), loaded.policy) if previous else None
    material = diff.material if diff else []
    if material:
        session.add(
            PolicyEvent(kind="material_change", version_id=version.id, changes=[change.model_dump(mode="json") for change in material])
        )
    audit.record(
        session,
        actor=publisher,
        action="policy.publish",
        object_type="policy_version",
        object_id=str(version.number),
        summary={
            "hash": digest,
            "effective": version.effective.isoformat(),
            "changes": len(diff.changes) if diff else 0,
            "material": len(material),
            "warnings": len(warnings),
        },
    )
    return Published(version, created=True, diff=diff, warnings=warnings)


def latest(session: Session) -> PolicyVersion | None:
    """The most recently published version, if any."""
    return session.scalars(select(PolicyVersion).order_by(PolicyVersion.number.desc()).limit(1)).first()


def list_versions(session: Session) -> list[PolicyVersion]:
    """Every version, oldest first."""
    return list(session.scalars(select(PolicyVersion).order_by(PolicyVersion.number)))


def get(session: Session, number: int) -> PolicyVersion:
    """The version with this number."""
    version = session.scalars(select(PolicyVersion).where(PolicyVersion.number == number)).first()
    if version is None:
        raise NotFound(f"there is no policy version {number}")
    return version


def policy_of(version: PolicyVersion) -> Policy:
    """The policy a version stores."""
    return Policy.model_validate(version.policy)


def diff_versions(session: Session, old: int, new: int) -> PolicyDiff:
    """What changed from version `old` to version `new`."""
    return diff_policies(policy_of(get(session, old)), policy_of(get(session, new)))


def read_sources(loaded: LoadedPolicy) -> list[dict[str, str]]:
    """The texts of the files a policy was loaded from, named relative to the main file."""
    base = loaded.files[0].parent
    sources: dict[str, str] = {}
    for path in loaded.files:
        sources.setdefault(os.path.relpath(path, base), path.read_text(encoding="utf-8"))
    return [{"name": name, "text": content} for name, content in sources.items()]


@contextmanager
def load_text(content: str, filename: str = "policy.yaml") -> Iterator[LoadedPolicy]:
    """Load a policy given as text (an upload); errors name `filename`, not a temporary path."""
    with tempfile.TemporaryDirectory(prefix="privacydesk-") as directory:
        path = Path(directory) / filename
        path.write_text(content, encoding="utf-8")
        try:
            loaded = load_policy(path)
        except PolicyLoadError as exc:
            raise load_rejected(exc, Path(directory)) from None
        # The files must exist while the caller publishes: their texts are stored.
        yield loaded


def load_rejected(exc: PolicyLoadError, base: Path) -> PolicyRejected:
    """A load failure as a domain error, file names relative to `base`."""
    errors = [replace(error, position=_relative_position(error.position, base)) for error in exc.errors]
    problems: list[object] = [
        {"file": e.position.file, "line": e.position.line, "column": e.position.column, "path": e.path, "message": e.message}
        for e in errors
    ]
    return PolicyRejected("the policy does not load", [str(error) for error in errors], details={"errors": problems})


def _relative_position(position: Position, base: Path) -> Position:
    return replace(position, file=os.path.relpath(position.file, base))


def _relative(finding: Finding, base: Path) -> Finding:
    return replace(finding, position=_relative_position(finding.position, base))


def _finding_line(finding: Finding) -> str:
    return f"{finding.position}: {finding.severity} {finding.rule_id} {finding.name}: {finding.path}: {finding.message}"
