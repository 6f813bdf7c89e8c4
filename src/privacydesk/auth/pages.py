"""Sign-in pages: the login form, logout and the signed-in account."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates

from privacydesk.auth import csrf, login
from privacydesk.auth.deps import SESSION_COOKIE, CurrentPrincipal, protected_router
from privacydesk.auth.passwords import MAX_LENGTH
from privacydesk.config import get_settings
from privacydesk.i18n import gettext, ngettext
from privacydesk.web.deps import DbSession
from privacydesk.web.language import browser_language

HOME = "/account"
LOGIN_COOKIE = "pd_login"  # the nonce the login form's CSRF token is bound to, before there is a session
# Sign-in pages are never cached and never framed (no clickjacking of the password form).
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
login_router = APIRouter(include_in_schema=False)
account_router = protected_router(include_in_schema=False)


@login_router.get("/login")
def login_form(request: Request, next_url: Annotated[str, Query(alias="next")] = HOME) -> Response:
    """The sign-in form."""
    return _login_page(request, next_url, error=None, status_code=200)


@login_router.post("/login")
def login_submit(
    request: Request,
    session: DbSession,
    *,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=MAX_LENGTH)],
    csrf_token: Annotated[str, Form()] = "",
    next_url: Annotated[str, Form(alias="next")] = HOME,
) -> Response:
    """Check the credentials; on success open a session and go on to `next`."""
    nonce = request.cookies.get(LOGIN_COOKIE)
    lang = browser_language(request)
    if not csrf.matches(f"login:{nonce}" if nonce else None, csrf_token):
        return _login_page(request, next_url, error=gettext(lang, "This form has expired. Please sign in again."), status_code=403)
    client = request.client.host if request.client else "unknown"
    result = login.authenticate(session, email, password, client)
    if result.outcome is login.Outcome.LOCKED:
        minutes = get_settings().login_lockout_minutes
        error = ngettext(
            lang,
            "Too many failed attempts. Try again in {minutes} minute.",
            "Too many failed attempts. Try again in {minutes} minutes.",
            minutes,
        )
        return _login_page(request, next_url, error=error.format(minutes=minutes), status_code=429)
    if result.user is None:
        return _login_page(request, next_url, error=gettext(lang, "Wrong email or password."), status_code=401)
    response = RedirectResponse(_safe_next(next_url), status_code=303, headers=PAGE_HEADERS)
    _set_cookie(response, SESSION_COOKIE, login.start_session(session, result.user), max_age=get_settings().session_hours * 3600)
    response.delete_cookie(LOGIN_COOKIE)
    return response


@account_router.post("/logout")
def logout(session: DbSession, principal: CurrentPrincipal) -> Response:
    """End the browser session."""
    login.end_session(session, principal)
    response = RedirectResponse("/login", status_code=303, headers=PAGE_HEADERS)
    response.delete_cookie(SESSION_COOKIE)
    return response


@account_router.get("/account")
def account(request: Request, principal: CurrentPrincipal) -> Response:
    """Who is signed in, with which role and permissions."""
    context = {
        **_texts(browser_language(request)),
        "principal": principal,
        "permissions": sorted(principal.permissions),
        "csrf_token": csrf.session_token(principal),
    }
    return templates.TemplateResponse(request, "account.html", context, headers=PAGE_HEADERS)


def _login_page(request: Request, next_url: str, *, error: str | None, status_code: int) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    context = {
        **_texts(browser_language(request)),
        "csrf_token": csrf.token_for(f"login:{nonce}"),
        "next": _safe_next(next_url),
        "error": error,
    }
    response = templates.TemplateResponse(request, "login.html", context, status_code=status_code, headers=PAGE_HEADERS)
    _set_cookie(response, LOGIN_COOKIE, nonce, max_age=None)
    return response


def _texts(lang: str) -> dict[str, str]:
    """The pages' words in the browser's language (the page's `lang` attribute included)."""
    return {
        "lang": lang,
        "sign_in_title": gettext(lang, "Sign in · privacydesk"),
        "sign_in_heading": gettext(lang, "Sign in to privacydesk"),
        "email_label": gettext(lang, "Email"),
        "password_label": gettext(lang, "Password"),
        "sign_in": gettext(lang, "Sign in"),
        "account_title": gettext(lang, "Account · privacydesk"),
        "role_label": gettext(lang, "Role"),
        "permissions_label": gettext(lang, "Permissions"),
        "sign_out": gettext(lang, "Sign out"),
    }


def _safe_next(target: str) -> str:
    # Only paths on this site: `next` must never send a freshly signed-in user elsewhere.
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME
    return target


def _set_cookie(response: Response, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, secure=get_settings().cookie_secure, httponly=True, samesite="lax")
