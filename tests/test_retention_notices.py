"""Inactive accounts: warned by e-mail in their language, deleted only once the notice has run out, kept when the person came back."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select, text

from privacydesk.config import get_settings
from privacydesk.db.engine import transaction
from privacydesk.mail.models import OutboundMail
from privacydesk.retention import notices, tasks
from privacydesk.retention.models import RetentionNotice
from tests.auth_support import client, configure
from tests.jobs_support import rows as platform_rows
from tests.jobs_support import work_until
from tests.retention_support import BACKENDS, NOW, audit_of, demo, edited_policy, ids, naive, policy, publish, rows, run
from tests.test_mail import SmtpServer

pytestmark = pytest.mark.usefixtures("platform_url")
USERS = "imou_cloud.users"
KEEP_LINK = re.compile(r"https?://\S+/api/v1/public/retention/keep/(\S+)")


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    configure(monkeypatch, tmp_path)


def _mails() -> dict[str, OutboundMail]:
    with transaction() as session:
        return {mail.to: mail for mail in session.scalars(select(OutboundMail).where(OutboundMail.template == "retention_notice"))}


def _token(mail: OutboundMail) -> str:
    match = KEEP_LINK.search(mail.text_body)
    assert match is not None, mail.text_body
    return match.group(1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_inactive_accounts_are_warned_then_deleted_only_after_the_notice_unless_the_person_came_back(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = demo("imou", request, backend, monkeypatch)
    publish("imou")
    window = naive(NOW - relativedelta(years=2) + relativedelta(months=3))
    warned = ids(engine, "SELECT id FROM users WHERE last_active_at < :t", t=window)
    overdue = ids(engine, "SELECT id FROM users WHERE last_active_at < :t", t=naive(NOW - relativedelta(years=2)))
    addresses = dict(rows(engine, "SELECT id, email FROM users WHERE id IN :w", w=warned))
    users = ids(engine, "SELECT id FROM users")
    assert overdue and warned - overdue and any(address is None for address in addresses.values())

    # Day 0: everyone within 3 months of the 2 years is warned, in Polish, with a link; nobody is deleted,
    # not even those already past the 2 years.
    first = run(policy("imou"), NOW, "users")[USERS]
    assert (first.noticed, first.deleted, first.waiting) == (len(warned), 0, len(overdue))
    mails = _mails()
    assert set(mails) == {address for address in addresses.values() if address}
    deadline = NOW + relativedelta(months=3)
    sample = next(iter(mails.values()))
    assert (sample.language, sample.subject) == ("pl", "Twoje konto zostanie usunięte z powodu braku aktywności")
    assert "22 lutego 2027" in sample.text_body and "2 lata" in sample.text_body
    with transaction() as session:
        recorded = list(session.scalars(select(RetentionNotice)))
    assert len(recorded) == len(warned) and {notice.delete_not_before for notice in recorded} == {deadline}
    assert sum(not notice.mailed for notice in recorded) == sum(address is None for address in addresses.values())
    assert ids(engine, "SELECT id FROM users") == users
    # The notice table names people by a keyed digest, never by their key or address.
    assert not any(str(key) == notice.person_hash for notice in recorded for key in warned)

    mailed = sorted(key for key in overdue if addresses.get(key))
    returning, keeping = mailed[0], mailed[1]
    # One person comes back to the app; another uses the keep link (recorded now, written to the app by a job).
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE users SET last_active_at = :t WHERE id = :id"), {"t": naive(NOW + timedelta(days=5)), "id": returning}
        )
    with transaction() as session:
        notice, changed = notices.keep(session, _token(mails[addresses[keeping]]), NOW + timedelta(days=10))
    assert changed
    tasks.keep_activity(notice.id, keeping)
    assert rows(engine, "SELECT last_active_at FROM users WHERE id = :id", id=keeping)[0][0] == naive(NOW + timedelta(days=10))

    # A month later the notice still runs: still nobody deleted, nobody warned twice.
    month = run(policy("imou"), NOW + relativedelta(months=1), "users")[USERS]
    assert (month.deleted, month.cascaded) == (0, 0)
    assert ids(engine, "SELECT id FROM users") == users
    entered = ids(
        engine, "SELECT id FROM users WHERE last_active_at < :t", t=naive(NOW + relativedelta(months=1) - relativedelta(years=2, months=-3))
    )
    assert month.noticed == len(entered - warned)

    # Once the notice has run out, the warned accounts go with their devices and alarms; the two who came back stay.
    later = NOW + relativedelta(months=3, days=1)
    gone = warned - {returning, keeping}
    devices = ids(engine, "SELECT id FROM devices WHERE user_id IN :g", g=gone)
    last = run(policy("imou"), later, "users")[USERS]
    assert last.deleted == len(gone)
    assert last.cascaded >= len(devices) > 0
    assert ids(engine, "SELECT id FROM users") == users - gone
    assert not ids(engine, "SELECT id FROM devices WHERE user_id IN :g", g=gone)
    assert not ids(engine, "SELECT id FROM alarm_messages WHERE user_id IN :g", g=gone)
    assert sum(batch["deleted"] for batch in audit_of("retention.batch", last.run_id)) == len(gone)
    # The audit log counts; it never names anyone.
    assert not any(address in str(audit_of(action)) for address in mails for action in ("retention.batch", "retention.notices"))


def test_notices_speak_the_language_of_the_row_and_arrive_through_smtp(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    engine = demo("imou", request, "postgres", monkeypatch, users=200)
    languages = {"en-GB": "en", "pl-PL": "pl", "ro-RO": "ro", "fr-FR": "fr", "cs-CZ": "cs", "de-DE": "pl"}
    accounts = sorted(ids(engine, "SELECT id FROM rma_accounts"))[: len(languages)]
    assert len(accounts) == len(languages)
    with engine.begin() as connection:
        for key, spoken in zip(accounts, languages, strict=True):
            connection.execute(
                text("UPDATE rma_accounts SET language = :l, last_login_at = :t, email = :e WHERE id = :id"),
                {"l": spoken, "t": naive(NOW - relativedelta(years=3)), "e": f"rma{key}@example.org", "id": key},
            )
    enforced = edited_policy(
        "imou", tmp_path, "rma_accounts", {"keep": "3 years", "from": "last_login_at", "notice": "1 month", "language": "language"}
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("PRIVACYDESK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PRIVACYDESK_SMTP_PORT", str(port))
    monkeypatch.setenv("PRIVACYDESK_WORKER_POLL_SECONDS", "0.1")
    get_settings.cache_clear()

    report = run(enforced, NOW, "rma_accounts")["imou_cloud.rma_accounts"]

    assert (report.noticed, report.deleted) == (len(accounts), 0)
    with _smtp(port) as server:
        work_until(lambda: not platform_rows("SELECT 1 FROM outbound_mail WHERE status <> 'sent'"))
    received = {str(message["To"]): message for message in server.inbox.messages}
    subjects = {
        "en": "Your account will be deleted for inactivity",
        "pl": "Twoje konto zostanie usunięte z powodu braku aktywności",
        "ro": "Contul dumneavoastră va fi șters din cauza inactivității",
        "fr": "Votre compte sera supprimé pour inactivité",
        "cs": "Váš účet bude pro neaktivitu smazán",
    }
    for key, spoken in zip(accounts, languages.values(), strict=True):
        message = received[f"rma{key}@example.org"]
        assert (message["Content-Language"], message["Subject"]) == (spoken, subjects[spoken])
        body = message.get_body(preferencelist=("plain",))
        assert body is not None and KEEP_LINK.search(body.get_content())


@pytest.mark.postgres
def test_the_keep_link_shows_a_button_keeps_on_post_and_refuses_forgeries(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo("imou", request, "postgres", monkeypatch, users=150)
    run(policy("imou"), NOW, "users")
    mail = next(iter(_mails().values()))
    token = _token(mail)
    browser = client()

    page = browser.get(f"/api/v1/public/retention/keep/{token}")
    assert page.status_code == 200 and "Zachowaj moje konto" in page.text and '<form method="post">' in page.text
    with transaction() as session:
        assert session.scalars(select(RetentionNotice).where(RetentionNotice.kept_at.is_not(None))).first() is None

    kept = browser.post(f"/api/v1/public/retention/keep/{token}")
    assert kept.status_code == 200 and "Twoje konto zostaje zachowane" in kept.text
    assert kept.headers["cache-control"] == "no-store" and kept.headers["referrer-policy"] == "no-referrer"
    with transaction() as session:
        notice = session.scalars(select(RetentionNotice).where(RetentionNotice.kept_at.is_not(None))).one()
    assert platform_rows("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'retention.keep'")[0][0] == 1
    assert [entry["rule"] for entry in audit_of("retention.keep")] == [USERS]
    # A second click changes nothing more.
    assert browser.post(f"/api/v1/public/retention/keep/{token}").status_code == 200
    assert platform_rows("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'retention.keep'")[0][0] == 1

    number, packed, signature = token.split(".")
    for forged in (f"{number}.{packed}.{'0' * len(signature)}", f"{int(number) + 1}.{packed}.{signature}", "x", "1.e30.abc"):
        refused = browser.post(f"/api/v1/public/retention/keep/{forged}")
        assert refused.status_code == 404 and "This link is not valid" in refused.text
    with transaction() as session:
        assert [n.id for n in session.scalars(select(RetentionNotice).where(RetentionNotice.kept_at.is_not(None)))] == [notice.id]


@contextmanager
def _smtp(port: int) -> Iterator[SmtpServer]:
    """A started SMTP server for the block."""
    server = SmtpServer(port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
