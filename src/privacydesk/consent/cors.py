"""Cross-origin access to the public consent API, for the sites listed in `consent_origins` and nothing else."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from privacydesk.config import get_settings

# The banner's endpoints, and the newsletter sign-up a site's form posts to.
PREFIXES = ("/api/v1/public/consent/", "/api/v1/public/newsletter/subscribe")


class PublicConsentCors:
    """CORS on the public consent routes only: the admin API stays same-origin whatever is configured."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._built: tuple[str, CORSMiddleware] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(PREFIXES):
            await self._cors()(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _cors(self) -> CORSMiddleware:
        # Rebuilt when the setting changes (settings are read once per process, but tests change them).
        configured = get_settings().consent_origins
        if self._built is None or self._built[0] != configured:
            origins = [origin.strip().rstrip("/") for origin in configured.split(",") if origin.strip()]
            middleware = CORSMiddleware(
                self.app, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["Content-Type"], max_age=600
            )
            self._built = (configured, middleware)
        return self._built[1]
