"""The list of public routes, and the startup check that every other route requires authentication."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from privacydesk.auth.deps import current_principal

PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/login",
        "/consent/banner.js",
        "/consent/banner.css",
        "/opendsr/v2/discovery",
        # A webhook system's answer: checked against the system's own secret (connectors.webhook.verify).
        "/api/v1/connectors/{system}/callback",
    }
)
# Whole subtrees meant for anyone: the data subjects' endpoints and well-known discovery files.
PUBLIC_PREFIXES = ("/api/v1/public", "/.well-known")


def is_public(app: FastAPI, path: str) -> bool:
    """Whether `path` (a route pattern) may be served without credentials."""
    docs = {app.docs_url, app.redoc_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url}
    if path in PUBLIC_PATHS or path in docs:
        return True
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PUBLIC_PREFIXES)


def unprotected_routes(app: FastAPI) -> list[str]:
    """Routes that are neither public nor guarded by `current_principal`, as 'METHODS path'."""
    found = []
    # Route contexts, not app.routes: included routers are only resolved into routes there.
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if is_public(app, path):
            continue
        if isinstance(route.original_route, APIRoute) and _depends_on(route.dependant):
            continue
        found.append(f"{','.join(sorted(route.methods or {'*'}))} {path}")
    return found


def assert_protected(app: FastAPI) -> None:
    """Refuse to build an app with a route anyone could call by mistake."""
    if found := unprotected_routes(app):
        raise RuntimeError(
            "routes reachable without authentication: "
            + "; ".join(found)
            + " (build their router with privacydesk.auth.deps.protected_router, or list them in privacydesk.auth.guard)"
        )


def _depends_on(dependant: Dependant) -> bool:
    return any(sub.call is current_principal or _depends_on(sub) for sub in dependant.dependencies)
