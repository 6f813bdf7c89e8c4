"""Helpers for the auth tests: settings, users, signed-in clients, tokens and the audit log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from privacydesk.audit.models import AuditEntry
from privacydesk.auth import passwords, service
from privacydesk.auth.permissions import Permission, Role, permissions_of
from privacydesk.config import get_settings
from privacydesk.db.engine import transaction
from privacydesk.web.app import create_app

PASSWORD = "correct horse battery staple"
OWNER = "owner@example.com"


def configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **settings: str) -> None:
    """Set a known secret key, a private data directory and any other settings; hash passwords cheaply."""
    # Still argon2id, with the smallest cost: the tests check behaviour, not hashing strength.
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    passwords._dummy_hash.cache_clear()
    monkeypatch.setenv("PRIVACYDESK_SECRET_KEY", "test-secret-key-" + "x" * 32)
    monkeypatch.setenv("PRIVACYDESK_DATA_DIR", str(tmp_path))
    for name, value in settings.items():
        monkeypatch.setenv(f"PRIVACYDESK_{name.upper()}", value)
    get_settings.cache_clear()


def add_user(email: str = OWNER, role: Role = Role.OWNER, password: str = PASSWORD) -> int:
    """Create a user directly through the service."""
    with transaction() as session:
        return service.create_user(session, email=email, name=f"{role.value.title()} Tester", role=role, password=password, actor="test").id


def issue_token(email: str, scopes: set[Permission], days: int = 30) -> tuple[int, str]:
    """Create a token for a user through the service; returns its id and secret."""
    with transaction() as session:
        owner = service.find_user(session, email)
        token, secret = service.create_token(
            session, owner=owner, name="test", scopes=scopes, expires_days=days, grantable=permissions_of(Role(owner.role)), actor="test"
        )
        return token.id, secret


def client() -> TestClient:
    """A client of a fresh app over https, so Secure cookies are sent back as a browser would."""
    return TestClient(create_app(), base_url="https://testserver")


def form_token(browser: TestClient, path: str = "/login") -> str:
    """The CSRF token in the hidden field of the form on `path`."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(path).text)
    assert match is not None, f"no CSRF field on {path}"
    return match.group(1)


def sign_in(browser: TestClient, email: str = OWNER, password: str = PASSWORD, **extra: str) -> Response:
    """Submit the login form the way a browser does."""
    data = {"email": email, "password": password, "csrf_token": form_token(browser), **extra}
    return browser.post("/login", data=data, follow_redirects=False)


def audit_entries() -> list[AuditEntry]:
    """The whole audit log, oldest first."""
    with transaction() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
