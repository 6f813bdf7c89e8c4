"""FastAPI dependencies: who is calling (`current_principal`) and may they (`require`), and protected routers."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request

from privacydesk.auth import csrf, login, service
from privacydesk.auth.permissions import Permission
from privacydesk.auth.principal import Principal
from privacydesk.errors import Forbidden, NotAuthenticated
from privacydesk.web.deps import DbSession

SESSION_COOKIE = "pd_session"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def submitted_csrf(request: Request) -> str | None:
    """The CSRF token an unsafe request carries, in the header or the form."""
    if request.method not in csrf.UNSAFE_METHODS:
        return None
    if header := request.headers.get(csrf.HEADER):
        return header
    if request.headers.get("content-type", "").startswith(_FORM_TYPES):
        # Starlette caches the parsed form, so the endpoint's own Form fields still read it.
        value = (await request.form()).get(csrf.FIELD)
        return value if isinstance(value, str) else None
    return None


def current_principal(request: Request, session: DbSession, submitted: Annotated[str | None, Depends(submitted_csrf)]) -> Principal:
    """The caller, from a Bearer token or the session cookie; unsafe requests with a cookie must carry the CSRF token."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, secret = authorization.partition(" ")
        principal = service.token_principal(session, secret.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise NotAuthenticated("the token is unknown, expired or revoked")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    principal = login.session_principal(session, cookie) if cookie else None
    if principal is None:
        _login_required(request)
    # Only cookies ride along on cross-site requests; tokens are never sent by a browser on its own.
    if request.method in csrf.UNSAFE_METHODS and not csrf.matches(principal.session_hash, submitted):
        raise Forbidden("the CSRF token is missing or does not match this session")
    return principal


@cache
def require(permission: Permission) -> Callable[[Principal], Principal]:
    """A dependency returning the caller if it holds `permission` (401 without credentials, 403 without the permission)."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.can(permission):
            raise Forbidden(f"this needs the {permission} permission")
        return principal

    dependency.__name__ = f"require_{permission.name.lower()}"
    return dependency


def protected_router(permission: Permission | None = None, **options: Any) -> APIRouter:
    """An APIRouter whose every route needs a signed-in caller, holding `permission` if given."""
    guard = require(permission) if permission is not None else current_principal
    return APIRouter(dependencies=[Depends(guard), *options.pop("dependencies", [])], **options)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _login_required(request: Request) -> NoReturn:
    # Browsers asking for a page go to the login form and come back; everyone else gets a 401.
    wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "") and not request.url.path.startswith("/api/")
    if wants_page:
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="")
        raise HTTPException(status_code=303, headers={"Location": f"/login?next={target}"})
    raise NotAuthenticated("sign in or send an API token (Authorization: Bearer pd_...)")
