"""Helpers for the consent tests: the imou policy published, API clients, tokens, banner decisions and row counts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from privacydesk.auth.permissions import Permission
from privacydesk.db.engine import transaction
from privacydesk.policy.loader import load_policy
from privacydesk.versions import service as versions
from privacydesk.web.app import create_app
from tests.auth_support import OWNER, add_user, configure, issue_token

from .conftest import ROOT

IMOU = ROOT / "examples" / "imou" / "policy.yaml"
PURPOSES = ["ux_plan", "marketing_activities", "event_news", "newsletter", "analytics_cookies"]


@dataclass
class Platform:
    """A migrated database with imou's policy published, an app, and a token holding both consent scopes."""

    client: TestClient
    headers: dict[str, str]
    tmp_path: Path

    def config(self, lang: str = "pl") -> dict[str, Any]:
        """The banner configuration in `lang`."""
        answer = self.client.get("/api/v1/public/consent/config", params={"lang": lang})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def banner(self, subject: str, choices: dict[str, bool], method: str = "custom", **extra: Any) -> Any:
        """POST a decision the way the banner does, quoting the current configuration."""
        headers = extra.pop("headers", None)
        shown = self.config(extra.pop("language", "pl"))
        page = "https://www.imoulife.com/pl/kamery?utm_source=newsletter&email=jan@example.pl#top"
        body = decision_body(shown, subject=subject, choices=choices, method=method, page_url=page) | extra
        return self.client.post("/api/v1/public/consent/decisions", json=body, headers=headers)

    def check(self, subject: str, purpose: str) -> dict[str, Any]:
        """The server check's answer."""
        answer = self.client.get("/api/v1/consent/check", params={"subject": subject, "purpose": purpose}, headers=self.headers)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


def setup_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **settings: str) -> Platform:
    """Configure, create an owner with a consent token, publish imou."""
    configure(monkeypatch, tmp_path, **settings)
    add_user()
    _, secret = issue_token(OWNER, {Permission.CONSENT_READ, Permission.CONSENT_WRITE})
    publish(IMOU)
    return Platform(TestClient(create_app(), base_url="https://testserver"), {"Authorization": f"Bearer {secret}"}, tmp_path)


def publish(path: Path) -> int:
    """Publish a policy through the versions service; returns its version number."""
    with transaction() as session:
        return versions.publish(session, load_policy(path), publisher="user:1").version.number


def imou_variant(tmp_path: Path, name: str, edit: Any) -> Path:
    """imou's policy changed by `edit(data)`, written next to the tests' files."""
    data = yaml.safe_load(IMOU.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def cid() -> str:
    """A fresh consent id, as the banner makes one."""
    return f"cid:{uuid.uuid4()}"


def count(model: type[Any]) -> int:
    """Rows in a table."""
    with transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def decision_body(shown: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A banner decision quoting the configuration `shown`: a new consent id choosing ux_plan unless `fields` say otherwise."""
    body: dict[str, Any] = {
        "subject": cid(),
        "choices": {"ux_plan": True},
        "method": "custom",
        "surface": "banner",
        "language": shown["language"],
        "text_hash": shown["text_hash"],
        "policy_version": shown["policy_version"],
    }
    return body | fields
