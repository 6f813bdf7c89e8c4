"""The page a download link opens: a code to the person's verified address, then the ZIP.

Opening the link (GET) sends nothing; the person asks for the code (POST), enters it, and the
export is sent as the answer to that form. The signed token in the address is the authorisation,
so the forms carry no session or CSRF token: a forged form would need the token. Every opening,
code and download is audited; wrong codes count as they do for a request's verification.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import FileResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from privacydesk.consent.ratelimit import client_of, limit_public
from privacydesk.errors import Conflict, NotFound, TooManyAttempts
from privacydesk.fulfilment import exports, service
from privacydesk.i18n import gettext
from privacydesk.newsletter.pages import PAGE_HEADERS
from privacydesk.policy.labels import _
from privacydesk.requests import service as requests
from privacydesk.requests.models import SubjectRequest
from privacydesk.requests.verification import Outcome
from privacydesk.web.deps import DbSession
from privacydesk.web.language import browser_language

router = APIRouter(prefix="/public/exports", tags=["requests (public)"], dependencies=[Depends(limit_public)])
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
PREFIX = "/api/v1/public/exports"

_TEXTS = {
    "heading": _("Your copy of your data"),
    "ready": _("Your copy is ready. To make sure it is you, we send a code to your email address %(address)s before you download it."),
    "send": _("Send me a code"),
    "sent": _("We sent a code to %(address)s. Enter it to download your copy; it is valid for 10 minutes."),
    "label": _("Code"),
    "download": _("Download my copy"),
    "again": _("Send a new code"),
    "wrong": _("The code is wrong. Tries left: %(left)d."),
    "locked": _("Too many wrong codes. Ask for a new code."),
    "expired_code": _("The code has expired. Ask for a new code."),
    "missing": _("Ask for a code first."),
    "invalid_heading": _("This link is not valid"),
    "invalid": _("Check that you opened the whole link from the message."),
    "expired_heading": _("This link has expired"),
    "expired": _("The copy was deleted when its link expired. Make a new access request to get a new copy."),
    "no_email": _("We cannot send a code for this request: it has no verified email address. Contact us to receive your copy."),
    "too_many": _("Too many codes were asked for. Wait an hour before asking for another."),
}
_REFUSED = {Outcome.locked: ("locked", 429), Outcome.expired: ("expired_code", 422), Outcome.missing: ("missing", 409)}


@router.get("/{token}", include_in_schema=False)
def export_page(token: str, request: Request, session: DbSession) -> Response:
    """The page a download link opens: nothing is sent yet."""
    try:
        _, found = service.open_export(session, token)
    except (NotFound, exports.LinkExpired) as exc:
        return _link_error(request, exc)
    return _page(request, session, found, token, form="send", message=_text(found, "ready", address=_masked(found)))


@router.post("/{token}/code", include_in_schema=False)
def send_code(token: str, request: Request, session: DbSession) -> Response:
    """Send a new code to the person's verified address."""
    try:
        found = service.send_download_code(session, token, client=client_of(request))
    except (NotFound, exports.LinkExpired) as exc:
        return _link_error(request, exc)
    except Conflict:
        found = _request_of(session, token)
        return _page(request, session, found, token, form=None, message=_text(found, "no_email"), status_code=409)
    except TooManyAttempts:
        found = _request_of(session, token)
        return _page(request, session, found, token, form="code", message=_text(found, "too_many"), status_code=429)
    return _page(request, session, found, token, form="code", message=_text(found, "sent", address=_masked(found)))


@router.post("/{token}", include_in_schema=False, response_model=None)
def download(token: str, code: Annotated[str, Form(max_length=20)], request: Request, session: DbSession) -> Response:
    """The export, when the code is right; otherwise the form again with the reason (wrong tries count)."""
    try:
        export, check = service.download(session, token, code.strip())
    except (NotFound, exports.LinkExpired) as exc:
        return _link_error(request, exc)
    found = requests.get(session, export.request_id)
    if check.outcome is Outcome.verified:
        name = f"personal-data-{found.reference}.zip"
        return FileResponse(export.path, media_type="application/zip", filename=name, headers=PAGE_HEADERS)
    if check.outcome is Outcome.wrong:
        error, status = _text(found, "wrong", left=check.attempts_left), 422
    else:
        key, status = _REFUSED[check.outcome]
        error = _text(found, key)
    message = _text(found, "sent", address=_masked(found))
    return _page(request, session, found, token, form="code", message=message, error=error, status_code=status)


def _page(
    request: Request,
    session: Session,
    found: SubjectRequest,
    token: str,
    *,
    form: str | None,
    message: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    language = found.language
    context = {
        "language": language,
        "organization": requests.policy_for(session, found).organization.name,
        "heading": _text(found, "heading"),
        "message": message,
        "error": error,
        "form": form,
        "address": f"{PREFIX}/{token}",
        "button": _say(language, "send" if form == "send" else "download"),
        "label": _say(language, "label"),
        "again": _say(language, "again"),
    }
    return templates.TemplateResponse(request, "export_page.html", context, status_code=status_code, headers=PAGE_HEADERS)


def _link_error(request: Request, error: NotFound | exports.LinkExpired) -> Response:
    language = browser_language(request)
    name = "expired" if isinstance(error, exports.LinkExpired) else "invalid"
    context = {
        "language": language,
        "organization": "",
        "heading": _say(language, f"{name}_heading"),
        "message": _say(language, name),
        "error": None,
        "form": None,
        "address": "",
    }
    return templates.TemplateResponse(request, "export_page.html", context, status_code=error.status_code, headers=PAGE_HEADERS)


def _request_of(session: Session, token: str) -> SubjectRequest:
    return requests.get(session, exports.by_token(session, token).request_id)


def _say(language: str, key: str) -> str:
    return gettext(language, _TEXTS[key])


def _text(found: SubjectRequest, key: str, **values: object) -> str:
    text = _say(found.language, key)
    return text % values if values else text


def _masked(found: SubjectRequest) -> str:
    """The address a code goes to, shown only partly: the page is reached by a link that may be forwarded."""
    address = found.identity("email") or ""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
