"""Answers to "may we process X for purpose Y?": one SQL statement per call, however many checks it carries.

The statement reads the current-state table by its primary key, the subject key by its primary
key, the person's open restrictions and the purpose's last revision by index, and the latest
policy version by its unique number; checks write nothing and are not audited (decisions are).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from privacydesk.consent import published, revisions
from privacydesk.consent.subjects import SubjectKey
from privacydesk.db.base import utcnow
from privacydesk.errors import Invalid, NotFound

Reason = Literal["given", "no_record", "refused", "withdrawn", "expired", "gpc", "revised", "restricted"]
MAX_CHECKS = 1000

_SELECT = """
WITH latest AS (SELECT number, hash FROM policy_versions ORDER BY number DESC LIMIT 1)
SELECT asked.n, latest.number AS latest_number, latest.hash AS latest_hash, k.person_id,
       EXISTS (SELECT 1 FROM consent_policy_sync sync WHERE sync.version_number = latest.number) AS synced,
       (SELECT max(r.version_number) FROM consent_revisions r WHERE r.purpose = asked.purpose) AS revised_in,
       st.state, st.method, st.record_id, st.expires_at, st.policy_version_number,
       EXISTS (SELECT 1 FROM consent_restrictions x
               WHERE x.person_id = k.person_id AND x.lifted_at IS NULL AND x.activity IS NULL
                 AND (x.purpose IS NULL OR x.purpose = asked.purpose)) AS restricted
FROM latest CROSS JOIN {asked}
LEFT JOIN consent_subjects k ON k.key = asked.key
LEFT JOIN consent_states st ON st.person_id = k.person_id AND st.purpose = asked.purpose
ORDER BY asked.n
"""
# One check by subject key and purpose; the fast lane (hotpath.py) runs this very statement.
ONE = text(_SELECT.format(asked="(SELECT CAST(:key AS text) AS key, CAST(:purpose AS text) AS purpose, 1 AS n) AS asked"))
_MANY = text(_SELECT.format(asked="unnest(CAST(:keys AS text[]), CAST(:purposes AS text[])) WITH ORDINALITY AS asked(key, purpose, n)"))


@dataclass(frozen=True)
class Check:
    """The answer to one check."""

    allowed: bool
    reason: Reason
    record_id: uuid.UUID | None
    expires_at: datetime | None


def check(session: Session, subject: SubjectKey, purpose: str, *, now: datetime | None = None) -> Check:
    """Whether `purpose` may be pursued for `subject` now, and why."""
    return check_many(session, [(subject, purpose)], now=now)[0]


def check_many(session: Session, asked: list[tuple[SubjectKey, str]], *, now: datetime | None = None) -> list[Check]:
    """Several checks in one statement, answered in the order asked."""
    if not asked:
        return []
    if len(asked) > MAX_CHECKS:
        raise Invalid(f"at most {MAX_CHECKS} checks per call; got {len(asked)}")
    rows = _fetch(session, asked)
    if not rows[0].synced:
        # First check since a publish: derive the new version's revisions, then read again.
        revisions.sync(session)
        rows = _fetch(session, asked)
    policy = published.policy_by_hash(session, rows[0].latest_hash)
    for _, purpose in asked:
        published.require_purpose(policy, purpose)
    moment = now or utcnow()
    return [verdict(row, moment) for row in rows]


def verdict(row: Any, now: datetime) -> Check:
    """The answer a current-state row gives at `now`; restrictions first, then the decision's own state."""
    if row.restricted:
        return Check(False, "restricted", row.record_id, row.expires_at)
    if row.state is None:
        return Check(False, "no_record", None, None)
    if row.state == "withdrawn":
        return Check(False, "withdrawn", row.record_id, None)
    if row.state == "expired" or (row.expires_at is not None and row.expires_at <= now):
        return Check(False, "expired", row.record_id, row.expires_at)
    if row.state == "refused":
        return Check(False, "gpc" if row.method == "gpc" else "refused", row.record_id, row.expires_at)
    if row.revised_in is not None and row.policy_version_number < row.revised_in:
        return Check(False, "revised", row.record_id, row.expires_at)
    return Check(True, "given", row.record_id, row.expires_at)


def _fetch(session: Session, asked: list[tuple[SubjectKey, str]]) -> list[Any]:
    if len(asked) == 1:
        (subject, purpose), *_ = asked
        rows = list(session.execute(ONE, {"key": subject.stored, "purpose": purpose}))
    else:
        params = {"keys": [subject.stored for subject, _ in asked], "purposes": [purpose for _, purpose in asked]}
        rows = list(session.execute(_MANY, params))
    if not rows:
        raise NotFound("no policy has been published yet: consent purposes come from the published policy")
    return rows
