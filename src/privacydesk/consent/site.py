"""A folder of static pages served next to privacydesk, to try the banner on a site (`privacydesk serve --site`)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, FastAPI, Response

from privacydesk.errors import Invalid, NotFound

# The origin the embed snippet in the documentation uses; pages written with it get this server's address instead.
PLACEHOLDER_ORIGIN = "https://privacy.example.com"
PREFIX = "/site"


def mount_site(app: FastAPI, directory: Path, *, privacy_origin: str) -> None:
    """Serve the files under `directory` at /site/, their banner script tags pointed at `privacy_origin`."""
    root = directory.resolve()
    if not (root / "index.html").is_file():
        raise Invalid(f"{directory} has no index.html to serve")
    router = APIRouter(include_in_schema=False)

    # Added after the app checked its routes: these pages are public on purpose, as a company's own site is.
    @router.get(PREFIX + "/{path:path}")
    def site_file(path: str) -> Response:
        target = (root / path).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(root) or not target.is_file():
            raise NotFound(f"no page {PREFIX}/{path}")
        media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        body = target.read_bytes()
        if target.suffix == ".html":
            body = body.replace(PLACEHOLDER_ORIGIN.encode(), privacy_origin.rstrip("/").encode())
        return Response(body, media_type=media_type, headers={"Cache-Control": "no-cache"})

    app.include_router(router)
