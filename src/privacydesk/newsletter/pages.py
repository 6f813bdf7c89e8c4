"""The small pages a newsletter link opens, in the subscriber's language (or the browser's, for a bad link)."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request, Response
from fastapi.templating import Jinja2Templates

from privacydesk.i18n import gettext
from privacydesk.policy.labels import _

# Never cached, never framed (no clickjacking of the buttons), and the token in the address is never sent on as a referrer.
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}

# Each page: its heading, its message ({newsletter} and {organization} filled in), and its button if it has one.
PAGES = {
    "confirm": (
        _("Confirm your subscription"),
        _("Confirm that you want to receive {newsletter} from {organization} by email."),
        _("Confirm my subscription"),
    ),
    "confirmed": (
        _("Subscription confirmed"),
        _("You will receive {newsletter} from {organization}. Every message has a link to unsubscribe at any time."),
        None,
    ),
    "already_confirmed": (_("Subscription confirmed"), _("Your subscription to {newsletter} was already confirmed."), None),
    "unsubscribe": (_("Unsubscribe"), _("Stop receiving {newsletter} from {organization}?"), _("Unsubscribe")),
    "unsubscribed": (
        _("You are unsubscribed"),
        _("You will no longer receive {newsletter} from {organization}. Your consent is recorded as withdrawn."),
        None,
    ),
    "invalid": (_("This link is not valid"), _("Check that you opened the whole link from the message."), None),
    "expired": (_("This link has expired"), _("Subscribe again to receive a new confirmation link."), None),
}
ONE_CLICK = {"List-Unsubscribe": "One-Click"}

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def page(request: Request, name: str, language: str, *, organization: str = "", newsletter: str = "", status_code: int = 200) -> Response:
    """Render page `name` in `language`; pages with a button post back to their own address."""
    heading, message, button = PAGES[name]
    context = {
        "language": language,
        "organization": organization,
        "heading": gettext(language, heading),
        "message": gettext(language, message).format(newsletter=newsletter, organization=organization),
        "button": gettext(language, button) if button else None,
        # The unsubscribe form sends what RFC 8058 mail clients send, so both take the same path.
        "fields": ONE_CLICK if name == "unsubscribe" else {},
    }
    return templates.TemplateResponse(request, "page.html", context, status_code=status_code, headers=PAGE_HEADERS)
