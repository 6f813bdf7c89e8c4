"""The FastAPI application: routers of every domain, one error handler, health and metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text

from privacydesk import __version__
from privacydesk.auth import api as auth_api
from privacydesk.auth import pages as auth_pages
from privacydesk.auth.deps import require
from privacydesk.auth.guard import assert_protected
from privacydesk.auth.permissions import Permission
from privacydesk.db.engine import get_engine
from privacydesk.errors import PrivacydeskError
from privacydesk.versions import api as versions_api

REQUESTS = Counter("privacydesk_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("privacydesk_http_request_seconds", "HTTP request latency", ["method", "route"])

LifespanHook = Callable[[FastAPI], AsyncIterator[None]]


def create_app(*, lifespan_hooks: list[Callable[[], Any]] | None = None) -> FastAPI:
    """Build the application; `lifespan_hooks` are async context managers run while it serves."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        managers = [hook() for hook in lifespan_hooks or []]
        for manager in managers:
            await manager.__aenter__()
        try:
            yield
        finally:
            for manager in reversed(managers):
                await manager.__aexit__(None, None, None)

    app = FastAPI(title="privacydesk", version=__version__, lifespan=lifespan, docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.add_exception_handler(PrivacydeskError, _domain_error)  # type: ignore[arg-type]
    app.middleware("http")(_measure)
    app.include_router(health_router)
    for router in api_routers():
        app.include_router(router, prefix="/api/v1")
    for router in page_routers():
        app.include_router(router)
    assert_protected(app)
    return app


def api_routers() -> list[APIRouter]:
    """The JSON API of every domain, mounted under /api/v1."""
    return [auth_api.me_router, auth_api.users_router, auth_api.tokens_router, versions_api.router]


def page_routers() -> list[APIRouter]:
    """Server-rendered pages of every domain."""
    return [auth_pages.login_router, auth_pages.account_router]


async def _domain_error(request: Request, exc: PrivacydeskError) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message, **({"details": exc.details} if exc.details else {})}},
        status_code=exc.status_code,
    )


async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    name = getattr(route, "path", "unmatched")
    LATENCY.labels(request.method, name).observe(time.perf_counter() - started)
    REQUESTS.labels(request.method, name, str(response.status_code)).inc()
    return response


health_router = APIRouter(tags=["health"])


@health_router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@health_router.get("/readyz", include_in_schema=False)
def readyz() -> Response:
    """The service can reach its database and the schema is migrated."""
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1 FROM audit_entries LIMIT 1"))
    except Exception as exc:  # any failure means not ready; say why
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ready"})


@health_router.get("/metrics", include_in_schema=False, dependencies=[Depends(require(Permission.METRICS_READ))])
def metrics() -> Response:
    """Prometheus metrics."""
    return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)
