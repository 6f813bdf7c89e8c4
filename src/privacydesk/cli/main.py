"""The `privacydesk` command line."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from privacydesk.auth.cli import token_app, user_app
from privacydesk.cli import mail, platform, worker
from privacydesk.engine.cli import dsr_app
from privacydesk.newsletter.cli import newsletter_app
from privacydesk.policy.errors import PolicyLoadError
from privacydesk.policy.loader import LoadedPolicy, load_policy
from privacydesk.requests.cli import requests_app
from privacydesk.retention.cli import retention_app
from privacydesk.versions.cli import policy_app

app = typer.Typer(help="privacydesk: make a privacy policy true in running systems.", no_args_is_help=True, pretty_exceptions_enable=False)


class LintFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"


class RopaFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    json = "json"
    html = "html"


class NoticeFormat(StrEnum):
    html = "html"
    md = "md"


class Language(StrEnum):
    en = "en"
    pl = "pl"
    ro = "ro"
    fr = "fr"
    cs = "cs"


PolicyPath = Annotated[Path, typer.Argument(help="the policy file", show_default=False)]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="write here instead of standard output")]


def _load_or_exit(path: Path) -> LoadedPolicy:
    try:
        return load_policy(path)
    except PolicyLoadError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _write(data: bytes | str, output: Path | None) -> None:
    raw = data.encode() if isinstance(data, str) else data
    if output is None:
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(raw)
        typer.echo(f"wrote {output}", err=True)


@app.command()
def check(
    policies: Annotated[list[Path], typer.Argument(help="policy files to lint", show_default=False)],
    fmt: Annotated[LintFormat, typer.Option("--format", "-f", help="output format")] = LintFormat.text,
) -> None:
    """Validate and lint policy files; exit 1 if any has an error."""
    from privacydesk.policy.lint.report import Finding, lint, load_error_findings, render

    findings: list[Finding] = []
    for path in policies:
        try:
            findings.extend(lint(load_policy(path)))
        except PolicyLoadError as exc:
            findings.extend(load_error_findings(exc.errors))
    typer.echo(render(findings, fmt.value))
    if any(f.severity == "error" for f in findings):
        raise typer.Exit(1)


@app.command()
def ropa(
    policy: PolicyPath,
    fmt: Annotated[RopaFormat, typer.Option("--format", "-f", help="output format")] = RopaFormat.html,
    lang: Annotated[Language, typer.Option("--lang", "-l", help="language of the headings")] = Language.en,
    output: Output = None,
) -> None:
    """Render the record of processing activities (GDPR Art. 30)."""
    from privacydesk.policy.render.ropa import render_ropa

    loaded = _load_or_exit(policy)
    if fmt is RopaFormat.xlsx and output is None and sys.stdout.isatty():
        _fail("xlsx is binary: give --output FILE.xlsx")
    _write(render_ropa(loaded, fmt.value, lang.value), output)


@app.command()
def notice(
    policy: PolicyPath,
    lang: Annotated[Language, typer.Option("--lang", "-l", help="language of the notice")] = Language.en,
    fmt: Annotated[NoticeFormat, typer.Option("--format", "-f", help="output format")] = NoticeFormat.html,
    output: Output = None,
) -> None:
    """Render the privacy notice (GDPR Art. 13/14) in one language."""
    from privacydesk.policy.render.notice import render_notice

    loaded = _load_or_exit(policy)
    _write(render_notice(loaded, lang.value, fmt.value), output)


app.add_typer(platform.db_app, name="db")
app.add_typer(platform.config_app, name="config")
app.add_typer(platform.audit_app, name="audit")
app.add_typer(policy_app, name="policy")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.command()(platform.serve)
app.command()(worker.worker)
app.add_typer(mail.mail_app, name="mail")
app.add_typer(dsr_app, name="dsr")
app.add_typer(requests_app, name="requests")
app.add_typer(retention_app, name="retention")
app.add_typer(newsletter_app, name="newsletter")

if __name__ == "__main__":
    app()
