"""The seeds' periods enforced on their demo databases, checked against hand-written SQL, and the dry run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta

from privacydesk.connectors.registry import Connectors
from privacydesk.db.engine import transaction
from privacydesk.engine.run import default_context
from privacydesk.retention import service
from tests.auth_support import configure
from tests.retention_support import BACKENDS, NOW, SOON, audit_of, demo, ids, naive, policy, rows, run, runs_of

pytestmark = pytest.mark.usefixtures("platform_url")


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    configure(monkeypatch, tmp_path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_imou_alarms_snapshots_and_api_ips_go_after_7_days_and_recordings_when_the_plan_ends(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = demo("imou", request, backend, monkeypatch)
    week, day, year = naive(SOON - timedelta(days=7)), naive(SOON - timedelta(days=1)), naive(SOON - relativedelta(years=1))
    alarms, old_alarms = (
        ids(engine, "SELECT id FROM alarm_messages"),
        ids(engine, "SELECT id FROM alarm_messages WHERE created_at < :t", t=week),
    )
    snapshots = ids(engine, "SELECT id FROM alarm_snapshots")
    old_snapshots = ids(engine, "SELECT id FROM alarm_snapshots WHERE captured_at < :t", t=week)
    logs, old_logs = ids(engine, "SELECT id FROM api_logs"), ids(engine, "SELECT id FROM api_logs WHERE created_at < :t", t=week)
    recordings = ids(engine, "SELECT id FROM cloud_recordings")
    ended = ids(engine, "SELECT r.id FROM cloud_recordings r JOIN subscriptions s ON s.id = r.subscription_id WHERE s.ends_at < :t", t=day)
    running = ids(
        engine, "SELECT r.id FROM cloud_recordings r JOIN subscriptions s ON s.id = r.subscription_id WHERE s.ends_at >= :t", t=day
    )
    plans, old_plans = ids(engine, "SELECT id FROM subscriptions"), ids(engine, "SELECT id FROM subscriptions WHERE ends_at < :t", t=year)
    assert old_alarms and alarms - old_alarms and old_logs and logs - old_logs and ended and running and old_plans

    reports = run(policy("imou"), SOON)

    assert ids(engine, "SELECT id FROM alarm_messages") == alarms - old_alarms
    assert ids(engine, "SELECT id FROM alarm_snapshots") == snapshots - old_snapshots
    assert ids(engine, "SELECT id FROM api_logs") == logs - old_logs
    # A recording goes the day after its plan ends; while the plan runs it stays.
    assert ids(engine, "SELECT id FROM cloud_recordings") == recordings - ended == running
    assert ids(engine, "SELECT id FROM subscriptions") == plans - old_plans
    assert not ids(engine, "SELECT id FROM alarm_messages WHERE created_at < :t", t=week)
    # Each rule counted what it deleted, batch by batch in the audit log; children went first, so nothing was left to cascade.
    for rule, gone in (
        ("alarm_messages", old_alarms),
        ("alarm_snapshots", old_snapshots),
        ("api_logs", old_logs),
        ("cloud_recordings", ended),
    ):
        report = reports[f"imou_cloud.{rule}"]
        assert (report.status, report.deleted, report.cascaded) == ("done", len(gone), 0)
        assert sum(batch["deleted"] for batch in audit_of("retention.batch", report.run_id)) == len(gone)
        assert report.batches == -(-len(gone) // 50)
    # The device orders promise anonymity after 3 years: the rows stay, without the people in them.
    assert (
        rows(
            engine,
            "SELECT count(*) FROM device_orders WHERE ordered_at < :t AND buyer_name <> 'anonimizowano'",
            t=naive(SOON - relativedelta(years=3)),
        )[0][0]
        == 0
    )
    assert reports["imou_cloud.device_orders"].anonymised > 0
    # A second run finds nothing more to do.
    again = run(policy("imou"), SOON, "alarm_messages", "api_logs", "cloud_recordings")
    assert all((report.deleted, report.batches) == (0, 0) for report in again.values())


@pytest.mark.parametrize("backend", BACKENDS)
def test_registratura_keeps_data_for_the_contract_plus_at_most_3_years(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = demo("registratura", request, backend, monkeypatch)
    limit, accounting = naive(NOW - relativedelta(years=3)), naive(NOW - relativedelta(years=3))
    old = ids(engine, "SELECT id FROM contracts WHERE ended_at < :t", t=limit)
    others = ids(engine, "SELECT id FROM contracts WHERE ended_at IS NULL OR ended_at >= :t", t=limit)
    users, gone_users = ids(engine, "SELECT id FROM users"), ids(engine, "SELECT id FROM users WHERE contract_id IN :c", c=old)
    entries = ids(engine, "SELECT id FROM registry_entries")
    gone_entries = ids(engine, "SELECT id FROM registry_entries WHERE contract_id IN :c", c=old)
    emails_before = dict(rows(engine, "SELECT id, signatory_email FROM contracts"))
    held_payments = ids(engine, "SELECT id FROM payments WHERE contract_id IN :c AND paid_at >= :t", c=old, t=accounting)
    freed_payments = ids(engine, "SELECT id FROM payments WHERE contract_id IN :c AND paid_at < :t", c=old, t=accounting)
    assert old and others and gone_users and users - gone_users and gone_entries and freed_payments

    reports = run(policy("registratura"), NOW)

    assert all(report.status == "done" for report in reports.values()), reports
    assert ids(engine, "SELECT id FROM users") == users - gone_users
    assert ids(engine, "SELECT id FROM registry_entries") == entries - gone_entries
    for table in ("devices", "support_tickets"):
        assert not ids(engine, f"SELECT id FROM {table} WHERE user_id IN :u", u=gone_users)
    # Ended contracts are anonymised, never deleted: their payments keep pointing at them.
    anonymised = rows(engine, "SELECT signatory_name, signatory_email, signatory_phone FROM contracts WHERE id IN :c", c=old)
    assert {tuple(row) for row in anonymised} == {("anonimizat", None, None)}
    assert {row[0]: row[1] for row in rows(engine, "SELECT id, signatory_email FROM contracts")} == {
        key: (None if key in old else email) for key, email in emails_before.items()
    }
    # Payments of those contracts lose the payer, except those the accounting law still holds.
    payers = {row[0]: (row[1], row[2]) for row in rows(engine, "SELECT id, payer_name, payer_email FROM payments")}
    assert all(payers[key] == ("anonimizat", None) for key in freed_payments)
    assert all(payers[key][1] is not None and payers[key][0] != "anonimizat" for key in held_payments)
    assert reports["registratura_db.users"].deleted == len(gone_users)
    assert reports["registratura_db.contracts"].anonymised == len(old)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_plan_counts_what_is_due_and_changes_nothing(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = demo("imou", request, backend, monkeypatch, users=150)
    week = naive(NOW - timedelta(days=7))
    warn = naive(NOW - relativedelta(years=2) + relativedelta(months=3))
    counts = {table: rows(engine, f"SELECT count(*) FROM {table}")[0][0] for table in ("api_logs", "users", "alarm_messages")}
    due_logs = ids(engine, "SELECT id FROM api_logs WHERE created_at < :t", t=week)
    to_warn = ids(engine, "SELECT id FROM users WHERE last_active_at < :t", t=warn)
    past = ids(engine, "SELECT id FROM users WHERE last_active_at < :t", t=naive(NOW - relativedelta(years=2)))
    upcoming = rows(engine, "SELECT min(created_at) FROM api_logs WHERE created_at >= :t", t=week)[0][0]

    with transaction() as session, Connectors(policy("imou"), default_context(policy("imou"))) as pool:
        planned = {entry.rule: entry for entry in service.plan(session, policy("imou"), pool, NOW)}

    logs = planned["imou_cloud.api_logs"]
    assert (logs.due, logs.held, logs.action, logs.keep) == (len(due_logs), 0, "delete", "7 days")
    assert logs.next_due == (upcoming + timedelta(days=7) if upcoming else None)
    assert planned["imou_cloud.alarm_messages"].cascade == ["alarm_snapshots"]
    users = planned["imou_cloud.users"]
    assert (users.due, users.to_warn, users.waiting, users.deletable) == (len(past), len(to_warn), 0, 0)
    assert "devices" in users.cascade and "alarm_snapshots" in users.cascade
    assert {table: rows(engine, f"SELECT count(*) FROM {table}")[0][0] for table in counts} == counts
    assert not runs_of("imou_cloud.api_logs")
