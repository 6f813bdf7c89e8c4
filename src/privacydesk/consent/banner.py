"""The consent banner's script and stylesheet, served to every site that embeds the banner."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request, Response

STATIC = Path(__file__).parent / "static"
# With the current version in the query the content can never change under that URL; without it, browsers
# check back hourly so a new banner reaches sites that embed the bare URL within the hour.
VERSIONED_CACHE = "public, max-age=31536000, immutable"
UNVERSIONED_CACHE = "public, max-age=3600"

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Asset:
    """One file of the banner."""

    body: bytes
    media_type: str


@cache
def assets() -> dict[str, Asset]:
    """The banner's files by name, read once."""
    return {
        "banner.js": Asset((STATIC / "banner.js").read_bytes(), "text/javascript; charset=utf-8"),
        "banner.css": Asset((STATIC / "banner.css").read_bytes(), "text/css; charset=utf-8"),
    }


@cache
def version() -> str:
    """A digest of both files: the `v` query that lets browsers keep them for a year."""
    digest = hashlib.sha256()
    for asset in assets().values():
        digest.update(asset.body)
    return digest.hexdigest()[:16]


def _serve(name: str, request: Request) -> Response:
    asset = assets()[name]
    etag = f'"{version()}"'
    headers = {
        "Cache-Control": VERSIONED_CACHE if request.query_params.get("v") == version() else UNVERSIONED_CACHE,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        # Loaded by other sites' pages, including those that isolate themselves with Cross-Origin-Embedder-Policy.
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/consent/banner.js")
def banner_script(request: Request) -> Response:
    """The banner: one script a site embeds with a single script tag."""
    return _serve("banner.js", request)


@router.get("/consent/banner.css")
def banner_style(request: Request) -> Response:
    """The banner's stylesheet, loaded by the script into the banner's shadow root."""
    return _serve("banner.css", request)
