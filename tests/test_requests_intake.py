"""Taking requests in: validation against the policy, duplicates, staff and app entry, the status token, ages, rate limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from privacydesk.auth.permissions import Permission, Role
from privacydesk.db.engine import transaction
from privacydesk.requests import service
from privacydesk.requests.models import SubjectRequest
from tests.auth_support import OWNER, add_user, audit_entries, client, configure, issue_token
from tests.conftest import PolicyFactory
from tests.requests_support import ANIA, body, mails, make, publish, stored

pytestmark = pytest.mark.postgres


@pytest.fixture
def browser(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> TestClient:
    configure(monkeypatch, tmp_path)
    return client()


def _count() -> int:
    with transaction() as session:
        return session.scalar(select(func.count()).select_from(SubjectRequest)) or 0


def _newsletter(data: dict[str, Any]) -> None:
    data["activities"]["newsletter"] = {
        "title": "Newsletter",
        "purposes": ["dpv:DirectMarketing"],
        "legal_basis": "consent",
        "subjects": ["customer"],
        "data": ["email"],
        "retention": {"after": "consent_withdrawal"},
    }
    data["consents"] = {"newsletter": {"title": "Newsletter", "activities": ["newsletter"], "channel": "email"}}


def test_no_request_is_taken_before_a_policy_is_published(browser: TestClient) -> None:
    answer = browser.post("/api/v1/public/requests", json=body())
    assert answer.status_code == 409
    assert "no policy is published" in answer.json()["error"]["message"]


BAD_REQUESTS = [
    (body(identities=[{"type": "passport", "value": "X1"}]), 422, "unknown identity type 'passport'"),
    (body(email="not an address"), 422, "is not an email address"),
    (body(identities=[{"type": "phone", "value": "+48 600 100 200"}]), 422, "a code sent to your email: give your email"),
    (body(identities=[{"type": "email", "value": ANIA}, {"type": "phone", "value": "call me"}]), 422, "is not a phone number"),
    (body("erasure", corrections=[{"category": "name", "value": "Anna"}]), 422, "'corrections' belongs to a rectification request"),
    (body("rectification"), 422, "lists the corrected values"),
    (body("rectification", corrections=[{"category": "shoe_size", "value": "42"}]), 422, "unknown data category 'shoe_size'"),
    (body("objection", objection={"activities": ["accounts"]}), 422, "cannot be objected to"),
    (body("objection", objection={"activities": ["nope"]}), 422, "unknown activity 'nope'"),
    (body("consent_withdrawal", consents=["newsletter"]), 422, "unknown consent 'newsletter'"),
    (body("portability", portability={"to": "controller", "controller_url": "http://other.example"}), 422, "https:// URL"),
    (body("portability", portability={"to": "controller", "controller_url": "https://10.0.0.7/import"}), 422, "not a local or private"),
    (body("post_mortem"), 422, "post_mortem.instructions"),
    (body(typo_field=1), 422, "typo_field"),
    (body("wish"), 422, "type"),
]


def test_bad_requests_are_refused_with_a_reason_and_change_nothing(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy)
    for payload, status, message in BAD_REQUESTS:
        answer = browser.post("/api/v1/public/requests", json=payload)
        assert answer.status_code == status, answer.text
        assert message in answer.text, answer.text
    assert _count() == 0
    assert mails() == []
    assert [entry for entry in audit_entries() if entry.object_type == "subject_request"] == []


def test_a_request_is_stored_with_its_details_identities_and_a_code_is_mailed(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy, _newsletter)
    corrections = [{"category": "name", "value": "Anna Kowalska"}]
    receipt = make(browser, body("rectification", email=" Ania.Kowalska@Example.ORG ", corrections=corrections, language="en"))
    assert receipt["status"] == "verifying"
    assert receipt["duplicate"] is False
    assert receipt["code_sent_to"] == "email"
    assert len(receipt["status_token"]) >= 40
    request = stored(receipt["reference"])
    assert [(identity.type, identity.value, identity.verified) for identity in request.identities] == [("email", ANIA, False)]
    assert request.details == {"corrections": corrections}
    assert request.channel == "web"
    assert request.language == "en"
    assert [event.to_status for event in request.events] == ["received", "verifying"]
    # The token is stored hashed only.
    assert receipt["status_token"] not in request.status_token_hash
    (mail,) = mails("verification_code")
    assert mail.to == ANIA
    assert receipt["reference"] in mail.text_body

    withdrawal = make(browser, body("consent_withdrawal", consents=["newsletter"]))
    objection = make(browser, body("objection", objection={"activities": ["security_logs"]}))
    assert stored(withdrawal["reference"]).details == {"consents": ["newsletter"]}
    assert stored(objection["reference"]).details == {"objection": {"direct_marketing": False, "activities": ["security_logs"]}}
    destination = {"to": "controller", "controller_url": "https://import.other-controller.example/opendsr"}
    portability = make(browser, body("portability", email="ewa@example.org", portability=destination))
    assert stored(portability["reference"]).details == {"portability": destination}
    plain_copy = make(browser, body("portability", email="jan@example.org"))
    assert stored(plain_copy["reference"]).details == {"portability": {"to": "subject"}}


def test_audit_entries_name_identities_only_by_keyed_hash(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy)
    receipt = make(browser, body(identities=[{"type": "email", "value": ANIA}, {"type": "account_id", "value": "cust-000417"}]))
    entries = [entry for entry in audit_entries() if entry.object_type == "subject_request"]
    assert [entry.action for entry in entries] == ["request.received", "request.verifying", "request.code_sent"]
    received = entries[0].summary
    assert len(received["identities"]) == 2
    assert all(len(value) == 64 for value in received["identities"])
    text = repr([entry.summary for entry in entries])
    for secret in (ANIA, "cust-000417", "ania", receipt["status_token"]):
        assert secret not in text


def test_a_duplicate_returns_the_open_request_and_says_so(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy)
    first = make(browser, body("erasure", identities=[{"type": "email", "value": ANIA}, {"type": "account_id", "value": "A-17"}]))
    # Same identities in another order and spelling: the same request; the person gets a new token and code.
    again = make(
        browser, body("erasure", identities=[{"type": "account_id", "value": "A-17"}, {"type": "email", "value": ANIA.upper()}]), 200
    )
    assert again["duplicate"] is True
    assert again["reference"] == first["reference"]
    assert again["status_token"] != first["status_token"]
    assert "exists already" in again["message"]
    assert len(mails("verification_code")) == 2
    assert _count() == 1
    # The old token no longer works, the new one does.
    path = f"/api/v1/public/requests/{first['reference']}"
    assert browser.get(path, headers={"X-Status-Token": first["status_token"]}).status_code == 404
    assert browser.get(path, headers={"X-Status-Token": again["status_token"]}).status_code == 200

    # Another type, or another set of identities, is another request (another email: 3 codes an hour go to one).
    assert (
        make(browser, body("access", identities=[{"type": "email", "value": ANIA}, {"type": "account_id", "value": "A-17"}]))["duplicate"]
        is False
    )
    assert (
        make(browser, body("erasure", identities=[{"type": "email", "value": "jan@example.org"}, {"type": "account_id", "value": "A-17"}]))[
            "duplicate"
        ]
        is False
    )
    assert _count() == 3


def test_a_repeat_naming_fewer_of_the_identities_is_the_same_request_one_naming_more_is_new(
    browser: TestClient, make_policy: PolicyFactory
) -> None:
    publish(make_policy)
    both = [{"type": "email", "value": ANIA}, {"type": "account_id", "value": "A-17"}]
    first = make(browser, body("erasure", identities=both))

    fewer = make(browser, body("erasure", identities=[{"type": "email", "value": ANIA.upper()}]), 200)
    assert (fewer["duplicate"], fewer["reference"]) == (True, first["reference"])
    assert _count() == 1
    # Naming another identity besides: the open request would not look for it, so this one is new.
    more = make(browser, body("erasure", identities=[*both, {"type": "account_id", "value": "B-2"}]))
    assert more["duplicate"] is False and _count() == 2


def test_a_duplicate_of_a_verified_request_hands_out_no_token(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy)
    add_user()
    _, secret = issue_token(OWNER, {Permission.REQUESTS_SUBMIT_VERIFIED})
    app = {"Authorization": f"Bearer {secret}"}
    created = browser.post(
        "/api/v1/requests/verified", json={"type": "erasure", "identities": [{"type": "email", "value": ANIA}]}, headers=app
    )
    assert created.status_code == 201, created.text
    assert created.json()["request"]["status"] == "approved"

    again = make(browser, body("erasure"), 200)
    assert again["duplicate"] is True
    assert again["reference"] == created.json()["request"]["reference"]
    assert again["status_token"] is None
    assert again["code_sent_to"] is None
    assert mails("verification_code") == []


def test_an_app_submission_verifies_an_open_unverified_duplicate(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy)
    add_user()
    _, secret = issue_token(OWNER, {Permission.REQUESTS_SUBMIT_VERIFIED})
    unverified = make(browser, body("erasure"))
    answer = browser.post(
        "/api/v1/requests/verified",
        json={"type": "erasure", "identities": [{"type": "email", "value": ANIA}]},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 200
    assert answer.json()["duplicate"] is True
    request = stored(unverified["reference"])
    assert request.status == "approved"
    assert request.verification_method == "app"


def test_staff_enter_letters_with_their_receipt_time(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy)
    add_user()
    _, secret = issue_token(OWNER, {Permission.REQUESTS_MANAGE, Permission.REQUESTS_READ})
    staff = {"Authorization": f"Bearer {secret}"}
    letter = {
        "type": "access",
        "identities": [{"type": "email", "value": ANIA}],
        "channel": "letter",
        "received_at": "2024-01-31T09:00:00+01:00",
        "identity_verified": True,
    }
    answer = browser.post("/api/v1/requests", json=letter, headers=staff)
    assert answer.status_code == 201, answer.text
    created = answer.json()["request"]
    assert created["channel"] == "letter"
    assert created["due_on"] == "2024-02-29"
    assert created["status"] == "approved"
    assert created["verification_method"] == "staff"
    assert [event["to_status"] for event in created["events"]] == ["received", "verified", "approved"]
    assert created["submitted_by"].startswith("token:")

    # Not verified by the team: a code goes to the email the letter gave.
    unverified = browser.post("/api/v1/requests", json={**letter, "type": "erasure", "identity_verified": False}, headers=staff).json()
    assert unverified["request"]["status"] == "verifying"
    assert unverified["code_sent_to"] == "email"

    future = browser.post("/api/v1/requests", json={**letter, "type": "restriction", "received_at": "2999-01-01T00:00:00Z"}, headers=staff)
    assert future.status_code == 422
    assert "in the future" in future.text
    naive = browser.post("/api/v1/requests", json={**letter, "type": "restriction", "received_at": "2024-01-31T09:00:00"}, headers=staff)
    assert naive.status_code == 422
    wrong_channel = browser.post("/api/v1/requests", json={**letter, "type": "restriction", "channel": "pigeon"}, headers=staff)
    assert wrong_channel.status_code == 422
    assert _count() == 2

    listed = browser.get("/api/v1/requests", headers=staff).json()
    assert [item["type"] for item in listed] == ["access", "erasure"]
    shown = browser.get(f"/api/v1/requests/{created['id']}", headers=staff).json()
    assert shown["identities"] == [{"type": "email", "value": ANIA, "verified": True}]


def test_permissions_are_enforced(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy)
    add_user()
    add_user("analyst@example.com", Role.ANALYST)
    _, reader = issue_token(OWNER, {Permission.REQUESTS_READ})
    _, manager = issue_token(OWNER, {Permission.REQUESTS_MANAGE})
    _, analyst = issue_token("analyst@example.com", {Permission.METRICS_READ})
    letter = {"type": "access", "identities": [{"type": "email", "value": ANIA}], "channel": "email", "received_at": "2024-03-01T10:00:00Z"}
    verified = {"type": "access", "identities": [{"type": "email", "value": ANIA}]}

    def call(method: str, path: str, secret: str | None, json: dict[str, Any] | None = None) -> int:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return browser.request(method, path, json=json, headers=headers).status_code

    assert call("GET", "/api/v1/requests", None) == 401
    assert call("GET", "/api/v1/requests", analyst) == 403
    assert call("POST", "/api/v1/requests", reader, letter) == 403
    assert call("POST", "/api/v1/requests/verified", manager, verified) == 403
    assert _count() == 0
    assert call("POST", "/api/v1/requests", manager, letter) == 201
    assert call("GET", "/api/v1/requests", manager) == 403
    assert call("GET", "/api/v1/requests", reader) == 200
    (request_id,) = [item["id"] for item in browser.get("/api/v1/requests", headers={"Authorization": f"Bearer {reader}"}).json()]
    # Approving and rejecting take requests:approve, which the manager's token lacks.
    assert call("POST", f"/api/v1/requests/{request_id}/reject", manager, {"reason": "no"}) == 403
    assert call("POST", f"/api/v1/requests/{request_id}/approve", reader, {}) == 403


def test_the_status_token_shows_that_request_only(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy)
    mine = make(browser, body("access"))
    theirs = make(browser, body("access", email="jan.nowak@example.org"))

    answer = browser.get(f"/api/v1/public/requests/{mine['reference']}", headers={"X-Status-Token": mine["status_token"]})
    assert answer.status_code == 200
    shown = answer.json()
    assert shown["reference"] == mine["reference"]
    assert [step["status"] for step in shown["history"]] == ["received", "verifying"]
    # The person (not yet verified) never sees the identities the request names.
    assert ANIA not in answer.text
    assert "identities" not in shown

    for reference, token in (
        (theirs["reference"], mine["status_token"]),
        (mine["reference"], theirs["status_token"]),
        (mine["reference"], mine["status_token"][:-2] + "xx"),
    ):
        refused = browser.get(f"/api/v1/public/requests/{reference}", headers={"X-Status-Token": token})
        assert refused.status_code == 404
        assert refused.json()["error"]["message"] == "no request with this reference and status token"
    assert browser.get(f"/api/v1/public/requests/{mine['reference']}").status_code == 422
    # Nor can another person's token withdraw it.
    cancel = browser.post(f"/api/v1/public/requests/{theirs['reference']}/cancel", headers={"X-Status-Token": mine["status_token"]})
    assert cancel.status_code == 404
    assert stored(theirs["reference"]).status == "verifying"
    withdrawn = browser.post(f"/api/v1/public/requests/{mine['reference']}/cancel", headers={"X-Status-Token": mine["status_token"]})
    assert withdrawn.json()["status"] == "cancelled"


def test_the_minimum_age_is_enforced_at_intake(browser: TestClient, make_policy: PolicyFactory) -> None:
    publish(make_policy, minimum_age=16)
    today = datetime.now(UTC).date()
    fifteen = date(today.year - 16, today.month, today.day) + timedelta(days=1)
    refused = [
        body(birth_date=fifteen.isoformat()),
        body(age=15),
        {**body(), "age_confirmed": False},
    ]
    messages = [browser.post("/api/v1/public/requests", json=payload) for payload in refused]
    assert [answer.status_code for answer in messages] == [422, 422, 422]
    assert "aged at least 16" in messages[0].json()["error"]["message"]
    assert "aged at least 16" in messages[1].json()["error"]["message"]
    assert "confirm that you are at least 16" in messages[2].json()["error"]["message"]
    assert messages[2].json()["error"]["details"] == {"minimum_age": 16}
    assert _count() == 0

    sixteen = fifteen - timedelta(days=1)
    accepted = make(browser, {**body(birth_date=sixteen.isoformat()), "age_confirmed": False})
    assert stored(accepted["reference"]).status == "verifying"
    received = next(entry for entry in audit_entries() if entry.action == "request.received")
    assert received.summary["age_check"] == "birth_date"
    # The birth date itself is not kept.
    assert sixteen.isoformat() not in repr(stored(accepted["reference"]).details)


def test_public_intake_is_rate_limited_per_client_address(
    platform_url: str, make_policy: PolicyFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    configure(monkeypatch, tmp_path)
    publish(make_policy)
    from privacydesk.web.app import create_app

    app = create_app()
    crowded = TestClient(app, base_url="https://testserver", client=("198.51.100.7", 40000))
    for number in range(service.REQUESTS_PER_CLIENT):
        make(crowded, body(email=f"person{number}@example.org"))
    refused = crowded.post("/api/v1/public/requests", json=body(email="one.more@example.org"))
    assert refused.status_code == 429
    assert "too many requests from your address" in refused.json()["error"]["message"]
    assert _count() == service.REQUESTS_PER_CLIENT
    # Someone else, elsewhere, is not held back.
    elsewhere = TestClient(app, base_url="https://testserver", client=("203.0.113.50", 40000))
    make(elsewhere, body(email="one.more@example.org"))
