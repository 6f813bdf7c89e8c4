"""Rule runs: resumed after a crash with every row counted once, one process per rule, scheduled daily, shown by the API and CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from privacydesk.audit import service as audit_service
from privacydesk.auth.permissions import Permission
from privacydesk.cli.main import app as cli
from privacydesk.connectors.sql import SqlConnector
from privacydesk.errors import Invalid
from privacydesk.policy.loader import load_policy
from privacydesk.retention import runner, tasks
from privacydesk.retention.planner import rules
from tests.auth_support import add_user, client, configure, issue_token
from tests.conftest import PolicyFactory
from tests.jobs_support import rows as platform_rows
from tests.jobs_support import work_until
from tests.retention_support import BACKENDS, SOON, audit_of, demo, ids, naive, policy, publish, run, runs_of

pytestmark = pytest.mark.usefixtures("platform_url")


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    configure(monkeypatch, tmp_path)


def _crash_on_third(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Make the third batch fail: before its DELETE, or after it, when it is recorded."""
    calls = {"count": 0}

    def third() -> bool:
        calls["count"] += 1
        return calls["count"] == 3

    if where == "before the delete":
        for name in ("delete_due", "delete"):
            original = getattr(SqlConnector, name)

            def failing(self: SqlConnector, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                if third():
                    raise RuntimeError("power cut")
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(SqlConnector, name, failing)
        return
    record = audit_service.record

    def failing_record(session: Any, **entry: Any) -> Any:
        if entry["action"] == "retention.batch" and third():
            raise RuntimeError("power cut")
        return record(session, **entry)

    monkeypatch.setattr(audit_service, "record", failing_record)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("rule", "where"),
    [("api_logs", "after the delete"), ("alarm_messages", "after the delete"), ("api_logs", "before the delete")],
    ids=["range-after", "keys-after", "range-before"],
)
def test_a_run_that_crashed_resumes_and_counts_every_row_once(
    backend: str, rule: str, where: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = demo("imou", request, backend, monkeypatch)
    stamp = "created_at"
    week = naive(SOON - timedelta(days=7))
    due = ids(engine, f"SELECT id FROM {rule} WHERE {stamp} < :t", t=week)
    everything = ids(engine, f"SELECT id FROM {rule}")
    along = ids(engine, "SELECT id FROM alarm_snapshots WHERE alarm_id IN :a", a=due) if rule == "alarm_messages" else set()
    batch = 40
    assert len(due) > 4 * batch

    with monkeypatch.context() as patch:
        _crash_on_third(patch, where)
        with pytest.raises(RuntimeError, match="power cut"):
            run(policy("imou"), SOON, rule, batch_size=batch)
    # Batches 1 and 2 were recorded; 3 and 4 were written ahead (the fourth is planned while the third runs), and ran
    # (or, when the third one failed before its DELETE, did not).
    [crashed] = runs_of(f"imou_cloud.{rule}")
    assert (crashed.status, crashed.batches, crashed.deleted) == ("failed", 2, 2 * batch)
    assert crashed.pending is not None and [pending["number"] for pending in crashed.pending["batches"]] == [3, 4]
    gone = len(everything) - len(ids(engine, f"SELECT id FROM {rule}"))
    assert gone == (4 if where == "after the delete" else 2) * batch

    report = run(policy("imou"), SOON, rule, batch_size=batch)[f"imou_cloud.{rule}"]

    # The same run finished the work: each row counted once, every batch audited once, nothing due left.
    assert (report.run_id, report.status, report.deleted, report.cascaded) == (crashed.id, "done", len(due), len(along))
    assert ids(engine, f"SELECT id FROM {rule}") == everything - due
    batches = audit_of("retention.batch", crashed.id)
    assert [entry["batch"] for entry in batches] == list(range(1, report.batches + 1))
    assert sum(entry["deleted"] for entry in batches) == len(due)
    assert len(audit_of("retention.run.resume", crashed.id)) == 1
    assert [run.status for run in runs_of(f"imou_cloud.{rule}")] == ["done"]


POLICY = """\
format: 1
organization:
  name: Exemple SAS
  address: 1 rue de la Paix, 75002 Paris
  country: FR
  contact: {email: privacy@example.fr}
  dpo: {name: Jeanne Martin, email: dpo@example.fr}
  supervisory_authority: {dpv: "legal-fr:DPA-FR"}
  languages: [fr, en]
  effective: 2024-05-01
data:
  ip_address: {dpv: "pd:IPAddress"}
subjects:
  customer: {dpv: "dpv:Customer"}
activities:
  security_logs:
    title: {en: Security logs, fr: Journaux de sécurité}
    purposes: ["dpv:EnforceSecurity"]
    legal_basis: legitimate_interest
    legitimate_interest: {en: Keeping the site safe, fr: Protéger le site}
    subjects: [customer]
    data: [ip_address]
    retention: 30 days
systems:
  shop_db:
    connector: sql
    url: env:SHOP_DB_URL
    location: FR
    collections:
      events:
        fields: {ip_address: ip_address}
        erase: delete
        retention: {keep: 30 days, from: created_at}
"""


@pytest.mark.postgres
def test_a_run_killed_mid_way_finishes_once_when_run_again(postgres_url: str, platform_url: str, tmp_path: Path) -> None:
    shop = create_engine(postgres_url)
    with shop.begin() as connection:
        connection.execute(text("CREATE TABLE events (id integer PRIMARY KEY, ip_address text NOT NULL, created_at timestamp NOT NULL)"))
        # Two rows in three are 50 days old (due), one in three 10 days old (kept), interleaved.
        connection.execute(
            text(
                "INSERT INTO events SELECT g, '10.0.0.' || (g % 250), (now() AT TIME ZONE 'UTC') - CASE WHEN g % 3 = 0"
                " THEN interval '10 days' ELSE interval '50 days' END FROM generate_series(1, 9000) g"
            )
        )
    due, kept = 6_000, 3_000
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY, encoding="utf-8")
    environment = {**os.environ, "SHOP_DB_URL": postgres_url, "PRIVACYDESK_DATABASE_URL": platform_url}
    command = [sys.executable, "-m", "privacydesk.cli.main", "retention", "run", "--policy", str(path), "--batch-size", "30"]

    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not platform_rows("SELECT 1 FROM retention_runs WHERE batches >= 5"):
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    [(run_id, status, batches)] = platform_rows("SELECT id, status, batches FROM retention_runs")
    assert status == "running" and batches < due // 30
    with shop.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM events")).scalar_one() < due + kept

    finished = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)

    assert finished.returncode == 0, finished.stderr
    assert f"run {run_id} done: {due} deleted" in finished.stdout
    with shop.connect() as connection:
        assert connection.execute(text("SELECT count(*), min(created_at) FROM events")).one()[0] == kept
    [(status, deleted, batches)] = platform_rows("SELECT status, deleted, batches FROM retention_runs")
    assert (status, deleted, batches) == ("done", due, due // 30)
    audited = audit_of("retention.batch", run_id)
    assert [entry["batch"] for entry in audited] == list(range(1, batches + 1))
    assert sum(entry["deleted"] for entry in audited) == due
    shop.dispose()


@pytest.mark.postgres
def test_two_processes_never_run_one_rule_at_once(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = demo("imou", request, "postgres", monkeypatch, users=100)
    logs = ids(engine, "SELECT id FROM api_logs")
    with runner.rule_lock("imou_cloud.api_logs") as held:
        assert held is not None
        report = run(policy("imou"), SOON, "api_logs")["imou_cloud.api_logs"]
        assert (report.status, report.run_id) == ("skipped", None)
        assert ids(engine, "SELECT id FROM api_logs") == logs
    assert run(policy("imou"), SOON, "api_logs")["imou_cloud.api_logs"].status == "done"
    assert ids(engine, "SELECT id FROM api_logs") < logs


@pytest.mark.postgres
def test_the_daily_job_runs_every_rule_of_the_published_policy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = demo("imou", request, "postgres", monkeypatch, users=100)
    monkeypatch.setenv("PRIVACYDESK_WORKER_POLL_SECONDS", "0.1")
    publish("imou")
    with engine.connect() as connection:
        stamps = {key: stamp for key, stamp in connection.execute(text("SELECT id, created_at FROM api_logs"))}  # noqa: C416
    names = [rule.id for rule in rules(policy("imou"))]

    tasks.schedule(0)
    tasks.schedule(0)  # a rule whose run already waits is not queued twice
    queued = platform_rows("SELECT args->>'rule', lock FROM procrastinate_jobs WHERE task_name = 'retention.run_rule'")
    assert sorted(rule for rule, _ in queued) == sorted(names)
    assert all(lock == f"retention:{rule}" for rule, lock in queued)
    # (Mail of the inactivity notices waits for an SMTP server; the rule runs are what is awaited.)
    work_until(
        lambda: not platform_rows("SELECT 1 FROM procrastinate_jobs WHERE task_name = 'retention.run_rule' AND status <> 'succeeded'")
    )

    finished = platform_rows("SELECT rule, trigger, policy_version, status, as_of, deleted FROM retention_runs")
    assert sorted(row[0] for row in finished) == sorted(names)
    assert {row[1:4] for row in finished} == {("schedule", 1, "done")}
    as_of, deleted = next(row[4:] for row in finished if row[0] == "imou_cloud.api_logs")
    assert deleted == sum(stamp < naive(as_of - timedelta(days=7)) for stamp in stamps.values())


@pytest.mark.postgres
def test_the_api_shows_runs_and_the_plan_and_queues_runs_for_those_allowed(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo("imou", request, "postgres", monkeypatch, users=100)
    publish("imou")
    run(policy("imou"), SOON, "api_logs")
    add_user()
    _, reader = issue_token("owner@example.com", {Permission.RETENTION_READ})
    _, operator = issue_token("owner@example.com", {Permission.RETENTION_RUN, Permission.RETENTION_HOLDS})
    api = client()

    listed = api.get("/api/v1/retention/runs", headers={"Authorization": f"Bearer {reader}"})
    assert listed.status_code == 200
    assert [(item["rule"], item["status"], item["trigger"]) for item in listed.json()] == [("imou_cloud.api_logs", "done", "cli")]
    planned = api.get("/api/v1/retention/plan", params={"rule": "api_logs"}, headers={"Authorization": f"Bearer {reader}"})
    assert planned.status_code == 200 and planned.json()["policy_version"] == 1
    assert [entry["rule"] for entry in planned.json()["rules"]] == ["imou_cloud.api_logs"]
    assert api.get("/api/v1/retention/runs").status_code == 401
    assert api.get("/api/v1/retention/runs", headers={"Authorization": f"Bearer {operator}"}).status_code == 403
    refused = api.post("/api/v1/retention/runs", json={"rules": ["api_logs"]}, headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403

    queued = api.post("/api/v1/retention/runs", json={"rules": ["api_logs"]}, headers={"Authorization": f"Bearer {operator}"})
    assert queued.status_code == 202 and queued.json() == {"queued": ["imou_cloud.api_logs"]}
    unknown = api.post("/api/v1/retention/runs", json={"rules": ["nowhere"]}, headers={"Authorization": f"Bearer {operator}"})
    assert unknown.status_code == 422 and "'nowhere' is not a retention rule of this policy" in unknown.json()["error"]["message"]
    hold = api.post(
        "/api/v1/retention/holds",
        json={"reason": "Case 3/2026", "system": "imou_cloud", "collection": "api_logs", "keys": ["1", "2"]},
        headers={"Authorization": f"Bearer {operator}"},
    )
    assert hold.status_code == 201 and hold.json()["keys"] == ["1", "2"]
    released = api.post(f"/api/v1/retention/holds/{hold.json()['id']}/release", headers={"Authorization": f"Bearer {operator}"})
    assert released.status_code == 200 and released.json()["released_by"]


@pytest.mark.postgres
def test_the_command_line_plans_runs_and_lists_runs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = demo("imou", request, "postgres", monkeypatch, users=100)
    publish("imou")
    before = ids(engine, "SELECT id FROM api_logs")

    planned = CliRunner().invoke(cli, ["retention", "plan", "--rule", "api_logs", "--json"])
    assert planned.exit_code == 0, planned.output
    [entry] = json.loads(planned.output)["rules"]
    assert entry["rule"] == "imou_cloud.api_logs" and entry["due"] >= 0
    assert ids(engine, "SELECT id FROM api_logs") == before

    ran = CliRunner().invoke(cli, ["retention", "run", "--rule", "api_logs", "--rule", "alarm_messages"])
    assert ran.exit_code == 0, ran.output
    assert "imou_cloud.api_logs: run 1 done:" in ran.output and "imou_cloud.alarm_messages: run 2 done:" in ran.output
    listed = CliRunner().invoke(cli, ["retention", "runs"])
    assert listed.output.splitlines()[1].split()[:4] == ["2", "imou_cloud.alarm_messages", "done", "cli"]

    unknown = CliRunner().invoke(cli, ["retention", "run", "--rule", "nowhere"])
    assert unknown.exit_code == 1 and "'nowhere' is not a retention rule of this policy (rules: " in unknown.output
    assert "imou_cloud.api_logs" in unknown.output
    assert len(platform_rows("SELECT 1 FROM retention_runs")) == 2


def test_rules_that_cannot_be_kept_are_refused(make_policy: PolicyFactory) -> None:
    def through_reference(data: dict[str, Any]) -> None:
        data["systems"]["shop_db"]["collections"]["access_log"]["retention"] = {"keep": "7 days", "from": "customer.id", "notice": "1 day"}

    def notice_longer_than_period(data: dict[str, Any]) -> None:
        data["systems"]["shop_db"]["collections"]["access_log"]["retention"] = {"keep": "7 days", "from": "created_at", "notice": "1 month"}

    with pytest.raises(Invalid, match=r"a rule with a notice runs from an activity column of its own table, not from customer\.id"):
        rules(load_policy(make_policy(through_reference)).policy)
    with pytest.raises(Invalid, match=r"the notice \(1 month\) must be shorter than the period \(7 days\)"):
        rules(load_policy(make_policy(notice_longer_than_period)).policy)
