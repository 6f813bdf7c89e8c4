"""The consent API's edges: malformed input changes nothing, public endpoints reveal nobody else, CORS, rate limits, CSV import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from privacydesk.audit.models import AuditEntry
from privacydesk.consent.models import ConsentEvent, ConsentPerson, ConsentRecord, ConsentState, ConsentSubject
from privacydesk.db.engine import transaction

from .consent_support import PURPOSES, Platform, cid, count, decision_body, setup_platform

pytestmark = pytest.mark.postgres
CONSENT_TABLES = (ConsentRecord, ConsentEvent, ConsentState, ConsentSubject, ConsentPerson)


@pytest.fixture
def platform(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Platform:
    return setup_platform(monkeypatch, tmp_path, consent_origins="https://www.imoulife.com, https://shop.imoulife.com/")


def _nothing_stored() -> None:
    assert [count(model) for model in CONSENT_TABLES] == [0] * len(CONSENT_TABLES)
    with transaction() as session:
        assert session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("consent.%"))).all() == []


def test_malformed_decisions_are_refused_with_a_reason_and_store_nothing(platform: Platform) -> None:
    valid = decision_body(platform.config())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"subject": "cid:not-a-uuid"}, "a consent id is a UUID"),
        ({"subject": "cid:6ba7b810-9dad-11d1-80b4-00c04fd430c8"}, "random UUID, version 4"),
        ({"subject": "user:42"}, "unknown kind 'user'"),
        ({"subject": "account:42"}, "consent id (cid:<uuid4>) only"),
        ({"subject": "email:jan@example.pl"}, "consent id (cid:<uuid4>) only"),
        ({"choices": {"profiling": True}}, "unknown purpose 'profiling'"),
        ({"choices": {}}, "choices is empty"),
        ({"method": "accept_all", "choices": {"ux_plan": True, "newsletter": False}}, "accept_all sends every choice as true"),
        ({"method": "reject_all", "choices": {"ux_plan": True}}, "reject_all sends every choice as false"),
        ({"method": "gpc", "choices": {"ux_plan": True}}, "Global Privacy Control decision refuses every purpose"),
        ({"text_hash": "0" * 64}, "text_hash does not match"),
        ({"policy_version": "f" * 64}, "policy_version is not the published policy"),
        ({"language": "de"}, "unsupported language 'de'"),
        ({"page_url": "javascript:alert(1)"}, "page_url must be an http(s) address"),
    ]
    for change, message in cases:
        answer = platform.client.post("/api/v1/public/consent/decisions", json={**valid, **change})
        assert answer.status_code == 422, (change, answer.text)
        assert message in answer.json()["error"]["message"], (change, answer.json())
    # Shape errors are caught before any code of ours runs.
    for change in ({"method": "api"}, {"surface": "app"}, {"text_hash": "xyz"}, {"choices": {"ux_plan": "yes"}}, {"extra": 1}):
        assert platform.client.post("/api/v1/public/consent/decisions", json={**valid, **change}).status_code == 422, change
    for missing in ("subject", "method", "surface", "language", "text_hash", "policy_version"):
        body = {key: value for key, value in valid.items() if key != missing}
        assert platform.client.post("/api/v1/public/consent/decisions", json=body).status_code == 422, missing
    _nothing_stored()
    # The same body, valid, is stored: the refusals above were about what they changed.
    assert platform.client.post("/api/v1/public/consent/decisions", json=valid).status_code == 201


def test_malformed_server_calls_are_refused(platform: Platform) -> None:
    headers = platform.headers
    assert (
        platform.client.get("/api/v1/consent/check", params={"subject": "nobody", "purpose": "ux_plan"}, headers=headers).status_code == 422
    )
    assert platform.client.get("/api/v1/consent/check", params={"subject": cid()}, headers=headers).status_code == 422
    answer = platform.client.post("/api/v1/consent/links", json={"keys": ["account:1", "account:1"]}, headers=headers)
    assert answer.status_code == 422 and "two different subject keys" in answer.json()["error"]["message"]
    assert platform.client.post("/api/v1/consent/links", json={"keys": ["account:1", "email:nope"]}, headers=headers).status_code == 422
    too_many = {"checks": [{"subject": cid(), "purpose": "ux_plan"}] * 1001}
    assert platform.client.post("/api/v1/consent/check", json=too_many, headers=headers).status_code == 422
    assert platform.client.get("/api/v1/consent/receipts/not-a-uuid", headers=headers).status_code == 422
    assert platform.client.get(f"/api/v1/consent/receipts/{cid()[4:]}", headers=headers).status_code == 404
    _nothing_stored()


def test_public_endpoints_never_reveal_another_subject(platform: Platform) -> None:
    person, stranger = cid(), cid()
    platform.banner(person, {"ux_plan": True, "analytics_cookies": True})
    platform.client.post("/api/v1/consent/links", json={"keys": [person, "account:7"]}, headers=platform.headers)
    # A consent id never used answers "no record" for every purpose, whatever others decided.
    unknown = platform.client.get(f"/api/v1/public/consent/subjects/{stranger}/choices")
    assert unknown.status_code == 200 and unknown.headers["cache-control"] == "no-store"
    assert unknown.json() == {
        "choices": {p: {"allowed": False, "reason": "no_record", "expires_at": None} for p in PURPOSES},
        "needs_decision": PURPOSES,
    }
    assert platform.client.post(f"/api/v1/public/consent/subjects/{stranger}/withdraw").status_code == 404
    # Keys anyone could type (an account number, an email) are not accepted without credentials.
    for key in ("account:7", "email:jan@example.pl"):
        assert platform.client.get(f"/api/v1/public/consent/subjects/{key}/choices").status_code == 422
        assert platform.client.post(f"/api/v1/public/consent/subjects/{key}/withdraw").status_code == 422
    # History and checks are for the server API only.
    assert platform.client.get(f"/api/v1/consent/subjects/{person}/history").status_code == 401
    assert platform.client.get("/api/v1/consent/check", params={"subject": person, "purpose": "ux_plan"}).status_code == 401
    # The person's own page still shows their choices.
    own = platform.client.get(f"/api/v1/public/consent/subjects/{person}/choices").json()
    assert own["choices"]["ux_plan"]["allowed"] is True


def test_cors_is_open_to_the_configured_sites_only(platform: Platform) -> None:
    preflight = {
        "Origin": "https://shop.imoulife.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    allowed = platform.client.options("/api/v1/public/consent/decisions", headers=preflight)
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://shop.imoulife.com"
    assert "POST" in allowed.headers["access-control-allow-methods"]
    refused = platform.client.options("/api/v1/public/consent/decisions", headers={**preflight, "Origin": "https://evil.example"})
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    simple = platform.client.get("/api/v1/public/consent/config", headers={"Origin": "https://www.imoulife.com"})
    assert simple.headers["access-control-allow-origin"] == "https://www.imoulife.com"
    # Errors carry the header too, so the banner can read why.
    bad = platform.client.post("/api/v1/public/consent/decisions", json={}, headers={"Origin": "https://www.imoulife.com"})
    assert bad.status_code == 422 and bad.headers["access-control-allow-origin"] == "https://www.imoulife.com"
    # The admin API is never opened to other sites.
    admin = platform.client.get(
        "/api/v1/consent/check",
        params={"subject": cid(), "purpose": "ux_plan"},
        headers={**platform.headers, "Origin": "https://www.imoulife.com"},
    )
    assert admin.status_code == 200 and "access-control-allow-origin" not in admin.headers


def test_public_endpoints_are_rate_limited_per_address(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    limited = setup_platform(monkeypatch, tmp_path, consent_rate_limit="3")
    answers = [limited.client.get("/api/v1/public/consent/config").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    refused = limited.client.get("/api/v1/public/consent/receipt-key")
    assert refused.status_code == 429 and "more than 3 requests a minute" in refused.json()["error"]["message"]
    # Another address has its own allowance; the authenticated API is not limited.
    other = TestClient(limited.client.app, base_url="https://testserver", client=("198.51.100.4", 40000))
    assert other.get("/api/v1/public/consent/config").status_code == 200
    assert all(limited.check(cid(), "ux_plan")["reason"] == "no_record" for _ in range(5))


# ---------------------------------------------------------------- import
def _import(platform: Platform, content: str, **options: Any) -> Any:
    return platform.client.post(
        "/api/v1/consent/import", content=content.encode(), headers={**platform.headers, "Content-Type": "text/csv"}, **options
    )


def test_csv_import_stores_every_row(platform: Platform) -> None:
    recently = (datetime.now(UTC) - timedelta(days=10)).date().isoformat()
    content = (
        "subject,purpose,decision,given_at,source,method\n"
        "email:Anna@Example.cz,newsletter,given,2024-03-01,CRM export 2024,double opt-in form\n"
        "account:981,analytics_cookies,given,2020-01-15T08:30:00+01:00,old banner,\n"
        "email:anna@example.cz,newsletter,withdrawn,2024-09-10T12:00:00Z,CRM export 2024,unsubscribe link\n"
        f"account:982,ux_plan,refused,{recently},app settings,\n"
    )
    answer = _import(platform, content)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"records": 4, "subjects": 3}
    assert platform.check("email:anna@example.cz", "newsletter")["reason"] == "withdrawn"
    # Consent given in 2020 for a cookie purpose lapsed after 13 months.
    assert platform.check("account:981", "analytics_cookies")["reason"] == "expired"
    assert platform.check("account:982", "ux_plan")["reason"] == "refused"
    history = platform.client.get("/api/v1/consent/subjects/email:anna@example.cz/history", headers=platform.headers).json()
    assert [(e["event_state"], e["collection_method"], e["source"], e["event_time"][:10]) for e in history] == [
        ("given", "import", "CRM export 2024", "2024-03-01"),
        ("withdrawn", "import", "CRM export 2024", "2024-09-10"),
    ]
    with transaction() as session:
        first = session.scalars(
            select(ConsentRecord).where(ConsentRecord.collection_method == "import").order_by(ConsentRecord.event_time)
        ).first()
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action.like("consent.%"))).all()
    assert first is not None and (first.source, first.source_method, first.surface) == ("old banner", None, None)
    assert first.event_time == datetime(2020, 1, 15, 7, 30, tzinfo=UTC)
    # One audit entry for the whole import, not one per row.
    assert [(entry.action, entry.summary) for entry in audit] == [("consent.imported", {"records": 4, "subjects": 3})]
    # An imported decision older than a live one does not replace it.
    platform.banner("cid:" + "4f1c2a7e-5b7d-4c1e-9a3b-2d8e6f0a1b2c", {"ux_plan": True})
    platform.client.post(
        "/api/v1/consent/links", json={"keys": ["cid:4f1c2a7e-5b7d-4c1e-9a3b-2d8e6f0a1b2c", "account:983"]}, headers=platform.headers
    )
    assert _import(platform, "subject,purpose,decision,given_at,source\naccount:983,ux_plan,refused,2023-05-05,paper\n").status_code == 200
    assert platform.check("account:983", "ux_plan")["reason"] == "given"
    # As a file upload too.
    upload = platform.client.post(
        "/api/v1/consent/import",
        files={
            "file": ("consents.csv", b"subject,purpose,decision,given_at,source\naccount:5,newsletter,given,2025-01-01,fair\n", "text/csv")
        },
        headers=platform.headers,
    )
    assert upload.status_code == 200 and upload.json() == {"records": 1, "subjects": 1}


BAD_ROWS = [
    (
        "account:1,newsletter,given,2024-01-01,crm\naccount:2,profiling,given,2024-01-01,crm\n",
        3,
        "line 3, column purpose: unknown purpose 'profiling'",
    ),
    ("account:1,newsletter,maybe,2024-01-01,crm\n", 2, "line 2, column decision: 'maybe' is not a decision"),
    ("nobody,newsletter,given,2024-01-01,crm\n", 2, "line 2, column subject: malformed subject 'nobody'"),
    ("account:1,newsletter,given,yesterday,crm\n", 2, "line 2, column given_at: 'yesterday' is not a date"),
    ("account:1,newsletter,given,2024-01-01T10:00:00,crm\n", 2, "has no time zone"),
    ("account:1,newsletter,given,2999-01-01,crm\n", 2, "is in the future"),
    ("account:1,newsletter,given,2024-01-01,\n", 2, "column source: say where the consent was collected"),
    ("account:1,newsletter,given,2024-01-01,crm,extra\n", 2, "expected 5 values"),
]


def test_a_bad_row_rejects_the_whole_import(platform: Platform) -> None:
    for rows, line, message in BAD_ROWS:
        answer = _import(platform, "subject,purpose,decision,given_at,source\n" + rows)
        assert answer.status_code == 422, rows
        error = answer.json()["error"]
        assert message in error["message"] and error["message"].endswith("nothing was imported"), (rows, error)
        assert error["details"]["line"] == line, rows
    _nothing_stored()


def test_a_bad_header_or_empty_file_is_refused(platform: Platform) -> None:
    wrong = _import(platform, "subject,purpose,choice,given_at\naccount:1,newsletter,given,2024-01-01\n")
    assert wrong.status_code == 422
    assert "line 1: missing column(s) decision, source; unknown column(s) choice" in wrong.json()["error"]["message"]
    assert "no rows" in _import(platform, "subject,purpose,decision,given_at,source\n").json()["error"]["message"]
    assert _import(platform, "").status_code == 422
    assert (
        platform.client.post(
            "/api/v1/consent/import", content=b"\xff\xfe", headers={**platform.headers, "Content-Type": "text/csv"}
        ).status_code
        == 422
    )
    _nothing_stored()
