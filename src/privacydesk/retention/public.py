"""The keep link of an inactivity notice: GET shows a page with a button, POST keeps the account.

Opening the link changes nothing, so mail scanners that fetch every link keep no account on the
person's behalf. The signed token in the address is the authorisation: the form needs no session
or CSRF token, and a token names one notice and one row.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from privacydesk.consent.ratelimit import limit_public
from privacydesk.db.base import utcnow
from privacydesk.i18n import format_day, gettext
from privacydesk.newsletter.pages import PAGE_HEADERS
from privacydesk.policy.labels import _
from privacydesk.retention import notices
from privacydesk.retention.models import RetentionNotice
from privacydesk.versions import service as versions
from privacydesk.web.deps import DbSession
from privacydesk.web.language import browser_language

router = APIRouter(prefix="/public/retention", tags=["retention (public)"], dependencies=[Depends(limit_public)])
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

# Each page: its heading, its message ({organization} and {date} filled in), and its button if it has one.
PAGES = {
    "keep": (
        _("Keep your account"),
        _("Your {organization} account has not been used for a long time and is due to be deleted on {date}. Do you want to keep it?"),
        _("Keep my account"),
    ),
    "kept": (_("Your account is kept"), _("Your {organization} account will not be deleted: it counts as used today."), None),
    "invalid": (_("This link is not valid"), _("Check that you opened the whole link from the message."), None),
}


@router.get("/keep/{token}", include_in_schema=False)
def keep_page(token: str, request: Request, session: DbSession) -> Response:
    """The page a notice's keep link opens: a button, nothing kept yet."""
    try:
        notice, _key = notices.read_token(session, token)
    except notices.LinkInvalid:
        return _page(request, session, "invalid", browser_language(request), status_code=404)
    return _page(request, session, "kept" if notice.kept_at else "keep", notice.language, notice)


@router.post("/keep/{token}", include_in_schema=False)
def keep(token: str, request: Request, session: DbSession) -> Response:
    """Keep the account: the click counts as activity, and the application's activity column is updated."""
    try:
        notice, _changed = notices.keep(session, token, utcnow())
    except notices.LinkInvalid:
        return _page(request, session, "invalid", browser_language(request), status_code=404)
    return _page(request, session, "kept", notice.language, notice)


def _page(
    request: Request, session: Session, name: str, language: str, notice: RetentionNotice | None = None, *, status_code: int = 200
) -> Response:
    heading, message, button = PAGES[name]
    latest = versions.latest(session)
    organization = versions.policy_of(latest).organization.name if latest is not None else ""
    date = format_day(notice.delete_not_before.date(), language) if notice is not None else ""
    context = {
        "language": language,
        "organization": organization,
        "heading": gettext(language, heading),
        "message": gettext(language, message).format(organization=organization, date=date),
        "button": gettext(language, button) if button else None,
    }
    return templates.TemplateResponse(request, "page.html", context, status_code=status_code, headers=PAGE_HEADERS)
