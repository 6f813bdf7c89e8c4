"""Every route of the real app needs credentials unless it is on the short public list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from privacydesk.auth.deps import protected_router
from privacydesk.auth.guard import assert_protected, is_public, unprotected_routes
from privacydesk.auth.permissions import Permission
from privacydesk.web.app import create_app
from tests.auth_support import configure

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def settings(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    configure(monkeypatch, tmp_path)


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, concrete path) of every non-public route, path parameters filled with a dummy value."""
    found = []
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if is_public(app, path):
            continue
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            found.append((method, re.sub(r"\{[^}]+\}", "1", path)))
    return found


def test_every_non_public_route_answers_401_without_valid_credentials() -> None:
    app = create_app()
    routes = _routes(app)
    # Known protected routes are in the walk, so it cannot pass by walking nothing.
    expected = {("GET", "/metrics"), ("GET", "/api/v1/users"), ("POST", "/api/v1/tokens"), ("POST", "/api/v1/tokens/1/revoke")}
    assert expected | {("GET", "/account"), ("POST", "/logout"), ("GET", "/api/v1/me")} <= set(routes)
    anonymous = TestClient(app, base_url="https://testserver")
    for credentials in ({}, {"Authorization": "Bearer pd_not-a-real-token"}, {"Cookie": "pd_session=forged.0000"}):
        for method, path in routes:
            answer = anonymous.request(method, path, headers=credentials, follow_redirects=False)
            assert answer.status_code == 401, f"{method} {path} with {credentials or 'nothing'} answered {answer.status_code}"


def test_browsers_asking_for_pages_are_sent_to_login() -> None:
    app = create_app()
    anonymous = TestClient(app, base_url="https://testserver")
    for method, path in _routes(app):
        if method != "GET":
            continue
        answer = anonymous.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        if path.startswith("/api/"):
            assert answer.status_code == 401, path
        else:
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next="), path


def test_public_routes_answer_without_credentials() -> None:
    anonymous = TestClient(create_app(), base_url="https://testserver")
    for path in ("/healthz", "/readyz", "/login", "/api/openapi.json", "/api/docs"):
        assert anonymous.get(path).status_code == 200, path


def test_an_unprotected_route_stops_the_app_from_being_built() -> None:
    app = FastAPI()
    forgotten = APIRouter()
    guarded = protected_router(Permission.POLICY_READ)
    public = APIRouter()

    @forgotten.get("/api/v1/policy/secret")
    @guarded.get("/api/v1/policy/guarded")
    @public.get("/api/v1/public/consent")
    @public.get("/api/v1/publicity")
    def endpoint() -> dict[str, str]:
        return {}

    for router in (forgotten, guarded, public):
        app.include_router(router)
    assert unprotected_routes(app) == ["GET /api/v1/policy/secret", "GET /api/v1/publicity"]
    with pytest.raises(RuntimeError, match="/api/v1/policy/secret"):
        assert_protected(app)
