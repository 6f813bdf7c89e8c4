"""Consent decisions enter the audit chain in batches, and every batch can be checked against the tables.

A decision is evidence in its own right: `consent_records` and `consent_events` are only ever
inserted. One audit entry per decision would make every decision of every person wait for the
audit chain's single append lock; instead each record is written with an open row in
`consent_record_audits`, and the `consent.audit` job appends one entry per batch of open records
(their count and a SHA-256 over their ids and contents), then notes that entry's seq on each of
them. `verify` recomputes every batch from the tables, so a record altered, removed or slipped in
after its batch was audited is found.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.audit.models import AuditEntry
from privacydesk.consent.models import ConsentEvent, ConsentRecord, ConsentRecordAudit

BATCH = 5000
ACTION = "consent.recorded"
OBJECT_TYPE = "consent_records"
# Open records, oldest transaction first is not knowable, so by id; SKIP LOCKED: two runs take different records.
_OPEN = text("SELECT record_id FROM consent_record_audits WHERE audit_seq IS NULL ORDER BY record_id LIMIT :limit FOR UPDATE SKIP LOCKED")
_UNMARKED = text(
    """
    SELECT r.record_id FROM consent_records r
    WHERE NOT EXISTS (SELECT 1 FROM consent_record_audits a WHERE a.record_id = r.record_id) LIMIT 1
    """
)


def audit_pending(session: Session, *, limit: int = BATCH) -> int:
    """Append one audit entry covering up to `limit` records not audited yet; returns how many it covered."""
    ids: list[uuid.UUID] = list(session.scalars(_OPEN, {"limit": limit}))
    if not ids:
        return 0
    entry = audit.record(
        session,
        actor="system",
        action=ACTION,
        object_type=OBJECT_TYPE,
        object_id=f"{ids[0]}..{ids[-1]}",
        summary={"records": len(ids), "digest": digest(session, ids)},
    )
    session.execute(update(ConsentRecordAudit).where(ConsentRecordAudit.record_id.in_(ids)).values(audit_seq=entry.seq))
    return len(ids)


def digest(session: Session, record_ids: Sequence[uuid.UUID]) -> str:
    """SHA-256 over the RFC 8785 canonical JSON of the records (by id), each with the events it made."""
    records = session.scalars(select(ConsentRecord).where(ConsentRecord.record_id.in_(record_ids)).order_by(ConsentRecord.record_id))
    # A record's own events; "expired" events are appended later by the expiry job, which audits them itself.
    events: dict[uuid.UUID, list[list[Any]]] = {}
    for event in session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.record_id.in_(record_ids), ConsentEvent.event_state != "expired")
        .order_by(ConsentEvent.record_id, ConsentEvent.id)
    ):
        events.setdefault(event.record_id, []).append(
            [event.purpose, event.event_state, _moment(event.event_time), _moment(event.valid_until)]
        )
    documents = [_document(record, events.get(record.record_id, [])) for record in records]
    return hashlib.sha256(rfc8785.dumps(documents)).hexdigest()


@dataclass(frozen=True)
class LedgerVerification:
    """The outcome of checking every audited batch of consent records against the tables."""

    ok: bool
    batches: int
    records: int
    problem: str | None = None


def verify(session: Session) -> LedgerVerification:
    """Recompute each batch's count and digest; report the first batch that differs, or a record no batch can cover."""
    batches = records = 0
    for entry in session.scalars(
        select(AuditEntry).where(AuditEntry.action == ACTION, AuditEntry.object_type == OBJECT_TYPE).order_by(AuditEntry.seq)
    ):
        ids = list(session.scalars(select(ConsentRecordAudit.record_id).where(ConsentRecordAudit.audit_seq == entry.seq)))
        if len(ids) != entry.summary.get("records") or digest(session, ids) != entry.summary.get("digest"):
            return LedgerVerification(False, batches, records, f"the records of audit entry {entry.seq} are not those it audited")
        batches += 1
        records += len(ids)
    unmarked = session.scalar(_UNMARKED)
    if unmarked is not None:
        return LedgerVerification(False, batches, records, f"record {unmarked} was stored without entering the audit")
    return LedgerVerification(True, batches, records)


def _document(record: ConsentRecord, events: list[list[Any]]) -> dict[str, Any]:
    return {
        "record_id": str(record.record_id),
        "pii_principal_id": record.pii_principal_id,
        "person_id": record.person_id,
        "notice_version": record.notice_version,
        "policy_version_number": record.policy_version_number,
        "notice_hash": record.notice_hash,
        "language": record.language,
        "collection_method": record.collection_method,
        "surface": record.surface,
        "event_time": _moment(record.event_time),
        "recorded_at": _moment(record.recorded_at),
        "entity_id": record.entity_id,
        "page_url": record.page_url,
        "user_agent": record.user_agent,
        "gpc": record.gpc,
        "ip_address": record.ip_address,
        "source": record.source,
        "source_method": record.source_method,
        "events": events,
    }


def _moment(value: datetime | None) -> str | None:
    # The server may hand timestamps back in another zone: always UTC.
    return value.astimezone(UTC).isoformat() if value is not None else None
