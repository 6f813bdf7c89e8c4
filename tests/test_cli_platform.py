"""The platform commands as an operator runs them: settings shown masked, the audit log verified."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from privacydesk.cli.main import app
from privacydesk.db.engine import get_engine

from .conftest import MINIMAL

runner = CliRunner()


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from privacydesk.config import get_settings

    monkeypatch.setenv("PRIVACYDESK_DATABASE_URL", "postgresql://app:hunter2-secret@db.internal:5432/privacy")
    monkeypatch.setenv("PRIVACYDESK_SMTP_PASSWORD", "smtp-secret-value")
    monkeypatch.setenv("PRIVACYDESK_SECRET_KEY", "signing-secret-value")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["config", "show"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "hunter2-secret" not in result.output
    assert "smtp-secret-value" not in result.output and "signing-secret-value" not in result.output
    assert "db.internal:5432/privacy" in result.output
    assert "smtp_password = **********" in result.output


@pytest.mark.postgres
def test_audit_verify_passes_then_names_the_tampered_entry(platform_url: str, tmp_path: Path) -> None:
    changed = tmp_path / "changed.yaml"
    changed.write_text(MINIMAL.read_text().replace("retention: 7 days", "retention: 14 days"))
    for policy in (MINIMAL, changed):
        published = runner.invoke(app, ["policy", "publish", str(policy)])
        assert published.exit_code == 0, published.output

    intact = runner.invoke(app, ["audit", "verify"])
    assert intact.exit_code == 0, intact.output
    assert "audit log intact" in intact.output

    exported = runner.invoke(app, ["audit", "export"])
    assert exported.exit_code == 0 and exported.output.count("\n") >= 1

    with get_engine().begin() as connection:
        connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        connection.execute(text("UPDATE audit_entries SET actor = 'someone-else' WHERE seq = 1"))
        connection.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER USER"))
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "BROKEN at entry 1" in broken.output

    with get_engine().connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_entries")).scalar_one() == 2
