"""Verifying the person: codes by mail (real SMTP) and text message, tries, expiry, rate limits; approval; the execution hand-over."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import lazyload

from privacydesk.auth.permissions import Permission, Role
from privacydesk.config import get_settings
from privacydesk.db.base import utcnow
from privacydesk.db.engine import transaction
from privacydesk.errors import Conflict, Invalid, TooManyAttempts
from privacydesk.mail.render import render
from privacydesk.mail.service import deliver
from privacydesk.requests import execution, expiry, service, sms, states, tasks, verification
from privacydesk.requests.models import Channel, RequestStatus, RequestType, SubjectRequest, VerificationCode
from tests.auth_support import OWNER, add_user, audit_entries, client, configure, issue_token
from tests.conftest import PolicyFactory
from tests.dsr_support import counted_statements
from tests.jobs_support import rows, work_until
from tests.requests_support import ANIA, body, code_in, last_code, mails, make, publish, stored
from tests.test_mail import SmtpServer

pytestmark = pytest.mark.postgres

SUBJECTS = {
    "en": "Your verification code",
    "pl": "Twój kod weryfikacyjny",
    "ro": "Codul dumneavoastră de verificare",
    "fr": "Votre code de vérification",
    "cs": "Váš ověřovací kód",
}


@pytest.fixture
def browser(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> TestClient:
    configure(monkeypatch, tmp_path)
    return client()


@pytest.fixture
def smtp(browser: TestClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("PRIVACYDESK_SMTP_PORT", str(port))
    get_settings.cache_clear()
    server = SmtpServer(port)
    server.start()
    yield server
    server.stop()


def _token_header(receipt: dict[str, Any]) -> dict[str, str]:
    return {"X-Status-Token": receipt["status_token"]}


def _verify(browser: TestClient, receipt: dict[str, Any], code: str) -> Any:
    return browser.post(f"/api/v1/public/requests/{receipt['reference']}/verify", json={"code": code}, headers=_token_header(receipt))


def _execution_jobs() -> list[Any]:
    return rows("SELECT args->>'request_id' FROM procrastinate_jobs WHERE task_name = 'requests.execute'")


def test_the_code_mail_reaches_the_person_and_verifies_the_request(
    browser: TestClient, smtp: SmtpServer, make_policy: PolicyFactory
) -> None:
    publish(make_policy)
    receipt = make(
        browser, body("erasure", language="pl", identities=[{"type": "email", "value": ANIA}, {"type": "account_id", "value": "C-9"}])
    )
    (mail,) = mails("verification_code")
    with transaction() as session:
        assert deliver(session, mail.id, last_attempt=False) is None
    (message,) = smtp.inbox.messages
    assert message["To"] == ANIA
    assert message["Subject"] == SUBJECTS["pl"]
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    text = plain.get_content()
    assert "Exemple SAS" in text
    assert "10 minut" in text
    code = code_in(text)

    answer = _verify(browser, receipt, code)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "approved"
    assert [step["status"] for step in answer.json()["history"]] == ["received", "verifying", "verified", "approved"]
    request = stored(receipt["reference"])
    assert _execution_jobs() == [(str(request.id),)]
    # The code proves the email only; the account id stays a claim.
    assert [(identity.type, identity.verified) for identity in request.identities] == [("email", True), ("account_id", False)]
    # A used code is spent.
    assert _verify(browser, receipt, code).status_code == 409


@pytest.mark.parametrize("lang", sorted(SUBJECTS))
def test_the_code_mail_is_translated(lang: str) -> None:
    rendered = render(
        "verification_code", lang, {"code": "031337", "reference": "ref-1", "organization": "Exemple SAS", "minutes": 10, "attempts": 5}
    )
    assert rendered.subject == SUBJECTS[lang]
    assert code_in(rendered.text) == "031337"
    assert "ref-1" in rendered.html
    if lang != "en":
        assert "If you did not make this request" not in rendered.text


def test_wrong_codes_count_and_the_fifth_locks_the_code(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy)
    receipt = make(browser, body())
    code = last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        answer = _verify(browser, receipt, wrong)
        assert answer.status_code == 422
        assert answer.json()["error"] == {
            "code": "wrong_code",
            "message": f"the code is wrong; {left} tries left",
            "details": {"attempts_left": left},
        }
    locked = _verify(browser, receipt, wrong)
    assert locked.status_code == 429
    # Locked means locked: the right code does not get through any more.
    assert _verify(browser, receipt, code).status_code == 429
    assert stored(receipt["reference"]).status == "verifying"
    with transaction() as session:
        (row,) = session.query(VerificationCode).all()
        assert row.attempts == 5
    actions = [entry.action for entry in audit_entries() if entry.action.startswith("request.code_")]
    assert actions == ["request.code_sent", *["request.code_rejected"] * 4, "request.code_locked"]
    assert _verify(browser, receipt, "12345").status_code == 422  # not 6 digits: refused before counting

    fresh = browser.post(f"/api/v1/public/requests/{receipt['reference']}/code", headers=_token_header(receipt))
    assert fresh.status_code == 202
    assert fresh.json() == {"sent_to": "email"}
    assert _verify(browser, receipt, last_code()).json()["status"] == "approved"


def test_a_code_expires_after_ten_minutes(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy)
    start = utcnow() - timedelta(hours=2)
    intake = service.Intake(type=RequestType.access, identities=[("email", ANIA)], channel=Channel.web, age_confirmed=True)
    with transaction() as session:
        request_id = service.submit(session, intake, actor="subject", now=start).request.id
    with transaction() as session:
        request = session.get_one(SubjectRequest, request_id)
        late = service.verify_code(session, request, last_code(), now=start + timedelta(minutes=10))
        assert late.outcome is verification.Outcome.expired
    with transaction() as session:
        request = session.get_one(SubjectRequest, request_id)
        service.resend_code(session, request, client=None, now=start + timedelta(minutes=11))
    with transaction() as session:
        request = session.get_one(SubjectRequest, request_id)
        in_time = service.verify_code(session, request, last_code(), now=start + timedelta(minutes=20, seconds=59))
        assert in_time.outcome is verification.Outcome.verified
        assert request.status is RequestStatus.approved


def test_codes_are_rate_limited_per_identity(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy)
    receipt = make(browser, body())
    resend = f"/api/v1/public/requests/{receipt['reference']}/code"
    assert browser.post(resend, headers=_token_header(receipt)).status_code == 202
    assert browser.post(resend, headers=_token_header(receipt)).status_code == 202
    refused = browser.post(resend, headers=_token_header(receipt))
    assert refused.status_code == 429
    assert "3 codes were sent to this email in the last hour" in refused.json()["error"]["message"]
    assert len(mails("verification_code")) == 3
    # The same address through another request counts as well.
    assert browser.post("/api/v1/public/requests", json=body("erasure")).status_code == 429
    # An hour later the person may ask again.
    with transaction() as session:
        request = session.get_one(SubjectRequest, stored(receipt["reference"]).id)
        service.resend_code(session, request, client=None, now=utcnow() + timedelta(minutes=61))
    assert len(mails("verification_code")) == 4


def test_codes_are_rate_limited_per_client_address(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy)
    request_ids = []
    with transaction() as session:
        for number in range(11):
            intake = service.Intake(type=RequestType.access, identities=[("email", f"p{number}@example.org")], channel=Channel.letter)
            request_ids.append(service.submit(session, intake, actor="test").request.id)
    address = "203.0.113.9"
    with transaction() as session:
        for request_id in request_ids[:10]:
            for _ in range(2):
                service.resend_code(session, session.get_one(SubjectRequest, request_id), client=address)
    with pytest.raises(TooManyAttempts, match="from your address"), transaction() as session:
        service.resend_code(session, session.get_one(SubjectRequest, request_ids[10]), client=address)
    with transaction() as session:
        service.resend_code(session, session.get_one(SubjectRequest, request_ids[10]), client="203.0.113.10")
    assert len(mails("verification_code")) == 11 + 20 + 1


def test_codes_are_compared_in_constant_time(browser: TestClient, make_policy: PolicyFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(make_policy)
    receipt = make(browser, body())
    compared: list[tuple[bytes, bytes]] = []
    real = verification.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(verification, "compare_digest", spy)
    assert _verify(browser, receipt, "000000" if last_code() != "000000" else "000001").status_code == 422
    assert _verify(browser, receipt, last_code()).status_code == 200
    with transaction() as session:
        (row,) = session.query(VerificationCode).all()
    assert len(compared) == 2
    assert all(stored_hash == row.code_hash.encode() for _, stored_hash in compared)
    assert last_code().encode() not in compared[1][0]


def test_phone_codes_go_through_the_sms_sender(
    browser: TestClient, make_policy: PolicyFactory, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(make_policy, verification="phone_code")
    refused = browser.post("/api/v1/public/requests", json=body())
    assert refused.status_code == 422
    assert "a code sent to your phone" in refused.json()["error"]["message"]
    with caplog.at_level(logging.WARNING, logger="privacydesk.requests.sms"):
        receipt = make(browser, body(identities=[{"type": "phone", "value": "+48 600-100-200"}], language="fr"))
    assert receipt["code_sent_to"] == "phone"
    (record,) = [record for record in caplog.records if record.name == "privacydesk.requests.sms"]
    assert record.__dict__["to"] == "...200"
    text = record.__dict__["text"]
    assert text.startswith("Votre code de vérification pour Exemple SAS est ")
    assert _verify(browser, receipt, text.split(" est ")[1][:6]).json()["status"] == "approved"

    class Down:
        def send(self, to: str, text: str) -> None:
            raise ConnectionRefusedError("gateway down")

    with monkeypatch.context() as patch:
        patch.setattr(sms, "sender", Down)
        down = browser.post("/api/v1/public/requests", json=body("erasure", identities=[{"type": "phone", "value": "+420 601 222 333"}]))
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "code_not_sent"
    # Nothing of the failed request was kept.
    assert len([entry for entry in audit_entries() if entry.action == "request.received"]) == 1

    monkeypatch.setenv("PRIVACYDESK_SMS_SENDER", "carrier-pigeon")
    get_settings.cache_clear()
    with pytest.raises(LookupError, match=r"no SMS sender named .carrier-pigeon.*installed: log"):
        sms.sender()


def test_approval_by_the_dpo(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy, approval=True)
    add_user()
    add_user("dpo@example.com", Role.DPO)
    add_user("auditor@example.com", Role.AUDITOR)
    _, dpo = issue_token("dpo@example.com", {Permission.REQUESTS_APPROVE, Permission.REQUESTS_READ})
    _, auditor = issue_token("auditor@example.com", {Permission.REQUESTS_READ})
    receipt = make(browser, body("erasure"))
    assert _verify(browser, receipt, last_code()).json()["status"] == "awaiting_approval"
    request_id = stored(receipt["reference"]).id
    assert _execution_jobs() == []

    approve = f"/api/v1/requests/{request_id}/approve"
    assert browser.post(approve, json={}, headers={"Authorization": f"Bearer {auditor}"}).status_code == 403
    answer = browser.post(approve, json={"note": "checked the account"}, headers={"Authorization": f"Bearer {dpo}"})
    assert answer.status_code == 200, answer.text
    approved = answer.json()
    assert approved["status"] == "approved"
    assert approved["events"][-1]["note"] == "checked the account"
    assert approved["events"][-1]["actor"].startswith("token:")
    assert _execution_jobs() == [(str(request_id),)]
    again = browser.post(approve, json={}, headers={"Authorization": f"Bearer {dpo}"})
    assert again.status_code == 409
    entry = next(entry for entry in audit_entries() if entry.action == "request.approved")
    assert entry.actor == approved["events"][-1]["actor"]
    assert entry.summary == {"from": "awaiting_approval", "to": "approved", "type": "erasure"}

    other = make(browser, body("access"))
    _verify(browser, other, last_code())
    other_id = stored(other["reference"]).id
    reject = f"/api/v1/requests/{other_id}/reject"
    assert browser.post(reject, json={"reason": ""}, headers={"Authorization": f"Bearer {dpo}"}).status_code == 422
    rejected = browser.post(
        reject, json={"reason": "manifestly unfounded: the tenth identical request"}, headers={"Authorization": f"Bearer {dpo}"}
    )
    assert rejected.json()["status"] == "rejected"
    rejection = next(entry for entry in audit_entries() if entry.action == "request.rejected")
    assert rejection.summary["reason_given"] is True
    assert "unfounded" not in repr(rejection.summary)

    # An objection to direct marketing is absolute: no weighing, no approval.
    marketing = make(browser, body("objection", email="jan@example.org", objection={"direct_marketing": True}))
    assert _verify(browser, marketing, last_code("jan@example.org")).json()["status"] == "approved"
    assert stored(marketing["reference"]).approval_required is False


def test_a_refusal_tells_the_person_why_and_where_they_may_complain_or_go_to_court(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy, approval=True)
    add_user("dpo@example.com", Role.DPO)
    _, dpo = issue_token("dpo@example.com", {Permission.REQUESTS_APPROVE, Permission.REQUESTS_READ})
    # Refused before the person was verified: the reply goes where the code went, in the request's language.
    receipt = make(browser, body("access", language="fr"))
    refused = browser.post(
        f"/api/v1/requests/{stored(receipt['reference']).id}/reject",
        json={"reason": "  Demande manifestement infondée : dixième demande identique ce mois-ci.  "},
        headers={"Authorization": f"Bearer {dpo}"},
    )
    assert refused.status_code == 200 and refused.json()["status"] == "rejected"
    (mail,) = mails("request_refused")
    assert (mail.to, mail.language, mail.subject) == (ANIA, "fr", "Votre demande a été refusée")
    assert receipt["reference"] in mail.text_body
    assert "    Demande manifestement infondée : dixième demande identique ce mois-ci.\n" in mail.text_body
    # The policy's authority (a DPV term, named in the person's language), and the courts.
    assert "Commission nationale de l'informatique et des libertés (CNIL)" in mail.text_body
    assert "recours juridictionnel" in mail.text_body and "article 79" in mail.text_body
    assert "<blockquote>Demande manifestement infondée" in mail.html_body
    rejection = next(entry for entry in audit_entries() if entry.action == "request.rejected")
    assert rejection.summary["person_mailed"] is True and "infondée" not in repr(rejection.summary)

    # An authority the policy names by name and address; none at all; no e-mail address to write to.
    def named(data: dict[str, Any]) -> None:
        data["organization"]["supervisory_authority"] = {
            "name": "Autoriteit Persoonsgegevens",
            "url": "https://autoriteitpersoonsgegevens.nl",
        }

    publish(make_policy, named)
    with transaction() as session:
        made = service.submit(
            session, service.Intake(RequestType.erasure, [("email", "jan@example.org")], Channel.email, language="pl"), actor="test"
        )
        assert service.reject(session, made.request, actor="test", reason="Nie udało się potwierdzić tożsamości.") is True
    mail = mails("request_refused")[-1]
    assert mail.language == "pl" and "Autoriteit Persoonsgegevens" in mail.text_body
    assert '<a href="https://autoriteitpersoonsgegevens.nl">' in mail.html_body and "przed sądem" in mail.text_body

    publish(make_policy, lambda data: data["organization"].pop("supervisory_authority"))
    with transaction() as session:
        made = service.submit(
            session, service.Intake(RequestType.erasure, [("email", "eva@example.org")], Channel.email, language="cs"), actor="test"
        )
        service.reject(session, made.request, actor="test", reason="Zjevně nedůvodná žádost.")
        by_phone = service.Intake(RequestType.access, [("phone", "+420601222333")], Channel.phone)
        unreachable = service.submit(session, by_phone, actor="test", vouched_by="staff").request
        assert service.reject(session, unreachable, actor="test", reason="Zjevně nedůvodná žádost.") is False
    mail = mails("request_refused")[-1]
    assert mail.language == "cs" and "dozorového úřadu" in mail.text_body and "zemi EU" in mail.text_body
    assert len(mails("request_refused")) == 3
    assert [entry.summary["person_mailed"] for entry in audit_entries() if entry.action == "request.rejected"] == [True, True, True, False]
    with pytest.raises(Invalid, match="at most 2000"), transaction() as session:
        service.reject(session, service.get(session, made.request.id), actor="test", reason="x" * 2001)


def test_requests_never_verified_expire_and_stop_counting_as_open(
    browser: TestClient, make_policy: PolicyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(make_policy)
    now = utcnow()

    def submit(email: str, received: timedelta, **how: Any) -> SubjectRequest:
        intake = service.Intake(RequestType.access, [("email", email)], Channel.web, age_confirmed=True)
        with transaction() as session:
            return service.submit(session, intake, actor="subject", now=now - received, **how).request

    forgotten = submit("forgotten@example.org", timedelta(days=20))
    asked_again = submit("again@example.org", timedelta(days=20))
    with transaction() as session:
        service.resend_code(session, session.get_one(SubjectRequest, asked_again.id), client=None, now=now - timedelta(days=3))
    recent = submit("recent@example.org", timedelta(days=3))
    verified = submit("verified@example.org", timedelta(days=20), vouched_by="staff")
    # The team verifies these itself: waiting on the team is no reason to drop a request.
    publish(make_policy, verification="manual")
    by_hand = submit("letter@example.org", timedelta(days=20))

    with transaction() as session:
        assert expiry.expire_unverified(session, now=now) == 1
    status = {request.id: stored(request.reference).status for request in (forgotten, asked_again, recent, verified, by_hand)}
    assert status == {
        forgotten.id: RequestStatus.expired,
        asked_again.id: RequestStatus.verifying,
        recent.id: RequestStatus.verifying,
        verified.id: RequestStatus.approved,
        by_hand.id: RequestStatus.verifying,
    }
    event = stored(forgotten.reference).events[-1]
    assert (event.from_status, event.to_status, event.actor) == (RequestStatus.verifying, RequestStatus.expired, "system")
    (entry,) = [entry for entry in audit_entries() if entry.action == "request.expired"]
    assert (entry.object_id, entry.summary["unverified_days"], entry.summary["from"]) == (str(forgotten.id), 14, "verifying")
    # An expired request takes no code any more, and no longer stands in the way of a new one.
    with pytest.raises(Conflict, match="expired"), transaction() as session:
        service.verify_code(session, session.get_one(SubjectRequest, forgotten.id), "123456")
    again = make(browser, body("access", email="forgotten@example.org"))
    assert again["reference"] != forgotten.reference and not again["duplicate"]

    # The number of days is a setting; the hourly job expires with it.
    monkeypatch.setenv("PRIVACYDESK_REQUEST_UNVERIFIED_DAYS", "2")
    get_settings.cache_clear()
    tasks.expire_unverified(timestamp=0)
    assert [stored(request.reference).status for request in (asked_again, recent, by_hand)] == [
        RequestStatus.expired,
        RequestStatus.expired,
        RequestStatus.verifying,
    ]
    assert stored(again["reference"]).status is RequestStatus.verifying
    assert len([entry for entry in audit_entries() if entry.action == "request.expired"]) == 3


def test_approved_requests_are_handed_to_the_executor_of_their_type(
    browser: TestClient, make_policy: PolicyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(make_policy)
    # As if privacydesk installed no executors (it installs one for every type).
    monkeypatch.setattr(execution, "_installed", dict)
    add_user()
    _, app = issue_token(OWNER, {Permission.REQUESTS_SUBMIT_VERIFIED, Permission.REQUESTS_MANAGE})
    headers = {"Authorization": f"Bearer {app}"}
    handed: list[tuple[int, str]] = []

    def erase(session: Any, request: SubjectRequest) -> None:
        handed.append((request.id, request.status.value))
        service.complete(session, request, actor="engine:test")

    created = browser.post(
        "/api/v1/requests/verified", json={"type": "erasure", "identities": [{"type": "email", "value": ANIA}]}, headers=headers
    )
    request_id = created.json()["request"]["id"]
    # No executor for erasure yet: the job runs and the request stays approved.
    work_until(lambda: rows("SELECT status FROM procrastinate_jobs WHERE task_name = 'requests.execute'") == [("succeeded",)])
    assert stored(created.json()["request"]["reference"]).status == "approved"

    execution.register(RequestType.erasure, erase)
    try:
        assert browser.post(f"/api/v1/requests/{request_id}/execute", headers=headers).status_code == 202
        work_until(lambda: stored(created.json()["request"]["reference"]).status == "completed")
    finally:
        execution.unregister(RequestType.erasure)
    assert handed == [(request_id, "executing")]
    history = [(event.to_status, event.actor) for event in stored(created.json()["request"]["reference"]).events]
    assert history[-2:] == [("executing", "system"), ("completed", "engine:test")]
    assert browser.post(f"/api/v1/requests/{request_id}/execute", headers=headers).status_code == 409


def test_a_state_move_on_a_request_read_without_its_history_is_one_statement(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy)
    add_user()
    _, app = issue_token(OWNER, {Permission.REQUESTS_SUBMIT_VERIFIED})
    created = browser.post(
        "/api/v1/requests/verified",
        json={"type": "erasure", "identities": [{"type": "email", "value": ANIA}]},
        headers={"Authorization": f"Bearer {app}"},
    )
    reference = created.json()["request"]["reference"]
    with transaction() as session:
        request = session.get(SubjectRequest, created.json()["request"]["id"], options=[lazyload(SubjectRequest.events)])
        assert request is not None and request.status is RequestStatus.approved
        with counted_statements() as counts:
            states.move(session, request, RequestStatus.executing, actor="system")
        assert request.status is RequestStatus.executing

    # The request and its event written together: no separate UPDATE of the request before it.
    assert counts["subject_requests"] == 1
    moved = stored(reference)
    assert moved.status == "executing" and (moved.events[-1].from_status, moved.events[-1].to_status) == ("approved", "executing")
