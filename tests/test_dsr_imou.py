"""Requests against the Imou demo database (seed 003) on SQLite, PostgreSQL and MariaDB.

Every expectation comes from hand-written SQL that follows the schema, not from the engine:
the person's rows per table, the rows legal holds keep, and the other people's rows.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import Engine, text

from privacydesk.connectors.base import comparable
from privacydesk.engine.run import run_access, run_erasure, run_rectification

from .dsr_support import BACKENDS, NOW, build, context, database_url, ids, policy, snapshot

POLICY = policy("imou")
CONTEXT = context("imou")
NAIVE_NOW = NOW.replace(tzinfo=None)


@pytest.fixture(params=BACKENDS)
def imou(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The Imou demo database with 200 people, on each server."""
    engine = build("imou", database_url(request, request.param, tmp_path), monkeypatch)
    yield engine
    engine.dispose()


# ---------------------------------------------------------------- hand-written expectations
def person_rows(engine: Engine, email: str, phone: str, uid: int) -> dict[str, set[Any]]:
    """The ids of every row about the person, table by table."""
    with engine.connect() as c:
        rows: dict[str, set[Any]] = {}
        users = rows["users"] = ids(c, "SELECT id FROM users WHERE email = :e OR phone = :p OR id = :u", e=email, p=phone, u=uid)
        rows["app_sessions"] = ids(c, "SELECT id FROM app_sessions WHERE user_id IN :users", users=users)
        devices = rows["devices"] = ids(c, "SELECT id FROM devices WHERE user_id IN :users", users=users)
        rows["device_shares"] = ids(
            c,
            "SELECT id FROM device_shares WHERE invitee_email = :e OR invitee_phone = :p"
            " OR device_id IN :devices OR owner_id IN :users OR invitee_user_id IN :users",
            e=email,
            p=phone,
            devices=devices,
            users=users,
        )
        alarms = rows["alarm_messages"] = ids(
            c, "SELECT id FROM alarm_messages WHERE user_id IN :users OR device_id IN :devices", users=users, devices=devices
        )
        rows["alarm_snapshots"] = ids(c, "SELECT id FROM alarm_snapshots WHERE alarm_id IN :alarms", alarms=alarms)
        plans = rows["subscriptions"] = ids(
            c, "SELECT id FROM subscriptions WHERE user_id IN :users OR device_id IN :devices", users=users, devices=devices
        )
        rows["cloud_recordings"] = ids(
            c, "SELECT id FROM cloud_recordings WHERE subscription_id IN :plans OR device_id IN :devices", plans=plans, devices=devices
        )
        rows["plan_transfers"] = ids(c, "SELECT id FROM plan_transfers WHERE subscription_id IN :plans", plans=plans)
        orders = rows["orders"] = ids(c, "SELECT id FROM orders WHERE email = :e OR user_id = :u", e=email, u=uid)
        rows["invoices"] = ids(
            c, "SELECT id FROM invoices WHERE buyer_email = :e OR user_id = :u OR order_id IN :orders", e=email, u=uid, orders=orders
        )
        for table in ("api_logs", "ux_events", "web_visits"):
            rows[table] = ids(c, f"SELECT id FROM {table} WHERE user_id IN :users", users=users)
        rows["support_tickets"] = ids(c, "SELECT id FROM support_tickets WHERE email = :e OR user_id IN :users", e=email, users=users)
        rows["deregistrations"] = ids(
            c, "SELECT id FROM deregistrations WHERE account_id = :u OR email = :e OR phone = :p", u=uid, e=email, p=phone
        )
        rows["device_orders"] = ids(c, "SELECT id FROM device_orders WHERE contact_phone = :p", p=phone)
        people = rows["marketing_participants"] = ids(
            c, "SELECT id FROM marketing_participants WHERE email = :e OR phone = :p", e=email, p=phone
        )
        rows["event_photos"] = ids(c, "SELECT id FROM event_photos WHERE participant_id IN :people", people=people)
        rma = rows["rma_accounts"] = ids(c, "SELECT id FROM rma_accounts WHERE email = :e", e=email)
        rows["rma_requests"] = ids(c, "SELECT id FROM rma_requests WHERE phone = :p OR rma_account_id IN :rma", p=phone, rma=rma)
        rows["device_password_resets"] = ids(c, "SELECT id FROM device_password_resets WHERE email = :e", e=email)
        rows["newsletter_subscriptions"] = ids(c, "SELECT id FROM newsletter_subscriptions WHERE email = :e", e=email)
    return {table: keys for table, keys in rows.items() if keys}


def held_rows(engine: Engine, rows: dict[str, set[Any]]) -> dict[str, set[Any]]:
    """Which of the person's rows the policy's holds keep at NOW: 5 years of orders and invoices, 2 years after a repair."""
    rules = {"orders": ("ordered_at", 5), "invoices": ("issued_at", 5), "rma_requests": ("closed_at", 2)}
    held: dict[str, set[Any]] = {}
    with engine.connect() as c:
        for table, (column, years) in rules.items():
            if rows.get(table):
                stamps = c.execute(text(f"SELECT id, {column} FROM {table}")).all()
                held[table] = {
                    key
                    for key, start in stamps
                    if key in rows[table] and (start is None or _naive(start) + relativedelta(years=years) > NAIVE_NOW)
                }
    return {table: keys for table, keys in held.items() if keys}


def _naive(moment: Any) -> datetime:
    return datetime.fromisoformat(moment) if isinstance(moment, str) else moment


def candidates(engine: Engine) -> list[tuple[str, str, int]]:
    """People registered with both an e-mail address and a phone number."""
    with engine.connect() as c:
        return [
            tuple(row)
            for row in c.execute(text("SELECT email, phone, id FROM users WHERE email IS NOT NULL AND phone IS NOT NULL ORDER BY id"))
        ]  # type: ignore[misc]


def rich_person_with_orders(engine: Engine) -> tuple[str, str, int]:
    """Among the first people with invoices, the one with the most rows."""
    with engine.connect() as c:
        buyers = ids(c, "SELECT user_id FROM orders")
    people = [person for person in candidates(engine) if person[2] in buyers][:8]
    return max(people, key=lambda person: sum(len(keys) for keys in person_rows(engine, *person).values()))


def person_with_open_repair(engine: Engine) -> tuple[str, str, int]:
    """The person with the most rows among those whose repair request is still under the warranty hold."""
    with engine.connect() as c:
        customers = ids(c, "SELECT email FROM rma_accounts")
    people = [person for person in candidates(engine) if person[0] in customers]
    repairers = [person for person in people if held_rows(engine, person_rows(engine, *person)).get("rma_requests")]
    assert repairers, "the demo data has no repair under warranty"
    return max(repairers, key=lambda person: sum(len(keys) for keys in person_rows(engine, *person).values()))


def unrelated(engine: Engine, *others: dict[str, set[Any]]) -> tuple[str, str, int]:
    """A person with many rows, none of which is also another's."""
    best: tuple[int, tuple[str, str, int]] | None = None
    for person in candidates(engine)[-12:]:
        rows = person_rows(engine, *person)
        if all(not (keys & other.get(table, set())) for other in others for table, keys in rows.items()):
            size = sum(len(keys) for keys in rows.values())
            best = max(best or (size, person), (size, person))
    assert best is not None
    return best[1]


# ---------------------------------------------------------------- access
def test_access_exports_exactly_the_persons_rows(imou: Engine) -> None:
    email, phone, uid = rich_person_with_orders(imou)
    expected = person_rows(imou, email, phone, uid)
    everything = snapshot(imou)

    result = run_access(POLICY, {"email": [email]}, context=CONTEXT)

    # The e-mail address led to the account, whose id and phone number led to the rest.
    found = {kind: {comparable(kind, value) for value in values} for kind, values in result.identities.items()}
    assert found == {"email": {email}, "phone": {comparable("phone", phone)}, "account_id": {str(uid)}}
    exported = {item.collection: {row["id"].value for row in item.rows} for item in result.collections}
    assert exported == expected
    assert len(expected) >= 8
    for item in result.collections:
        for row in item.rows:
            assert {column: cell.value for column, cell in row.items()} == everything[item.collection][row["id"].value]
    users = next(item for item in result.collections if item.collection == "users")
    assert users.rows[0]["email"].category == "email" and users.rows[0]["phone"].category == "phone"
    assert users.rows[0]["status"].category is None  # not personal data the policy declares

    # A phone number written without spaces (as the privacy centre stores it) finds the same rows.
    email, phone, uid = candidates(imou)[3]
    by_phone = run_access(POLICY, {"phone": phone.replace(" ", "")}, context=CONTEXT)
    assert {item.collection: {row["id"].value for row in item.rows} for item in by_phone.collections} == person_rows(
        imou, email, phone, uid
    )


# ---------------------------------------------------------------- erasure
def test_erasure_leaves_no_trace_outside_holds_changes_nothing_twice(imou: Engine) -> None:
    buyer = rich_person_with_orders(imou)
    repairer = person_with_open_repair(imou)
    erased = {person: person_rows(imou, *person) for person in (buyer, repairer)}
    held = {person: held_rows(imou, rows) for person, rows in erased.items()}
    bystander = unrelated(imou, *erased.values())
    bystander_rows = person_rows(imou, *bystander)
    before = snapshot(imou)

    dry = run_erasure(POLICY, {"email": buyer[0]}, now=NOW, dry_run=True, context=CONTEXT)
    assert snapshot(imou) == before
    planned = {item.collection: item.deleted + item.anonymised + item.held + item.kept for item in dry.collections if item.touched}
    assert planned == {table: len(keys) for table, keys in erased[buyer].items()}

    results = {person: run_erasure(POLICY, {"email": person[0]}, now=NOW, context=CONTEXT) for person in erased}

    after = snapshot(imou)
    for person, rows in erased.items():
        email, phone, uid = person
        result = {item.collection: item for item in results[person].collections if item.touched}
        assert {name: item.held for name, item in result.items() if item.held} == {table: len(keys) for table, keys in held[person].items()}
        names = _names(before, rows)
        for table, keys in rows.items():
            kept = held[person].get(table, set())
            for key in keys:
                if key in kept:
                    assert after[table][key] == before[table][key], "a held row is never changed"
                elif key in after[table]:
                    leftover = after[table][key]
                    assert not any(
                        isinstance(value, str) and any(mark in value for mark in (email, phone, *names)) for value in leftover.values()
                    )
        # Nowhere else in the database: no address, phone number or account id, except in held rows.
        for table, table_rows in after.items():
            for key, values in table_rows.items():
                if key in held[person].get(table, set()):
                    continue
                texts = [value for value in values.values() if isinstance(value, str)]
                assert not any(email in value or phone in value for value in texts), (table, key)
                account_columns = ("user_id", "owner_id", "invitee_user_id", "account_id")
                assert not any(values.get(column) == uid for column in account_columns), (table, key)
                assert not (table == "users" and key == uid)
    # The buyer's invoices stay under the tax hold, with its basis, law and end date.
    invoices = next(item for item in results[buyer].collections if item.collection == "invoices")
    (hold,) = invoices.holds
    assert (hold.name, hold.basis, hold.keep, hold.rows) == ("tax_records", "legal_obligation", "5 years", len(held[buyer]["invoices"]))
    assert hold.law == "Polish Tax Ordinance, Art. 86(1), and VAT Act, Art. 112"
    latest = max(_naive(before["invoices"][key]["issued_at"]) for key in held[buyer]["invoices"])
    assert hold.until == latest + relativedelta(years=5)
    # The repairer's account row stays for the held repair request to point at, without identifying them.
    accounts = next(item for item in results[repairer].collections if item.collection == "rma_accounts")
    assert accounts.downgraded == accounts.anonymised == len(erased[repairer]["rma_accounts"]) and accounts.deleted == 0
    # Everyone else's rows are exactly as they were.
    changed = {table: {key for person_rows_ in erased.values() for key in person_rows_.get(table, set())} for table in before}
    for table, table_rows in before.items():
        for key, values in table_rows.items():
            if key not in changed[table]:
                assert after[table].get(key) == values, (table, key)
    assert all(after[table][key] == before[table][key] for table, keys in bystander_rows.items() for key in keys)

    again = run_erasure(POLICY, {"email": buyer[0]}, now=NOW, context=CONTEXT)

    assert snapshot(imou) == after
    assert all(item.deleted == item.anonymised == 0 for item in again.collections)
    assert {item.collection for item in again.collections if item.held} == {"orders", "invoices"} & set(held[buyer])


def _names(before: dict[str, dict[Any, dict[str, Any]]], rows: dict[str, set[Any]]) -> set[str]:
    """The person's full names as the demo data writes them."""
    columns = {"invoices": "buyer_name", "marketing_participants": "name", "rma_accounts": "name", "device_orders": "buyer_name"}
    return {before[table][key][column] for table, column in columns.items() for key in rows.get(table, set()) if before[table][key][column]}


# ---------------------------------------------------------------- rectification
def identity_matched(engine: Engine, email: str, phone: str, uid: int) -> dict[str, set[Any]]:
    """The person's rows an identity matches directly (not only through a reference)."""
    with engine.connect() as c:
        return {
            "users": ids(c, "SELECT id FROM users WHERE email = :e OR phone = :p OR id = :u", e=email, p=phone, u=uid),
            "device_shares": ids(c, "SELECT id FROM device_shares WHERE invitee_email = :e OR invitee_phone = :p", e=email, p=phone),
            "deregistrations": ids(
                c, "SELECT id FROM deregistrations WHERE account_id = :u OR email = :e OR phone = :p", u=uid, e=email, p=phone
            ),
            "device_orders": ids(c, "SELECT id FROM device_orders WHERE contact_phone = :p", p=phone),
            "marketing_participants": ids(c, "SELECT id FROM marketing_participants WHERE email = :e OR phone = :p", e=email, p=phone),
            "rma_accounts": ids(c, "SELECT id FROM rma_accounts WHERE email = :e", e=email),
            "rma_requests": ids(c, "SELECT id FROM rma_requests WHERE phone = :p", p=phone),
        }


def test_rectification_changes_exactly_the_declared_columns(imou: Engine) -> None:
    email, phone, uid = person_with_open_repair(imou)
    rows = person_rows(imou, email, phone, uid)
    held = held_rows(imou, rows)
    matched = identity_matched(imou, email, phone, uid)
    before = snapshot(imou)
    new_phone, new_name = "+48 600 700 800", "Janina Poprawiona"

    result = run_rectification(POLICY, {"email": email}, {"phone": new_phone, "name": new_name}, now=NOW, context=CONTEXT)

    # The policy declares which columns hold a phone number or a name; identity columns of a row reached
    # only through a reference (a device the person shared) name someone else and stay.
    collections = POLICY.systems["imou_cloud"].collections
    declared = {
        (name, column): spec.category
        for name, collection in collections.items()
        for column, spec in collection.fields.items()
        if spec.category in ("phone", "name")
    }
    after = snapshot(imou)
    changed_cells = 0
    for table, table_rows in before.items():
        for key, values in table_rows.items():
            wanted = dict(values)
            if key in rows.get(table, set()) and key not in held.get(table, set()):
                for (declared_table, column), category in declared.items():
                    identity_column = column in collections[table].identities.values() if table in collections else False
                    if declared_table == table and (not identity_column or key in matched.get(table, set())):
                        wanted[column] = new_phone if category == "phone" else new_name
            changed_cells += sum(wanted[column] != values[column] for column in values)
            assert after[table][key] == wanted, (table, key)
    assert changed_cells >= 5
    repairs = next(item for item in result.collections if item.collection == "rma_requests")
    assert repairs.held == len(held["rma_requests"]) and sorted(repairs.columns) == ["phone", "return_name"]
