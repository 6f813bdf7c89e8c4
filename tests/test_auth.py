"""Users, passwords, roles and API tokens, against the real database and through the real app."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from privacydesk.audit import service as audit
from privacydesk.auth import login, passwords, service
from privacydesk.auth.models import ApiToken, User
from privacydesk.auth.permissions import ROLE_PERMISSIONS, Permission, Role, permissions_of
from privacydesk.cli.main import app as cli
from privacydesk.db.base import utcnow
from privacydesk.db.engine import get_engine, transaction
from privacydesk.errors import Conflict, Forbidden, Invalid
from tests.auth_support import OWNER, PASSWORD, add_user, audit_entries, client, configure, form_token, issue_token, sign_in

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def settings(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    configure(monkeypatch, tmp_path)


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# ---------------------------------------------------------------- passwords and users
def test_passwords_are_hashed_with_argon2id() -> None:
    stored = passwords.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert passwords.verify_password(stored, PASSWORD) == passwords.Verified(True, None)
    assert not passwords.verify_password(stored, PASSWORD + "!").ok
    assert not passwords.verify_password("not a hash", PASSWORD).ok


def test_outdated_hash_is_replaced_at_login() -> None:
    user_id = add_user()
    outdated = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1).hash(PASSWORD)
    with transaction() as session:
        session.execute(update(User).where(User.id == user_id).values(password_hash=outdated))
    with transaction() as session:
        assert login.authenticate(session, OWNER, PASSWORD, "192.0.2.1").outcome is login.Outcome.OK
    with transaction() as session:
        stored = session.get_one(User, user_id).password_hash
    assert stored != outdated
    assert not passwords._hasher.check_needs_rehash(stored)
    assert passwords.verify_password(stored, PASSWORD).ok
    assert audit_entries()[-1].summary == {"rehashed": True}


def test_emails_are_unique_whatever_their_case() -> None:
    add_user("Ann.Admin@Example.com")
    with pytest.raises(Conflict), transaction() as session:
        service.create_user(session, email="ann.admin@EXAMPLE.COM", name="Ann", role=Role.DPO, password=PASSWORD, actor="test")
    with transaction() as session:
        assert service.find_user(session, "ANN.ADMIN@example.com").email == "ann.admin@example.com"
        assert login.authenticate(session, "Ann.Admin@example.COM", PASSWORD, "192.0.2.1").outcome is login.Outcome.OK


@pytest.mark.parametrize(("email", "password"), [("not-an-address", PASSWORD), ("ann@example.com", "too short")])
def test_bad_email_or_weak_password_is_refused(email: str, password: str) -> None:
    with pytest.raises(Invalid), transaction() as session:
        service.create_user(session, email=email, name="Ann", role=Role.DPO, password=password, actor="test")


def test_the_last_active_owner_cannot_be_disabled() -> None:
    add_user()
    second = add_user("second@example.com")
    with transaction() as session:
        service.disable_user(session, service.get_user(session, second), actor="test")
    with pytest.raises(Conflict), transaction() as session:
        service.disable_user(session, service.find_user(session, OWNER), actor="test")


# ---------------------------------------------------------------- roles
def test_every_role_has_explicit_permissions_and_the_owner_has_all() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert permissions_of(Role.OWNER) == frozenset(Permission)


def test_analyst_is_read_only() -> None:
    analyst = permissions_of(Role.ANALYST)
    assert all(permission.value.endswith(":read") for permission in analyst)
    assert not analyst & {Permission.POLICY_PUBLISH, Permission.USERS_MANAGE, Permission.TOKENS_MANAGE}


def test_analyst_cannot_manage_users_or_tokens_through_the_api() -> None:
    add_user("analyst@example.com", Role.ANALYST)
    browser = client()
    assert sign_in(browser, "analyst@example.com").status_code == 303
    csrf = {"X-CSRF-Token": form_token(browser, "/account")}
    assert browser.get("/api/v1/me").json()["role"] == "analyst"
    body = {"email": "new@example.com", "name": "New", "role": "owner"}
    assert browser.post("/api/v1/users", json=body, headers=csrf).status_code == 403
    assert browser.get("/api/v1/users").status_code == 403
    assert browser.post("/api/v1/tokens", json={"name": "x", "scopes": ["policy:read"]}, headers=csrf).status_code == 403
    with transaction() as session:
        assert [user.email for user in service.list_users(session)] == ["analyst@example.com"]
        analyst = service.find_user(session, "analyst@example.com")
        with pytest.raises(Forbidden):
            service.create_token(
                session,
                owner=analyst,
                name="escalate",
                scopes={Permission.POLICY_PUBLISH},
                expires_days=1,
                grantable=permissions_of(Role.ANALYST),
                actor="test",
            )


# ---------------------------------------------------------------- tokens
def test_token_works_as_bearer_and_only_its_hash_is_stored() -> None:
    add_user()
    token_id, secret = issue_token(OWNER, {Permission.USERS_READ})
    assert secret.startswith("pd_") and len(secret) > 40
    answer = client().get("/api/v1/me", headers=_bearer(secret))
    assert answer.status_code == 200
    assert answer.json()["actor"] == f"token:{token_id}" and answer.json()["permissions"] == ["users:read"]
    with get_engine().connect() as connection:
        row = connection.execute(text("SELECT * FROM api_tokens WHERE id = :id"), {"id": token_id}).mappings().one()
    assert row["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(value) or secret[3:] in str(value) for value in row.values())
    assert secret.startswith(row["prefix"])


def test_revoked_or_expired_or_unknown_tokens_answer_401() -> None:
    add_user()
    token_id, secret = issue_token(OWNER, {Permission.USERS_READ})
    app = client()
    assert app.get("/api/v1/users", headers=_bearer(secret)).status_code == 200
    with transaction() as session:
        service.revoke_token(session, token_id, actor="test")
    assert app.get("/api/v1/users", headers=_bearer(secret)).status_code == 401
    with transaction() as session:
        owner = service.find_user(session, OWNER)
        _, expired = service.create_token(
            session,
            owner=owner,
            name="old",
            scopes={Permission.USERS_READ},
            expires_days=30,
            grantable=permissions_of(Role.OWNER),
            actor="test",
            now=utcnow() - timedelta(days=31),
        )
    assert app.get("/api/v1/users", headers=_bearer(expired)).status_code == 401
    assert app.get("/api/v1/users", headers=_bearer(secret[:-2] + "xx")).status_code == 401
    assert app.get("/api/v1/users", headers={"Authorization": f"Basic {secret}"}).status_code == 401


def test_token_scopes_are_enforced() -> None:
    add_user()
    _, reader = issue_token(OWNER, {Permission.USERS_READ})
    _, scraper = issue_token(OWNER, {Permission.METRICS_READ})
    app = client()
    assert app.get("/api/v1/tokens", headers=_bearer(reader)).status_code == 403
    assert app.get("/metrics", headers=_bearer(reader)).status_code == 403
    assert (
        app.post("/api/v1/users", json={"email": "x@example.com", "name": "X", "role": "dpo"}, headers=_bearer(reader)).status_code == 403
    )
    metrics = app.get("/metrics", headers=_bearer(scraper))
    assert metrics.status_code == 200 and "privacydesk_http_requests_total" in metrics.text


def test_a_token_never_exceeds_its_owner() -> None:
    add_user()
    manager = add_user("manager@example.com")
    _, secret = issue_token("manager@example.com", {Permission.USERS_READ, Permission.USERS_MANAGE})
    app = client()
    assert app.get("/api/v1/users", headers=_bearer(secret)).status_code == 200
    with transaction() as session:
        session.execute(update(User).where(User.id == manager).values(role=Role.ANALYST.value))
    assert app.get("/api/v1/users", headers=_bearer(secret)).status_code == 403
    with transaction() as session:
        service.disable_user(session, service.get_user(session, manager), actor="test")
    assert app.get("/api/v1/me", headers=_bearer(secret)).status_code == 401


def test_a_token_can_only_hand_out_its_own_scopes() -> None:
    add_user()
    _, secret = issue_token(OWNER, {Permission.TOKENS_MANAGE, Permission.USERS_READ})
    app = client()
    denied = app.post("/api/v1/tokens", json={"name": "wider", "scopes": ["users:manage"]}, headers=_bearer(secret))
    assert denied.status_code == 403
    created = app.post("/api/v1/tokens", json={"name": "narrower", "scopes": ["users:read"], "expires_days": 7}, headers=_bearer(secret))
    assert created.status_code == 201
    new = created.json()
    assert new["scopes"] == ["users:read"] and new["token"].startswith(new["prefix"])
    listed = app.get("/api/v1/tokens", headers=_bearer(secret)).json()
    assert {token["name"] for token in listed} == {"test", "narrower"}
    assert all("token" not in token for token in listed)
    assert app.post(f"/api/v1/tokens/{new['id']}/revoke", headers=_bearer(secret)).json()["revoked_at"] is not None
    assert app.get("/api/v1/users", headers=_bearer(new["token"])).status_code == 401


def test_last_use_is_written_at_most_once_a_minute() -> None:
    add_user()
    token_id, secret = issue_token(OWNER, {Permission.USERS_READ})
    start = utcnow()

    def use_at(moment: timedelta) -> object:
        with transaction() as session:
            assert service.token_principal(session, secret, now=start + moment) is not None
        with transaction() as session:
            return session.get_one(ApiToken, token_id).last_used_at

    assert use_at(timedelta(0)) == start
    assert use_at(timedelta(seconds=59)) == start
    assert use_at(timedelta(seconds=61)) == start + timedelta(seconds=61)


# ---------------------------------------------------------------- users API
def test_owner_creates_lists_and_disables_users_through_the_api() -> None:
    add_user()
    _, secret = issue_token(OWNER, {Permission.USERS_READ, Permission.USERS_MANAGE})
    app = client()
    created = app.post("/api/v1/users", json={"email": "Dana@Example.com", "name": "Dana", "role": "dpo"}, headers=_bearer(secret))
    assert created.status_code == 201
    dana = created.json()
    assert dana["email"] == "dana@example.com" and len(dana["generated_password"]) >= passwords.MIN_LENGTH
    assert "password_hash" not in dana
    duplicate = app.post("/api/v1/users", json={"email": "dana@example.com", "name": "D", "role": "dpo"}, headers=_bearer(secret))
    assert duplicate.status_code == 409

    browser = client()
    assert sign_in(browser, "dana@example.com", dana["generated_password"]).status_code == 303
    assert browser.get("/account").status_code == 200
    disabled = app.post(f"/api/v1/users/{dana['id']}/disable", headers=_bearer(secret))
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert browser.get("/account").status_code == 401
    assert sign_in(browser, "dana@example.com", dana["generated_password"]).status_code == 401
    assert [user["email"] for user in app.get("/api/v1/users", headers=_bearer(secret)).json()] == [OWNER, "dana@example.com"]
    assert app.post("/api/v1/users/999/disable", headers=_bearer(secret)).status_code == 404


# ---------------------------------------------------------------- audit
def test_audit_log_records_changes_without_secrets() -> None:
    add_user()
    app = client()
    _, secret = issue_token(OWNER, {Permission.TOKENS_MANAGE, Permission.USERS_MANAGE, Permission.USERS_READ})
    created = app.post(
        "/api/v1/users",
        json={"email": "eve@example.com", "name": "Eve", "role": "auditor", "password": "eve's secret passphrase"},
        headers=_bearer(secret),
    )
    second = app.post("/api/v1/tokens", json={"name": "ci", "scopes": ["users:read"]}, headers=_bearer(secret)).json()
    app.post(f"/api/v1/tokens/{second['id']}/revoke", headers=_bearer(secret))
    sign_in(client(), "eve@example.com", "a wrong passphrase guess")
    sign_in(client(), "eve@example.com", "eve's secret passphrase")
    app.post(f"/api/v1/users/{created.json()['id']}/disable", headers=_bearer(secret))

    with transaction() as session:
        log = "\n".join(audit.export(session))
    for secret_text in (
        PASSWORD,
        "eve's secret passphrase",
        "a wrong passphrase guess",
        secret,
        secret[3:],
        second["token"],
        second["token"][3:],
    ):
        assert secret_text not in log
    assert "eve@example.com" not in log
    actions = [entry.action for entry in audit_entries()]
    for action in ("user.created", "token.created", "token.revoked", "auth.login_failed", "auth.login_succeeded", "user.disabled"):
        assert action in actions
    with transaction() as session:
        assert audit.verify(session).ok


# ---------------------------------------------------------------- command line
def test_cli_manages_users_and_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("NEW_ADMIN_PASSWORD", PASSWORD)
    made = runner.invoke(
        cli, ["user", "create", "--email", OWNER, "--name", "Olga", "--role", "owner", "--password-env", "NEW_ADMIN_PASSWORD"]
    )
    assert made.exit_code == 0, made.output
    assert PASSWORD not in made.output

    generated = runner.invoke(
        cli, ["user", "create", "--email", "gen@example.com", "--name", "Gen", "--role", "auditor", "--generate-password"]
    )
    assert generated.exit_code == 0, generated.output
    password = generated.stdout.strip().rsplit(" ", 1)[-1]
    prompted = runner.invoke(
        cli,
        ["user", "create", "--email", "typed@example.com", "--name", "Typed", "--role", "dpo"],
        input="typed passphrase 1\ntyped passphrase 1\n",
    )
    assert prompted.exit_code == 0, prompted.output
    with transaction() as session:
        assert login.authenticate(session, "gen@example.com", password, "cli").outcome is login.Outcome.OK
        assert login.authenticate(session, "typed@example.com", "typed passphrase 1", "cli").outcome is login.Outcome.OK
    assert (
        runner.invoke(
            cli, ["user", "create", "--email", "x@example.com", "--name", "X", "--role", "dpo", "--password-env", "UNSET_VAR"]
        ).exit_code
        == 1
    )
    assert (
        "already exists"
        in runner.invoke(cli, ["user", "create", "--email", OWNER, "--name", "O", "--role", "owner", "--generate-password"]).output
    )

    issued = runner.invoke(
        cli, ["token", "create", "--name", "scraper", "--scope", "metrics:read", "--owner", OWNER, "--expires-days", "7"]
    )
    assert issued.exit_code == 0, issued.output
    secret = issued.stdout.strip()
    assert client().get("/metrics", headers=_bearer(secret)).status_code == 200
    too_wide = runner.invoke(cli, ["token", "create", "--name", "x", "--scope", "users:manage", "--owner", "gen@example.com"])
    assert too_wide.exit_code == 1 and "users:manage" in too_wide.output

    listed = runner.invoke(cli, ["token", "list"]).stdout
    assert "scraper" in listed and secret[:10] in listed and secret not in listed
    with transaction() as session:
        token_id = session.scalars(select(ApiToken.id)).one()
    assert runner.invoke(cli, ["token", "revoke", str(token_id)]).exit_code == 0
    assert "revoked" in runner.invoke(cli, ["token", "list"]).stdout
    assert client().get("/metrics", headers=_bearer(secret)).status_code == 401

    assert runner.invoke(cli, ["user", "disable", "GEN@example.com"]).exit_code == 0
    users = runner.invoke(cli, ["user", "list"]).stdout
    assert "gen@example.com" in users and "disabled" in users and password not in users
    assert audit_entries()[0].actor.startswith("cli:")
