"""`privacydesk dsr ...`: run a data-subject request straight against the policy's systems, without the server."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from privacydesk.connectors.base import Delegated
    from privacydesk.engine.plan import Plan
    from privacydesk.engine.results import AccessResult, ErasureResult, RectificationResult
    from privacydesk.engine.steps import Step
    from privacydesk.policy.models import Policy

dsr_app = typer.Typer(help="Run data-subject requests directly against the policy's systems.", no_args_is_help=True)


class RequestType(StrEnum):
    access = "access"
    erasure = "erasure"
    rectification = "rectification"


class Language(StrEnum):
    en = "en"
    pl = "pl"
    ro = "ro"
    fr = "fr"
    cs = "cs"


PolicyOption = Annotated[Path, typer.Option("--policy", help="the policy file", show_default=False)]


@dsr_app.command()
def run(
    policy: PolicyOption,
    kind: Annotated[RequestType, typer.Option("--type", help="what the person asks for", show_default=False)],
    identity: Annotated[list[str], typer.Option("--identity", help="TYPE=VALUE, like email=a@b.c; repeat for more", show_default=False)],
    corrections: Annotated[list[str] | None, typer.Option("--set", help="CATEGORY=VALUE to rectify, like name='Jan Nowak'")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="directory of the access export (default: ./dsr-access-TIME)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the plan and the counts; change nothing")] = False,
    lang: Annotated[Language, typer.Option("--lang", help="language of the laws behind legal holds")] = Language.en,
) -> None:
    """Execute an access, erasure or rectification request for one person."""
    from privacydesk.engine.plan import plan_request
    from privacydesk.engine.results import AccessResult, ErasureResult
    from privacydesk.engine.run import run_access, run_erasure, run_rectification
    from privacydesk.errors import PrivacydeskError

    loaded = _load(policy)
    identities = _pairs(identity, "--identity", "TYPE=VALUE")
    fixes = {category: values[-1] for category, values in _pairs(corrections or [], "--set", "CATEGORY=VALUE").items()}
    bar = _Bar()
    result: AccessResult | ErasureResult | RectificationResult
    try:
        plan = plan_request(loaded, kind.value, identities, corrections=fixes)
        if dry_run:
            _echo_plan(plan)
            if kind is RequestType.access:
                _echo_found(loaded, plan)
                return
        if kind is RequestType.access:
            result = run_access(loaded, identities, progress=bar)
        elif kind is RequestType.erasure:
            result = run_erasure(loaded, identities, dry_run=dry_run, language=lang.value, progress=bar)
        else:
            result = run_rectification(loaded, identities, fixes, dry_run=dry_run, progress=bar)
    except PrivacydeskError as exc:
        _fail(exc.message)
    finally:
        bar.finish()
    if isinstance(result, AccessResult):
        _write_export(result, out or Path(f"dsr-access-{datetime.now(UTC):%Y%m%d-%H%M%S}"))
    elif isinstance(result, ErasureResult):
        _echo_erasure(result)
    else:
        _echo_rectification(result)


@dsr_app.command()
def discover(policy: PolicyOption) -> None:
    """Compare every system's live schema with the policy; exit 1 on any error."""
    from privacydesk.connectors.registry import Connectors
    from privacydesk.engine.run import default_context
    from privacydesk.errors import PrivacydeskError

    loaded = _load(policy)
    errors = 0
    with Connectors(loaded, default_context(loaded)) as connectors:
        for name in loaded.systems:
            try:
                problems = connectors[name].discover()
            except PrivacydeskError as exc:
                typer.echo(f"{name}: error: {exc.message}")
                errors += 1
                continue
            for problem in problems:
                typer.echo(str(problem))
            errors += sum(problem.severity == "error" for problem in problems)
            if not problems:
                typer.echo(f"{name}: matches the policy")
    if errors:
        raise typer.Exit(1)


class _Bar:
    """A progress bar over the steps, drawn on a terminal's standard error once there is work to show."""

    def __init__(self) -> None:
        self._bar: Any = None

    def __call__(self, step: Step, index: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        if self._bar is None:
            self._bar = typer.progressbar(length=total, label="executing", file=sys.stderr)
            self._bar.__enter__()
        self._bar.label = step.id
        self._bar.update(1)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _load(path: Path) -> Policy:
    from privacydesk.policy.errors import PolicyLoadError
    from privacydesk.policy.loader import load_policy

    try:
        return load_policy(path).policy
    except PolicyLoadError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror}")


def _pairs(items: list[str], option: str, shape: str) -> dict[str, list[str]]:
    pairs: dict[str, list[str]] = {}
    for item in items:
        name, separator, value = item.partition("=")
        if not separator or not name.strip() or not value.strip():
            _fail(f"{option} {item!r}: write it as {shape}")
        pairs.setdefault(name.strip(), []).append(value.strip())
    return pairs


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _write_export(result: AccessResult, target: Path) -> None:
    from privacydesk.engine.export import write_access

    try:
        written = write_access(result, target)
    except OSError as exc:
        _fail(f"cannot write the export into {target}: {exc.strerror}")
    rows = sum(len(item.rows) for item in result.collections)
    typer.echo(f"exported {rows} row(s) from {len(result.collections)} collection(s) into {target}/ ({len(written)} files)")
    _echo_pending(result.delegated)


def _echo_plan(plan: Plan) -> None:
    order = plan.children_first() if plan.kind == "erasure" else plan.nodes
    typer.echo(f"plan of the {plan.kind} ({'children' if plan.kind == 'erasure' else 'parents'} first):")
    for node in order:
        how = (
            f"identities {', '.join(node.spec.identities)}"
            if node.spec.identities
            else "via " + ", ".join(f"{edge.column} -> {edge.parent}.{edge.target}" for edge in node.parents)
        )
        erase = f"  erase: {node.spec.erase or 'delete'}" if plan.kind == "erasure" else ""
        typer.echo(f"  {node.id:<44} {how}{erase}")
    for system in plan.delegated:
        typer.echo(f"  {system:<44} handed over whole ({plan.policy.systems[system].connector})")
    for node_id in plan.unreachable:
        typer.echo(f"  {node_id:<44} not reachable from any identity")


def _echo_found(policy: Policy, plan: Plan) -> None:
    from privacydesk.connectors.registry import Connectors
    from privacydesk.engine.run import default_context, prepare

    with Connectors(policy, default_context(policy)) as connectors:
        located = prepare(plan, connectors)
    typer.echo("rows found (dry run: nothing exported):")
    for node_id, found in located.found.items():
        if found.rows:
            typer.echo(f"  {node_id:<44} {len(found.rows)}")


# Said with every change the command makes: what only the platform knows is not consulted.
_PLATFORM_ONLY = (
    "note: staff legal holds and the restriction register are kept in the platform's database and are not consulted here;"
    " for someone they may cover, make the request through the platform"
)


def _echo_erasure(result: ErasureResult) -> None:
    typer.echo(_PLATFORM_ONLY, err=True)
    typer.echo(f"erasure{' (dry run: nothing changed)' if result.dry_run else ''}:")
    if not any(item.touched for item in result.collections) and not result.delegated:
        typer.echo("  nothing found for these identities")
    for item in result.collections:
        if not item.touched:
            continue
        counts = [
            f"{count} {label}"
            for count, label in (
                (item.deleted, "deleted"),
                (item.anonymised, "anonymised"),
                (item.kept, "kept"),
                (item.held, "held (restricted)"),
            )
            if count
        ]
        if item.downgraded:
            counts.append(f"{item.downgraded} of them instead of deleted, as rows that stay refer to them")
        typer.echo(f"  {item.system}.{item.collection:<36} {', '.join(counts) or f'{item.found} found, nothing left to change'}")
        for hold in item.holds:
            until = hold.until.date().isoformat() if hold.until else "the period has not started"
            ends = f"until {until}" + (f"; {hold.open_rows} with no end yet" if hold.open_rows and hold.until else "")
            law = f", {hold.law}" if hold.law else ""
            typer.echo(
                f"      hold {hold.name}: {hold.rows} row(s), {hold.basis or 'no basis'}{law}; {hold.keep} from {hold.start}; {ends}"
            )
    _echo_pending(result.delegated)


def _echo_rectification(result: RectificationResult) -> None:
    typer.echo(_PLATFORM_ONLY, err=True)
    typer.echo(f"rectification{' (dry run: nothing changed)' if result.dry_run else ''}:")
    for item in result.collections:
        line = f"  {item.system}.{item.collection:<36} {item.rectified} row(s) {'to correct' if result.dry_run else 'corrected'}"
        if item.columns:
            line += f" in {', '.join(item.columns)}"
        if item.held:
            line += f"; {item.held} held row(s) left as recorded"
        if item.unsupported:
            line += f"; not done: {item.unsupported}"
        typer.echo(line)
    _echo_pending(result.delegated)


def _echo_pending(delegated: list[Delegated]) -> None:
    for answer in delegated:
        if answer.status == "pending":
            task = f" (task {answer.task.id} for {answer.task.owner})" if answer.task else ""
            typer.echo(f"  {answer.system}: pending{task}: {answer.message}")
