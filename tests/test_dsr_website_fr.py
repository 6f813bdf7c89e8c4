"""Requests against the French website's demo database (seed 002): erasure keeps billing and anti-fraud records.

The account row is anonymised, not deleted (its invoices refer to it); invoices and payments are
held for 10 years, fraud checks for 13 months. Expectations come from hand-written SQL.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import Engine, text

from privacydesk.connectors.values import PSEUDONYM_DOMAIN
from privacydesk.engine.run import run_access, run_erasure

from .dsr_support import BACKENDS, NOW, build, context, database_url, ids, policy, snapshot

POLICY = policy("website-fr")
CONTEXT = context("website-fr")
NAIVE_NOW = NOW.replace(tzinfo=None)


@pytest.fixture(params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The French website's demo database with 200 people, on each server."""
    engine = build("website-fr", database_url(request, request.param, tmp_path), monkeypatch)
    yield engine
    engine.dispose()


def customer(engine: Engine, *, skip: int = 0) -> tuple[int, str]:
    """An active customer with a phone number, contact messages and fraud checks both older and younger than 13 months."""
    boundary = NAIVE_NOW - relativedelta(months=13)
    query = text(
        "SELECT a.id, a.email FROM accounts a WHERE a.status = 'active' AND a.phone IS NOT NULL"
        " ORDER BY (SELECT COUNT(*) FROM fraud_checks f WHERE f.account_id = a.id AND f.checked_at < :boundary) > 0 DESC,"
        " (SELECT COUNT(*) FROM fraud_checks f WHERE f.account_id = a.id AND f.checked_at >= :boundary) > 0 DESC,"
        " (SELECT COUNT(*) FROM contact_messages m WHERE m.account_id = a.id) DESC, a.id"
    )
    with engine.connect() as c:
        row = c.execute(query, {"boundary": boundary}).all()[skip]
    return row[0], row[1]


def account_rows(engine: Engine, account: int, email: str) -> dict[str, set[Any]]:
    """The ids of every row about the account holder."""
    with engine.connect() as c:
        rows = {"accounts": ids(c, "SELECT id FROM accounts WHERE email = :e OR id = :a", e=email, a=account)}
        invoices = rows["invoices"] = ids(c, "SELECT id FROM invoices WHERE account_id = :a", a=account)
        payments = rows["payments"] = ids(c, "SELECT id FROM payments WHERE account_id = :a OR invoice_id IN :i", a=account, i=invoices)
        rows["fraud_checks"] = ids(c, "SELECT id FROM fraud_checks WHERE account_id = :a OR payment_id IN :p", a=account, p=payments)
        rows["contact_messages"] = ids(c, "SELECT id FROM contact_messages WHERE email = :e OR account_id = :a", e=email, a=account)
        rows["access_logs"] = ids(c, "SELECT id FROM access_logs WHERE account_id = :a", a=account)
        rows["page_views"] = ids(c, "SELECT id FROM page_views WHERE account_id = :a", a=account)
    return {table: keys for table, keys in rows.items() if keys}


def _moment(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def test_access_exports_exactly_the_account_holders_rows(site: Engine) -> None:
    account, email = customer(site)
    expected = account_rows(site, account, email)

    result = run_access(POLICY, {"email": email}, context=CONTEXT)

    assert {item.collection: {row["id"].value for row in item.rows} for item in result.collections} == expected
    invoices = next(item for item in result.collections if item.collection == "invoices")
    assert {row["billing_city"].category for row in invoices.rows} == {"postal_address"}


def test_erasure_anonymises_the_account_and_holds_billing_and_fraud_records(site: Engine) -> None:
    account, email = customer(site)
    rows = account_rows(site, account, email)
    other_account, other_email = customer(site, skip=1)
    other_rows = account_rows(site, other_account, other_email)
    before = snapshot(site)
    person = before["accounts"][account]
    boundary = NAIVE_NOW - relativedelta(months=13)
    recent_checks = {key for key in rows["fraud_checks"] if _moment(before["fraud_checks"][key]["checked_at"]) >= boundary}
    assert recent_checks and recent_checks != rows["fraud_checks"]

    result = run_erasure(POLICY, {"email": email}, now=NOW, context=CONTEXT)

    after = snapshot(site)
    done = {item.collection: item for item in result.collections if item.touched}
    # The account stays for its invoices, with nothing that identifies the person.
    anonymised = after["accounts"][account]
    assert anonymised["email"].endswith(f"@{PSEUDONYM_DOMAIN}") and anonymised["email"] != email
    assert [anonymised[column] for column in ("password_hash", "first_name", "last_name", "phone")] == [None] * 4
    assert {k: v for k, v in anonymised.items() if k not in ("email", "password_hash", "first_name", "last_name", "phone")} == {
        k: v for k, v in person.items() if k not in ("email", "password_hash", "first_name", "last_name", "phone")
    }
    assert (done["accounts"].anonymised, done["accounts"].deleted) == (1, 0)
    # Billing records are held whole; anti-fraud records only while a payment can still be disputed.
    for table in ("invoices", "payments"):
        assert all(after[table][key] == before[table][key] for key in rows[table])
        assert done[table].held == len(rows[table]) and done[table].deleted == 0
    assert {key for key in rows["fraud_checks"] if key in after["fraud_checks"]} == recent_checks
    assert (done["fraud_checks"].held, done["fraud_checks"].deleted) == (len(recent_checks), len(rows["fraud_checks"]) - len(recent_checks))
    (accounting,) = done["invoices"].holds
    assert (accounting.name, accounting.basis, accounting.keep) == ("accounting", "legal_obligation", "10 years")
    assert accounting.law == "Commercial Code, art. L123-22 (10 years); Tax Procedures Code, art. L102 B (6 years)"
    assert accounting.until == max(_moment(before["invoices"][key]["issued_at"]) for key in rows["invoices"]) + relativedelta(years=10)
    (disputes,) = done["fraud_checks"].holds
    assert (disputes.basis, disputes.keep) == ("legal_claims", "13 months")
    assert disputes.until == max(_moment(before["fraud_checks"][key]["checked_at"]) for key in recent_checks) + relativedelta(months=13)
    for table in ("contact_messages", "access_logs", "page_views"):
        assert not rows.get(table, set()) & set(after[table])
    # The address and phone number are gone everywhere; the name survives only on held invoices.
    for table, table_rows in after.items():
        for key, values in table_rows.items():
            texts = [value for value in values.values() if isinstance(value, str)]
            assert not any(email in value or person["phone"] in value for value in texts), (table, key)
            if not (table == "invoices" and key in rows["invoices"]):
                assert f"{person['first_name']} {person['last_name']}" not in texts, (table, key)
    # Nobody else's row changed.
    for table, table_rows in before.items():
        for key, values in table_rows.items():
            if key not in rows.get(table, set()):
                assert after[table][key] == values, (table, key)
    assert all(after[table][key] == before[table][key] for table, keys in other_rows.items() for key in keys)

    again = run_erasure(POLICY, {"email": email}, now=NOW, context=CONTEXT)

    assert snapshot(site) == after
    assert not any(item.deleted or item.anonymised for item in again.collections)
