"""Requests against the Imou demo database (seed 003), from intake to the completed request, through the job system.

The application database is on PostgreSQL or MariaDB (the platform's own is PostgreSQL); every
expectation comes from hand-written SQL (tests.test_dsr_imou), never from the engine.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from privacydesk.consent import checks
from privacydesk.consent.models import ConsentRestriction
from privacydesk.consent.service import Decision, record_decision
from privacydesk.consent.subjects import parse
from privacydesk.db.engine import transaction
from privacydesk.requests.models import RequestStatus
from privacydesk.retention import holds
from tests.dsr_support import snapshot
from tests.fulfilment_support import (
    example_database,
    execution,
    export_of,
    held_at,
    module_mariadb_url,
    module_postgres_url,
    request_verified,
    request_vouched,
    run_jobs_until_settled,
    start_platform,
    zip_contents,
)
from tests.requests_support import mails
from tests.test_dsr_imou import candidates, person_rows, person_with_open_repair, unrelated

__all__ = ["module_mariadb_url", "module_postgres_url"]

USERS = 120
HOLDS = {"orders": ("ordered_at", 5), "invoices": ("issued_at", 5), "rma_requests": ("closed_at", 2)}


@pytest.fixture(
    scope="module", params=[pytest.param("postgres", marks=pytest.mark.postgres), pytest.param("mariadb", marks=pytest.mark.mariadb)]
)
def imou(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The Imou demo database, shared by the module's tests (each works on other people)."""
    yield from example_database(request, "imou", request.param, users=USERS)


@pytest.fixture
def browser(imou: Engine, platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> TestClient:
    return start_platform(monkeypatch, tmp_path, "imou")


def _exported(files: dict[str, bytes]) -> dict[str, dict[Any, dict[str, Any]]]:
    """The rows of each collection's JSON in the ZIP, by id: {column: {value, category}}."""
    found = {}
    for name, content in files.items():
        if name.startswith("imou_cloud/") and name.endswith(".json"):
            document = json.loads(content)
            found[document["collection"]] = {row["id"]["value"]: row for row in document["rows"]}
    return found


def test_access_is_a_zip_of_exactly_the_persons_rows_with_a_report_in_their_language(imou: Engine, browser: TestClient) -> None:
    email, phone, uid = candidates(imou)[1]
    expected = person_rows(imou, email, phone, uid)
    everything = snapshot(imou)

    reference = request_verified(browser, "access", email, language="pl")

    assert run_jobs_until_settled(reference) is RequestStatus.completed
    export = export_of(reference)
    assert stat.S_IMODE(os.stat(export.path).st_mode) == 0o600
    files = zip_contents(Path(export.path).read_bytes())
    exported = _exported(files)
    assert {table: set(rows) for table, rows in exported.items()} == expected
    assert len(expected) >= 5
    for table, rows in exported.items():
        for key, row in rows.items():
            assert {column: cell["value"] for column, cell in row.items()} == {
                column: value if value is None or isinstance(value, bool | int | str) else _text(value)
                for column, value in everything[table][key].items()
            }
        # The CSV has the same rows as the JSON.
        table_rows = list(csv.DictReader(io.StringIO(files[f"imou_cloud/{table}.csv"].decode())))
        assert {int(row["id"]) for row in table_rows} == set(rows)
    user = exported["users"][uid]
    assert (user["email"]["category"], user["phone"]["category"], user["status"]["category"]) == ("email", "phone", None)
    # The report speaks Polish and states purposes, recipients and retention from the published policy.
    report = files["report.html"].decode()
    assert '<html lang="pl"' in report and "Imou" in report
    for phrase in ("Cele", "Podstawa prawna", "Okres przechowywania", "Odbiorca"):
        assert phrase in report
    # The person is told in Polish where to download it; the link needs a new code.
    (mail,) = [item for item in mails("request_completed") if item.to == email]
    assert mail.language == "pl" and "https://privacy.example/api/v1/public/exports/" in mail.text_body
    assert execution(reference).result is not None


def test_erasure_leaves_nothing_outside_holds_reports_them_and_spares_others(imou: Engine, browser: TestClient) -> None:
    repairer = person_with_open_repair(imou)
    rows = person_rows(imou, *repairer)
    bystander = unrelated(imou, rows)
    bystander_rows = person_rows(imou, *bystander)
    before = snapshot(imou)

    reference = request_verified(browser, "erasure", repairer[0], language="en")

    assert run_jobs_until_settled(reference) is RequestStatus.completed
    record = execution(reference)
    assert record.planned_at is not None and record.result is not None
    held = held_at(imou, rows, HOLDS, record.planned_at)
    after = snapshot(imou)
    email, phone, _ = repairer
    for table, keys in rows.items():
        for key in keys:
            if key in held.get(table, set()):
                assert after[table][key] == before[table][key], "a held row is never changed"
            elif key in after[table]:  # anonymised: it no longer names the person
                assert not any(isinstance(value, str) and (email in value or phone in value) for value in after[table][key].values())
    for table, table_rows in after.items():
        for key, values in table_rows.items():
            if key not in held.get(table, set()):
                assert not any(isinstance(value, str) and (email in value or phone in value) for value in values.values()), (table, key)
    assert all(after[table][key] == before[table][key] for table, keys in bystander_rows.items() for key in keys)
    # The counts are those of the rows, and the holds are reported with their basis and end.
    result = {item["collection"]: item for item in record.result["collections"]}
    gone = {table: sum(1 for key in keys if key not in after[table]) for table, keys in rows.items()}
    assert {table: item["deleted"] for table, item in result.items() if item["deleted"]} == {t: n for t, n in gone.items() if n}
    assert {table: item["held"] for table, item in result.items() if item["held"]} == {t: len(k) for t, k in held.items()}
    (repair_hold,) = result["rma_requests"]["holds"]
    assert (repair_hold["name"], repair_hold["basis"], repair_hold["keep"]) == ("warranty_claims", "legal_claims", "2 years")
    (mail,) = [item for item in mails("request_completed") if item.to == email]
    assert "Polish Civil Code, Art. 568 (statutory warranty)" in mail.text_body
    assert "Establishment, exercise or defence of legal claims" in mail.text_body


def test_erasure_keeps_what_staff_legal_holds_cover_and_names_each_hold(imou: Engine, browser: TestClient) -> None:
    # Two people from the end of the list (the other tests take theirs from the start), sharing no row.
    people = [person for person in reversed(candidates(imou)) if len(person_rows(imou, *person).get("api_logs", ())) >= 2]
    logged = next(person for person in people if person_rows(imou, *person).get("devices"))
    logged_rows = person_rows(imou, *logged)
    whole = unrelated(imou, logged_rows)
    whole_rows = person_rows(imou, *whole)
    held_log, held_device = min(logged_rows["api_logs"]), min(logged_rows["devices"])
    ends_at = datetime.now(UTC) + timedelta(days=30)
    with transaction() as session:
        on_rows = holds.place(
            session,
            reason="Case 12/2026, district court",
            actor="dpo@imou.example",
            system="imou_cloud",
            collection="api_logs",
            keys=[str(held_log)],
            ends_at=ends_at,
            policy=_policy(),
        ).id
        holds.place(
            session,
            reason="Dispute with row keys",
            actor="dpo@imou.example",
            system="imou_cloud",
            collection="devices",
            keys=[str(held_device)],
        )
        on_person = holds.place(
            session,
            reason="Inquiry of the President of UODO",
            actor="legal@imou.example",
            identity=("email", whole[0].upper()),
            policy=_policy(),
        ).id
        ended = holds.place(session, reason="Settled case", actor="legal@imou.example", identity=("email", logged[0]), policy=_policy())
        holds.release(session, ended.id, actor="legal@imou.example")
    before = snapshot(imou)

    reference = request_verified(browser, "erasure", logged[0])
    assert run_jobs_until_settled(reference) is RequestStatus.completed
    record = execution(reference)
    assert record.planned_at is not None and record.result is not None
    after = snapshot(imou)
    # The rows the staff holds name stay as they were; the rest of the person's data goes as the policy says.
    staff_held = {"api_logs": {held_log}, "devices": {held_device}}
    assert after["api_logs"][held_log] == before["api_logs"][held_log]
    assert after["devices"][held_device] == before["devices"][held_device]
    assert {key for key in logged_rows["api_logs"] if key in after["api_logs"]} == {held_log}
    policy_held = held_at(imou, logged_rows, HOLDS, record.planned_at)
    email, phone, uid = logged
    for table, keys in logged_rows.items():
        for key in keys:
            kept = key in staff_held.get(table, set()) or key in policy_held.get(table, set())
            if not kept and key in after[table]:
                assert not any(isinstance(value, str) and (email in value or phone in value) for value in after[table][key].values())
    # The account the held device points at cannot be deleted from under it: it no longer names the person.
    assert uid in after["users"] and after["users"][uid]["email"] != email
    result = {item["collection"]: item for item in record.result["collections"]}
    assert result["api_logs"]["held"] == 1 and result["api_logs"]["deleted"] == len(logged_rows["api_logs"]) - 1
    (named,) = result["api_logs"]["holds"]
    assert named["legal_hold"] == on_rows and named["rows"] == 1
    assert (named["reason"], named["placed_by"]) == ("Case 12/2026, district court", "dpo@imou.example")
    assert datetime.fromisoformat(named["until"]) == ends_at
    assert [hold["reason"] for hold in result["devices"]["holds"]] == ["Dispute with row keys"]
    assert result["devices"]["held"] == 1
    (mail,) = [item for item in mails("request_completed") if item.to == email]
    assert "Case 12/2026, district court: records kept: 1" in mail.text_body
    assert "Settled case" not in mail.text_body and "ask us again" in mail.text_body

    # A hold on a person keeps everything of theirs, until it is released; the reply says so.
    reference = request_verified(browser, "erasure", whole[0], language="pl")
    assert run_jobs_until_settled(reference) is RequestStatus.completed
    record = execution(reference)
    assert record.result is not None
    after = snapshot(imou)
    assert all(after[table][key] == before[table][key] for table, keys in whole_rows.items() for key in keys)
    collections = [item for item in record.result["collections"] if item["found"]]
    assert {item["collection"]: item["held"] for item in collections} == {table: len(keys) for table, keys in whole_rows.items() if keys}
    assert all(item["deleted"] == item["anonymised"] == 0 for item in collections)
    for item in collections:
        staff = [hold for hold in item["holds"] if hold.get("legal_hold")]
        assert [(hold["legal_hold"], hold["placed_by"], hold["until"]) for hold in staff] == [(on_person, "legal@imou.example", None)]
    (mail,) = [item for item in mails("request_completed") if item.to == whole[0]]
    assert mail.language == "pl" and "Inquiry of the President of UODO" in mail.text_body
    assert "do czasu zniesienia blokady" in mail.text_body


def test_rectification_corrects_every_system_declared_to_hold_the_category(imou: Engine, browser: TestClient) -> None:
    named = ("marketing_participants", "rma_accounts", "device_orders")
    email, phone, uid = next(person for person in candidates(imou) if any(person_rows(imou, *person).get(table) for table in named))
    rows = person_rows(imou, email, phone, uid)
    before = snapshot(imou)

    reference = request_verified(browser, "rectification", email, corrections=[{"category": "name", "value": "Janina Poprawiona"}])

    assert run_jobs_until_settled(reference) is RequestStatus.completed
    record = execution(reference)
    assert record.planned_at is not None and record.result is not None
    held = held_at(imou, rows, HOLDS, record.planned_at)
    after = snapshot(imou)
    collections = _policy().systems["imou_cloud"].collections
    corrected = 0
    for table, keys in rows.items():
        columns = [column for column, spec in collections[table].fields.items() if spec.category == "name"]
        for key in keys:
            if key in held.get(table, set()) or not columns:
                assert after[table][key] == before[table][key]
                continue
            assert all(after[table][key][column] == "Janina Poprawiona" for column in columns), (table, key)
            corrected += any(before[table][key][column] != "Janina Poprawiona" for column in columns)
    assert corrected >= 1
    assert sum(item["rectified"] for item in record.result["collections"]) == corrected


def test_rectification_leaves_the_rows_a_staff_legal_hold_keeps_as_they_were(imou: Engine, browser: TestClient) -> None:
    collections = _policy().systems["imou_cloud"].collections
    names = {table: [column for column, spec in collections[table].fields.items() if spec.category == "name"] for table in collections}

    def named_rows(person: tuple[str, str, int]) -> list[tuple[str, Any]]:
        """The person's rows holding a name that no hold of the policy keeps (those are never corrected)."""
        rows = person_rows(imou, *person)
        kept = held_at(imou, rows, HOLDS, datetime.now(UTC))
        return [
            (table, key) for table, keys in rows.items() if names.get(table) for key in sorted(keys) if key not in kept.get(table, set())
        ]

    # From the end of the list, like the other staff hold test; without the hold, the row would be corrected.
    email, phone, uid = next(person for person in reversed(candidates(imou)) if named_rows(person))
    (held_table, held_key), *others = named_rows((email, phone, uid))
    with transaction() as session:
        hold = holds.place(
            session,
            reason="Evidence in case 7/2026",
            actor="dpo@imou.example",
            system="imou_cloud",
            collection=held_table,
            keys=[str(held_key)],
        ).id
    before = snapshot(imou)

    reference = request_verified(browser, "rectification", email, corrections=[{"category": "name", "value": "Janina Poprawiona"}])

    assert run_jobs_until_settled(reference) is RequestStatus.completed
    record = execution(reference)
    assert record.planned_at is not None and record.result is not None
    after = snapshot(imou)
    assert after[held_table][held_key] == before[held_table][held_key]
    for table, key in others:
        assert all(after[table][key][column] == "Janina Poprawiona" for column in names[table]), (table, key)
    (item,) = [item for item in record.result["collections"] if item["collection"] == held_table]
    assert item["held"] >= 1
    assert [(named["legal_hold"], named["reason"]) for named in item["holds"]] == [(hold, "Evidence in case 7/2026")]


def _policy() -> Any:
    from tests.dsr_support import policy

    return policy("imou")


def _text(value: Any) -> str:
    from privacydesk.engine.results import jsonable

    return str(jsonable(value))


def test_a_restriction_naming_a_phone_number_alone_is_entered_under_the_address_and_account_found(
    imou: Engine, browser: TestClient
) -> None:
    people = candidates(imou)
    email, phone, uid = people[len(people) // 2]
    with transaction() as session:
        record_decision(session, Decision(parse(f"email:{email}"), {"ux_plan": True}, "api", "app"), actor="test")
    reference = request_vouched(browser, "restriction", [{"type": "phone", "value": phone}], restriction_reason="unlawful_processing")

    assert run_jobs_until_settled(reference) is RequestStatus.completed
    # The account row the number finds holds the address and the account id the registers know the person by.
    with transaction() as session:
        entries = session.scalars(select(ConsentRestriction).where(ConsentRestriction.reference == reference)).all()
        assert sorted(entry.subject_key for entry in entries) == sorted([parse(f"email:{email}").stored, f"account:{uid}"])
        assert checks.check(session, parse(f"email:{email}"), "ux_plan").reason == "restricted"
    record = execution(reference)
    assert record.result is not None and record.result["restrict"] == {"restricted": 2}
