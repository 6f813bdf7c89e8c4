"""`privacydesk dsr run` as an engineer runs it against the Imou demo database, without the server."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from privacydesk.cli.main import app
from privacydesk.config import get_settings

from .conftest import ROOT
from .dsr_support import build, snapshot

runner = CliRunner()
POLICY = str(ROOT / "examples" / "imou" / "policy.yaml")


@pytest.fixture
def imou(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A small Imou database on SQLite, and a platform key for pseudonyms."""
    monkeypatch.setenv("PRIVACYDESK_SECRET_KEY", "cli-test-secret-key-0123456789")
    monkeypatch.setenv("PRIVACYDESK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    engine = build("imou", f"sqlite:///{tmp_path / 'imou.db'}", monkeypatch, users=60)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def _buyer(engine: Any) -> tuple[str, int]:
    """Someone with a recent invoice, still under the tax hold."""
    with engine.connect() as c:
        row = c.execute(
            text(
                "SELECT u.email, u.id FROM users u JOIN invoices i ON i.user_id = u.id WHERE u.email IS NOT NULL ORDER BY i.issued_at DESC"
            )
        ).first()
    return row[0], row[1]


def test_access_writes_annotated_json_and_csv_per_collection(imou: Any, tmp_path: Path) -> None:
    email, uid = _buyer(imou)
    out = tmp_path / "export"

    result = runner.invoke(app, ["dsr", "run", "--policy", POLICY, "--type", "access", "--identity", f"email={email}", "--out", str(out)])

    assert result.exit_code == 0, result.output
    users = json.loads((out / "imou_cloud" / "users.json").read_text(encoding="utf-8"))
    assert users["rows"][0]["id"] == {"value": uid, "category": None}
    assert users["rows"][0]["email"] == {"value": email, "category": "email"}
    with (out / "imou_cloud" / "invoices.csv").open(encoding="utf-8") as handle:
        invoices = list(csv.DictReader(handle))
    assert invoices and all(row["buyer_email"] == email for row in invoices)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {"system": "imou_cloud", "collection": "users", "rows": 1, "files": 0} in summary["collections"]
    assert f"into {out}/" in result.output


def test_erasure_dry_run_shows_the_plan_and_changes_nothing(imou: Any) -> None:
    email, _ = _buyer(imou)
    before = snapshot(imou)

    result = runner.invoke(app, ["dsr", "run", "--policy", POLICY, "--type", "erasure", "--identity", f"email={email}", "--dry-run"])

    assert result.exit_code == 0, result.output
    assert snapshot(imou) == before
    assert "plan of the erasure (children first):" in result.output
    assert "imou_cloud.users" in result.output and "identities email, phone, account_id" in result.output
    assert "erasure (dry run: nothing changed):" in result.output
    assert "1 deleted" in result.output


def test_erasure_prints_what_was_deleted_and_what_holds_keep(imou: Any) -> None:
    email, uid = _buyer(imou)

    result = runner.invoke(app, ["dsr", "run", "--policy", POLICY, "--type", "erasure", "--identity", f"email={email}", "--lang", "pl"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    held = next(line for line in lines if "imou_cloud.invoices" in line)
    assert "held" in held
    tax = next(line for line in lines if "hold tax_records" in line)
    assert "legal_obligation, Ordynacja podatkowa, art. 86 § 1, i ustawa o VAT, art. 112; 5 years from issued_at; until 20" in tax
    # What it cannot see is said, on standard error.
    assert "staff legal holds and the restriction register are kept in the platform's database and are not consulted" in result.stderr
    with imou.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM users WHERE id = :u"), {"u": uid}).scalar_one() == 0


def test_rectification_sets_the_corrected_value(imou: Any) -> None:
    email, uid = _buyer(imou)

    result = runner.invoke(
        app, ["dsr", "run", "--policy", POLICY, "--type", "rectification", "--identity", f"email={email}", "--set", "nickname=Zosia"]
    )

    assert result.exit_code == 0, result.output
    assert "imou_cloud.users" in result.output and "1 row(s) corrected in nickname" in result.output
    with imou.connect() as c:
        assert c.execute(text("SELECT nickname FROM users WHERE id = :u"), {"u": uid}).scalar_one() == "Zosia"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--identity", "email"], "--identity 'email': write it as TYPE=VALUE"),
        (["--identity", "passport=X"], "unknown identity type 'passport'"),
        (["--identity", "email=a@b.c", "--set", "name=X"], "corrected values are only for rectification requests, not erasure"),
    ],
)
def test_bad_options_are_refused(imou: Any, arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["dsr", "run", "--policy", POLICY, "--type", "erasure", *arguments])

    assert result.exit_code == 1
    assert message in result.output
