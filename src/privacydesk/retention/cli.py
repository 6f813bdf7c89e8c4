"""`privacydesk retention ...`: the dry run, runs (resumed after a crash), the last runs, and legal holds."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID
    from sqlalchemy.orm import Session

    from privacydesk.policy.models import Policy
    from privacydesk.retention.models import LegalHold
    from privacydesk.retention.planner import RulePlan

retention_app = typer.Typer(
    help="Delete or anonymise what has outlived its period; warn before deleting inactive accounts.", no_args_is_help=True
)
hold_app = typer.Typer(help="Legal holds: rows or a person's data kept whatever the policy's periods.", no_args_is_help=True)
retention_app.add_typer(hold_app, name="hold")

PolicyOption = Annotated[
    Path | None, typer.Option("--policy", help="a policy file [default: the latest published version]", show_default=False)
]
RuleOption = Annotated[list[str] | None, typer.Option("--rule", help="only this rule (system.collection or collection); repeat for more")]


@retention_app.command()
def plan(
    policy: PolicyOption = None,
    rule: RuleOption = None,
    at: Annotated[datetime | None, typer.Option(help="plan as of this UTC moment instead of now (YYYY-MM-DD[THH:MM:SS])")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Dry run: per rule, rows due, held, the oldest, the next due date and what would go with them. Changes nothing."""
    from privacydesk.connectors.registry import Connectors
    from privacydesk.db.engine import transaction
    from privacydesk.engine.run import default_context
    from privacydesk.errors import PrivacydeskError
    from privacydesk.retention import service

    moment = (at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at or datetime.now(UTC)).astimezone(UTC)
    try:
        with transaction() as session:
            enforced, version, _ = _policy(session, policy)
            with Connectors(enforced, default_context(enforced)) as pool:
                planned = service.plan(session, enforced, pool, moment, rule or ())
    except PrivacydeskError as exc:
        _fail(exc.message)
    if as_json:
        entries = [vars(entry) for entry in planned]
        typer.echo(json.dumps({"as_of": moment, "policy_version": version, "rules": entries}, default=_iso, indent=2))
        return
    source = f"policy version {version}" if version is not None else str(policy)
    typer.echo(f"retention plan as of {moment:%Y-%m-%d %H:%M} UTC, {source} (dry run: nothing changed)")
    for entry in planned:
        _echo_plan(entry)


def _echo_plan(entry: RulePlan) -> None:
    notice = f", {entry.notice} notice" if entry.notice else ""
    typer.echo(f"  {entry.rule}: {entry.action} {entry.keep} after {entry.start}{notice}")
    if entry.error:
        typer.echo(f"      error: {entry.error}")
        return
    oldest = entry.oldest.date().isoformat() if entry.oldest else "-"
    upcoming = entry.next_due.date().isoformat() if entry.next_due else "-"
    typer.echo(f"      due {entry.due}, held {entry.held}, oldest {oldest}, next due {upcoming}")
    if entry.to_warn is not None:
        typer.echo(f"      to warn {entry.to_warn}, notice running {entry.waiting}, notice run out (deleted) {entry.deletable}")
    if entry.cascade and entry.due:
        typer.echo(f"      deleted with them: the rows referencing them in {', '.join(entry.cascade)}")


@retention_app.command()
def run(
    policy: PolicyOption = None,
    rule: RuleOption = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="rows per batch")] = 10_000,
) -> None:
    """Delete or anonymise what is due, in batches; a run that stopped (crash, error) is resumed where it stopped."""
    from privacydesk.db.engine import transaction
    from privacydesk.errors import PrivacydeskError
    from privacydesk.retention import runner

    try:
        with transaction() as session:
            enforced, version, digest = _policy(session, policy)
        reports = runner.run(
            enforced,
            policy_hash=digest,
            policy_version=version,
            trigger="cli",
            actor=f"cli:{getpass.getuser()}",
            selected=rule or (),
            batch_size=batch_size,
            progress=_Bar() if sys.stderr.isatty() else None,
        )
    except PrivacydeskError as exc:
        _fail(exc.message)
    for report in reports:
        if report.status == "skipped":
            typer.echo(f"  {report.rule}: skipped, {report.error}")
            continue
        counts = (
            f"{report.deleted} deleted, {report.anonymised} anonymised, {report.cascaded} referencing rows with them, {report.held} held"
        )
        counts += f", {report.restricted} kept for a restriction" if report.restricted else ""
        extra = f", {report.noticed} notified, {report.waiting} waiting for their notice" if report.noticed or report.waiting else ""
        line = f"  {report.rule}: run {report.run_id} {report.status}: {counts}{extra} ({report.batches} batches)"
        typer.echo(line + (f"\n      error: {report.error}" if report.error else ""))
    if any(report.status == "failed" for report in reports):
        raise typer.Exit(1)


@retention_app.command()
def runs(
    limit: Annotated[int, typer.Option(min=1, max=500, help="how many")] = 20,
    rule: Annotated[str | None, typer.Option(help="only runs of this rule (system.collection)")] = None,
) -> None:
    """The last rule runs, newest first."""
    from privacydesk.db.engine import transaction
    from privacydesk.retention import service

    with transaction() as session:
        rows = [
            (
                str(run.id),
                run.rule,
                run.status,
                run.trigger,
                run.as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                str(run.batches),
                str(run.deleted),
                str(run.anonymised),
                str(run.cascaded),
                str(run.held),
                str(run.restricted),
                str(run.noticed),
            )
            for run in service.recent(session, limit=limit, rule=rule)
        ]
    if not rows:
        typer.echo("no retention run yet")
        return
    _table(
        ("run", "rule", "status", "trigger", "as_of", "batches", "deleted", "anonymised", "cascaded", "held", "restricted", "noticed"), rows
    )


@hold_app.command("place")
def hold_place(
    reason: Annotated[str, typer.Option(help="why: the case, the authority's request", show_default=False)],
    system: Annotated[str | None, typer.Option(help="a hold on rows: their system")] = None,
    collection: Annotated[str | None, typer.Option(help="a hold on rows: their collection")] = None,
    key: Annotated[list[str] | None, typer.Option("--key", help="a hold on rows: a row key; repeat for more")] = None,
    identity: Annotated[str | None, typer.Option(help="a hold on a person: TYPE=VALUE, like email=a@b.c")] = None,
    until: Annotated[datetime | None, typer.Option(help="when the hold ends (UTC) [default: until released]")] = None,
) -> None:
    """Place a legal hold on rows of a collection, or on everything a person has."""
    from privacydesk.db.engine import transaction
    from privacydesk.errors import PrivacydeskError
    from privacydesk.retention import holds
    from privacydesk.versions import service as versions

    pair = None
    if identity is not None:
        kind, separator, value = identity.partition("=")
        if not separator:
            _fail(f"--identity {identity!r}: write it as TYPE=VALUE")
        pair = (kind, value)
    try:
        with transaction() as session:
            latest = versions.latest(session)
            placed = holds.place(
                session,
                reason=reason,
                actor=f"cli:{getpass.getuser()}",
                system=system,
                collection=collection,
                keys=key or (),
                identity=pair,
                ends_at=until.replace(tzinfo=UTC) if until is not None and until.tzinfo is None else until,
                policy=versions.policy_of(latest) if latest is not None else None,
            )
            number = placed.id
    except PrivacydeskError as exc:
        _fail(exc.message)
    typer.echo(f"placed legal hold {number}")


@hold_app.command("list")
def hold_list(include_ended: Annotated[bool, typer.Option("--all", help="released and ended holds too")] = False) -> None:
    """Legal holds standing now (or all of them), newest first."""
    from privacydesk.db.engine import transaction
    from privacydesk.retention import holds

    with transaction() as session:
        rows = [_hold_row(hold) for hold in holds.listed(session, include_ended=include_ended)]
    if not rows:
        typer.echo("no legal hold")
        return
    _table(("hold", "on", "reason", "placed_by", "placed_at", "ends", "released"), rows)


def _hold_row(hold: LegalHold) -> tuple[str, ...]:
    target = (
        f"{hold.identity_type}={hold.identity_value}"
        if hold.identity_type
        else f"{hold.system}.{hold.collection} {', '.join(hold.keys or [])}"
    )
    ends = hold.ends_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if hold.ends_at else "-"
    released = hold.released_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if hold.released_at else "-"
    return (str(hold.id), target, hold.reason, hold.placed_by, hold.placed_at.astimezone(UTC).strftime("%Y-%m-%d"), ends, released)


@hold_app.command("release")
def hold_release(hold_id: Annotated[int, typer.Argument(help="the hold's number", show_default=False)]) -> None:
    """End a legal hold now; its rows follow the policy again from the next run."""
    from privacydesk.db.engine import transaction
    from privacydesk.errors import PrivacydeskError
    from privacydesk.retention import holds

    try:
        with transaction() as session:
            holds.release(session, hold_id, actor=f"cli:{getpass.getuser()}")
    except PrivacydeskError as exc:
        _fail(exc.message)
    typer.echo(f"released legal hold {hold_id}")


def _policy(session: Session, path: Path | None) -> tuple[Policy, int | None, str]:
    """The policy to enforce, its version number (None for a file) and its digest."""
    from privacydesk.policy.errors import PolicyLoadError
    from privacydesk.policy.loader import load_policy
    from privacydesk.retention import service

    if path is None:
        policy, version = service.published(session)
        return policy, version.number, version.hash
    try:
        loaded = load_policy(path)
    except PolicyLoadError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror}")
    return loaded.policy, None, loaded.version_hash


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    table = [header, *rows]
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    for row in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)


class _Bar:
    """A progress bar per rule on a terminal's standard error."""

    def __init__(self) -> None:
        self._progress: RichProgress | None = None
        self._task: TaskID | None = None

    def begin(self, rule: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True)
        )
        self._progress.start()
        self._task = self._progress.add_task(rule, total=total)

    def advance(self, rows: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, rows)

    def end(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _iso(value: Any) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON")
    return value.isoformat()
