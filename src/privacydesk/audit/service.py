"""Record, verify and export the audit log.

Each entry's hash is SHA-256 over the RFC 8785 canonical JSON of its fields and the previous
entry's hash, so altering, deleting or reordering any entry breaks the chain from there on.
Appends are serialised by a transaction-level advisory lock, so the chain never forks; the lock
is held until the transaction ends, so busy paths append at commit (`record_at_commit`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import rfc8785
from sqlalchemy import event, insert, select, text
from sqlalchemy.orm import Session

from privacydesk.audit.models import AuditEntry

__all__ = ["GENESIS", "AuditEntry", "Verification", "entry_hash", "export", "record", "record_at_commit", "verify"]
from privacydesk.db.base import utcnow

GENESIS = "0" * 64
_APPEND_LOCK = 0x5052_4956_4155_4454  # arbitrary constant naming the audit append lock
# The lock taken, then the last entry read with a snapshot from after the wait (migration 0006).
_HEAD = text("SELECT seq, hash FROM audit_chain_head(:key)")
_COLUMNS = ("seq", "at", "actor", "action", "object_type", "object_id", "summary", "prev_hash", "hash")
_INSERT = insert(AuditEntry)
# Where a session keeps the entries it appends when it commits.
_AT_COMMIT = "privacydesk.audit.at_commit"


def _document(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        # The server may hand timestamps back in another zone: always use UTC.
        "at": entry.at.astimezone(UTC).isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "summary": entry.summary,
        "prev_hash": entry.prev_hash,
    }


def entry_hash(entry: AuditEntry) -> str:
    """The hash an entry must carry, given its content and its predecessor's hash."""
    return hashlib.sha256(rfc8785.dumps(_document(entry))).hexdigest()


def record(
    session: Session, *, actor: str, action: str, object_type: str, object_id: str | None = None, summary: dict[str, Any] | None = None
) -> AuditEntry:
    """Append an entry to the chain in the caller's transaction (after those it holds back for its commit)."""
    entry = {"actor": actor, "action": action, "object_type": object_type, "object_id": object_id, "summary": summary}
    return _append(session, [*session.info.pop(_AT_COMMIT, []), entry])[-1]


def _append(session: Session, entries: list[dict[str, Any]]) -> list[AuditEntry]:
    """Chain the entries, in order, after the last one: the lock taken and the head read once for all of them."""
    last = session.execute(_HEAD, {"key": _APPEND_LOCK}).first()
    seq, previous = (last.seq, last.hash) if last else (0, GENESIS)
    appended = []
    for fields in entries:
        seq += 1
        entry = AuditEntry(
            seq=seq,
            at=utcnow(),
            actor=fields["actor"],
            action=fields["action"],
            object_type=fields["object_type"],
            object_id=fields["object_id"],
            summary=json.loads(json.dumps(fields["summary"] or {}, default=str)),
            prev_hash=previous,
        )
        entry.hash = previous = entry_hash(entry)
        appended.append(entry)
    # One INSERT of plain rows: the entries are never changed afterwards, so the ORM's unit of work has nothing to track.
    session.connection().execute(_INSERT, [{column: getattr(entry, column) for column in _COLUMNS} for entry in appended])
    return appended


def record_at_commit(
    session: Session, *, actor: str, action: str, object_type: str, object_id: str | None = None, summary: dict[str, Any] | None = None
) -> None:
    """Append an entry to the chain as the caller's transaction commits (or never, if it rolls back).

    The chain's lock is then held for the commit alone rather than for the rest of the
    transaction, so transactions that audit (two workers finishing requests) wait less for each
    other. Entries keep their order: an entry appended at once goes after those held back.
    """
    # The summary as it is now: the caller may change its dictionary before committing.
    frozen = json.loads(json.dumps(summary or {}, default=str))
    entry = {"actor": actor, "action": action, "object_type": object_type, "object_id": object_id, "summary": frozen}
    session.info.setdefault(_AT_COMMIT, []).append(entry)


@event.listens_for(Session, "before_commit")
def _append_at_commit(session: Session) -> None:
    held = session.info.pop(_AT_COMMIT, [])
    if held:
        _append(session, held)


@event.listens_for(Session, "after_rollback")
def _drop_at_rollback(session: Session) -> None:
    session.info.pop(_AT_COMMIT, None)


@dataclass(frozen=True)
class Verification:
    """The outcome of walking the chain."""

    ok: bool
    entries: int
    head: str
    broken_at: int | None = None
    reason: str | None = None


def verify(session: Session) -> Verification:
    """Walk the whole chain in order and report the first entry that does not fit."""
    previous_hash = GENESIS
    expected_seq = 1
    count = 0
    for entry in _ordered(session):
        if entry.seq != expected_seq:
            return Verification(False, count, previous_hash, entry.seq, f"entry {expected_seq} is missing (found {entry.seq} next)")
        if entry.prev_hash != previous_hash:
            return Verification(False, count, previous_hash, entry.seq, "its link to the previous entry does not match")
        if entry_hash(entry) != entry.hash:
            return Verification(False, count, previous_hash, entry.seq, "its content does not match its hash")
        previous_hash = entry.hash
        expected_seq += 1
        count += 1
    return Verification(True, count, previous_hash)


def export(session: Session) -> Iterator[str]:
    """The log as JSON lines, oldest first."""
    for entry in _ordered(session):
        yield json.dumps({**_document(entry), "hash": entry.hash}, ensure_ascii=False)


def _ordered(session: Session) -> Iterator[AuditEntry]:
    # Streamed so verification runs in bounded memory on long logs.
    result = session.execute(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000))
    for entry in result.scalars():
        yield entry
        session.expunge(entry)
