"""Requests against the French website's demo database (seed 002), approved by the DPO, executed by the job system.

The account is anonymised (its invoices refer to it), billing records are held for 10 years and
fraud checks for 13 months; the application database is on PostgreSQL or MariaDB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from privacydesk.auth.permissions import Permission
from privacydesk.connectors.values import PSEUDONYM_DOMAIN
from privacydesk.requests.models import RequestStatus
from tests.auth_support import OWNER, add_user, issue_token
from tests.dsr_support import snapshot
from tests.fulfilment_support import (
    example_database,
    execution,
    export_of,
    module_mariadb_url,
    module_postgres_url,
    request_verified,
    run_jobs_until_settled,
    start_platform,
    zip_contents,
)
from tests.jobs_support import rows
from tests.requests_support import mails, stored
from tests.test_dsr_website_fr import _moment, account_rows, customer

__all__ = ["module_mariadb_url", "module_postgres_url"]


@pytest.fixture(
    scope="module", params=[pytest.param("postgres", marks=pytest.mark.postgres), pytest.param("mariadb", marks=pytest.mark.mariadb)]
)
def site(request: pytest.FixtureRequest) -> Iterator[Engine]:
    yield from example_database(request, "website-fr", request.param, users=120)


@pytest.fixture
def browser(site: Engine, platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> TestClient:
    """The French website's policy, with every request approved by the DPO first."""
    return start_platform(monkeypatch, tmp_path, "website-fr", approval=True)


def _approve(browser: TestClient, reference: str) -> None:
    add_user()
    _, token = issue_token(OWNER, {Permission.REQUESTS_APPROVE})
    assert stored(reference).status is RequestStatus.awaiting_approval
    approved = browser.post(f"/api/v1/requests/{stored(reference).id}/approve", json={}, headers={"Authorization": f"Bearer {token}"})
    assert approved.status_code == 200, approved.text


def test_access_after_approval_exports_exactly_the_account_holders_rows_in_french(site: Engine, browser: TestClient) -> None:
    account, email = customer(site, skip=2)
    expected = account_rows(site, account, email)

    reference = request_verified(browser, "access", email, language="fr")
    # Nothing is queued before the DPO approves.
    assert rows("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'requests.execute'") == [(0,)]
    _approve(browser, reference)

    assert run_jobs_until_settled(reference) is RequestStatus.completed
    files = zip_contents(Path(export_of(reference).path).read_bytes())
    documents = {name: json.loads(content) for name, content in files.items() if name.startswith("site_db/") and name.endswith(".json")}
    assert {doc["collection"]: {row["id"]["value"] for row in doc["rows"]} for doc in documents.values()} == expected
    invoices = documents["site_db/invoices.json"]
    assert {row["billing_city"]["category"] for row in invoices["rows"]} == {"postal_address"}
    assert "Vos données personnelles chez Lumen Services SAS" in files["report.html"].decode()
    (mail,) = [item for item in mails("request_completed") if item.to == email]
    assert mail.language == "fr"


def test_erasure_anonymises_the_account_and_holds_billing_and_fraud_records(site: Engine, browser: TestClient) -> None:
    account, email = customer(site)
    rows = account_rows(site, account, email)
    other_account, other_email = customer(site, skip=1)
    other_rows = account_rows(site, other_account, other_email)
    before = snapshot(site)
    person = before["accounts"][account]

    reference = request_verified(browser, "erasure", email, language="fr")
    _approve(browser, reference)

    assert run_jobs_until_settled(reference) is RequestStatus.completed
    record = execution(reference)
    assert record.planned_at is not None and record.result is not None
    boundary = record.planned_at.replace(tzinfo=None) - relativedelta(months=13)
    recent = {key for key in rows["fraud_checks"] if _moment(before["fraud_checks"][key]["checked_at"]) >= boundary}
    after = snapshot(site)
    anonymised = after["accounts"][account]
    assert anonymised["email"].endswith(f"@{PSEUDONYM_DOMAIN}")
    assert [anonymised[column] for column in ("password_hash", "first_name", "last_name", "phone")] == [None] * 4
    for table in ("invoices", "payments"):
        assert all(after[table][key] == before[table][key] for key in rows[table])
    assert {key for key in rows["fraud_checks"] if key in after["fraud_checks"]} == recent
    for table in ("contact_messages", "access_logs", "page_views"):
        assert not rows.get(table, set()) & set(after[table])
    assert all(after[table][key] == before[table][key] for table, keys in other_rows.items() for key in keys)
    # What the request records: the counts of the rows, and each hold with its basis and end.
    done: dict[str, Any] = {item["collection"]: item for item in record.result["collections"]}
    assert (done["accounts"]["anonymised"], done["accounts"]["deleted"]) == (1, 0)
    assert (done["fraud_checks"]["held"], done["fraud_checks"]["deleted"]) == (len(recent), len(rows["fraud_checks"]) - len(recent))
    (accounting,) = done["invoices"]["holds"]
    assert (accounting["basis"], accounting["keep"], accounting["rows"]) == ("legal_obligation", "10 years", len(rows["invoices"]))
    latest = max(_moment(before["invoices"][key]["issued_at"]) for key in rows["invoices"]) + relativedelta(years=10)
    assert accounting["until"] == latest.isoformat()
    (mail,) = [item for item in mails("request_completed") if item.to == email]
    assert "Code de commerce, art. L123-22" in mail.text_body and str(latest.year) in mail.text_body
    assert person["first_name"] not in mail.text_body
