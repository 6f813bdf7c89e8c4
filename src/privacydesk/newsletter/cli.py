"""`privacydesk newsletter send`: send an issue to every confirmed subscriber whose consent allows it."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

newsletter_app = typer.Typer(help="Newsletters sent only with consent, each mail with a one-click unsubscribe link.", no_args_is_help=True)


@newsletter_app.command("send")
def send(
    purpose: Annotated[str, typer.Option(help="the consent purpose (channel email) whose subscribers receive it", show_default=False)],
    subject: Annotated[str, typer.Option(help="the mail's subject", show_default=False)],
    body: Annotated[Path, typer.Option("--body", help="a UTF-8 text file with the issue's text", show_default=False)],
) -> None:
    """Queue the issue for each subscriber with consent now; the worker delivers them."""
    from privacydesk.db.engine import transaction
    from privacydesk.errors import PrivacydeskError
    from privacydesk.newsletter import service

    try:
        text = body.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"cannot read {body}: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        with transaction() as session:
            sent = service.send_newsletter(session, purpose, subject, text, actor=f"cli:{getpass.getuser()}")
    except PrivacydeskError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"queued {sent} mail(s) for {purpose}")
