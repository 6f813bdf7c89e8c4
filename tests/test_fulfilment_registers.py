"""Requests carried out on the platform's registers: restriction, objection, consent withdrawal, instructions for after death.

Imou's published policy (seed 003): ux_plan is a consent for product analytics, marketing_activities,
event_news and newsletter are consents for (direct) marketing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from privacydesk.auth.permissions import Permission
from privacydesk.consent import checks
from privacydesk.consent.models import ConsentRestriction
from privacydesk.consent.service import Decision, record_decision
from privacydesk.consent.subjects import parse
from privacydesk.db.engine import transaction
from privacydesk.fulfilment.models import SubjectDirective
from privacydesk.requests import execution as hand_over
from privacydesk.requests.identities import value_hash
from privacydesk.requests.models import RequestStatus
from tests.auth_support import OWNER, add_user, audit_entries, issue_token
from tests.fulfilment_support import execution, request_verified, run_jobs_until_settled, start_platform
from tests.jobs_support import rows, work_until
from tests.requests_support import mails, stored

pytestmark = pytest.mark.postgres

ANNA = "anna.nowak@example.org"
PURPOSES = ("ux_plan", "marketing_activities", "event_news", "newsletter", "analytics_cookies")


@pytest.fixture(params=[False], ids=["no-approval"])
def browser(request: pytest.FixtureRequest, platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> TestClient:
    """Imou's policy published (with `approval: true` when the test asks), and the person's consents recorded."""
    client = start_platform(monkeypatch, tmp_path, "imou", approval=request.param)
    with transaction() as session:
        record_decision(session, Decision(parse(f"email:{ANNA}"), dict.fromkeys(PURPOSES, True), "api", "app"), actor="test")
    return client


def _answers() -> dict[str, str]:
    with transaction() as session:
        subject = parse(f"email:{ANNA}")
        return {purpose: checks.check(session, subject, purpose).reason for purpose in PURPOSES}


def test_restriction_makes_every_check_answer_restricted_once(browser: TestClient) -> None:
    assert set(_answers().values()) == {"given"}

    reference = request_verified(browser, "restriction", ANNA, language="cs", restriction_reason="accuracy_contested")

    assert run_jobs_until_settled(reference) is RequestStatus.completed
    assert set(_answers().values()) == {"restricted"}
    with transaction() as session:
        (entry,) = session.scalars(select(ConsentRestriction)).all()
        assert (entry.reason, entry.purpose, entry.reference, entry.lifted_at) == ("restriction", None, reference, None)
    (mail,) = mails("request_completed")
    assert mail.language == "cs" and mail.to == ANNA
    # Running the finished request again changes nothing.
    events = len(stored(reference).events)
    with transaction() as session:
        hand_over.schedule(session, stored(reference))
    work_until(
        lambda: rows("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'requests.execute' AND status <> 'succeeded'") == [(0,)]
    )
    assert rows("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'requests.execute'") == [(2,)]
    assert rows("SELECT count(*) FROM consent_restrictions") == [(1,)]
    assert len(mails("request_completed")) == 1 and len(stored(reference).events) == events

    # The team reads the register and lifts the entry; the person is told, in their language (Art. 18(3)).
    add_user()
    _, token = issue_token(OWNER, {Permission.REQUESTS_READ, Permission.REQUESTS_MANAGE})
    headers = {"Authorization": f"Bearer {token}"}
    (entry,) = browser.get("/api/v1/restrictions", headers=headers).json()
    assert (entry["reason"], entry["purpose"], entry["reference"], entry["lifted_at"]) == ("restriction", None, reference, None)
    lifted = browser.post(f"/api/v1/restrictions/{entry['id']}/lift", headers=headers)
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["person_mailed"] is True
    assert lifted.json()["lifted_at"] is not None and lifted.json()["lifted_by"].startswith("token:")
    (told,) = mails("restriction_lifted")
    assert (told.to, told.language) == (ANNA, "cs")
    assert reference in told.text_body and "omezení" in told.text_body.lower() and "zrušeno" in told.text_body
    # Lifting it again changes nothing and tells nobody twice.
    again = browser.post(f"/api/v1/restrictions/{entry['id']}/lift", headers=headers)
    assert again.json()["person_mailed"] is False and len(mails("restriction_lifted")) == 1
    assert set(_answers().values()) == {"given"}
    assert browser.get("/api/v1/restrictions", headers=headers).json() == []
    assert len(browser.get("/api/v1/restrictions?lifted=true", headers=headers).json()) == 1


def test_consent_withdrawal_withdraws_the_purposes_named_only(browser: TestClient) -> None:
    reference = request_verified(browser, "consent_withdrawal", ANNA, consents=["ux_plan", "newsletter"])

    assert run_jobs_until_settled(reference) is RequestStatus.completed
    assert _answers() == {
        "ux_plan": "withdrawn",
        "marketing_activities": "given",
        "event_news": "given",
        "newsletter": "withdrawn",
        "analytics_cookies": "given",
    }
    result = execution(reference).result
    assert result is not None and result["withdraw"] == {"withdrawn": {"ux_plan": 1, "newsletter": 1}}
    (mail,) = mails("request_completed")
    assert "Imou newsletter" in mail.text_body and "User Experience Plan" in mail.text_body


@pytest.mark.parametrize("browser", [True], ids=["approval"], indirect=True)
def test_objection_to_direct_marketing_ends_every_marketing_consent_without_approval(browser: TestClient) -> None:
    reference = request_verified(browser, "objection", ANNA, objection={"direct_marketing": True})

    assert run_jobs_until_settled(reference) is RequestStatus.completed
    # The policy has every request approved first; an objection to direct marketing is not weighed (Art. 21(3)).
    assert [event.to_status for event in stored(reference).events] == [
        "received",
        "verifying",
        "verified",
        "approved",
        "executing",
        "completed",
    ]
    assert _answers() == {
        "ux_plan": "given",
        "marketing_activities": "restricted",
        "event_news": "restricted",
        "newsletter": "restricted",
        "analytics_cookies": "given",
    }
    with transaction() as session:
        entries = session.scalars(select(ConsentRestriction).order_by(ConsentRestriction.purpose)).all()
    assert [(entry.purpose, entry.reason) for entry in entries] == [
        ("event_news", "objection"),
        ("marketing_activities", "objection"),
        ("newsletter", "objection"),
    ]
    # Withdrawn as well: lifting the restriction later does not bring the consents back.
    states = rows("SELECT purpose, state FROM consent_states ORDER BY purpose")
    assert dict(states) == {
        "analytics_cookies": "given",
        "event_news": "withdrawn",
        "marketing_activities": "withdrawn",
        "newsletter": "withdrawn",
        "ux_plan": "given",
    }


def test_instructions_for_after_death_are_recorded_and_acknowledged(browser: TestClient) -> None:
    instructions = {"instructions": "Delete my account and tell my sister.", "trusted_contact": "ewa@example.org"}

    reference = request_verified(browser, "post_mortem", ANNA, language="fr", post_mortem=instructions)

    assert run_jobs_until_settled(reference) is RequestStatus.completed
    with transaction() as session:
        (directive,) = session.scalars(select(SubjectDirective)).all()
        assert (directive.instructions, directive.trusted_contact) == (instructions["instructions"], "ewa@example.org")
        assert directive.identity_hashes == [value_hash("email", ANNA)]
    (mail,) = mails("request_completed")
    assert mail.language == "fr" and "instructions" in mail.text_body
    actions = [
        entry.action for entry in audit_entries() if (entry.object_type, entry.object_id) == ("subject_request", str(stored(reference).id))
    ]
    assert actions[-2:] == ["request.directive_recorded", "request.completed"]

    # Later, the trusted contact asks: the team finds the instructions by the person's address, however it is written.
    add_user()
    _, token = issue_token(OWNER, {Permission.REQUESTS_MANAGE})
    headers = {"Authorization": f"Bearer {token}"}
    found = browser.post("/api/v1/directives/search", json={"type": "email", "value": ANNA.upper()}, headers=headers)
    assert found.status_code == 200, found.text
    ((directive,),) = [found.json()]
    assert (directive["reference"], directive["instructions"], directive["trusted_contact"]) == (
        reference,
        instructions["instructions"],
        "ewa@example.org",
    )
    nobody = browser.post("/api/v1/directives/search", json={"type": "email", "value": "jan@example.org"}, headers=headers)
    assert nobody.json() == []
    bad = browser.post("/api/v1/directives/search", json={"type": "email", "value": "not an address"}, headers=headers)
    assert bad.status_code == 422 and "not an email address" in bad.json()["error"]["message"]
    _, reader = issue_token(OWNER, {Permission.REQUESTS_READ})
    assert (
        browser.post(
            "/api/v1/directives/search", json={"type": "email", "value": ANNA}, headers={"Authorization": f"Bearer {reader}"}
        ).status_code
        == 403
    )
    lookups = [entry.summary for entry in audit_entries() if entry.action == "request.directives_read"]
    assert [summary["found"] for summary in lookups] == [1, 0] and lookups[0]["identity"] == value_hash("email", ANNA)
    assert not any(instructions["instructions"] in str(entry.summary) or ANNA in str(entry.summary) for entry in audit_entries())


def test_an_objection_to_legitimate_interests_enters_each_activity_in_the_register(browser: TestClient) -> None:
    # Security logging and service improvement rest on legitimate interests: no consent serves them.
    reference = request_verified(browser, "objection", ANNA, objection={"activities": ["service_improvement", "security_logging"]})

    assert run_jobs_until_settled(reference) is RequestStatus.completed
    add_user()
    _, token = issue_token(OWNER, {Permission.REQUESTS_READ, Permission.REQUESTS_MANAGE})
    headers = {"Authorization": f"Bearer {token}"}
    entries = browser.get("/api/v1/restrictions", headers=headers).json()
    assert sorted((entry["activity"], entry["purpose"], entry["reason"]) for entry in entries) == [
        ("security_logging", None, "objection"),
        ("service_improvement", None, "objection"),
    ]
    # An activity's entry leaves the person's consents as they were.
    assert set(_answers().values()) == {"given"}
    record = execution(reference).result
    assert record is not None and record["object"]["restricted"] == 2
    assert record["object"]["activities"] == ["security_logging", "service_improvement"]
    lifted = browser.post(f"/api/v1/restrictions/{entries[0]['id']}/lift", headers=headers)
    assert lifted.status_code == 200 and lifted.json()["person_mailed"] is False
    assert len(browser.get("/api/v1/restrictions", headers=headers).json()) == 1
