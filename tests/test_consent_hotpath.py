"""The checks' fast lane answers exactly as the regular route does, and hands over every case it does not own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from privacydesk.auth.permissions import Permission
from privacydesk.auth.service import revoke_token
from privacydesk.consent import checks, ledger, restrictions, service, subjects
from privacydesk.consent.models import ConsentPerson, ConsentRecord
from privacydesk.db.base import utcnow
from privacydesk.db.engine import transaction
from privacydesk.web.app import create_app
from tests.auth_support import OWNER, issue_token

from .consent_support import PURPOSES, Platform, cid, count, decision_body, imou_variant, publish, setup_platform

pytestmark = pytest.mark.postgres


@pytest.fixture
def platform(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Platform:
    return setup_platform(monkeypatch, tmp_path)


@pytest.fixture
def served(platform: Platform) -> Iterator[TestClient]:
    """A client of an application that runs its lifespan, so the fast lane has its connection pool."""
    with TestClient(create_app(), base_url="https://testserver") as client:
        yield client


def _ask(client: TestClient, headers: dict[str, str], subject: str, purpose: str) -> Any:
    return client.get("/api/v1/consent/check", params={"subject": subject, "purpose": purpose}, headers=headers)


def _regular_route_unused(monkeypatch: pytest.MonkeyPatch) -> None:
    def regular(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the regular route answered")

    monkeypatch.setattr(checks, "check", regular)


def test_the_fast_lane_answers_as_the_regular_route(platform: Platform, served: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    given, refused, withdrawn, restricted, unknown = cid(), cid(), cid(), cid(), cid()
    assert platform.banner(given, {"ux_plan": True, "newsletter": True}).status_code == 201
    assert platform.banner(refused, {"ux_plan": False}).status_code == 201
    assert platform.banner(withdrawn, {"ux_plan": True}).status_code == 201
    assert platform.client.post(f"/api/v1/public/consent/subjects/{withdrawn}/withdraw").status_code == 200
    assert platform.banner(restricted, {"ux_plan": True}).status_code == 201
    with transaction() as session:
        restrictions.restrict(session, subjects.parse(restricted), reason="objection", actor="test")
    asked = [(subject, purpose) for subject in (given, refused, withdrawn, restricted, unknown) for purpose in ("ux_plan", "newsletter")]
    regular = [platform.check(subject, purpose) for subject, purpose in asked]
    assert {answer["reason"] for answer in regular} == {"given", "refused", "withdrawn", "restricted", "no_record"}

    _regular_route_unused(monkeypatch)
    fast = [_ask(served, platform.headers, subject, purpose) for subject, purpose in asked]
    assert [answer.status_code for answer in fast] == [200] * len(asked)
    assert [answer.json() for answer in fast] == regular
    assert fast[0].headers["content-type"] == "application/json"


def test_everything_unusual_goes_to_the_regular_route(platform: Platform, served: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    subject = cid()
    assert platform.banner(subject, {"ux_plan": True}).status_code == 201
    _, policy_reader = issue_token(OWNER, {Permission.POLICY_READ})
    cases: list[tuple[dict[str, str], str, str, int, str]] = [
        (platform.headers, subject, "profiling", 422, "unknown purpose 'profiling'"),
        (platform.headers, "cid:not-a-uuid", "ux_plan", 422, "a consent id is a UUID"),
        ({}, subject, "ux_plan", 401, "sign in or send an API token"),
        ({"Authorization": "Bearer pd_not-a-token"}, subject, "ux_plan", 401, "unknown, expired or revoked"),
        ({"Authorization": f"Bearer {policy_reader}"}, subject, "ux_plan", 403, "consent:read"),
    ]
    for headers, asked, purpose, status, message in cases:
        answer = _ask(served, headers, asked, purpose)
        assert answer.status_code == status, answer.text
        assert message in answer.json()["error"]["message"]

    # A token not marked used for a while is marked by the regular route, then served by the fast lane again.
    with transaction() as session:
        session.execute(text("UPDATE api_tokens SET last_used_at = :at"), {"at": utcnow() - timedelta(minutes=5)})
    with monkeypatch.context() as patch:
        _regular_route_unused(patch)
        with pytest.raises(AssertionError, match="regular route"):
            _ask(served, platform.headers, subject, "ux_plan")
    assert _ask(served, platform.headers, subject, "ux_plan").json()["reason"] == "given"
    with monkeypatch.context() as patch:
        _regular_route_unused(patch)
        assert _ask(served, platform.headers, subject, "ux_plan").json()["reason"] == "given"

    # A revoked token is refused at once, not served from anything remembered.
    with transaction() as session:
        token_id = session.execute(text("SELECT id FROM api_tokens WHERE 'consent:read' = ANY(scopes)")).scalar_one()
        revoke_token(session, token_id, actor="test")
    answer = _ask(served, platform.headers, subject, "ux_plan")
    assert answer.status_code == 401


# ---------------------------------------------------------------- decisions: a new consent id's first one
def _decide(client: TestClient, platform: Platform, subject: str, choices: dict[str, bool], **extra: Any) -> Any:
    shown = platform.config("pl")
    body = {"subject": subject, "choices": choices, "method": "custom", "surface": "banner", "language": "pl"}
    body |= {"text_hash": shown["text_hash"], "policy_version": shown["policy_version"], "page_url": "https://www.imoulife.com/pl/?a=b"}
    headers = extra.pop("headers", {"User-Agent": "Firefox", "Sec-GPC": "1"})
    return client.post("/api/v1/public/consent/decisions", json=body | extra, headers=headers)


def _stored(subject: str) -> dict[str, Any]:
    """What a decision stored, without what differs between any two decisions (ids, keys, times)."""
    with transaction() as session:
        record = session.execute(text("SELECT * FROM consent_records WHERE pii_principal_id = :key"), {"key": subject}).mappings().one()
        at = record["event_time"]
        events = session.execute(
            text("SELECT purpose, event_state, valid_until FROM consent_events WHERE record_id = :id ORDER BY id"),
            {"id": record["record_id"]},
        ).all()
        states = session.execute(
            text(
                "SELECT purpose, state, method, record_id, policy_version_number, decided_at, expires_at FROM consent_states WHERE person_id = :p"
            ),
            {"p": record["person_id"]},
        ).all()
        audit_rows = session.execute(
            text("SELECT audit_seq FROM consent_record_audits WHERE record_id = :id"), {"id": record["record_id"]}
        ).all()
    assert record["recorded_at"] == at
    assert all(state.record_id == record["record_id"] and state.decided_at == at for state in states)
    kept = {
        name: value
        for name, value in record.items()
        if name not in {"record_id", "pii_principal_id", "person_id", "event_time", "recorded_at"}
    }
    return {
        "record": kept,
        "events": [(e.purpose, e.event_state, e.valid_until and e.valid_until - at) for e in events],
        "states": sorted((s.purpose, s.state, s.method, s.policy_version_number, s.expires_at and s.expires_at - at) for s in states),
        "audit": [tuple(row) for row in audit_rows],
    }


def test_a_first_decision_takes_the_fast_lane_and_stores_what_the_regular_route_stores(
    platform: Platform, served: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    choices = {"ux_plan": True, "newsletter": False, "analytics_cookies": True}
    regular_subject, fast_subject, gpc_subject = cid(), cid(), cid()
    regular = _decide(platform.client, platform, regular_subject, choices)
    with monkeypatch.context() as patch:
        patch.setattr(service, "record_decision", _unused)
        fast = _decide(served, platform, fast_subject, choices)
        gpc = _decide(served, platform, gpc_subject, dict.fromkeys(PURPOSES, False), method="gpc")
    assert (regular.status_code, fast.status_code, gpc.status_code) == (201, 201, 201), fast.text
    assert fast.json()["subject"] == fast_subject and fast.json()["choices"] == regular.json()["choices"]
    assert fast.headers["content-type"] == regular.headers["content-type"] == "application/json"
    expiry = {purpose: at is not None for purpose, at in fast.json()["expires_at"].items()}
    assert expiry == {purpose: at is not None for purpose, at in regular.json()["expires_at"].items()}
    assert _stored(fast_subject) == _stored(regular_subject)
    assert {state[1:3] for state in _stored(gpc_subject)["states"]} == {("refused", "gpc")}
    assert [platform.check(gpc_subject, purpose)["reason"] for purpose in PURPOSES] == ["gpc"] * len(PURPOSES)
    with transaction() as session:
        assert ledger.audit_pending(session) == 3
    with transaction() as session:
        assert ledger.verify(session).ok


def test_known_keys_stale_versions_and_bad_input_go_to_the_regular_route(
    platform: Platform, served: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = cid()
    assert _decide(served, platform, subject, {"ux_plan": True}).status_code == 201
    calls: list[str] = []
    record_decision = service.record_decision

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append("regular")
        return record_decision(*args, **kwargs)

    monkeypatch.setattr(service, "record_decision", spy)
    # A known key: its standing choice decides the event.
    again = _decide(served, platform, subject, {"ux_plan": True})
    assert again.status_code == 201 and calls == ["regular"]
    with transaction() as session:
        assert [row.event_state for row in session.execute(text("SELECT event_state FROM consent_events ORDER BY id"))] == [
            "given",
            "updated",
        ]
    # Bad input: the regular route's errors, nothing stored.
    records, persons = count(ConsentRecord), count(ConsentPerson)
    unknown = _decide(served, platform, cid(), {"profiling": True})
    assert unknown.status_code == 422 and "unknown purpose 'profiling'" in unknown.json()["error"]["message"]
    # A version this process parsed, no longer the latest: the statement writes nothing and the regular route refuses it.
    stale = platform.config("pl")
    publish(imou_variant(platform.tmp_path, "renamed", lambda data: data["organization"].update(name="imou Europe")))
    answer = _decide(served, platform, cid(), {"ux_plan": True}, text_hash=stale["text_hash"], policy_version=stale["policy_version"])
    assert answer.status_code == 422 and "policy_version is not the published policy" in answer.json()["error"]["message"]
    assert (count(ConsentRecord), count(ConsentPerson)) == (records, persons)
    assert calls == ["regular"] * 3


def _unused(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the regular service recorded the decision")


def test_the_decisions_lane_counts_clients_and_hands_over_what_it_does_not_own(
    platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    platform = setup_platform(monkeypatch, tmp_path, consent_rate_limit="3")
    shown = platform.config("pl")

    def body(**fields: Any) -> dict[str, Any]:
        return decision_body(shown, **fields)

    path = "/api/v1/public/consent/decisions"
    with TestClient(create_app(), base_url="https://testserver") as client:
        assert [client.post(path, json=body()).status_code for _ in range(4)] == [201, 201, 201, 429]
    with TestClient(create_app(), base_url="https://testserver") as client:
        # Too large for the lane: the regular route reads the very same body and names the problem.
        padded = client.post(path, json=body(page_url="https://example.com/" + "a" * 70_000))
        assert padded.status_code == 422 and "page_url" in padded.text
        # Not JSON: refused by the regular route.
        assert client.post(path, content=b"subject=x", headers={"Content-Type": "text/plain"}).status_code == 422
    assert count(ConsentRecord) == 3
