"""The audit log: a hash chain that verification walks, and that tampering breaks at the right entry."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from privacydesk.audit import service as audit
from privacydesk.db.engine import get_engine, transaction

pytestmark = pytest.mark.postgres


def _fill(count: int) -> None:
    for number in range(count):
        with transaction() as session:
            audit.record(
                session, actor="user:1", action="policy.publish", object_type="policy_version", object_id=str(number), summary={"n": number}
            )


def _tamper(sql: str) -> None:
    """Change rows the way someone with direct database access could."""
    with get_engine().begin() as connection:
        connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        connection.execute(text(sql))
        connection.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER USER"))


def _verify() -> audit.Verification:
    with transaction() as session:
        return audit.verify(session)


def test_chain_verifies_and_exports(platform_url: str) -> None:
    _fill(5)
    result = _verify()
    assert result.ok and result.entries == 5
    with transaction() as session:
        lines = [json.loads(line) for line in audit.export(session)]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert lines[0]["prev_hash"] == audit.GENESIS
    assert all(lines[i]["prev_hash"] == lines[i - 1]["hash"] for i in range(1, 5))
    assert result.head == lines[-1]["hash"]


def test_rolled_back_entry_leaves_no_gap(platform_url: str) -> None:
    _fill(2)
    with pytest.raises(RuntimeError), transaction() as session:
        audit.record(session, actor="user:1", action="x", object_type="y")
        raise RuntimeError("the state change failed")
    _fill(1)
    assert _verify().ok


def test_entries_held_for_the_commit_keep_their_order_and_vanish_on_rollback(platform_url: str) -> None:
    summary = {"n": 1}
    with transaction() as session:
        audit.record_at_commit(session, actor="system", action="first", object_type="x", summary=summary)
        summary["n"] = 2  # changed after the call: the entry keeps what it was given
        assert session.execute(text("SELECT count(*) FROM audit_entries")).scalar_one() == 0
        audit.record(session, actor="system", action="second", object_type="x")
        audit.record_at_commit(session, actor="system", action="third", object_type="x")
    with pytest.raises(RuntimeError), transaction() as session:
        audit.record_at_commit(session, actor="system", action="rolled back", object_type="x")
        raise RuntimeError("the transaction fails")
    with transaction() as session:
        audit.record_at_commit(session, actor="system", action="fourth", object_type="x")
    with transaction() as session:
        rows = session.execute(text("SELECT seq, action, summary FROM audit_entries ORDER BY seq")).all()
    assert [(row.seq, row.action) for row in rows] == [(1, "first"), (2, "second"), (3, "third"), (4, "fourth")]
    assert rows[0].summary == {"n": 1}
    assert _verify().ok


def test_database_refuses_updates_and_deletes(platform_url: str) -> None:
    _fill(1)
    for statement in ("UPDATE audit_entries SET actor = 'someone else'", "DELETE FROM audit_entries", "TRUNCATE audit_entries"):
        with pytest.raises(DBAPIError, match="append-only"), get_engine().begin() as connection:
            connection.execute(text(statement))


@pytest.mark.parametrize(
    ("tampering", "broken_at", "reason"),
    [
        ("UPDATE audit_entries SET summary = '{\"n\": 99}' WHERE seq = 3", 3, "content"),
        ("UPDATE audit_entries SET actor = 'user:2' WHERE seq = 5", 5, "content"),
        ("DELETE FROM audit_entries WHERE seq = 2", 3, "missing"),
        # Swap two entries' contents and positions: the order is part of the chain.
        (
            "UPDATE audit_entries SET seq = -2 WHERE seq = 2; UPDATE audit_entries SET seq = 2 WHERE seq = 4;"
            " UPDATE audit_entries SET seq = 4 WHERE seq = -2",
            2,
            "link",
        ),
    ],
)
def test_tampering_is_found_at_the_right_entry(platform_url: str, tampering: str, broken_at: int, reason: str) -> None:
    _fill(6)
    _tamper(tampering)
    result = _verify()
    assert not result.ok
    assert result.broken_at == broken_at
    assert reason in (result.reason or "")


def test_forged_hash_is_caught_by_the_next_link(platform_url: str) -> None:
    _fill(4)
    with transaction() as session:
        entries = {json.loads(line)["seq"]: json.loads(line) for line in audit.export(session)}
    _tamper("UPDATE audit_entries SET object_id = 'forged' WHERE seq = 2")
    with transaction() as session:
        entry = session.get(audit.AuditEntry, 2)
        assert entry is not None
        forged_hash = audit.entry_hash(entry)
    _tamper(f"UPDATE audit_entries SET hash = '{forged_hash}' WHERE seq = 2")
    result = _verify()
    assert entries[3]["prev_hash"] != forged_hash
    assert (result.ok, result.broken_at) == (False, 3)
