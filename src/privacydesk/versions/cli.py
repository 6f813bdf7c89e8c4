"""`privacydesk policy ...`: publish versions, list them, compare them."""

from __future__ import annotations

import getpass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from privacydesk.policy.loader import LoadedPolicy
    from privacydesk.policy.models import Policy

policy_app = typer.Typer(help="Publish policy versions and compare them.", no_args_is_help=True)


@policy_app.command()
def publish(
    policy: Annotated[Path, typer.Argument(help="the policy file", show_default=False)],
    effective: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="date the version takes effect [default: organization.effective]")
    ] = None,
    publisher: Annotated[str | None, typer.Option(help="who publishes, for the audit log [default: cli:<login>]")] = None,
) -> None:
    """Validate, lint and store the policy as the next version (unless nothing changed)."""
    from privacydesk.db.engine import transaction
    from privacydesk.versions import service

    loaded = _load_or_exit(policy)
    try:
        with transaction() as session:
            result = service.publish(
                session, loaded, publisher=publisher or f"cli:{getpass.getuser()}", effective=effective.date() if effective else None
            )
    except service.PolicyRejected as exc:
        _fail("\n".join([*exc.lines, exc.message]))
    for warning in result.warnings:
        typer.echo(f"{warning.position}: warning {warning.rule_id} {warning.name}: {warning.path}: {warning.message}", err=True)
    version = result.version
    if not result.created:
        typer.echo(f"unchanged: the content equals version {version.number} ({version.hash[:12]}); nothing published")
        return
    typer.echo(f"published version {version.number} ({version.hash[:12]}), effective {version.effective.isoformat()}")
    if result.diff is not None:
        typer.echo("\n".join(result.diff.lines()))
        typer.echo(f"{len(result.diff.material)} material change(s)")


@policy_app.command()
def versions() -> None:
    """List the published versions, oldest first."""
    from privacydesk.db.engine import transaction
    from privacydesk.versions import service

    with transaction() as session:
        rows = [
            (str(v.number), v.hash[:12], v.effective.isoformat(), v.publisher, v.published_at.isoformat(timespec="seconds"))
            for v in service.list_versions(session)
        ]
    if not rows:
        typer.echo("no version published yet")
        return
    table = [("number", "hash", "effective", "publisher", "published_at"), *rows]
    widths = [max(len(row[column]) for row in table) for column in range(5)]
    for row in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@policy_app.command()
def diff(
    old: Annotated[str, typer.Argument(help="a version number, or a policy file", show_default=False)],
    new: Annotated[str, typer.Argument(help="a version number, or a policy file to preview its publishing", show_default=False)],
) -> None:
    """Show what changed between two versions (or a version and a file), material changes marked."""
    from privacydesk.db.engine import transaction
    from privacydesk.versions.diff import diff_policies

    if old.isdigit() or new.isdigit():
        with transaction() as session:
            result = diff_policies(_resolve(old, session), _resolve(new, session))
    else:
        result = diff_policies(_load_or_exit(Path(old)).policy, _load_or_exit(Path(new)).policy)
    typer.echo("\n".join(result.lines()))


def _resolve(reference: str, session: Session) -> Policy:
    """A stored version's policy for a number, else the policy in the file it names."""
    from privacydesk.errors import NotFound
    from privacydesk.versions import service

    if not reference.isdigit():
        return _load_or_exit(Path(reference)).policy
    try:
        return service.policy_of(service.get(session, int(reference)))
    except NotFound as exc:
        _fail(exc.message)


def _load_or_exit(path: Path) -> LoadedPolicy:
    from privacydesk.policy.errors import PolicyLoadError
    from privacydesk.policy.loader import load_policy

    try:
        return load_policy(path)
    except PolicyLoadError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)
