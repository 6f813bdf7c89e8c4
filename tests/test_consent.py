"""Consent records and checks: what a record proves, every reason a check gives, linking, bulk checks and history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select, text

from privacydesk.audit import service as audit_service
from privacydesk.audit.models import AuditEntry
from privacydesk.consent import checks, ledger, restrictions, service, subjects
from privacydesk.consent.models import ConsentEvent, ConsentRecord, ConsentState
from privacydesk.db.engine import transaction
from privacydesk.policy.loader import load_policy

from .consent_support import IMOU, PURPOSES, Platform, cid, imou_variant, publish, setup_platform

pytestmark = pytest.mark.postgres
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture
def platform(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Platform:
    return setup_platform(monkeypatch, tmp_path)


def _records(subject: str) -> list[ConsentRecord]:
    with transaction() as session:
        key = subjects.parse(subject).stored
        return list(session.scalars(select(ConsentRecord).where(ConsentRecord.pii_principal_id == key).order_by(ConsentRecord.event_time)))


def _events(record_id: Any) -> dict[str, ConsentEvent]:
    with transaction() as session:
        return {event.purpose: event for event in session.scalars(select(ConsentEvent).where(ConsentEvent.record_id == record_id))}


def _check(subject: str, purpose: str, now: datetime | None = None) -> checks.Check:
    with transaction() as session:
        return checks.check(session, subjects.parse(subject), purpose, now=now)


# ---------------------------------------------------------------- what a record proves
def test_a_banner_decision_stores_every_field_of_its_record(platform: Platform) -> None:
    person = cid()
    shown = platform.config("pl")
    before = datetime.now(UTC)
    answer = platform.banner(
        person, {"ux_plan": True, "analytics_cookies": False}, headers={"User-Agent": FIREFOX, "Sec-GPC": "0"}, language="pl"
    )
    after = datetime.now(UTC)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    [record] = _records(person)
    events = _events(record.record_id)
    # The record: ISO/IEC TS 27560 names, each field as the decision made it.
    assert body["record_id"] == str(record.record_id) and body["subject"] == person
    assert record.pii_principal_id == person
    assert record.notice_version == shown["policy_version"] == load_policy(IMOU).version_hash
    assert record.policy_version_number == 1
    assert record.notice_hash == shown["text_hash"] and record.language == "pl"
    assert (record.collection_method, record.surface, record.entity_id) == ("custom", "banner", "data_subject")
    assert before <= record.event_time <= after and record.recorded_at == record.event_time
    # The query string may carry personal data (here an email): only the page is kept.
    assert record.page_url == "https://www.imoulife.com/pl/kamery"
    assert record.user_agent == FIREFOX and record.gpc is False
    assert record.ip_address is None, "imou's policy does not ask for addresses"
    assert (record.source, record.source_method) == (None, None)
    # One event per purpose decided, with its own expiry: ux_plan never expires, a refusal is remembered 6 months.
    assert sorted(events) == ["analytics_cookies", "ux_plan"]
    assert (events["ux_plan"].event_state, events["ux_plan"].valid_until) == ("given", None)
    refusal = events["analytics_cookies"]
    assert refusal.event_state == "refused" and refusal.valid_until == record.event_time + relativedelta(months=6)
    assert body["choices"] == {"ux_plan": True, "analytics_cookies": False}
    assert body["expires_at"]["ux_plan"] is None and datetime.fromisoformat(body["expires_at"]["analytics_cookies"]) == refusal.valid_until
    # The current state, derived in the same transaction.
    with transaction() as session:
        states = {s.purpose: s for s in session.scalars(select(ConsentState).where(ConsentState.person_id == record.person_id))}
    assert {p: (s.state, s.method, s.record_id, s.expires_at) for p, s in states.items()} == {
        "ux_plan": ("given", "custom", record.record_id, None),
        "analytics_cookies": ("refused", "custom", record.record_id, refusal.valid_until),
    }
    # Audited by the next batch, without the subject key: the entry's digest covers the record and its events.
    with transaction() as session:
        assert ledger.audit_pending(session) == 1
    with transaction() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "consent.recorded")).one()
        assert audit.summary == {"records": 1, "digest": ledger.digest(session, [record.record_id])}
    assert audit.object_id == f"{record.record_id}..{record.record_id}" and audit.actor == "system"
    assert person not in str(audit.summary)


def test_decisions_enter_the_audit_chain_in_batches_that_verify(platform: Platform) -> None:
    people = [cid() for _ in range(3)]
    for person in people:
        assert platform.banner(person, {"ux_plan": True, "newsletter": False}).status_code == 201
    assert platform.client.post(f"/api/v1/public/consent/subjects/{people[0]}/withdraw").status_code == 200
    with transaction() as session:
        assert ledger.audit_pending(session, limit=3) == 3
    with transaction() as session:
        assert ledger.audit_pending(session, limit=3) == 1
        assert ledger.audit_pending(session) == 0
    with transaction() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "consent.recorded").order_by(AuditEntry.seq)))
        assert [entry.summary["records"] for entry in entries] == [3, 1]
        assert ledger.verify(session) == ledger.LedgerVerification(True, batches=2, records=4)
        assert audit_service.verify(session).ok
    # A record not audited yet is no fault; one altered after its batch, or stored behind the ledger's back, is.
    assert platform.banner(cid(), {"ux_plan": True}).status_code == 201
    with transaction() as session:
        assert ledger.verify(session).ok
        session.execute(text("UPDATE consent_events SET event_state = 'given' WHERE event_state = 'refused' AND purpose = 'newsletter'"))
        found = ledger.verify(session)
        session.rollback()
    assert not found.ok and found.problem == f"the records of audit entry {entries[0].seq} are not those it audited"
    with transaction() as session:
        session.execute(text("DELETE FROM consent_record_audits WHERE audit_seq IS NULL"))
        found = ledger.verify(session)
        session.rollback()
    assert not found.ok and found.problem is not None and "was stored without entering the audit" in found.problem


def test_the_text_hash_is_the_hash_of_what_the_config_showed(platform: Platform) -> None:
    import hashlib

    import rfc8785

    for lang in ("en", "pl", "ro", "fr", "cs"):
        shown = platform.config(lang)
        assert shown["language"] == lang
        recomputed = hashlib.sha256(rfc8785.dumps({"texts": shown["texts"], "purposes": shown["purposes"]})).hexdigest()
        assert shown["text_hash"] == recomputed
    polish, french = platform.config("pl"), platform.config("fr-FR")
    assert polish["text_hash"] != french["text_hash"] and french["language"] == "fr"
    assert polish["texts"]["accept_all"] == "Akceptuj wszystkie" and french["texts"]["reject_all"] == "Tout refuser"
    assert [p["id"] for p in polish["purposes"]] == PURPOSES
    analytics = polish["purposes"][-1]
    assert analytics["title"] == "Analityczne pliki cookies"
    assert [(c["name"], c["lifetime"]) for c in analytics["cookies"]] == [("_ga", "13 miesięcy"), ("_gid", "1 dzień"), ("jsuid", "18 lat")]
    assert [c["name"] for c in polish["essential_cookies"]] == ["_scfc", "boc_session_site", "expUrl", "imgcde"]
    assert polish["revision"] == {"changed_purposes": []} and polish["languages"] == ["pl", "en", "ro", "fr", "cs"]
    # A language privacydesk does not speak falls back to the policy's first.
    assert platform.config("de")["language"] == "pl"
    # A decision quoting the French hash for Polish texts proves nothing: refused, nothing stored.
    wrong = platform.client.post(
        "/api/v1/public/consent/decisions",
        json={
            "subject": cid(),
            "choices": {"ux_plan": True},
            "method": "custom",
            "surface": "banner",
            "language": "pl",
            "text_hash": french["text_hash"],
            "policy_version": polish["policy_version"],
        },
    )
    assert wrong.status_code == 422 and "text_hash does not match" in wrong.json()["error"]["message"]


def test_addresses_are_stored_truncated_only_when_the_policy_says_so(platform: Platform) -> None:
    from fastapi.testclient import TestClient

    from privacydesk.web.app import create_app

    def truncated(data: dict[str, Any]) -> None:
        data["consent_settings"] = {"store_ip": "truncated"}

    publish(imou_variant(platform.tmp_path, "truncated", truncated))
    for address, kept in (("203.0.113.77", "203.0.113.0"), ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::")):
        visitor = Platform(TestClient(create_app(), base_url="https://testserver", client=(address, 50000)), {}, platform.tmp_path)
        person = cid()
        assert visitor.banner(person, {"ux_plan": True}).status_code == 201
        assert [record.ip_address for record in _records(person)] == [kept]


# ---------------------------------------------------------------- every reason a check gives
def test_no_record_given_refused_and_withdrawn(platform: Platform) -> None:
    person = cid()
    assert platform.check(person, "ux_plan") == {"allowed": False, "reason": "no_record", "record_id": None, "expires_at": None}
    given = platform.banner(person, {"ux_plan": True, "newsletter": False}).json()
    assert platform.check(person, "ux_plan") == {"allowed": True, "reason": "given", "record_id": given["record_id"], "expires_at": None}
    refused = platform.check(person, "newsletter")
    assert (refused["allowed"], refused["reason"], refused["record_id"]) == (False, "refused", given["record_id"])
    withdrawn = platform.client.post(f"/api/v1/public/consent/subjects/{person}/withdraw", json={"purposes": ["ux_plan"]})
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn"] == ["ux_plan"]
    answer = platform.check(person, "ux_plan")
    assert (answer["allowed"], answer["reason"], answer["record_id"]) == (False, "withdrawn", withdrawn.json()["record_id"])
    assert _events(uuid.UUID(withdrawn.json()["record_id"]))["ux_plan"].event_state == "withdrawn"
    # Nothing left to withdraw: nothing recorded.
    again = platform.client.post(f"/api/v1/public/consent/subjects/{person}/withdraw")
    assert again.status_code == 200 and again.json() == {"record_id": None, "withdrawn": []}
    # Accepting again after a withdrawal is a new consent, and accepting once more renews it.
    assert _events(uuid.UUID(platform.banner(person, {"ux_plan": True}).json()["record_id"]))["ux_plan"].event_state == "given"
    assert _events(uuid.UUID(platform.banner(person, {"ux_plan": True}).json()["record_id"]))["ux_plan"].event_state == "updated"


def test_consents_and_refusals_expire(platform: Platform) -> None:
    person = cid()
    record = platform.banner(person, {"analytics_cookies": True, "ux_plan": False}).json()
    given_until = datetime.fromisoformat(record["expires_at"]["analytics_cookies"])
    refused_until = datetime.fromisoformat(record["expires_at"]["ux_plan"])
    [stored] = _records(person)
    # imou asks again after 13 months; a refusal is remembered 6 months (the default).
    assert given_until == stored.event_time + relativedelta(months=13)
    assert refused_until == stored.event_time + relativedelta(months=6)
    assert _check(person, "analytics_cookies", now=given_until - timedelta(seconds=1)).reason == "given"
    late = _check(person, "analytics_cookies", now=given_until)
    assert (late.allowed, late.reason, str(late.record_id)) == (False, "expired", record["record_id"])
    assert _check(person, "ux_plan", now=refused_until).reason == "expired"
    # The hourly job records the expiries as events, and checks keep answering "expired".
    with transaction() as session:
        assert service.expire_due(session, now=given_until) == 2
        assert service.expire_due(session, now=given_until) == 0
    assert {e.purpose: e.event_state for e in _events(uuid.UUID(record["record_id"])).values() if e.event_state == "expired"} == {
        "analytics_cookies": "expired",
        "ux_plan": "expired",
    }
    assert platform.check(person, "analytics_cookies")["reason"] == "expired"
    choices = platform.client.get(f"/api/v1/public/consent/subjects/{person}/choices").json()
    assert set(choices["needs_decision"]) == set(PURPOSES)


def test_cookie_consent_lasts_13_months_whatever_the_policy_says(platform: Platform) -> None:
    def five_years(data: dict[str, Any]) -> None:
        data["consents"]["analytics_cookies"]["expires"] = "5 years"
        data["consents"]["ux_plan"]["expires"] = "2 years"

    publish(imou_variant(platform.tmp_path, "long", five_years))
    record = platform.banner(cid(), {"analytics_cookies": True, "ux_plan": True}).json()
    given = datetime.fromisoformat(record["expires_at"]["analytics_cookies"])
    other = datetime.fromisoformat(record["expires_at"]["ux_plan"])
    assert relativedelta(given, other) == relativedelta(months=-11)


def test_global_privacy_control(platform: Platform) -> None:
    person = cid()
    # The banner sees the signal and no earlier choice: every purpose is refused, recorded as gpc.
    first = platform.banner(person, dict.fromkeys(PURPOSES, False), method="gpc", headers={"Sec-GPC": "1"})
    assert first.status_code == 201 and first.json()["choices"] == dict.fromkeys(PURPOSES, False)
    [record] = _records(person)
    assert (record.collection_method, record.gpc) == ("gpc", True)
    assert {p: platform.check(person, p)["reason"] for p in PURPOSES} == dict.fromkeys(PURPOSES, "gpc")
    # An explicit opt-in afterwards wins, recorded as what it is.
    platform.banner(person, {"analytics_cookies": True}, headers={"Sec-GPC": "1"})
    assert platform.check(person, "analytics_cookies")["reason"] == "given"
    assert _records(person)[-1].collection_method == "custom" and _records(person)[-1].gpc is True
    # The signal again refuses only what the person has not explicitly chosen.
    again = platform.banner(person, {}, method="gpc", gpc=True)
    assert again.status_code == 201 and again.json()["choices"] == {p: False for p in PURPOSES if p != "analytics_cookies"}
    assert platform.check(person, "analytics_cookies")["reason"] == "given"
    # With every purpose explicitly decided, a GPC decision has nothing to record.
    platform.banner(person, dict.fromkeys(PURPOSES, True), method="accept_all")
    nothing = platform.banner(person, {}, method="gpc", gpc=True)
    assert nothing.status_code == 200 and nothing.json()["record_id"] is None
    assert len(_records(person)) == 4
    well_known = platform.client.get("/.well-known/gpc.json").json()
    assert well_known["gpc"] is True and datetime.fromisoformat(well_known["lastUpdate"]).date() == datetime.now(UTC).date()


def test_a_material_change_revises_the_consents_it_touches(platform: Platform) -> None:
    before = cid()
    platform.banner(before, {"analytics_cookies": True, "ux_plan": True, "newsletter": True})

    def new_analytics_recipient(data: dict[str, Any]) -> None:
        data["recipients"]["hotjar"] = {"name": "Hotjar Ltd", "role": "processor", "country": "MT"}
        data["activities"]["website_analytics"]["recipients"].append("hotjar")

    def newsletter_cookie(data: dict[str, Any]) -> None:
        new_analytics_recipient(data)
        data["cookies"].append(
            {"name": "_nl", "provider": "Imou", "category": "advertising", "consent": "newsletter", "lifetime": "30 days", "purpose": "x"}
        )

    assert publish(imou_variant(platform.tmp_path, "recipient", new_analytics_recipient)) == 2
    # The consent given before the change no longer counts for the changed purpose; others still do.
    assert platform.check(before, "analytics_cookies")["reason"] == "revised"
    assert platform.check(before, "ux_plan")["reason"] == "given" and platform.check(before, "newsletter")["reason"] == "given"
    assert platform.config()["revision"] == {"changed_purposes": ["analytics_cookies"]}
    choices = platform.client.get(f"/api/v1/public/consent/subjects/{before}/choices").json()
    assert (choices["choices"]["analytics_cookies"]["allowed"], choices["choices"]["analytics_cookies"]["reason"]) == (False, "revised")
    assert choices["needs_decision"] == ["marketing_activities", "event_news", "analytics_cookies"]
    # Deciding again under the new version counts; so does a consent first given after the change.
    platform.banner(before, {"analytics_cookies": True})
    after = cid()
    platform.banner(after, {"analytics_cookies": True})
    assert (
        platform.check(before, "analytics_cookies")["reason"] == "given" and platform.check(after, "analytics_cookies")["reason"] == "given"
    )
    # A further change to another purpose revises that one only.
    assert publish(imou_variant(platform.tmp_path, "cookie", newsletter_cookie)) == 3
    assert platform.check(before, "newsletter")["reason"] == "revised" and platform.check(after, "analytics_cookies")["reason"] == "given"
    assert platform.config()["revision"] == {"changed_purposes": ["newsletter"]}
    # A decision shown under version 2 is refused now that version 3 is out.
    stale = platform.client.post(
        "/api/v1/public/consent/decisions",
        json={
            "subject": after,
            "choices": {"ux_plan": True},
            "method": "custom",
            "surface": "banner",
            "language": "pl",
            "text_hash": platform.config()["text_hash"],
            "policy_version": load_policy(IMOU).version_hash,
        },
    )
    assert stale.status_code == 422 and "reload the configuration" in stale.json()["error"]["message"]


def test_restrictions_and_objections_make_checks_answer_restricted(platform: Platform) -> None:
    person, account = cid(), "account:1207"
    platform.banner(person, {"ux_plan": True, "analytics_cookies": True})
    linked = platform.client.post("/api/v1/consent/links", json={"keys": [person, account]}, headers=platform.headers)
    assert linked.status_code == 200
    with transaction() as session:
        objection = restrictions.restrict(
            session, subjects.parse(account), reason="objection", purpose="analytics_cookies", reference="request:17", actor="requests"
        ).id
    assert platform.check(person, "analytics_cookies")["reason"] == "restricted"
    assert platform.check(person, "ux_plan")["reason"] == "given"
    with transaction() as session:
        everything = restrictions.restrict(session, subjects.parse(person), reason="restriction", actor="requests").id
        assert [r.id for r in restrictions.active(session, subjects.parse(account))] == [objection, everything]
    assert {p: platform.check(account, p)["reason"] for p in ("ux_plan", "analytics_cookies", "newsletter")} == dict.fromkeys(
        ("ux_plan", "analytics_cookies", "newsletter"), "restricted"
    )
    with transaction() as session:
        restrictions.lift(session, everything, actor="requests")
        restrictions.lift(session, objection, actor="requests")
        restrictions.lift(session, objection, actor="requests")
    assert platform.check(person, "analytics_cookies")["reason"] == "given"
    # A key never seen before can be restricted too (an objection may come before any consent).
    stranger = "email:Jan.Kowalski@example.pl"
    with transaction() as session:
        restrictions.restrict(session, subjects.parse(stranger), reason="objection", actor="requests")
    assert platform.check("email:jan.kowalski@example.pl", "newsletter")["reason"] == "restricted"
    with transaction() as session:
        lifted = session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("consent.restrict%"))).all()
    assert sorted(lifted) == ["consent.restricted"] * 3 + ["consent.restriction_lifted"] * 2


# ---------------------------------------------------------------- linking, bulk checks, history
def test_linked_keys_see_the_latest_decision(platform: Platform) -> None:
    browser, account, email = cid(), "account:42", "email:Ewa@Example.PL"
    platform.banner(browser, {"analytics_cookies": True, "ux_plan": True})
    app = platform.client.post(
        "/api/v1/consent/decisions", json={"subject": account, "choices": {"analytics_cookies": False}}, headers=platform.headers
    )
    assert app.status_code == 201 and app.json()["subject"] == account
    assert platform.check(browser, "analytics_cookies")["reason"] == "given"
    linked = platform.client.post("/api/v1/consent/links", json={"keys": [browser, account, email]}, headers=platform.headers)
    keys = linked.json()["keys"]
    assert linked.status_code == 200 and browser in keys and account in keys
    # The email is stored only as a keyed digest.
    assert not any("ewa" in key.lower() for key in keys) and subjects.parse(email).stored in keys
    for key in (browser, account, "email:ewa@example.pl"):
        assert platform.check(key, "analytics_cookies")["reason"] == "refused", key
        assert platform.check(key, "ux_plan")["reason"] == "given", key
    # The choices page of the browser now shows the person's decisions.
    assert (
        platform.client.get(f"/api/v1/public/consent/subjects/{browser}/choices").json()["choices"]["analytics_cookies"]["reason"]
        == "refused"
    )
    history = platform.client.get(f"/api/v1/consent/subjects/{email}/history", headers=platform.headers)
    assert history.status_code == 200
    rows = [(e["purpose"], e["event_state"], e["collection_method"], e["pii_principal_id"]) for e in history.json()]
    assert rows == [
        ("analytics_cookies", "given", "custom", browser),
        ("ux_plan", "given", "custom", browser),
        ("analytics_cookies", "refused", "api", account),
    ]
    assert history.json()[-1]["entity_id"].startswith("token:")
    assert platform.client.get(f"/api/v1/consent/subjects/{cid()}/history", headers=platform.headers).status_code == 404
    with transaction() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "consent.linked")).one()
    assert audit.summary == {"keys": 3, "persons_merged": 1}


def test_bulk_check_answers_in_order(platform: Platform) -> None:
    person = cid()
    platform.banner(person, {"ux_plan": True, "newsletter": False})
    asked = [(person, "ux_plan"), (person, "newsletter"), (cid(), "ux_plan"), (person, "analytics_cookies")]
    answer = platform.client.post(
        "/api/v1/consent/check", json={"checks": [{"subject": s, "purpose": p} for s, p in asked]}, headers=platform.headers
    )
    assert answer.status_code == 200, answer.text
    assert [(a["subject"], a["purpose"], a["allowed"], a["reason"]) for a in answer.json()] == [
        (person, "ux_plan", True, "given"),
        (person, "newsletter", False, "refused"),
        (asked[2][0], "ux_plan", False, "no_record"),
        (person, "analytics_cookies", False, "no_record"),
    ]
    unknown = platform.client.post(
        "/api/v1/consent/check",
        json={"checks": [{"subject": person, "purpose": "ux_plan"}, {"subject": person, "purpose": "profiling"}]},
        headers=platform.headers,
    )
    assert unknown.status_code == 422 and "unknown purpose 'profiling'" in unknown.json()["error"]["message"]
    assert platform.client.get("/api/v1/consent/check", params={"subject": person, "purpose": "ux_plan"}).status_code == 401
