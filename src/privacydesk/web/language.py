"""The language of a page a person opens without an account setting: the browser's, if supported."""

from __future__ import annotations

from starlette.requests import Request

from privacydesk.i18n import LANGUAGES


def browser_language(request: Request) -> str:
    """The first supported language of the browser's Accept-Language, else English."""
    for item in request.headers.get("accept-language", "").split(","):
        code = item.split(";")[0].strip().lower().split("-")[0]
        if code in LANGUAGES:
            return code
    return "en"
