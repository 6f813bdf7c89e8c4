"""`privacydesk requests ...`: list, approve, reject and extend requests, send due reminders, show OpenDSR keys."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from privacydesk.requests.models import RequestStatus, RequestType

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

requests_app = typer.Typer(help="Data-subject requests: follow them, decide on them, keep their deadlines.", no_args_is_help=True)
RequestId = Annotated[int, typer.Argument(help="the request's id (see requests list)", show_default=False)]


@requests_app.command("list")
def list_requests(
    status: Annotated[RequestStatus | None, typer.Option(help="only requests in this state")] = None,
    request_type: Annotated[RequestType | None, typer.Option("--type", help="only requests of this type")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="only open requests past their due day")] = False,
) -> None:
    """List requests, the earliest due first."""
    from privacydesk.requests import deadlines, service

    with _transaction() as session:
        found = service.list_requests(session, status=status, request_type=request_type, overdue=overdue, limit=10_000)
        rows = [
            (
                str(r.id),
                r.reference,
                r.type.value,
                r.status.value,
                r.channel.value,
                r.due_on.isoformat(),
                "overdue" if deadlines.is_overdue(r) else "",
            )
            for r in found
        ]
    if not rows:
        typer.echo("no request")
        return
    table = [("id", "reference", "type", "status", "channel", "due_on", ""), *rows]
    widths = [max(len(row[column]) for row in table) for column in range(7)]
    for row in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@requests_app.command()
def approve(request_id: RequestId, note: Annotated[str | None, typer.Option(help="kept with the request's history")] = None) -> None:
    """Approve a request awaiting approval; its execution is queued."""
    from privacydesk.requests import service

    with _transaction() as session:
        service.approve(session, service.get(session, request_id, lock=True), actor=_actor(), note=note)
    typer.echo(f"approved request {request_id}")


@requests_app.command()
def reject(request_id: RequestId, reason: Annotated[str, typer.Option(help="why (the person must be told)", show_default=False)]) -> None:
    """Refuse a request before its execution."""
    from privacydesk.requests import service

    with _transaction() as session:
        mailed = service.reject(session, service.get(session, request_id, lock=True), actor=_actor(), reason=reason)
    told = "the person is mailed the reason" if mailed else "the request names no e-mail address: tell the person another way"
    typer.echo(f"rejected request {request_id}; {told}")


@requests_app.command()
def extend(
    request_id: RequestId,
    months: Annotated[int, typer.Option(min=1, max=2, help="how many more months", show_default=False)],
    reason: Annotated[str, typer.Option(help="why; the person is told", show_default=False)],
) -> None:
    """Extend the due date by one or two months (GDPR Art. 12(3)); the person is told by mail."""
    from privacydesk.requests import deadlines, service

    with _transaction() as session:
        request = service.get(session, request_id, lock=True)
        mailed = deadlines.extend(session, request, months=months, reason=reason, actor=_actor())
        due_on = request.due_on
    typer.echo(f"request {request_id} is now due on {due_on.isoformat()}")
    if not mailed:
        typer.echo("the request names no email address: tell the person of the extension and its reason another way", err=True)


@requests_app.command()
def remind() -> None:
    """Send the due-date reminders now (the worker also does it every hour)."""
    from privacydesk.requests import deadlines
    from privacydesk.versions import service as versions

    with _transaction() as session:
        version = versions.latest(session)
        if version is None:
            _fail("no policy is published yet")
        sent = deadlines.send_reminders(session, versions.policy_of(version))
    typer.echo(f"{sent} reminder(s) queued")


@requests_app.command("opendsr-key")
def opendsr_key(
    token_id: Annotated[int, typer.Argument(help="the OpenDSR client's token id (see token list)", show_default=False)],
) -> None:
    """Print the key an OpenDSR client checks our signatures with (hex), to hand over with its token."""
    from privacydesk.requests.callbacks import client_key

    typer.echo(client_key(token_id).hex())


@contextmanager
def _transaction() -> Iterator[Session]:
    """A transaction whose domain errors end the command with their message."""
    from privacydesk.db.engine import transaction
    from privacydesk.errors import PrivacydeskError

    try:
        with transaction() as session:
            yield session
    except PrivacydeskError as exc:
        _fail(exc.message)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)
