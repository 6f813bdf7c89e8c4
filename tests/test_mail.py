"""Outbound mail through a real SMTP server: per-language rendering, outage and retry, transactions."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select, text
from typer.testing import CliRunner

from privacydesk.cli.main import app as cli
from privacydesk.config import get_settings
from privacydesk.db.engine import transaction
from privacydesk.jobs.service import enqueue
from privacydesk.mail.models import MailStatus, OutboundMail
from privacydesk.mail.service import SEND_TASK, deliver, queue_mail
from tests.jobs_support import job_status, rows, work_until

pytestmark = pytest.mark.postgres

SUBJECTS = {
    "en": "privacydesk test message",
    "pl": "Wiadomość testowa privacydesk",
    "ro": "Mesaj de test privacydesk",
    "fr": "Message de test de privacydesk",
    "cs": "Testovací zpráva privacydesk",
}
BODIES = {
    "en": "If you can read it, outgoing mail works.",
    "pl": "Jeśli ją czytasz, wysyłanie poczty działa.",
    "ro": "Dacă îl puteți citi, trimiterea e-mailurilor funcționează.",
    "fr": "Si vous pouvez le lire, l'envoi de courriels fonctionne.",
    "cs": "Pokud ji čtete, odesílání pošty funguje.",
}


class Inbox:
    """An SMTP handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


class SmtpServer:
    """A real SMTP server on a fixed free port, started and stopped by the test."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp(platform_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """An SMTP server (not yet started) that the platform is configured to send through."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("PRIVACYDESK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PRIVACYDESK_SMTP_PORT", str(port))
    monkeypatch.setenv("PRIVACYDESK_WORKER_POLL_SECONDS", "0.1")
    get_settings.cache_clear()
    server = SmtpServer(port)
    yield server
    server.stop()
    get_settings.cache_clear()


def _mail(mail_id: int) -> OutboundMail:
    with transaction() as session:
        mail = session.get(OutboundMail, mail_id)
        assert mail is not None
        return mail


def _all_sent() -> bool:
    return not rows("SELECT 1 FROM outbound_mail WHERE status <> 'sent'")


def test_test_mail_arrives_in_each_language(smtp: SmtpServer) -> None:
    smtp.start()
    for lang in SUBJECTS:
        result = CliRunner().invoke(cli, ["mail", "test", "--to", f"dpo-{lang}@example.org", "--lang", lang])
        assert result.exit_code == 0, result.output

    work_until(_all_sent)
    received = {str(message["To"]): message for message in smtp.inbox.messages}
    assert sorted(received) == sorted(f"dpo-{lang}@example.org" for lang in SUBJECTS)
    for lang, subject in SUBJECTS.items():
        message = received[f"dpo-{lang}@example.org"]
        assert message["Subject"] == subject
        assert message["Content-Language"] == lang
        plain = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        assert plain is not None
        assert html is not None
        assert BODIES[lang] in plain.get_content()
        assert f'<html lang="{lang}">' in html.get_content()
        assert f"<title>{subject}</title>" in html.get_content()


def test_unknown_language_is_refused(smtp: SmtpServer) -> None:
    result = CliRunner().invoke(cli, ["mail", "test", "--to", "dpo@example.org", "--lang", "de"])
    assert result.exit_code == 1
    assert not rows("SELECT 1 FROM outbound_mail")


def test_mail_queued_while_the_server_is_down_is_delivered_once_it_is_up(smtp: SmtpServer) -> None:
    unsubscribe = "<https://shop.example/unsubscribe/abc>"
    with transaction() as session:
        mail_id = queue_mail(session, to="ania@example.org", template="test", language="pl", headers={"List-Unsubscribe": unsubscribe}).id
    (job_id,) = rows("SELECT id FROM procrastinate_jobs WHERE task_name = :task", task=SEND_TASK)[0]

    work_until(lambda: rows("SELECT attempts, status FROM procrastinate_jobs WHERE id = :id", id=job_id) == [(1, "todo")])
    failed = _mail(mail_id)
    assert failed.status is MailStatus.queued
    assert failed.attempts == 1
    assert failed.last_error is not None
    assert "ConnectionRefusedError" in failed.last_error
    assert failed.sent_at is None

    smtp.start()
    work_until(lambda: job_status(job_id) == "succeeded")
    sent = _mail(mail_id)
    assert sent.status is MailStatus.sent
    assert sent.attempts == 2
    assert sent.last_error is None
    assert sent.sent_at is not None
    (message,) = smtp.inbox.messages
    assert message["Subject"] == SUBJECTS["pl"]
    assert message["List-Unsubscribe"] == unsubscribe
    assert message["Message-ID"] == sent.headers["Message-ID"]

    # Another run of the job (a duplicate, a manual retry) does not send it again.
    with transaction() as session:
        again = enqueue(session, SEND_TASK, mail_id=mail_id)
    assert again is not None
    work_until(lambda: job_status(again) == "succeeded")
    assert len(smtp.inbox.messages) == 1
    assert _mail(mail_id).attempts == 2


def test_last_failed_attempt_marks_the_mail_failed(smtp: SmtpServer) -> None:
    with transaction() as session:
        mail_id = queue_mail(session, to="jan@example.org", template="test", language="cs").id
    with transaction() as session:
        assert deliver(session, mail_id, last_attempt=True) is not None
    failed = _mail(mail_id)
    assert failed.status is MailStatus.failed
    assert failed.attempts == 1


def test_rolled_back_transaction_sends_nothing(smtp: SmtpServer) -> None:
    smtp.start()
    with pytest.raises(RuntimeError), transaction() as session:
        queue_mail(session, to="rolled-back@example.org", template="test", language="fr")
        raise RuntimeError("the change that caused the mail failed")
    with transaction() as session:
        queue_mail(session, to="committed@example.org", template="test", language="fr")

    work_until(_all_sent)
    assert [str(message["To"]) for message in smtp.inbox.messages] == ["committed@example.org"]
    with transaction() as session:
        assert [mail.to for mail in session.scalars(select(OutboundMail))] == ["committed@example.org"]
        assert session.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t"), {"t": SEND_TASK}).scalar_one() == 1
