"""The record of processing activities: every format, every Art. 30 field, the processor record."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml

from privacydesk.policy import labels
from privacydesk.policy.countries import EEA, country_name
from privacydesk.policy.loader import LoadedPolicy, load_policy
from privacydesk.policy.models import Policy
from privacydesk.policy.render.ropa import COLUMNS, CONTROLLER_COLUMNS, PROCESSOR_COLUMNS, render_ropa

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "tests" / "policies" / "minimal.yaml"
POLICIES = [MINIMAL, *sorted(ROOT.glob("examples/*/policy.yaml"))]
FORMATS = ("csv", "xlsx", "json", "html")


def _id(path: Path) -> str:
    return path.parent.name if path.name == "policy.yaml" else path.stem


@pytest.fixture(params=POLICIES, ids=_id)
def loaded(request: pytest.FixtureRequest) -> LoadedPolicy:
    return load_policy(request.param)


def _json(loaded: LoadedPolicy, lang: str = "en") -> dict[str, Any]:
    result: dict[str, Any] = json.loads(render_ropa(loaded, "json", lang))
    return result


def _variant(tmp_path: Path, change: Any) -> LoadedPolicy:
    """Minimal policy with `change` applied to its data, loaded from tmp_path."""
    data = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_policy(path)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("lang", ["en", "pl", "ro", "fr", "cs"])
def test_every_format_renders(loaded: LoadedPolicy, fmt: Any, lang: str) -> None:
    assert render_ropa(loaded, fmt, lang)


def test_unknown_language_or_format_is_refused() -> None:
    loaded = load_policy(MINIMAL)
    with pytest.raises(ValueError, match="unsupported language"):
        render_ropa(loaded, "csv", "de")
    with pytest.raises(ValueError, match="unknown format"):
        render_ropa(loaded, "pdf", "en")  # type: ignore[arg-type]


def test_xlsx_has_one_row_per_activity(loaded: LoadedPolicy) -> None:
    book = openpyxl.load_workbook(io.BytesIO(render_ropa(loaded, "xlsx")))
    record_sheets = book.worksheets[:-1]
    rows = [row for sheet in record_sheets for row in list(sheet.iter_rows(values_only=True))[1:]]
    assert len(rows) == len(loaded.policy.activities)
    for sheet in record_sheets:
        header = [cell.value for cell in sheet[1]]
        assert header[0] == "Processing activity"
        assert all(cell.font.bold for cell in sheet[1])
        assert sheet.freeze_panes == "B2"
        assert sheet.auto_filter.ref == sheet.dimensions
    about = dict(book.worksheets[-1].iter_rows(values_only=True))
    assert about["Policy version"] == loaded.version_hash
    assert loaded.policy.organization.name in about["Organisation"]
    assert about["Effective date"]


def test_imou_record_is_complete() -> None:
    path = ROOT / "examples" / "imou" / "policy.yaml"
    if not path.exists():
        pytest.skip("examples/imou/policy.yaml is not written yet")
    loaded = load_policy(path)
    book = openpyxl.load_workbook(io.BytesIO(render_ropa(loaded, "xlsx")))
    rows = [row for sheet in book.worksheets[:-1] for row in list(sheet.iter_rows(values_only=True))[1:]]
    assert len(rows) == len(loaded.policy.activities) >= 21


def _expected_transfer_countries(policy: Policy, name: str) -> set[str]:
    activity = policy.activities[name]
    countries = {policy.recipients[key].country for key in activity.recipients if policy.recipients[key].country not in EEA}
    return countries | {transfer.country for transfer in activity.transfers}


def test_json_holds_every_art30_field(loaded: LoadedPolicy) -> None:
    policy = loaded.policy
    document = _json(loaded)
    assert list(document) == ["controller_record", "processor_record", "organization", "policy_version", "generated_for_language"]
    assert document["policy_version"] == loaded.version_hash
    assert document["generated_for_language"] == "en"
    assert document["organization"]["name"] == policy.organization.name
    rows = [*document["controller_record"], *document["processor_record"]]
    assert sorted(row["activity"] for row in rows) == sorted(policy.activities)
    organization = policy.organization
    for row in document["controller_record"]:
        activity = policy.activities[row["activity"]]
        assert row["name"] == activity.title.get("en", policy.text_languages())
        # (a) controller, joint controllers, representative, DPO
        assert row["controller"].startswith(organization.name)
        assert organization.address in row["controller"]
        joint = [policy.recipients[key].name for key in activity.recipients if policy.recipients[key].role == "joint_controller"]
        assert [entry.split(",")[0] for entry in row["joint_controllers"]] == joint
        assert (row["representative"] is None) == (organization.representative is None)
        if organization.dpo is not None:
            assert any(part in row["dpo"] for part in (organization.dpo.email, organization.dpo.name) if part)
        # (b) purposes and legal basis
        assert [purpose["dpv"] for purpose in row["purposes"]] == activity.purposes
        assert [purpose["label"] for purpose in row["purposes"]] == [labels.term(p, "en") for p in activity.purposes]
        assert row["legal_basis"] == labels.legal_basis(activity.legal_basis, "en")
        if activity.legitimate_interest is not None:
            assert row["legitimate_interest"] == activity.legitimate_interest.get("en", policy.text_languages())
        # (c) data subjects and personal data, special categories flagged
        assert [subject["dpv"] for subject in row["subjects"]] == [policy.subjects[key].dpv for key in activity.subjects]
        for column, keys in (("data_required", activity.data.required), ("data_optional", activity.data.optional)):
            assert [entry["dpv"] for entry in row[column]] == [policy.data[key].dpv for key in keys]
            for entry, key in zip(row[column], keys, strict=True):
                assert ("Art. 9" in entry["note"]) == policy.data[key].is_special
        # (d) recipients
        assert [entry.split(" — ")[0] for entry in row["recipients"]] == [policy.recipients[key].name for key in activity.recipients]
        # (e) transfers
        expected = {country_name(code, "en") for code in _expected_transfer_countries(policy, row["activity"])}
        assert {entry.split(" — ")[0].split(",")[0] for entry in row["transfers"]} == expected
        # (f) retention
        if activity.retention is not None and activity.retention.period is not None:
            assert row["retention"].startswith(labels.duration(activity.retention.period, "en"))
        # (g) security measures
        assert [m["dpv"] for m in row["measures"]] == list(dict.fromkeys([*organization.measures, *activity.measures]))
        assert row["source"]
        assert row["automated_decision"]
        stored = {
            f"{system}.{collection}"
            for system, spec in policy.systems.items()
            for collection, fields in spec.collections.items()
            if {field.category for field in fields.fields.values()} & set(activity.data.all())
        }
        assert {entry.split(" — ")[0].split("(")[-1].rstrip(")") for entry in row["storage"]} == stored


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(_csv_text(item) for item in value)
    if isinstance(value, dict):
        return f"{value['label']} — {value['note']}" if value["note"] else str(value["label"])
    return str(value)


def test_csv_parses_back_to_the_json_rows(loaded: LoadedPolicy) -> None:
    raw = render_ropa(loaded, "csv")
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in raw
    table = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    header, rows = table[0], table[1:]
    assert header == ["Record", *(column.title for column in COLUMNS)]
    document = _json(loaded)
    records = (("controller", CONTROLLER_COLUMNS), ("processor", PROCESSOR_COLUMNS))
    expected = [
        [record, *(_csv_text(entry[c.key]) if c in columns else "" for c in COLUMNS)]
        for record, columns in records
        for entry in document[f"{record}_record"]
    ]
    assert rows == expected


def _processor_policy(data: dict[str, Any]) -> None:
    data["organization"]["role"] = "processor"
    data["recipients"]["client"] = {
        "name": "Client <Corp> & Co",
        "role": "controller",
        "country": "DE",
        "contact": {"email": "privacy@client.example"},
    }
    data["recipients"]["cloud"] = {"name": "Cloud Inc", "role": "processor", "country": "US", "safeguard": "scc"}
    data["activities"]["accounts"]["on_behalf_of"] = ["client"]
    data["activities"]["accounts"]["recipients"] = ["hosting", "cloud"]


def test_processor_record_names_the_controller(tmp_path: Path) -> None:
    loaded = _variant(tmp_path, _processor_policy)
    document = _json(loaded)
    assert document["controller_record"] == []
    processed = {row["activity"]: row for row in document["processor_record"]}
    assert set(processed) == {"accounts", "security_logs"}
    accounts = processed["accounts"]
    assert accounts["controllers"] == ["Client <Corp> & Co, Germany, privacy@client.example"]
    assert accounts["processor"].startswith("Exemple SAS")
    assert accounts["transfers"] == ["United States, Cloud Inc — Standard contractual clauses (Art. 46(2)(c) GDPR)"]
    assert "legal_basis" not in accounts

    book = openpyxl.load_workbook(io.BytesIO(render_ropa(loaded, "xlsx")))
    assert [sheet.title for sheet in book.worksheets] == ["Controller record", "Processor record", "About this record"]
    assert book["Controller record"].max_row == 1
    processor_rows = list(book["Processor record"].iter_rows(values_only=True))
    header = processor_rows[0]
    controllers = header.index("Controllers on whose behalf the processing is carried out")
    assert processor_rows[1][controllers] == "Client <Corp> & Co, Germany, privacy@client.example"

    records = [row[0] for row in csv.reader(io.StringIO(render_ropa(loaded, "csv").decode()))][1:]
    assert records == ["processor", "processor"]

    page = render_ropa(loaded, "html").decode()
    assert 'id="processor-record"' in page
    assert "Client &lt;Corp&gt; &amp; Co" in page


def test_controller_and_processor_splits_the_records(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        _processor_policy(data)
        data["organization"]["role"] = "controller_and_processor"

    document = _json(_variant(tmp_path, change))
    assert [row["activity"] for row in document["controller_record"]] == ["security_logs"]
    assert [row["activity"] for row in document["processor_record"]] == ["accounts"]


def test_special_categories_and_retention(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["data"]["health"] = {"dpv": "pd:Health"}
        data["organization"]["measures"] = ["dpv:Encryption"]
        accounts = data["activities"]["accounts"]
        accounts["data"] = {"required": ["email"], "optional": ["name", "health"]}
        accounts["special_basis"] = "explicit_consent"
        accounts["measures"] = ["dpv:AccessControlMethod", "dpv:Encryption"]
        data["activities"]["security_logs"]["retention"] = {"period": "1 day", "after": "last_activity"}

    document = _json(_variant(tmp_path, change))
    accounts, logs = document["controller_record"]
    assert [entry["dpv"] for entry in accounts["data_optional"]] == ["pd:Name", "pd:Health"]
    assert accounts["data_optional"][1]["note"] == "special category (Art. 9 GDPR): Explicit consent (Art. 9(2)(a) GDPR)"
    assert accounts["data_optional"][0]["note"] == ""
    assert [m["dpv"] for m in accounts["measures"]] == ["dpv:Encryption", "dpv:AccessControlMethod"]
    assert accounts["retention"] == "1 month after the account is closed"
    assert logs["retention"] == "1 day after the data subject's last activity"


def test_html_is_accessible_and_escapes_policy_text(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["organization"]["name"] = "Evil <b>Corp</b>"
        data["activities"]["accounts"]["title"] = {"en": "<script>alert(1)</script>", "fr": "x"}
        data["activities"]["accounts"]["description"] = 'Say "hi" & <img src=x onerror=alert(1)>'

    page = render_ropa(_variant(tmp_path, change), "html", "fr").decode()
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="fr">' in page
    assert '<th scope="col">' in page
    assert '<th scope="row">' in page
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Evil &lt;b&gt;Corp&lt;/b&gt;" in page


def test_xlsx_keeps_formula_like_text_as_text(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["activities"]["accounts"]["title"] = '=HYPERLINK("http://x","y")'

    book = openpyxl.load_workbook(io.BytesIO(render_ropa(_variant(tmp_path, change), "xlsx")))
    cell = book["Controller record"]["A2"]
    assert cell.value == '=HYPERLINK("http://x","y")'
    assert cell.data_type == "s"
