"""The FastAPI application: routers of every domain, one error handler, health and metrics."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from privacydesk import __version__
from privacydesk.auth import api as auth_api
from privacydesk.auth import pages as auth_pages
from privacydesk.auth.deps import require
from privacydesk.auth.guard import assert_protected
from privacydesk.auth.permissions import Permission
from privacydesk.config import get_settings
from privacydesk.consent import api as consent_api
from privacydesk.consent import banner as consent_banner
from privacydesk.consent import public as consent_public
from privacydesk.consent.cors import PublicConsentCors
from privacydesk.consent.decisionlane import FastFirstDecisions
from privacydesk.consent.hotpath import FastChecks
from privacydesk.db.engine import get_engine
from privacydesk.errors import PrivacydeskError
from privacydesk.fulfilment import api as fulfilment_api
from privacydesk.fulfilment import pages as fulfilment_pages
from privacydesk.newsletter import public as newsletter_public
from privacydesk.requests import api as requests_api
from privacydesk.requests import opendsr
from privacydesk.retention import api as retention_api
from privacydesk.retention import public as retention_public
from privacydesk.versions import api as versions_api
from privacydesk.web.collector import tune_for_serving

REQUESTS = Counter("privacydesk_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("privacydesk_http_request_seconds", "HTTP request latency", ["method", "route"])

LifespanHook = Callable[[FastAPI], AsyncIterator[None]]


def create_app(*, lifespan_hooks: Sequence[Callable[[], Any]] | None = None) -> FastAPI:
    """Build the application; `lifespan_hooks` are async context managers run while it serves."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tune_for_serving()
        managers = [hook() for hook in lifespan_hooks or []]
        for manager in managers:
            await manager.__aenter__()
        try:
            yield
        finally:
            for manager in reversed(managers):
                await manager.__aexit__(None, None, None)

    traced = get_settings().opentelemetry
    app = FastAPI(
        title="privacydesk",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        telemetry={"tracing": traced, "metrics": traced, "logs": traced},
    )
    app.add_exception_handler(PrivacydeskError, _domain_error)  # type: ignore[arg-type]
    # Outermost last: CORS, then metrics, then the consent checks' and first decisions' fast lanes, then the routes.
    app.add_middleware(FastFirstDecisions)
    app.add_middleware(FastChecks)
    app.add_middleware(RequestMetrics)
    app.add_middleware(PublicConsentCors)
    app.include_router(health_router)
    for router in api_routers():
        app.include_router(router, prefix="/api/v1")
    for router in page_routers():
        app.include_router(router)
    assert_protected(app)
    return app


def api_routers() -> list[APIRouter]:
    """The JSON API of every domain, mounted under /api/v1."""
    return [
        auth_api.me_router,
        auth_api.users_router,
        auth_api.tokens_router,
        versions_api.router,
        consent_api.router,
        consent_public.router,
        newsletter_public.router,
        requests_api.public_router,
        requests_api.router,
        fulfilment_api.executions_router,
        fulfilment_api.register_router,
        fulfilment_api.directives_router,
        fulfilment_api.tasks_router,
        fulfilment_api.callbacks_router,
        fulfilment_pages.router,
        retention_api.router,
        retention_public.router,
    ]


def page_routers() -> list[APIRouter]:
    """Routers mounted at the root: server-rendered pages of every domain, and protocol endpoints (OpenDSR)."""
    return [
        auth_pages.login_router,
        auth_pages.account_router,
        consent_banner.router,
        consent_public.well_known_router,
        opendsr.discovery_router,
        opendsr.router,
    ]


async def _domain_error(request: Request, exc: PrivacydeskError) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message, **({"details": exc.details} if exc.details else {})}},
        status_code=exc.status_code,
    )


class RequestMetrics:
    """Counts and times every HTTP request by method, route pattern and status; plain ASGI, so it costs no extra task."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            # Routing records the matched route in the scope it was given (this very dict).
            name = getattr(scope.get("route"), "path", "unmatched")
            latency, count = _series(scope["method"], name, status)
            latency.observe(time.perf_counter() - started)
            count.inc()


@functools.lru_cache(maxsize=1024)
def _series(method: str, route: str, status: int) -> tuple[Any, Any]:
    # Looking a labelled series up costs more than the observation itself: once per method, route and status.
    return LATENCY.labels(method, route), REQUESTS.labels(method, route, str(status))


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
