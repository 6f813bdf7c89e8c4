"""Notices before deletion for inactivity: who to warn, who is still within their notice, who may be deleted.

A rule with `notice` measures a person's activity by its `from` column. When that activity is
older than `keep - notice`, the person is warned by e-mail (in the language of the rule's
`language` column, else the policy's first language) and the notice is recorded: a keyed digest
of the row's key, the rule, when it was sent and the day before which nothing is deleted. The row
is deleted only once it is past `keep`, the notice has run its whole period, and the person has
not come back since: a newer activity than the notice makes it stale, and a later inactivity
earns a new notice.

The mail's link keeps the account: the click is recorded on the notice and counts as activity at
once (nothing is deleted, no new notice is due), and a job writes it into the activity column
through the connector, so the application sees the person as active too.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.auth import keys as signing
from privacydesk.config import get_settings
from privacydesk.connectors.base import Connector, Key, Row, as_key, naive_utc
from privacydesk.errors import NotFound
from privacydesk.i18n import LANGUAGES, format_day
from privacydesk.jobs.service import enqueue
from privacydesk.mail.service import queue_mail
from privacydesk.policy import labels
from privacydesk.policy.models import Policy
from privacydesk.retention.models import RetentionNotice
from privacydesk.retention.planner import Moments, Rule

TEMPLATE = "retention_notice"
KEEP_TASK = "retention.keep"
_PERSON = "retention-person"
_KEEP = "retention-keep"
MAX_TOKEN = 400

# warn: send a notice; wait: warned, the notice still runs (or not yet past the period); delete: the notice has
# run out; skip: active again (or kept) since, not within the notice any more.
Verdict = Literal["warn", "wait", "delete", "skip"]


class LinkInvalid(NotFound):
    """A keep link that was not made by this platform, or whose notice no longer exists."""


def person_hash(rule: str, key: Key) -> str:
    """The keyed digest naming a row of a rule in the notice table."""
    return signing.digest(_PERSON, f"{rule}\x00{key}")


def keep_token(notice: RetentionNotice, key: Key) -> str:
    """The token of a notice's keep link: the notice, the row key, and a signature over both."""
    packed = base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
    return signing.sign(_KEEP, f"{notice.id}.{packed}")


def read_token(session: Session, token: str) -> tuple[RetentionNotice, Key]:
    """The notice and row key a keep link names; LinkInvalid when forged, altered or unknown."""
    value = signing.unsign(_KEEP, token) if len(token) <= MAX_TOKEN else None
    number, _, packed = (value or "").partition(".")
    try:
        key = as_key(json.loads(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))))
    except (binascii.Error, ValueError):
        raise LinkInvalid("this link is not valid") from None
    notice = session.get(RetentionNotice, int(number)) if number.isdigit() else None
    if notice is None or notice.person_hash != person_hash(notice.rule, key):
        raise LinkInvalid("this link is not valid")
    return notice, key


@dataclass(frozen=True)
class History:
    """A person's notices under one rule: the latest, and the latest click on a keep link."""

    latest: RetentionNotice | None = None
    kept_at: datetime | None = None


def histories(session: Session, rule: str, hashes: Iterable[str]) -> dict[str, History]:
    """The notice history of each person, by digest."""
    found: dict[str, History] = {}
    statement = select(RetentionNotice).where(RetentionNotice.rule == rule, RetentionNotice.person_hash.in_(set(hashes)))
    for notice in session.scalars(statement.order_by(RetentionNotice.sent_at, RetentionNotice.id)):
        previous = found.get(notice.person_hash, History())
        kept = max((moment for moment in (previous.kept_at, notice.kept_at) if moment is not None), default=None)
        found[notice.person_hash] = History(notice, kept)
    return found


def verdict(activity: datetime, history: History, at: Moments) -> Verdict:
    """What the rule does about one person now."""
    assert at.warn is not None
    # A click on a keep link counts as activity from its moment.
    active = max(naive_utc(activity), naive_utc(history.kept_at)) if history.kept_at else naive_utc(activity)
    if active >= naive_utc(at.warn):
        return "skip"
    notice = history.latest
    if notice is None or naive_utc(notice.sent_at) < active:
        return "warn"
    if active < naive_utc(at.cutoff) and naive_utc(notice.delete_not_before) <= naive_utc(at.now):
        return "delete"
    return "wait"


def columns(rule: Rule) -> list[str]:
    """The columns a notice needs: the activity, the e-mail address and the language."""
    wanted = [rule.retention.start, rule.spec.identities.get("email"), rule.retention.language]
    return list(dict.fromkeys(column for column in wanted if column))


def standings(session: Session, rule: Rule, connector: Connector, keys: Sequence[Key], at: Moments) -> list[tuple[Key, Row, Verdict]]:
    """The rows with these keys (those still there), each with its verdict."""
    key_column = connector.key_column(rule.collection)
    rows = connector.referencing(rule.collection, key_column, keys, columns(rule))
    digests = {as_key(row[key_column]): person_hash(rule.id, as_key(row[key_column])) for row in rows}
    known = histories(session, rule.id, digests.values())
    return [
        (key, row, verdict(row[rule.retention.start], known.get(digests[key], History()), at))
        for row in rows
        for key in [as_key(row[key_column])]
        if row[rule.retention.start] is not None
    ]


def warn(
    session: Session, policy: Policy, rule: Rule, people: Sequence[tuple[Key, Row, Verdict]], at: Moments, *, run_id: int
) -> tuple[int, int]:
    """Record and mail a notice to everyone whose verdict is `warn`; return (notices, of which without an address)."""
    assert rule.retention.notice is not None
    email_column = rule.spec.identities.get("email")
    sent = unaddressed = 0
    for key, row, decided in people:
        if decided != "warn":
            continue
        language = _language(policy, rule, row)
        address = str(row.get(email_column) or "").strip() if email_column else ""
        deadline = rule.retention.notice.after(at.now)
        assert isinstance(deadline, datetime)
        notice = RetentionNotice(
            rule=rule.id,
            person_hash=person_hash(rule.id, key),
            run_id=run_id,
            sent_at=at.now,
            delete_not_before=deadline,
            mailed=bool(address),
            language=language,
        )
        session.add(notice)
        session.flush()
        sent += 1
        if not address:
            unaddressed += 1
            continue
        queue_mail(
            session,
            to=address,
            template=TEMPLATE,
            language=language,
            context={
                "organization": policy.organization.name,
                "period": labels.duration(rule.retention.keep, language),
                "deletion_date": format_day(deadline.date(), language),
                "keep_url": keep_url(notice, key),
            },
        )
    return sent, unaddressed


def keep_url(notice: RetentionNotice, key: Key) -> str:
    """The public address of a notice's keep link."""
    return f"{get_settings().base_url.rstrip('/')}/api/v1/public/retention/keep/{keep_token(notice, key)}"


def keep(session: Session, token: str, now: datetime) -> tuple[RetentionNotice, bool]:
    """Record a click on a keep link and queue the activity update; (notice, whether this click changed anything)."""
    notice, key = read_token(session, token)
    if notice.kept_at is not None:
        return notice, False
    notice.kept_at = now
    enqueue(session, KEEP_TASK, notice_id=notice.id, key=key)
    audit.record(
        session,
        actor="subject",
        action="retention.keep",
        object_type="retention_notice",
        object_id=str(notice.id),
        summary={"rule": notice.rule},
    )
    return notice, True


def touch(connector: Connector, rule: Rule, key: Key, moment: datetime) -> bool:
    """Write `moment` into the row's activity column unless it is already later; whether the row changed."""
    column = rule.retention.start
    rows = connector.referencing(rule.collection, connector.key_column(rule.collection), [key], [column])
    if not rows or (rows[0][column] is not None and naive_utc(rows[0][column]) >= naive_utc(moment)):
        return False
    return connector.rectify(rule.collection, [key], {column: naive_utc(moment)}) > 0


def _language(policy: Policy, rule: Rule, row: Mapping[str, object]) -> str:
    spoken = str(row.get(rule.retention.language) or "").strip().lower()[:2] if rule.retention.language else ""
    return spoken if spoken in LANGUAGES else policy.organization.languages[0]
