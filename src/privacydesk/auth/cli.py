"""`privacydesk user ...` and `privacydesk token ...`: admin users and API tokens from the command line."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from privacydesk.auth.permissions import Permission, Role

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

user_app = typer.Typer(help="Admin users of the console and the API.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for machine clients.", no_args_is_help=True)


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="sign-in email", show_default=False)],
    name: Annotated[str, typer.Option(help="full name", show_default=False)],
    role: Annotated[Role, typer.Option(help="what the user may do", show_default=False)],
    password_env: Annotated[str | None, typer.Option(metavar="VAR", help="read the password from this environment variable")] = None,
    generate: Annotated[bool, typer.Option("--generate-password", help="generate a password and print it once")] = False,
    exists_ok: Annotated[bool, typer.Option("--exists-ok", help="succeed without changes if the user already exists")] = False,
) -> None:
    """Add an admin user; the password is prompted for unless read from the environment or generated."""
    from privacydesk.auth import service
    from privacydesk.auth.passwords import generate_password
    from privacydesk.errors import NotFound

    if password_env and generate:
        _fail("give either --password-env or --generate-password")
    if exists_ok:
        with _transaction() as session:
            try:
                existing = service.find_user(session, email)
            except NotFound:
                pass
            else:
                typer.echo(f"user {existing.email} already exists; its password is unchanged")
                return
    if password_env:
        password = os.environ.get(password_env) or _fail(f"the environment variable {password_env} is not set")
    elif generate:
        password = generate_password()
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _transaction() as session:
        user = service.create_user(session, email=email, name=name, role=role, password=password, actor=_actor())
        typer.echo(f"created user {user.id}: {user.email} ({user.role})")
    if generate:
        typer.echo(f"password (shown once, store it now): {password}")


@user_app.command("list")
def user_list() -> None:
    """List the admin users."""
    from privacydesk.auth import service

    with _transaction() as session:
        for user in service.list_users(session):
            state = "active" if user.active else "disabled"
            locked = f", locked until {_when(user.locked_until)}" if user.locked_until else ""
            typer.echo(f"{user.id}\t{user.email}\t{user.name}\t{user.role}\t{state}\tlast login {_when(user.last_login_at)}{locked}")


@user_app.command("disable")
def user_disable(email: Annotated[str, typer.Argument(help="the user's email", show_default=False)]) -> None:
    """Stop a user from signing in; their sessions end and their tokens stop working."""
    from privacydesk.auth import service

    with _transaction() as session:
        user = service.disable_user(session, service.find_user(session, email), actor=_actor())
        typer.echo(f"disabled user {user.id}: {user.email}")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="what the token is for", show_default=False)],
    scope: Annotated[list[Permission], typer.Option(help="a permission the token carries (repeat the option)", show_default=False)],
    owner: Annotated[str, typer.Option(metavar="EMAIL", help="the user the token acts for", show_default=False)],
    expires_days: Annotated[int, typer.Option(help="days until it expires")] = 90,
) -> None:
    """Issue a token; it is printed once on standard output and cannot be shown again."""
    from privacydesk.auth import service
    from privacydesk.auth.permissions import permissions_of

    with _transaction() as session:
        user = service.find_user(session, owner)
        grantable = permissions_of(Role(user.role))
        token, secret = service.create_token(
            session, owner=user, name=name, scopes=scope, expires_days=expires_days, grantable=grantable, actor=_actor()
        )
        typer.echo(f"created token {token.id} ({token.prefix}...) for {user.email}, expires {_when(token.expires_at)}", err=True)
    typer.echo(secret)


@token_app.command("list")
def token_list() -> None:
    """List the tokens (prefixes only)."""
    from privacydesk.auth import service
    from privacydesk.db.base import utcnow

    now = utcnow()
    with _transaction() as session:
        for token in service.list_tokens(session):
            state = "revoked" if token.revoked_at else "expired" if token.expires_at <= now else "active"
            typer.echo(
                f"{token.id}\t{token.prefix}...\t{token.name}\t{token.owner.email}\t{','.join(token.scopes)}\t{state}"
                f"\texpires {_when(token.expires_at)}\tlast used {_when(token.last_used_at)}"
            )


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="the token's id (see token list)", show_default=False)]) -> None:
    """Revoke a token: it stops working at once."""
    from privacydesk.auth import service

    with _transaction() as session:
        token = service.revoke_token(session, token_id, actor=_actor())
        typer.echo(f"revoked token {token.id} ({token.prefix}...)")


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


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)
