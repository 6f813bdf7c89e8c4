"""The fast lane of a consent id's first decision: checked in the process, stored in one statement.

Most banner decisions are a visitor's first. With no standing choice there is nothing to read
before writing (no transition to work out, no person to lock), so the whole decision — the
person, its key, the record, its open audit row, the events and the states — is one statement,
run on an autocommit connection of the consent pool (hotpath.py), without a worker thread or an
ORM session. The statement writes nothing unless the key is new and the policy version the
banner quotes is still the latest. Anything else — a key already known, a version this process
has not parsed, no pool, a race for the same new key, bad input — goes to the regular service,
which stays the reference and gives every error.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from privacydesk.consent import published, service
from privacydesk.consent.service import Decision, Recorded
from privacydesk.db.base import utcnow
from privacydesk.errors import Invalid

POOL_WAIT_SECONDS = 0.5
_STORE_FIRST = text(
    """
    WITH latest AS (SELECT number, hash FROM policy_versions ORDER BY number DESC LIMIT 1),
    person AS (
        INSERT INTO consent_persons (created_at)
        SELECT :recorded_at FROM latest
        WHERE latest.hash = :notice_version AND NOT EXISTS (SELECT 1 FROM consent_subjects WHERE key = :subject)
        RETURNING id
    ), subject AS (
        INSERT INTO consent_subjects (key, person_id, created_at) SELECT :subject, id, :recorded_at FROM person
        ON CONFLICT (key) DO NOTHING RETURNING person_id
    ), record AS (
        INSERT INTO consent_records (record_id, pii_principal_id, person_id, notice_version, policy_version_number, notice_hash,
            language, collection_method, surface, event_time, recorded_at, entity_id, page_url, user_agent, gpc, ip_address,
            source, source_method)
        SELECT :record_id, :subject, subject.person_id, latest.hash, latest.number, :notice_hash, :language, :method, :surface,
            :decided_at, :recorded_at, :actor, :page_url, :user_agent, :gpc, :ip_address, :source, :source_method
        FROM subject CROSS JOIN latest
        RETURNING record_id, person_id, policy_version_number
    ), audit AS (
        INSERT INTO consent_record_audits (record_id) SELECT record_id FROM record
    ), chosen AS (
        SELECT * FROM jsonb_to_recordset(CAST(:chosen AS jsonb))
            AS chosen(purpose text, event_state text, state text, expires_at timestamptz, n int)
    ), events AS (
        INSERT INTO consent_events (record_id, purpose, event_state, event_time, valid_until)
        SELECT record.record_id, chosen.purpose, chosen.event_state, :decided_at, chosen.expires_at
        FROM record CROSS JOIN chosen ORDER BY chosen.n
    ), states AS (
        INSERT INTO consent_states (person_id, purpose, state, method, record_id, policy_version_number, decided_at, expires_at)
        SELECT record.person_id, chosen.purpose, chosen.state, :method, record.record_id, record.policy_version_number, :decided_at,
            chosen.expires_at
        FROM record CROSS JOIN chosen
    )
    SELECT (SELECT id FROM person) AS created, EXISTS (SELECT 1 FROM record) AS recorded
    """
).compile(dialect=PGDialect_psycopg())  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it unannotated
_DROP_PERSON = "DELETE FROM consent_persons WHERE id = %(id)s"


async def record_first(
    pool: AsyncConnectionPool[AsyncConnection[Any]] | None, decision: Decision, *, actor: str, require_notice: bool
) -> Recorded | None:
    """Store the decision if it is the first of a new key under the latest version; None: use the regular service."""
    policy = published.cached_policy(decision.policy_version) if decision.policy_version is not None else None
    if pool is None or policy is None:
        return None
    now = utcnow()
    try:
        # Checked against the version quoted; the statement then writes only if that version is still the latest.
        choices = service.validated(policy, decision.policy_version or "", decision, require_notice=require_notice)
    except Invalid:
        return None  # the regular service names the problem, checked against the latest version
    result = service.outcome(policy, decision, choices, {}, {}, now)
    parameters = service.stored_parameters(policy, decision, result, actor=actor, now=now)
    parameters["notice_version"] = decision.policy_version
    # One JSON text instead of four arrays: far cheaper to send than lists adapted value by value.
    chosen = zip(parameters.pop("purposes"), parameters.pop("events"), parameters.pop("states"), parameters.pop("expires"), strict=True)
    parameters["chosen"] = json.dumps(
        [
            {"purpose": purpose, "event_state": event, "state": state, "expires_at": expires and expires.isoformat(), "n": n}
            for n, (purpose, event, state, expires) in enumerate(chosen)
        ]
    )
    try:
        async with pool.connection(timeout=POOL_WAIT_SECONDS) as connection:
            cursor = connection.cursor(row_factory=namedtuple_row)
            row: Any = await (await cursor.execute(str(_STORE_FIRST), parameters, prepare=True)).fetchone()
            if row.created is not None and not row.recorded:
                # Another request took the same new key a moment earlier: drop the person made for it.
                await connection.execute(_DROP_PERSON, {"id": row.created})
    except PoolTimeout:
        return None
    return result if row.recorded else None
