"""Import consents collected before privacydesk, from CSV: every row is checked first, then all are stored, or none.

Columns: subject, purpose, decision (given, refused, withdrawn), given_at (a date, or a date and
time with its zone), source (where it was collected), and optionally method (how).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.consent import subjects
from privacydesk.consent.published import latest
from privacydesk.consent.service import Context, Decision, record_decision
from privacydesk.db.base import utcnow
from privacydesk.errors import Invalid, PrivacydeskError

REQUIRED = ("subject", "purpose", "decision", "given_at", "source")
OPTIONAL = ("method",)
DECISIONS = ("given", "refused", "withdrawn")
MAX_ROWS = 50_000


@dataclass(frozen=True)
class Row:
    """One validated line."""

    line: int
    subject: subjects.SubjectKey
    purpose: str
    decision: str
    given_at: datetime
    source: str
    method: str | None


def parse(session: Session, content: str, *, now: datetime | None = None) -> list[Row]:
    """Every row validated against the published policy; Invalid naming the first bad line and column."""
    now = now or utcnow()
    policy = latest(session)
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff"), newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in REQUIRED + OPTIONAL]
    if missing or unknown:
        problems = [
            f"missing column(s) {', '.join(missing)}" if missing else "",
            f"unknown column(s) {', '.join(unknown)}" if unknown else "",
        ]
        raise _bad(1, None, "; ".join(p for p in problems if p) + f"; the columns are {', '.join(REQUIRED)} and optionally method")
    reader.fieldnames = header
    rows: list[Row] = []
    for record in reader:
        line = reader.line_num
        if len(rows) >= MAX_ROWS:
            raise _bad(line, None, f"more than {MAX_ROWS} rows; split the file")
        if None in record or any(value is None for value in record.values()):
            raise _bad(line, None, f"expected {len(header)} values, found a different number")
        values = {key: value.strip() for key, value in record.items() if key is not None and value is not None}
        rows.append(_row(policy.policy.consents, line, values, now))
    if not rows:
        raise Invalid("the file has a header but no rows")
    return rows


def import_csv(session: Session, content: str, *, actor: str, now: datetime | None = None) -> dict[str, int]:
    """Validate every row, then store one record (method import) per row, oldest first; returns the counts."""
    now = now or utcnow()
    rows = parse(session, content, now=now)
    for row in sorted(rows, key=lambda row: row.given_at):
        decision = Decision(
            row.subject,
            {row.purpose: row.decision == "given"},
            "import",
            None,
            Context(source=row.source, source_method=row.method),
            decided_at=row.given_at,
            withdrawal=row.decision == "withdrawn",
        )
        try:
            record_decision(session, decision, actor=actor, now=now)
        except PrivacydeskError as exc:  # checked already; kept so a surprise still names its line
            raise _bad(row.line, None, exc.message) from None
    counts = {"records": len(rows), "subjects": len({row.subject.stored for row in rows})}
    audit.record(session, actor=actor, action="consent.imported", object_type="consent_import", summary=counts)
    return counts


def _row(purposes: Mapping[str, object], line: int, values: dict[str, str], now: datetime) -> Row:
    try:
        subject = subjects.parse(values["subject"])
    except Invalid as exc:
        raise _bad(line, "subject", exc.message) from None
    purpose = values["purpose"]
    if purpose not in purposes:
        raise _bad(line, "purpose", f"unknown purpose {purpose[:80]!r}; the published policy's consent purposes are: {', '.join(purposes)}")
    decision = values["decision"]
    if decision not in DECISIONS:
        raise _bad(line, "decision", f"{decision[:40]!r} is not a decision; write one of: {', '.join(DECISIONS)}")
    given_at = _moment(line, values["given_at"], now)
    source = values["source"]
    if not source or len(source) > 200:
        raise _bad(line, "source", "say where the consent was collected (1 to 200 characters)")
    method = values.get("method") or None
    if method is not None and len(method) > 50:
        raise _bad(line, "method", "at most 50 characters")
    return Row(line, subject, purpose, decision, given_at, source, method)


def _moment(line: int, value: str, now: datetime) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value or " " in value else None
        if moment is None:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    except ValueError:
        raise _bad(
            line, "given_at", f"{value[:40]!r} is not a date (2024-05-01) or a date and time with its zone (2024-05-01T10:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise _bad(line, "given_at", f"{value[:40]!r} has no time zone; add one (2024-05-01T10:00:00Z) or give the date alone")
    if moment > now:
        raise _bad(line, "given_at", f"{value[:40]!r} is in the future")
    return moment


def _bad(line: int, column: str | None, message: str) -> Invalid:
    where = f"line {line}" + (f", column {column}" if column else "")
    return Invalid(f"{where}: {message}; nothing was imported", details={"line": line, **({"column": column} if column else {})})
