"""`privacydesk mail`: outbound mail."""

from __future__ import annotations

from typing import Annotated

import typer

from privacydesk.i18n import LANGUAGES

mail_app = typer.Typer(help="Outbound mail (SMTP, PRIVACYDESK_SMTP_*).", no_args_is_help=True)


@mail_app.command("test")
def mail_test(
    to: Annotated[str, typer.Option("--to", help="recipient address", show_default=False)],
    lang: Annotated[str, typer.Option("--lang", "-l", help=f"language: {', '.join(LANGUAGES)}")] = "en",
) -> None:
    """Queue a short test message; a worker sends it (and retries while the SMTP server is unreachable)."""
    from privacydesk.db.engine import transaction
    from privacydesk.errors import Invalid
    from privacydesk.mail.service import queue_mail

    try:
        with transaction() as session:
            mail = queue_mail(session, to=to, template="test", language=lang)
    except Invalid as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"queued mail {mail.id} to {to} ({lang})")
