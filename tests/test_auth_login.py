"""Browser sign-in: sessions, CSRF, lockouts per account and per client, and the signing key."""

from __future__ import annotations

import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from privacydesk.auth import keys, login, service
from privacydesk.auth.deps import SESSION_COOKIE
from privacydesk.auth.login import Outcome
from privacydesk.auth.models import LoginThrottle, User
from privacydesk.auth.permissions import Role
from privacydesk.config import get_settings
from privacydesk.db.base import utcnow
from privacydesk.db.engine import transaction
from tests.auth_support import OWNER, PASSWORD, add_user, audit_entries, client, configure, form_token, sign_in

pytestmark = pytest.mark.postgres

MAX_FAILURES = 3
LOCKOUT_MINUTES = 15


@pytest.fixture(autouse=True)
def settings(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    configure(monkeypatch, tmp_path, login_max_failures=str(MAX_FAILURES), login_lockout_minutes=str(LOCKOUT_MINUTES))


def _attempt(email: str, password: str, *, at: datetime, client: str = "192.0.2.10") -> Outcome:
    with transaction() as session:
        return login.authenticate(session, email, password, client, now=at).outcome


# ---------------------------------------------------------------- sign in and out
def test_login_opens_a_secure_session() -> None:
    user_id = add_user()
    browser = client()
    answer = sign_in(browser)
    assert answer.status_code == 303 and answer.headers["location"] == "/account"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    for attribute in ("HttpOnly", "Secure", "SameSite=lax", f"Max-Age={get_settings().session_hours * 3600}"):
        assert attribute in cookie
    page = browser.get("/account")
    assert page.status_code == 200 and "Owner Tester" in page.text
    with transaction() as session:
        assert session.get_one(User, user_id).last_login_at is not None
    assert audit_entries()[-1].action == "auth.login_succeeded"


def test_session_cookie_is_not_secure_when_configured_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVACYDESK_COOKIE_SECURE", "false")
    get_settings.cache_clear()
    add_user()
    cookie = next(c for c in sign_in(client()).headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    assert "Secure" not in cookie and "HttpOnly" in cookie


def test_wrong_password_and_unknown_email_get_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    add_user()
    burned: list[str] = []
    original = login.burn_time

    def spy(password: str) -> None:
        burned.append(password)
        original(password)

    monkeypatch.setattr(login, "burn_time", spy)
    wrong = sign_in(client(), OWNER, "not the password at all")
    unknown = sign_in(client(), "nobody@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email or password." in wrong.text and "Wrong email or password." in unknown.text
    assert SESSION_COOKIE not in wrong.cookies and SESSION_COOKIE not in unknown.cookies
    assert burned == ["not the password at all"]  # the unknown email was hashed too
    reasons = [entry.summary["reason"] for entry in audit_entries() if entry.action == "auth.login_failed"]
    assert reasons == ["wrong_password", "unknown_account"]


def test_logout_ends_the_session_for_good() -> None:
    add_user()
    browser = client()
    sign_in(browser)
    stolen = browser.cookies[SESSION_COOKIE]
    answer = browser.post("/logout", data={"csrf_token": form_token(browser, "/account")}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert browser.get("/account").status_code == 401
    replay = client()
    replay.cookies.set(SESSION_COOKIE, stolen)
    assert replay.get("/account").status_code == 401
    assert audit_entries()[-1].action == "auth.logout"


def test_forged_or_expired_sessions_are_refused() -> None:
    add_user()
    browser = client()
    sign_in(browser)
    cookie = browser.cookies[SESSION_COOKIE]
    token, _, signature = cookie.rpartition(".")
    forged = client()
    forged.cookies.set(SESSION_COOKIE, f"{token}x.{signature}")
    assert forged.get("/account").status_code == 401
    with transaction() as session:
        assert login.session_principal(session, cookie) is not None
        later = utcnow() + timedelta(hours=get_settings().session_hours, seconds=1)
        assert login.session_principal(session, cookie, now=later) is None


def test_browsers_are_sent_to_the_login_form_and_back() -> None:
    add_user()
    browser = client()
    answer = browser.get("/account?tab=1", headers={"Accept": "text/html"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Faccount%3Ftab%3D1"
    assert sign_in(browser, next="/account?tab=1").headers["location"] == "/account?tab=1"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"])
def test_login_never_redirects_off_site(target: str) -> None:
    add_user()
    assert sign_in(client(), next=target).headers["location"] == "/account"


# ---------------------------------------------------------------- CSRF
def test_login_form_needs_its_csrf_token() -> None:
    add_user()
    browser = client()
    form_token(browser)
    missing = browser.post("/login", data={"email": OWNER, "password": PASSWORD}, follow_redirects=False)
    wrong = browser.post("/login", data={"email": OWNER, "password": PASSWORD, "csrf_token": "0" * 64}, follow_redirects=False)
    other_browser_token = form_token(client())
    foreign = browser.post("/login", data={"email": OWNER, "password": PASSWORD, "csrf_token": other_browser_token}, follow_redirects=False)
    assert missing.status_code == wrong.status_code == foreign.status_code == 403
    assert SESSION_COOKIE not in browser.cookies
    assert not [entry for entry in audit_entries() if entry.action.startswith("auth.login")]


def test_signed_in_posts_need_the_session_csrf_token() -> None:
    add_user()
    browser = client()
    sign_in(browser)
    login_page_token = form_token(client())
    for data in ({}, {"csrf_token": "0" * 64}, {"csrf_token": login_page_token}):
        assert browser.post("/logout", data=data, follow_redirects=False).status_code == 403
    assert browser.get("/account").status_code == 200  # still signed in
    body = {"email": "new@example.com", "name": "New", "role": "dpo"}
    assert browser.post("/api/v1/users", json=body).status_code == 403
    created = browser.post("/api/v1/users", json=body, headers={"X-CSRF-Token": form_token(browser, "/account")})
    assert created.status_code == 201


def test_sign_in_pages_speak_the_browsers_language() -> None:
    add_user()
    signed_in = client()
    sign_in(signed_in)
    account = signed_in.get("/account", headers={"Accept-Language": "ro"})
    assert "Deconectați-vă" in account.text and "Permisiuni" in account.text
    browser = client()
    polish = {"Accept-Language": "pl-PL,pl;q=0.9,en;q=0.5"}
    page = browser.get("/login", headers=polish)
    assert '<html lang="pl">' in page.text and "Zaloguj się do privacydesk" in page.text and "Hasło" in page.text
    assert "Sign in" not in page.text
    data = {"email": OWNER, "password": "not the password at all", "csrf_token": form_token(browser)}
    wrong = browser.post("/login", data=data, headers={"Accept-Language": "cs"}, follow_redirects=False)
    assert wrong.status_code == 401 and "Nesprávný e-mail nebo heslo." in wrong.text
    for _ in range(MAX_FAILURES):
        locked = browser.post("/login", data={**data, "csrf_token": form_token(browser)}, headers={"Accept-Language": "fr"})
    assert locked.status_code == 429
    assert f"Trop de tentatives échouées. Réessayez dans {LOCKOUT_MINUTES} minutes." in locked.text
    # A language privacydesk does not speak, or none: English.
    assert '<html lang="en">' in browser.get("/login", headers={"Accept-Language": "de-DE"}).text


# ---------------------------------------------------------------- lockouts
def test_account_locks_after_too_many_failures_and_unlocks_after_the_lockout() -> None:
    add_user()
    start = utcnow()
    for minute in range(MAX_FAILURES - 1):
        assert _attempt(OWNER, "wrong password!", at=start + timedelta(minutes=minute)) is Outcome.INVALID
    assert _attempt(OWNER, "wrong password!", at=start + timedelta(minutes=MAX_FAILURES)) is Outcome.LOCKED
    locked_at = start + timedelta(minutes=MAX_FAILURES)
    # Locked: even the right password is refused, from any client.
    assert _attempt(OWNER, PASSWORD, at=locked_at + timedelta(minutes=1), client="198.51.100.7") is Outcome.LOCKED
    assert _attempt(OWNER, PASSWORD, at=locked_at + timedelta(minutes=LOCKOUT_MINUTES - 1), client="198.51.100.7") is Outcome.LOCKED
    assert _attempt(OWNER, PASSWORD, at=locked_at + timedelta(minutes=LOCKOUT_MINUTES, seconds=1), client="198.51.100.7") is Outcome.OK
    lockouts = [entry for entry in audit_entries() if entry.action == "auth.locked_out"]
    # The same client made every failure, so it is locked out as well as the account.
    assert [entry.summary["scope"] for entry in lockouts] == ["client", "account"]
    assert all(entry.object_id is not None and "198.51" not in str(entry.summary) for entry in lockouts)


def test_lockout_answers_429_over_http() -> None:
    add_user()
    browser = client()
    answers = [sign_in(browser, OWNER, f"wrong password {n}").status_code for n in range(MAX_FAILURES)]
    assert answers == [401] * (MAX_FAILURES - 1) + [429]
    right = sign_in(browser)
    assert right.status_code == 429 and "Too many failed attempts" in right.text
    assert SESSION_COOKIE not in browser.cookies


def test_failures_far_apart_are_forgotten_and_success_resets_the_count() -> None:
    add_user()
    start = utcnow()
    clients = (f"203.0.113.{n}" for n in range(100))  # one per attempt: only the account's count matters here

    def attempt(password: str, minutes: int) -> Outcome:
        return _attempt(OWNER, password, at=start + timedelta(minutes=minutes), client=next(clients))

    assert [attempt("wrong password!", minute) for minute in (0, 1)] == [Outcome.INVALID] * 2
    later = LOCKOUT_MINUTES + 2
    assert [attempt("wrong password!", minute) for minute in (later, later + 1)] == [Outcome.INVALID] * 2
    assert attempt(PASSWORD, later + 2) is Outcome.OK
    assert [attempt("wrong password!", minute) for minute in (later + 3, later + 4)] == [Outcome.INVALID] * 2
    assert attempt("wrong password!", later + 5) is Outcome.LOCKED


def test_a_client_guessing_across_accounts_is_locked_out() -> None:
    add_user()
    start = utcnow()
    for n in range(MAX_FAILURES - 1):
        assert _attempt(f"guess{n}@example.com", "some password", at=start) is Outcome.INVALID
    assert _attempt("guess-last@example.com", "some password", at=start) is Outcome.LOCKED
    assert _attempt(OWNER, PASSWORD, at=start + timedelta(minutes=1)) is Outcome.LOCKED
    assert _attempt(OWNER, PASSWORD, at=start + timedelta(minutes=1), client="198.51.100.7") is Outcome.OK
    assert _attempt(OWNER, PASSWORD, at=start + timedelta(minutes=LOCKOUT_MINUTES, seconds=1)) is Outcome.OK


def test_unknown_emails_lock_like_known_ones_and_raw_values_are_not_stored() -> None:
    start = utcnow()
    for n in range(MAX_FAILURES - 1):
        assert _attempt("ghost@example.com", "some password", at=start, client=f"203.0.113.{n}") is Outcome.INVALID
    assert _attempt("ghost@example.com", "some password", at=start, client="203.0.113.99") is Outcome.LOCKED
    assert _attempt("ghost@example.com", "some password", at=start, client="203.0.113.100") is Outcome.LOCKED
    with transaction() as session:
        keys_stored = list(session.scalars(select(LoginThrottle.key)))
    assert keys_stored and not any("ghost" in key or "203.0.113" in key for key in keys_stored)


def test_stale_throttle_rows_are_deleted() -> None:
    start = utcnow()
    _attempt("ghost@example.com", "some password", at=start)
    _attempt("other@example.com", "some password", at=start + timedelta(minutes=LOCKOUT_MINUTES + 1), client="198.51.100.7")
    with transaction() as session:
        # Left: the second attempt's client and email rows; the first attempt's rows were forgotten.
        assert session.scalar(select(func.count()).select_from(LoginThrottle)) == 2


def test_disabled_users_cannot_sign_in() -> None:
    add_user()
    add_user("dana@example.com", Role.DPO)
    with transaction() as session:
        service.disable_user(session, service.find_user(session, "dana@example.com"), actor="test")
    assert _attempt("dana@example.com", PASSWORD, at=utcnow()) is Outcome.INVALID
    assert audit_entries()[-1].summary == {"reason": "disabled"}


# ---------------------------------------------------------------- signing key
def test_signing_key_is_generated_once_with_owner_only_permissions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PRIVACYDESK_SECRET_KEY")
    monkeypatch.setenv("PRIVACYDESK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    first = keys.signing_key()
    path = tmp_path / "data" / keys.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and path.read_bytes().strip() == first
    assert keys.signing_key() == first
    assert [p.name for p in path.parent.iterdir()] == [keys.KEY_FILE]
    signed = keys.sign("session", "value")
    assert keys.unsign("session", signed) == "value"
    assert keys.unsign("csrf", signed) is None
    assert keys.unsign("session", signed[:-1] + "é") is None
