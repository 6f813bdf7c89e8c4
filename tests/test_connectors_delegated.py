"""Systems that take whole requests: a signed webhook to a local HTTP server, and a manual task for the owner."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from privacydesk.connectors.base import ConnectorContext, ConnectorError, Reported
from privacydesk.connectors.manual import complete
from privacydesk.connectors.webhook import SIGNATURE_HEADER, handle_callback
from privacydesk.engine.run import run_access, run_erasure
from privacydesk.errors import NotAuthenticated
from privacydesk.policy.loader import load_policy
from privacydesk.policy.models import Policy

from .dsr_support import NOW, shop_database

SECRET = "webhook-shared-secret-0123456789"
CONTEXT = ConnectorContext(secret=b"engine-tests-secret-key-0123456789", locale="fr_FR")


class Service:
    """The company's billing service: checks every signature itself and answers what the test queued."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fields = dict(part.split("=", 1) for part in self.headers[SIGNATURE_HEADER].split(","))
                expected = hmac.new(SECRET.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < 60
                service.received.append({"valid": valid, "body": json.loads(body), "key": self.headers["Idempotency-Key"]})
                status, answer = service.answers.pop(0) if valid else (401, {})
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/privacy"

    def sign(self, body: bytes, *, at: float | None = None) -> str:
        """Sign an answer the way the service would, for a callback."""
        moment = int(at if at is not None else time.time())
        return f"t={moment},v1=" + hmac.new(SECRET.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()


@pytest.fixture
def service() -> Iterator[Service]:
    running = Service()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture
def shop(service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_policy: Callable[..., Path]) -> Policy:
    """The minimal policy with a billing service behind a webhook and a paper archive worked by hand."""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = shop_database(url)
    with engine.begin() as c:
        c.execute(text("INSERT INTO customer (id, email, name) VALUES (1, 'ana@example.fr', 'Ana Pop'), (2, 'ion@example.fr', 'Ion')"))
    engine.dispose()
    monkeypatch.setenv("SHOP_DB_URL", url)
    monkeypatch.setenv("BILLING_URL", service.url)
    monkeypatch.setenv("BILLING_SECRET", SECRET)

    def edit(data: dict[str, Any]) -> None:
        data["systems"]["billing"] = {
            "connector": "webhook",
            "url": "env:BILLING_URL",
            "secret": "env:BILLING_SECRET",
            "location": "FR",
            "collections": {
                "invoices": {"identities": {"email": "email"}, "fields": {"email": "email", "name": "name"}, "erase": "delete"}
            },
        }
        data["systems"]["archive"] = {
            "connector": "manual",
            "location": "FR",
            "owner": "archivist@example.fr",
            "collections": {"letters": {"identities": {"email": "sender"}, "fields": {"sender": "email"}, "erase": "delete"}},
        }

    return load_policy(make_policy(edit)).policy


def test_access_posts_a_signed_request_and_annotates_the_answer(service: Service, shop: Policy) -> None:
    service.answers.append(
        (200, {"status": "done", "collections": {"invoices": {"rows": [{"number": "F-1", "email": "ana@example.fr", "name": "Ana Pop"}]}}})
    )

    result = run_access(shop, {"email": "ana@example.fr"}, context=CONTEXT)

    (sent,) = service.received
    assert sent["valid"]
    assert sent["body"]["action"] == "access" and sent["body"]["identities"] == {"email": ["ana@example.fr"]}
    assert sent["body"]["collections"] == ["invoices"] and sent["key"] == sent["body"]["reference"]
    invoices = next(item for item in result.collections if item.system == "billing")
    assert {column: cell.category for column, cell in invoices.rows[0].items()} == {"number": None, "email": "email", "name": "name"}
    (task,) = [item.task for item in result.delegated if item.task is not None]
    assert task.owner == "archivist@example.fr" and task.kind == "access" and "ana@example.fr" in task.instructions
    customers = next(item for item in result.collections if item.collection == "customer")
    assert [row["email"].value for row in customers.rows] == ["ana@example.fr"]


def test_erasure_waits_for_the_callback_and_the_manual_task(service: Service, shop: Policy) -> None:
    service.answers.append((202, {}))

    result = run_erasure(shop, {"email": "ana@example.fr"}, now=NOW, context=CONTEXT)

    pending = {item.system: item for item in result.delegated}
    assert pending["billing"].status == "pending" and pending["archive"].status == "pending"
    assert service.received[0]["body"]["action"] == "erasure"
    answer = json.dumps(
        {"reference": service.received[0]["body"]["reference"], "status": "done", "collections": {"invoices": {"deleted": 3, "held": 1}}}
    ).encode()
    called_back = handle_callback("billing", shop.systems["billing"], answer, service.sign(answer))
    assert called_back.status == "done" and called_back.collections["invoices"] == Reported(deleted=3, held=1)
    assert called_back.reference == service.received[0]["body"]["reference"]
    task = pending["archive"].task
    assert task is not None
    done = complete(task, {"letters": Reported(deleted=2)}, note="shredded")
    assert (done.status, done.collections["letters"].deleted, done.message) == ("done", 2, "shredded")


def test_callbacks_with_a_wrong_or_stale_signature_are_refused(service: Service, shop: Policy) -> None:
    answer = b'{"status": "done"}'
    with pytest.raises(NotAuthenticated):
        handle_callback("billing", shop.systems["billing"], answer, service.sign(b'{"status": "pending"}'))
    with pytest.raises(NotAuthenticated):
        handle_callback("billing", shop.systems["billing"], answer, service.sign(answer, at=time.time() - 3600))
    with pytest.raises(NotAuthenticated):
        handle_callback("billing", shop.systems["billing"], answer, None)
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert handle_callback("billing", shop.systems["billing"], answer, service.sign(answer), now=later).status == "done"


def test_a_failing_service_is_a_clear_error(service: Service, shop: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    service.answers.append((500, {}))
    with pytest.raises(ConnectorError, match="system 'billing': the webhook answered HTTP 500"):
        run_access(shop, {"email": "ana@example.fr"}, context=CONTEXT)
    monkeypatch.setenv("BILLING_SECRET", "")
    with pytest.raises(ConnectorError, match="secret is env:BILLING_SECRET, but the environment variable BILLING_SECRET is not set"):
        run_access(shop, {"email": "ana@example.fr"}, context=CONTEXT)
