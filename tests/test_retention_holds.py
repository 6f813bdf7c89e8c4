"""Legal holds staff place on rows and on people: held rows survive every run until the hold is released."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from privacydesk.cli.main import app as cli
from privacydesk.consent import restrictions
from privacydesk.consent.models import ConsentRestriction
from privacydesk.consent.subjects import parse
from privacydesk.db.engine import transaction
from privacydesk.errors import Invalid
from privacydesk.fulfilment import actions
from privacydesk.requests import service as requests
from privacydesk.requests.models import Channel, RequestType
from privacydesk.retention import holds
from tests.auth_support import configure
from tests.retention_support import BACKENDS, SOON, audit_of, demo, ids, naive, policy, publish, rows, run, runs_of

pytestmark = pytest.mark.usefixtures("platform_url")


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    configure(monkeypatch, tmp_path)


def _place(**target: object) -> int:
    with transaction() as session:
        return holds.place(session, reason="Case 12/2026, district court", actor="test", policy=policy("imou"), **target).id  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_held_rows_and_a_held_persons_data_survive_until_the_hold_is_released(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = demo("imou", request, backend, monkeypatch)
    week = naive(SOON - timedelta(days=7))
    old_logs = sorted(ids(engine, "SELECT id FROM api_logs WHERE created_at < :t", t=week))
    # A person with old API calls and old alarms: everything of theirs is held.
    person, address = rows(
        engine,
        "SELECT u.id, u.email FROM users u WHERE u.email IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM api_logs l WHERE l.user_id = u.id AND l.created_at < :t)"
        " AND EXISTS (SELECT 1 FROM alarm_messages a WHERE a.user_id = u.id AND a.created_at < :t) ORDER BY u.id",
        t=week,
    )[0]
    their_logs = ids(engine, "SELECT id FROM api_logs WHERE user_id = :u AND created_at < :t", u=person, t=week)
    their_alarms = ids(engine, "SELECT id FROM alarm_messages WHERE user_id = :u AND created_at < :t", u=person, t=week)
    named_logs = set([key for key in old_logs if key not in their_logs][:3])
    # A snapshot held on its own: its alarm may not be deleted from under it, so the alarm loses its content instead.
    snapshot, alarm, alarm_text = rows(
        engine,
        "SELECT s.id, a.id, a.message FROM alarm_snapshots s JOIN alarm_messages a ON a.id = s.alarm_id"
        " WHERE a.created_at < :t AND a.user_id <> :u ORDER BY s.id",
        t=week,
        u=person,
    )[0]
    alarms = ids(engine, "SELECT id FROM alarm_messages")
    old_alarms = ids(engine, "SELECT id FROM alarm_messages WHERE created_at < :t", t=week)

    rows_hold = _place(system="imou_cloud", collection="api_logs", keys=[str(key) for key in named_logs])
    person_hold = _place(identity=("email", address.upper()))
    snapshot_hold = _place(system="imou_cloud", collection="alarm_snapshots", keys=[str(snapshot)])

    reports = run(policy("imou"), SOON, "api_logs", "alarm_snapshots", "alarm_messages")

    kept_logs = named_logs | their_logs
    assert ids(engine, "SELECT id FROM api_logs WHERE created_at < :t", t=week) == kept_logs
    assert reports["imou_cloud.api_logs"].held == len(kept_logs)
    assert reports["imou_cloud.api_logs"].deleted == len(old_logs) - len(kept_logs)
    assert ids(engine, "SELECT id FROM alarm_messages") == (alarms - old_alarms) | their_alarms | {alarm}
    assert ids(engine, "SELECT id FROM alarm_snapshots WHERE id = :s", s=snapshot) == {snapshot}
    message, push = rows(engine, "SELECT message, push_id FROM alarm_messages WHERE id = :a", a=alarm)[0]
    assert message != alarm_text and push is None
    assert reports["imou_cloud.alarm_messages"].anonymised == 1
    # The log says that holds were placed and on what kind of target, never whose data they hold.
    placed = audit_of("retention.hold.place")
    assert [entry["on"] for entry in placed] == ["imou_cloud.api_logs", "person", "imou_cloud.alarm_snapshots"]
    assert address.lower() not in str(placed).lower()

    for hold in (rows_hold, person_hold, snapshot_hold):
        with transaction() as session:
            holds.release(session, hold, actor="test")
    again = run(policy("imou"), SOON, "api_logs", "alarm_snapshots", "alarm_messages")
    assert not ids(engine, "SELECT id FROM api_logs WHERE created_at < :t", t=week)
    assert ids(engine, "SELECT id FROM alarm_messages") == alarms - old_alarms
    assert again["imou_cloud.api_logs"].deleted == len(kept_logs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_person_who_restricted_processing_keeps_their_data_until_the_restriction_is_lifted(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = demo("imou", request, backend, monkeypatch)
    publish("imou")
    week = naive(SOON - timedelta(days=7))
    people = rows(
        engine,
        "SELECT u.id, u.email FROM users u WHERE u.email IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM api_logs l WHERE l.user_id = u.id AND l.created_at < :t) ORDER BY u.id",
        t=week,
    )
    (asked, address), (by_account, _), (objector, objector_address) = people[0], people[1], people[2]
    old_logs = ids(engine, "SELECT id FROM api_logs WHERE created_at < :t", t=week)
    logs_of = {
        person: ids(engine, "SELECT id FROM api_logs WHERE user_id = :u AND created_at < :t", u=person, t=week)
        for person in (asked, by_account, objector)
    }
    with transaction() as session:
        # A restriction request (Art. 18) the team verified, carried out on the register as its job does it ...
        intake = requests.Intake(RequestType.restriction, [("email", address)], Channel.email)
        made = requests.submit(session, intake, actor="test", vouched_by="staff").request
        actions.perform(session, "restrict", made, policy("imou"))
        # ... a restriction entered under an account key, and an objection, which does not stop retention.
        restrictions.restrict(session, parse(f"account:{by_account}"), reason="restriction", actor="test")
        restrictions.restrict(session, parse(f"email:{objector_address}"), reason="objection", actor="test", purpose="ux_plan")

    reports = run(policy("imou"), SOON, "api_logs")

    kept = logs_of[asked] | logs_of[by_account]
    assert ids(engine, "SELECT id FROM api_logs WHERE created_at < :t", t=week) == kept
    assert not logs_of[objector] & ids(engine, "SELECT id FROM api_logs")
    report = reports["imou_cloud.api_logs"]
    assert (report.restricted, report.held, report.deleted) == (len(kept), 0, len(old_logs) - len(kept))
    (finished,) = audit_of("retention.run.finish")
    assert finished["restricted"] == len(kept)
    assert runs_of("imou_cloud.api_logs")[-1].restricted == len(kept)

    with transaction() as session:
        for entry in session.query(ConsentRestriction).filter(ConsentRestriction.reason == "restriction"):
            restrictions.lift(session, entry.id, actor="test")
    again = run(policy("imou"), SOON, "api_logs")
    assert not ids(engine, "SELECT id FROM api_logs WHERE created_at < :t", t=week)
    assert (again["imou_cloud.api_logs"].deleted, again["imou_cloud.api_logs"].restricted) == (len(kept), 0)


def test_a_hold_names_rows_or_a_person_and_gives_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [
        ({"reason": " ", "identity": ("email", "a@b.c")}, "needs a reason"),
        ({"reason": "case", "system": "imou_cloud", "collection": "api_logs"}, "at least one row key"),
        ({"reason": "case", "system": "imou_cloud", "collection": "nowhere", "keys": ["1"]}, "no collection imou_cloud.nowhere"),
        ({"reason": "case", "identity": ("passport", "X1")}, "unknown identity type 'passport'"),
        ({"reason": "case", "identity": ("email", "a@b.c"), "system": "imou_cloud", "keys": ["1"]}, "not both"),
        ({"reason": "case", "identity": ("email", "a@b.c"), "ends_at": datetime(2000, 1, 1, tzinfo=UTC)}, "in the future"),
    ]
    for target, message in cases:
        with pytest.raises(Invalid, match=message), transaction() as session:
            holds.place(session, actor="test", policy=policy("imou"), **target)  # type: ignore[arg-type]
    with transaction() as session:
        assert holds.listed(session, include_ended=True) == []
    assert audit_of("retention.hold.place") == []


def test_holds_from_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    publish("imou")
    placed = CliRunner().invoke(cli, ["retention", "hold", "place", "--reason", "Inspection 7/2026", "--identity", "email=ana@example.org"])
    assert placed.exit_code == 0, placed.output
    listed = CliRunner().invoke(cli, ["retention", "hold", "list"])
    assert "email=ana@example.org" in listed.output and "Inspection 7/2026" in listed.output
    number = placed.output.split()[-1]
    assert CliRunner().invoke(cli, ["retention", "hold", "release", number]).exit_code == 0
    assert "no legal hold" in CliRunner().invoke(cli, ["retention", "hold", "list"]).output
    twice = CliRunner().invoke(cli, ["retention", "hold", "release", number])
    assert twice.exit_code == 1 and "already released" in twice.output
    bad = CliRunner().invoke(cli, ["retention", "hold", "place", "--reason", "x", "--identity", "ana@example.org"])
    assert bad.exit_code == 1 and "TYPE=VALUE" in bad.output
