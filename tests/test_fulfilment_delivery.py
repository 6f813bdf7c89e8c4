"""Delivery: the download link needs a new code, expires and is audited; a portable copy goes to another controller,
signed; manual tasks and webhook answers hold a request until they are done.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from privacydesk.auth.permissions import Permission
from privacydesk.consent import receipts
from privacydesk.db.engine import transaction
from privacydesk.fulfilment import exports
from privacydesk.fulfilment.delivery import KEY_HEADER, SIGNATURE_HEADER
from privacydesk.fulfilment.models import RequestExport
from privacydesk.requests import sms
from privacydesk.requests.models import RequestStatus
from tests.auth_support import OWNER, add_user, audit_entries, configure, issue_token
from tests.conftest import PolicyFactory
from tests.dsr_support import shop_database
from tests.fulfilment_support import (
    example_database,
    execution,
    export_of,
    module_postgres_url,
    request_verified,
    request_vouched,
    run_jobs_until_settled,
    start_platform,
    zip_contents,
)
from tests.jobs_support import work_until
from tests.requests_support import code_in, mails, publish, stored
from tests.test_connectors_delegated import SECRET, Service
from tests.test_dsr_imou import candidates, person_rows

__all__ = ["module_postgres_url"]
pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def imou(request: pytest.FixtureRequest) -> Iterator[Engine]:
    yield from example_database(request, "imou", "postgres", users=40)


@pytest.fixture
def browser(imou: Engine, platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> TestClient:
    return start_platform(monkeypatch, tmp_path, "imou")


def _link(email: str) -> str:
    (mail,) = [item for item in mails("request_completed") if item.to == email]
    return next(word for word in mail.text_body.split() if "/api/v1/public/exports/" in word).removeprefix("https://privacy.example")


def _audited(action: str) -> int:
    return sum(entry.action == action for entry in audit_entries())


def test_the_download_link_needs_a_new_code_expires_and_every_use_is_audited(imou: Engine, browser: TestClient) -> None:
    email = candidates(imou)[0][0]
    reference = request_verified(browser, "access", email, language="ro")
    assert run_jobs_until_settled(reference) is RequestStatus.completed
    link = _link(email)
    codes_before = len(mails("verification_code"))

    page = browser.get(link)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert f"{email[0]}***@{email.split('@')[1]}" in page.text and email not in page.text
    assert len(mails("verification_code")) == codes_before  # opening the link sends nothing
    assert browser.post(link, data={"code": "123456"}).status_code == 409  # no code asked for yet

    assert browser.post(f"{link}/code").status_code == 200
    code = code_in(mails("verification_code")[-1].text_body)
    wrong = browser.post(link, data={"code": f"{(int(code) + 1) % 1_000_000:06d}"})
    assert wrong.status_code == 422 and "4" in wrong.text
    downloaded = browser.post(link, data={"code": code})
    assert downloaded.status_code == 200 and downloaded.headers["content-type"] == "application/zip"
    export = export_of(reference)
    assert downloaded.content == Path(export.path).read_bytes() and export.downloads == 1
    assert "report.html" in zip_contents(downloaded.content)
    assert browser.post(link, data={"code": code}).status_code == 409  # a code serves once
    assert (_audited("request.export_opened"), _audited("request.export_downloaded"), _audited("request.code_rejected")) == (1, 1, 1)

    forged = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    assert browser.get(forged).status_code == 404

    # Past its time the link only says so; the hourly job deletes the file and records it.
    with transaction() as session:
        session.get(RequestExport, export.id).expires_at -= timedelta(days=30)  # type: ignore[union-attr]
    assert browser.get(link).status_code == 410
    with transaction() as session:
        assert exports.purge(session) == 1
    assert not Path(export.path).exists() and export_of(reference).deleted_at is not None
    assert (_audited("request.export_link_expired"), _audited("request.export_deleted")) == (1, 1)


class Texts:
    """A text-message gateway that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, text: str) -> None:
        self.sent.append((to, text))


def test_a_person_verified_by_phone_alone_is_texted_the_result_and_downloads_with_a_texted_code(
    imou: Engine, browser: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = Texts()
    monkeypatch.setattr(sms, "sender", lambda: texts)
    reference = request_vouched(browser, "access", [{"type": "phone", "value": candidates(imou)[1][1]}], language="pl")
    assert run_jobs_until_settled(reference) is RequestStatus.completed
    work_until(lambda: bool(texts.sent))

    # In the request's language, to the number verified, with the download link.
    ((to, message),) = texts.sent
    assert to == stored(reference).identities[0].value
    assert f"Twoje żądanie {reference} zostało zrealizowane" in message
    link = next(word for word in message.split() if "/api/v1/public/exports/" in word).removeprefix("https://privacy.example")
    mailed = len(mails())
    assert browser.post(f"{link}/code").status_code == 200
    assert len(mails()) == mailed and len(texts.sent) == 2  # the code goes to the phone, not to any address
    code = re.search(r"\b\d{6}\b", texts.sent[-1][1]).group()  # type: ignore[union-attr]
    downloaded = browser.post(link, data={"code": code})
    assert downloaded.status_code == 200 and downloaded.content == Path(export_of(reference).path).read_bytes()
    assert _audited("request.result_texted") == 1


class Controller:
    """Another controller's import endpoint: keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        controller = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                controller.received.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/import"


@pytest.fixture
def controller() -> Iterator[Controller]:
    running = Controller()
    threading.Thread(target=running.server.serve_forever, daemon=True).start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_a_portable_copy_is_posted_signed_to_the_controller_named(imou: Engine, browser: TestClient, controller: Controller) -> None:
    email, phone, uid = candidates(imou)[2]
    add_user()
    _, token = issue_token(OWNER, {Permission.REQUESTS_SUBMIT_VERIFIED})
    body = {
        "type": "portability",
        "identities": [{"type": "email", "value": email}],
        "portability": {"to": "controller", "controller_url": "https://controller.example/import"},
    }
    created = browser.post("/api/v1/requests/verified", json=body, headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.text
    reference = created.json()["request"]["reference"]
    # Intake accepts only public https addresses; the test's controller listens on this machine.
    with transaction() as session:
        session.execute(
            text("UPDATE subject_requests SET details = jsonb_set(details, '{portability,controller_url}', to_jsonb(CAST(:url AS text)))"),
            {"url": controller.url},
        )

    work_until(lambda: bool(controller.received) and export_of(reference).delivered_at is not None)

    (headers, sent), *_ = controller.received
    fields = dict(part.split("=", 1) for part in headers[SIGNATURE_HEADER].split(","))
    receipts.public_key().verify(base64.b64decode(fields["ed25519"]), f"{fields['t']}.".encode() + sent)
    assert headers[KEY_HEADER] == receipts.key_id(receipts.public_key())
    document = json.loads(sent)
    assert {item["collection"]: {row["id"]["value"] for row in item["rows"]} for item in document["collections"]} == person_rows(
        imou, email, phone, uid
    )
    assert stored(reference).status is RequestStatus.completed
    assert _audited("request.portable_sent") == 1
    (mail,) = mails("request_completed")
    assert controller.url in mail.text_body and "/api/v1/public/exports/" not in mail.text_body


@pytest.fixture
def shop(
    platform_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_policy: PolicyFactory
) -> Iterator[tuple[TestClient, Service]]:
    """The minimal policy with a shop database, a billing service behind a webhook and a paper archive worked by hand."""
    service = Service()
    threading.Thread(target=service.server.serve_forever, daemon=True).start()
    configure(monkeypatch, tmp_path, worker_poll_seconds="0.1", smtp_port="9")
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = shop_database(url)
    with engine.begin() as c:
        c.execute(text("INSERT INTO customer (id, email, name) VALUES (1, 'ana@example.fr', 'Ana Pop'), (2, 'ion@example.fr', 'Ion')"))
    engine.dispose()
    for name, value in {"SHOP_DB_URL": url, "BILLING_URL": service.url, "BILLING_SECRET": SECRET}.items():
        monkeypatch.setenv(name, value)

    def edit(data: dict[str, Any]) -> None:
        data["systems"]["billing"] = {
            "connector": "webhook",
            "url": "env:BILLING_URL",
            "secret": "env:BILLING_SECRET",
            "location": "FR",
            "collections": {"invoices": {"identities": {"email": "email"}, "fields": {"email": "email"}, "erase": "delete"}},
        }
        data["systems"]["archive"] = {
            "connector": "manual",
            "location": "FR",
            "owner": "archivist@example.fr",
            "collections": {"letters": {"identities": {"email": "sender"}, "fields": {"sender": "email"}, "erase": "delete"}},
        }

    publish(make_policy, edit)
    from privacydesk.web.app import create_app

    yield TestClient(create_app(), base_url="https://testserver"), service
    service.server.shutdown()
    service.server.server_close()


def test_a_request_waits_for_the_manual_task_and_the_webhooks_answer(shop: tuple[TestClient, Service]) -> None:
    browser, service = shop
    add_user()
    _, token = issue_token(OWNER, {Permission.REQUESTS_READ, Permission.REQUESTS_MANAGE})
    headers = {"Authorization": f"Bearer {token}"}
    service.answers.append((202, {}))

    reference = request_verified(browser, "erasure", "ana@example.fr")

    assert run_jobs_until_settled(reference) is RequestStatus.waiting_manual
    (task,) = browser.get("/api/v1/tasks", headers=headers).json()
    assert (task["system"], task["owner"], task["kind"], task["collections"]) == ("archive", "archivist@example.fr", "erasure", ["letters"])
    assert "ana@example.fr" in task["instructions"]
    (owner_mail,) = mails("manual_task")
    assert owner_mail.to == "archivist@example.fr" and task["id"] in owner_mail.text_body

    # The billing service answers later, at the callback address it was given, signed with its secret.
    (call,) = service.received
    assert call["body"]["callback"] == "http://127.0.0.1:8000/api/v1/connectors/billing/callback"
    answer = json.dumps({"reference": call["body"]["reference"], "status": "done", "collections": {"invoices": {"deleted": 2}}}).encode()
    forged = browser.post("/api/v1/connectors/billing/callback", content=answer, headers={"X-Privacydesk-Signature": "t=1,v1=00"})
    assert forged.status_code == 401
    signed = {"X-Privacydesk-Signature": service.sign(answer), "Content-Type": "application/json"}
    assert browser.post("/api/v1/connectors/billing/callback", content=answer, headers=signed).json() == {"recorded": True}
    assert browser.post("/api/v1/connectors/billing/callback", content=answer, headers=signed).json() == {"recorded": False}
    assert stored(reference).status is RequestStatus.waiting_manual

    done = browser.post(f"/api/v1/tasks/{task['id']}/done", json={"collections": {"letters": {"deleted": 1}}}, headers=headers)
    assert done.status_code == 200, done.text
    assert browser.post(f"/api/v1/tasks/{task['id']}/done", json={}, headers=headers).status_code == 409
    assert run_jobs_until_settled(reference) is RequestStatus.completed

    result = execution(reference).result
    assert result is not None
    counts = {(item["system"], item["collection"]): item["deleted"] for item in result["collections"] if item["deleted"]}
    assert counts == {("shop_db", "customer"): 1, ("billing", "invoices"): 2, ("archive", "letters"): 1}
    shop_db = create_engine(os.environ["SHOP_DB_URL"])
    with shop_db.connect() as c:
        assert [row.email for row in c.execute(text("SELECT email FROM customer"))] == ["ion@example.fr"]
    shop_db.dispose()
    history = [event.to_status for event in stored(reference).events]
    assert history[-4:] == ["executing", "waiting_manual", "executing", "completed"]


def test_a_restriction_is_handed_to_the_systems_that_carry_requests_out_themselves(shop: tuple[TestClient, Service]) -> None:
    browser, service = shop
    add_user()
    _, token = issue_token(OWNER, {Permission.REQUESTS_READ, Permission.REQUESTS_MANAGE})
    headers = {"Authorization": f"Bearer {token}"}
    service.answers.append((200, {"status": "done", "collections": {"invoices": {"held": 2}}}))

    reference = request_verified(browser, "restriction", "ana@example.fr", restriction_reason="accuracy_contested")

    # The billing service is told what and why, and answers at once; the archivist gets a task; the register has its entry.
    assert run_jobs_until_settled(reference) is RequestStatus.waiting_manual
    (call,) = service.received
    assert (call["body"]["action"], call["body"]["details"], call["body"]["identities"]) == (
        "restriction",
        {"reason": "accuracy_contested"},
        {"email": ["ana@example.fr"]},
    )
    (task,) = browser.get("/api/v1/tasks", headers=headers).json()
    assert (task["system"], task["kind"]) == ("archive", "restriction")
    assert "Restrict the processing" in task["instructions"] and "ground: accuracy_contested" in task["instructions"]
    (entry,) = browser.get("/api/v1/restrictions", headers=headers).json()
    assert (entry["reason"], entry["reference"]) == ("restriction", reference)

    assert browser.post(f"/api/v1/tasks/{task['id']}/done", json={}, headers=headers).status_code == 200
    assert run_jobs_until_settled(reference) is RequestStatus.completed
    # The service's answer was recorded while the archive's task waited: the resumed run does not ask it again.
    assert len(service.received) == 1
    result = execution(reference).result
    assert result is not None and result["restrict"] == {"restricted": 1}
    assert sorted((item["system"], item["status"]) for item in result["delegated"]) == [("archive", "done"), ("billing", "done")]
    # The shop's own rows are kept as they were: the register is what its processing is held to.
    shop_db = create_engine(os.environ["SHOP_DB_URL"])
    with shop_db.connect() as c:
        assert [row.email for row in c.execute(text("SELECT email FROM customer ORDER BY id"))] == ["ana@example.fr", "ion@example.fr"]
    shop_db.dispose()


def test_systems_that_do_not_match_the_policy_fail_the_request_and_change_nothing(shop: tuple[TestClient, Service]) -> None:
    browser, _ = shop
    shop_db = create_engine(os.environ["SHOP_DB_URL"])
    with shop_db.begin() as c:
        c.execute(text("DROP TABLE access_log"))

    reference = request_verified(browser, "erasure", "ana@example.fr")

    assert run_jobs_until_settled(reference) is RequestStatus.failed
    record = execution(reference)
    assert record.error is not None and "table 'access_log' does not exist" in record.error
    assert stored(reference).events[-1].note == record.error
    with shop_db.connect() as c:
        assert [row.email for row in c.execute(text("SELECT email FROM customer ORDER BY id"))] == ["ana@example.fr", "ion@example.fr"]
    shop_db.dispose()
    assert mails("request_completed") == []
