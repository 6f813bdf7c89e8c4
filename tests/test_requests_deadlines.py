"""Due dates (Art. 12(3) and the policy's own deadline), extensions and their mail, reminders to the DPO, overdue requests."""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from privacydesk.auth.permissions import Permission
from privacydesk.cli.main import app as cli
from privacydesk.config import get_settings
from privacydesk.db.base import utcnow
from privacydesk.db.engine import transaction
from privacydesk.errors import Conflict
from privacydesk.mail.service import deliver
from privacydesk.policy.durations import Duration
from privacydesk.policy.loader import load_policy
from privacydesk.requests import deadlines, service, tasks
from privacydesk.requests.models import Channel, RequestType, SubjectRequest
from privacydesk.versions import service as versions
from tests.auth_support import OWNER, add_user, audit_entries, client, configure, issue_token
from tests.conftest import ROOT, PolicyFactory
from tests.requests_support import ANIA, mails, publish
from tests.test_mail import SmtpServer

pytestmark = pytest.mark.postgres
MONTH = Duration(1, "month")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("received", "deadline", "due"),
    [
        ("2024-01-31T10:00:00+00:00", MONTH, date(2024, 2, 29)),  # leap year: the month's last day
        ("2025-01-31T10:00:00+00:00", MONTH, date(2025, 2, 28)),
        ("2024-03-31T10:00:00+00:00", MONTH, date(2024, 4, 30)),
        ("2024-01-15T10:00:00+00:00", MONTH, date(2024, 2, 15)),  # the day of receipt is not counted
        ("2024-12-15T10:00:00+00:00", MONTH, date(2025, 1, 15)),
        ("2024-06-01T10:00:00+00:00", Duration(30, "day"), date(2024, 7, 1)),
        ("2024-01-15T10:00:00+00:00", Duration(30, "day"), date(2024, 2, 14)),  # the policy is stricter
        ("2024-01-31T10:00:00+00:00", Duration(30, "day"), date(2024, 2, 29)),  # the law is stricter
        ("2024-01-31T10:00:00+00:00", Duration(2, "month"), date(2024, 2, 29)),  # a laxer policy changes nothing
        ("2024-02-01T00:30:00+01:00", MONTH, date(2024, 2, 29)),  # UTC day: never later than the local one
    ],
)
def test_due_dates(received: str, deadline: Duration, due: date) -> None:
    assert deadlines.due_date(_at(received), deadline) == due


def test_the_registratura_policy_answers_within_30_days() -> None:
    policy = load_policy(ROOT / "examples" / "registratura" / "policy.yaml").policy
    assert policy.requests.deadline == Duration(30, "day")
    assert deadlines.due_date(_at("2024-01-15T08:00:00+00:00"), policy.requests.deadline) == date(2024, 2, 14)
    assert deadlines.due_date(_at("2024-01-31T08:00:00+00:00"), policy.requests.deadline) == date(2024, 2, 29)


@pytest.fixture
def staff(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    configure(monkeypatch, tmp_path)
    add_user()
    _, secret = issue_token(OWNER, {Permission.REQUESTS_MANAGE, Permission.REQUESTS_READ})
    return client(), {"Authorization": f"Bearer {secret}"}


def _enter(received_at: datetime, *, email: str | None = ANIA, request_type: RequestType = RequestType.access, language: str = "en") -> int:
    pairs = [("email", email)] if email else [("account_id", "C-1")]
    intake = service.Intake(type=request_type, identities=pairs, channel=Channel.letter, received_at=received_at, language=language)
    with transaction() as session:
        return service.submit(session, intake, actor="test", vouched_by="staff").request.id


def _request(request_id: int) -> SubjectRequest:
    with transaction() as session:
        return session.get_one(SubjectRequest, request_id)


def test_a_policy_deadline_applies_to_staff_entries(staff: tuple[TestClient, dict[str, str]], make_policy: PolicyFactory) -> None:
    browser, headers = staff
    publish(make_policy, deadline="30 days")
    letter = {
        "type": "erasure",
        "identities": [{"type": "email", "value": ANIA}],
        "channel": "letter",
        "received_at": "2024-01-15T09:00:00+01:00",
    }
    answer = browser.post("/api/v1/requests", json=letter, headers=headers).json()["request"]
    assert (answer["due_on"], answer["original_due_on"]) == ("2024-02-14", "2024-02-14")


def test_extensions_are_limited_and_the_person_is_told(
    staff: tuple[TestClient, dict[str, str]], make_policy: PolicyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser, headers = staff
    publish(make_policy)
    request_id = _enter(utcnow() - timedelta(days=5), language="fr")
    original = _request(request_id).original_due_on
    extend = f"/api/v1/requests/{request_id}/extend"

    assert browser.post(extend, json={"months": 1, "reason": ""}, headers=headers).status_code == 422
    assert browser.post(extend, json={"months": 3, "reason": "many systems"}, headers=headers).status_code == 422
    reason = "Vos données sont réparties dans 14 systèmes, dont des archives papier."
    answer = browser.post(extend, json={"months": 1, "reason": reason}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["person_mailed"] is True
    assert answer.json()["request"]["due_on"] == (original + relativedelta(months=1)).isoformat()
    assert answer.json()["request"]["extension_reason"] == reason

    (mail,) = mails("request_extended")
    assert mail.to == ANIA
    assert mail.subject == "Il nous faut plus de temps pour répondre à votre demande"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("PRIVACYDESK_SMTP_PORT", str(port))
    get_settings.cache_clear()
    server = SmtpServer(port)
    server.start()
    try:
        with transaction() as session:
            assert deliver(session, mail.id, last_attempt=False) is None
    finally:
        server.stop()
    (message,) = server.inbox.messages
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    text = plain.get_content()
    assert reason in text
    assert "nous avons prolongé le délai" in text
    new_due = original + relativedelta(months=1)
    assert f"{new_due.day} " in text and str(new_due.year) in text

    second = browser.post(extend, json={"months": 1, "reason": "still gathering"}, headers=headers).json()
    assert second["request"]["due_on"] == (original + relativedelta(months=2)).isoformat()
    third = browser.post(extend, json={"months": 1, "reason": "more"}, headers=headers)
    assert third.status_code == 422
    assert "2 months in all" in third.json()["error"]["message"]
    assert [entry.summary["months"] for entry in audit_entries() if entry.action == "request.extended"] == [1, 1]
    assert all(reason not in repr(entry.summary) for entry in audit_entries())


def test_an_extension_comes_before_the_original_due_day_ends(staff: tuple[TestClient, dict[str, str]], make_policy: PolicyFactory) -> None:
    publish(make_policy)
    request_id = _enter(_at("2024-01-31T10:00:00+00:00"), email=None)
    due = datetime(2024, 2, 29, 23, 59, tzinfo=UTC)
    with pytest.raises(Conflict, match="by 2024-02-29"), transaction() as session:
        deadlines.extend(
            session, session.get_one(SubjectRequest, request_id), months=2, reason="late", actor="test", now=due + timedelta(minutes=2)
        )
    with transaction() as session:
        request = session.get_one(SubjectRequest, request_id)
        mailed = deadlines.extend(session, request, months=2, reason="just in time", actor="test", now=due)
        assert request.due_on == date(2024, 4, 29)
    # Nobody to mail (an account id only): the caller is told to inform the person another way.
    assert mailed is False
    assert mails("request_extended") == []


def test_reminders_go_to_the_dpo_once_each(staff: tuple[TestClient, dict[str, str]], make_policy: PolicyFactory) -> None:
    publish(make_policy, deadline="10 days")
    now = utcnow()
    # Due in 7, 2 and 9 days: the last one is not reminded of yet.
    soon = _enter(now - timedelta(days=3), email="a@example.org")
    sooner = _enter(now - timedelta(days=8), email="b@example.org")
    third = _enter(now - timedelta(days=1), email="c@example.org")
    assert (_request(soon).due_on - now.date()).days == 7
    with transaction() as session:
        policy = versions.policy_of(versions.latest(session))  # type: ignore[arg-type]

    def remind(at: datetime) -> int:
        with transaction() as session:
            return deadlines.send_reminders(session, policy, now=at)

    assert remind(now) == 2
    assert remind(now) == 0
    assert remind(now + timedelta(hours=5)) == 0
    sent = mails("request_reminder")
    assert {mail.to for mail in sent} == {"dpo@example.fr"}
    assert {mail.subject for mail in sent} == {"L'échéance d'une demande de personne concernée approche"}
    by_reference = {
        reference: [mail.text_body for mail in sent if reference in mail.text_body]
        for reference in (_request(soon).reference, _request(sooner).reference)
    }
    assert "jours restants : 7" in by_reference[_request(soon).reference][0]
    assert "jours restants : 2" in by_reference[_request(sooner).reference][0]
    assert all(len(bodies) == 1 for bodies in by_reference.values())

    # Five days on, the first one is 2 days from its due day (its second reminder, once) and the third is 4 days from it.
    assert remind(now + timedelta(days=5)) == 2
    assert remind(now + timedelta(days=5)) == 0
    reminders = [(entry.object_id, entry.summary["days_before"]) for entry in audit_entries() if entry.action == "request.reminder_sent"]
    assert sorted(reminders) == sorted([(str(soon), 7), (str(sooner), 2), (str(soon), 2), (str(third), 7)])

    # The periodic job does the same with the latest policy and the current time: everything due soon was reminded of.
    tasks.remind(timestamp=0)
    assert len(mails("request_reminder")) == 4


def test_overdue_requests_are_listed(staff: tuple[TestClient, dict[str, str]], make_policy: PolicyFactory) -> None:
    browser, headers = staff
    publish(make_policy)
    late = _enter(utcnow() - timedelta(days=45), email="late@example.org")
    closed = _enter(utcnow() - timedelta(days=45), email="closed@example.org", request_type=RequestType.erasure)
    _enter(utcnow() - timedelta(days=3), email="fresh@example.org")
    with transaction() as session:
        service.cancel(session, session.get_one(SubjectRequest, closed), actor="test")

    overdue = browser.get("/api/v1/requests", params={"overdue": "true"}, headers=headers).json()
    assert [(item["id"], item["overdue"]) for item in overdue] == [(late, True)]
    assert len(browser.get("/api/v1/requests", headers=headers).json()) == 3
    result = CliRunner().invoke(cli, ["requests", "list", "--overdue"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith(f"{late} ") and lines[1].endswith("overdue")
