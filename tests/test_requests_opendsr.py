"""OpenDSR v2: discovery, create, status and cancel for forwarding controllers, and signed status callbacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from privacydesk.auth.permissions import Permission
from privacydesk.db.engine import transaction
from privacydesk.requests import callbacks
from privacydesk.requests.models import OpendsrCallback
from tests.auth_support import OWNER, add_user, audit_entries, client, configure, issue_token
from tests.conftest import PolicyFactory
from tests.jobs_support import work_until
from tests.requests_support import ANIA, body, make, publish, stored

pytestmark = pytest.mark.postgres


class Receiver:
    """A controller's callback endpoint: a real HTTP server keeping what it is sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        received = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append((dict(self.headers.items()), self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/opendsr/callbacks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def browser(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_policy: PolicyFactory) -> TestClient:
    configure(monkeypatch, tmp_path, base_url="https://privacy.example.fr", worker_poll_seconds="0.1")
    publish(make_policy)
    add_user()
    return client()


def _client_token() -> dict[str, str]:
    _, secret = issue_token(OWNER, {Permission.OPENDSR_SUBMIT})
    return {"Authorization": f"Bearer {secret}"}


def _verify_signature(key: bytes, headers: dict[str, str], raw: bytes) -> None:
    """Check a signature the way docs/opendsr.md tells a controller to."""
    lowered = {name.lower(): value for name, value in headers.items()}
    timestamp = lowered["x-opendsr-timestamp"]
    expected = hmac.new(key, timestamp.encode() + b"." + raw, hashlib.sha256).digest()
    assert hmac.compare_digest(base64.b64decode(lowered["x-opendsr-signature"]), expected)
    assert lowered["x-opendsr-processor-domain"] == "privacy.example.fr"


def _key(browser: TestClient, headers: dict[str, str]) -> bytes:
    answer = browser.get("/opendsr/v2/callback-key", headers=headers)
    assert answer.status_code == 200
    return bytes.fromhex(answer.json()["key"])


def _submission(**fields: Any) -> dict[str, Any]:
    return {
        "subject_request_id": str(uuid.uuid4()),
        "subject_request_type": "erasure",
        "submitted_time": "2024-05-02T08:00:00Z",
        "subject_identities": [{"identity_type": "email", "identity_value": ANIA, "identity_format": "raw"}],
        "api_version": "2.0",
        "extensions": {"privacy.example.fr": {"property_id": "shop"}},
        **fields,
    }


def _signed_json(answer: Response, key: bytes) -> Any:
    _verify_signature(key, dict(answer.headers), answer.content)
    return answer.json()


def test_discovery_is_public_and_follows_the_policy(browser: TestClient) -> None:
    answer = browser.get("/opendsr/v2/discovery")
    assert answer.status_code == 200
    found = answer.json()
    assert found["api_version"] == "2.0"
    assert found["supported_subject_request_types"] == ["access", "portability", "erasure"]
    assert found["supported_identities"] == [
        {"identity_type": "email", "identity_format": "raw"},
        {"identity_type": "phone", "identity_format": "raw"},
        {"identity_type": "controller_customer_id", "identity_format": "raw"},
    ]
    assert found["signature"]["algorithm"] == "HMAC-SHA256"


def test_create_status_and_cancel_with_a_signed_callback(browser: TestClient) -> None:
    headers = _client_token()
    key = _key(browser, headers)
    with Receiver() as receiver:
        sent = _submission(status_callback_urls=[receiver.url])
        created = browser.post("/opendsr/v2/requests", json=sent, headers=headers)
        assert created.status_code == 201, created.text
        receipt = _signed_json(created, key)
        assert receipt["subject_request_id"] == sent["subject_request_id"]
        assert receipt["request_status"] == "pending"
        assert receipt["duplicate"] is False
        assert json.loads(base64.b64decode(receipt["encoded_request"])) == sent
        assert receipt["controller_id"].startswith("token:")
        assert receipt["expected_completion_time"].endswith("T23:59:59Z")

        # Sent again: the first receipt, not a second request.
        again = browser.post("/opendsr/v2/requests", json=sent, headers=headers)
        assert again.status_code == 200
        assert _signed_json(again, key)["received_time"] == receipt["received_time"]

        status_path = f"/opendsr/v2/requests/{sent['subject_request_id']}"
        assert _signed_json(browser.get(status_path, headers=headers), key)["request_status"] == "pending"
        # Another client does not see it.
        assert browser.get(status_path, headers=_client_token()).status_code == 404

        cancelled = browser.post(f"{status_path}/cancel", headers=headers)
        assert cancelled.status_code == 200
        assert _signed_json(cancelled, key)["request_status"] == "cancelled"
        work_until(lambda: len(receiver.calls) == 1)

    (call_headers, raw) = receiver.calls[0]
    _verify_signature(key, call_headers, raw)
    callback = json.loads(raw)
    assert callback == {
        "api_version": "2.0",
        "controller_id": receipt["controller_id"],
        "subject_request_id": sent["subject_request_id"],
        "request_status": "cancelled",
        "expected_completion_time": receipt["expected_completion_time"],
        "status_callback_url": receiver.url,
    }
    # A tampered body does not pass.
    with pytest.raises(AssertionError):
        _verify_signature(key, call_headers, raw.replace(b"cancelled", b"completed"))
    # Nor does another client's key.
    with pytest.raises(AssertionError):
        _verify_signature(_key(browser, _client_token()), call_headers, raw)
    actions = [entry.action for entry in audit_entries() if entry.object_type == "subject_request"]
    assert actions == ["request.received", "request.verified", "request.approved", "request.opendsr_submitted", "request.cancelled"]


def test_bad_submissions_and_callers_are_refused(browser: TestClient) -> None:
    headers = _client_token()
    _, reader = issue_token(OWNER, {Permission.REQUESTS_READ})
    assert browser.post("/opendsr/v2/requests", json=_submission()).status_code == 401
    assert browser.post("/opendsr/v2/requests", json=_submission(), headers={"Authorization": f"Bearer {reader}"}).status_code == 403
    for bad, message in (
        (
            _submission(subject_identities=[{"identity_type": "android_id", "identity_value": "x", "identity_format": "raw"}]),
            "unknown identity type",
        ),
        (
            _submission(subject_identities=[{"identity_type": "email", "identity_value": "ab12", "identity_format": "sha256"}]),
            "identity_format",
        ),
        (_submission(regulation="ccpa"), "regulation"),
        (_submission(subject_request_type="rectification"), "subject_request_type"),
        (_submission(status_callback_urls=["http://controller.example/cb"]), "must use https"),
        (_submission(subject_request_id="not-a-uuid"), "subject_request_id"),
    ):
        answer = browser.post("/opendsr/v2/requests", json=bad, headers=headers)
        assert answer.status_code == 422, answer.text
        assert message in answer.text
    assert [entry for entry in audit_entries() if entry.object_type == "subject_request"] == []


def test_a_forwarded_duplicate_joins_the_open_request(browser: TestClient) -> None:
    headers = _client_token()
    own = make(browser, body("erasure"))
    answer = browser.post(
        "/opendsr/v2/requests",
        json=_submission(subject_identities=[{"identity_type": "email", "identity_value": ANIA.upper(), "identity_format": "raw"}]),
        headers=headers,
    )
    assert answer.status_code == 200
    assert answer.json()["duplicate"] is True
    # The forwarding controller verified the person: the open request goes ahead.
    request = stored(own["reference"])
    assert request.status == "approved"
    assert request.verification_method == "opendsr"
    cancel = browser.post(f"/opendsr/v2/requests/{answer.json()['subject_request_id']}/cancel", headers=headers)
    assert cancel.status_code == 409
    assert stored(own["reference"]).status == "approved"


def test_an_unreachable_callback_is_kept_for_retry_then_marked_failed(browser: TestClient) -> None:
    headers = _client_token()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/cb"
    sent = _submission(status_callback_urls=[closed])
    browser.post("/opendsr/v2/requests", json=sent, headers=headers)
    browser.post(f"/opendsr/v2/requests/{sent['subject_request_id']}/cancel", headers=headers)
    with transaction() as session:
        (callback_id,) = session.query(OpendsrCallback.id).all()[0]
    with transaction() as session:
        error = callbacks.deliver(session, callback_id, last_attempt=False)
    assert error is not None and "Connection refused" in error
    with transaction() as session:
        assert callbacks.deliver(session, callback_id, last_attempt=True) is not None
    with transaction() as session:
        callback = session.get_one(OpendsrCallback, callback_id)
        assert (callback.status, callback.attempts) == ("failed", 2)
