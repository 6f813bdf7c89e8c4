"""The public newsletter endpoints: subscribe (JSON), and the confirm and unsubscribe links mail carries (pages).

Opening a link (GET) only shows a page with a button; the change happens on POST, so mail scanners
that fetch every link confirm and unsubscribe nothing. The signed token in the address is the
authorisation, so the forms need no session or CSRF token; RFC 8058 clients POST
`List-Unsubscribe=One-Click` to the unsubscribe address directly.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from privacydesk.consent.public import request_context
from privacydesk.consent.ratelimit import client_of, limit_public
from privacydesk.errors import Invalid
from privacydesk.newsletter import service
from privacydesk.newsletter.pages import ONE_CLICK, page
from privacydesk.newsletter.schemas import SubscribeIn, SubscribeOut
from privacydesk.web.deps import DbSession
from privacydesk.web.language import browser_language

router = APIRouter(prefix="/public/newsletter", tags=["newsletter (public)"], dependencies=[Depends(limit_public)])
ACCEPTED = "If the address can receive mail, a confirmation link is on its way; the subscription starts once it is used."
_LINK_ERRORS = (service.LinkInvalid, service.LinkExpired)


@router.post("/subscribe", status_code=202)
def subscribe(body: SubscribeIn, request: Request, session: DbSession) -> SubscribeOut:
    """Subscribe an address to an email purpose with double opt-in: a confirmation link is mailed."""
    service.subscribe(session, body.email, body.purpose, body.language, client=client_of(request))
    return SubscribeOut(message=ACCEPTED)


@router.get("/confirm/{token}", include_in_schema=False)
def confirm_page(token: str, request: Request, session: DbSession) -> Response:
    """The page a confirmation link opens: a button, nothing confirmed yet."""
    try:
        subscription = service.for_confirmation(session, token)
    except _LINK_ERRORS as exc:
        return _link_error(request, exc)
    organization, newsletter = service.names(session, subscription)
    name = "already_confirmed" if subscription.status == "confirmed" else "confirm"
    return page(request, name, subscription.language, organization=organization, newsletter=newsletter)


@router.post("/confirm/{token}", include_in_schema=False)
def confirm(token: str, request: Request, session: DbSession) -> Response:
    """Confirm the subscription: the consent is recorded as given."""
    try:
        outcome = service.confirm(session, token, context=request_context(request))
    except _LINK_ERRORS as exc:
        return _link_error(request, exc)
    organization, newsletter = service.names(session, outcome.subscription)
    name = "confirmed" if outcome.changed else "already_confirmed"
    return page(request, name, outcome.subscription.language, organization=organization, newsletter=newsletter)


@router.get("/unsubscribe/{token}", include_in_schema=False)
def unsubscribe_page(token: str, request: Request, session: DbSession) -> Response:
    """The page an unsubscribe link opens: a button, nothing changed yet."""
    try:
        subscription = service.for_unsubscribe(session, token)
    except service.LinkInvalid as exc:
        return _link_error(request, exc)
    organization, newsletter = service.names(session, subscription)
    return page(request, "unsubscribe", subscription.language, organization=organization, newsletter=newsletter)


@router.post("/unsubscribe/{token}")
def unsubscribe(
    token: str, request: Request, session: DbSession, one_click: Annotated[str, Form(alias="List-Unsubscribe", max_length=20)]
) -> Response:
    """One-click unsubscribe (RFC 8058): the form body is `List-Unsubscribe=One-Click`; no login, no cookie."""
    if one_click != ONE_CLICK["List-Unsubscribe"]:
        raise Invalid("an unsubscribe is confirmed by the form field List-Unsubscribe=One-Click (RFC 8058)")
    try:
        outcome = service.unsubscribe(session, token, context=request_context(request))
    except service.LinkInvalid as exc:
        return _link_error(request, exc)
    organization, newsletter = service.names(session, outcome.subscription)
    return page(request, "unsubscribed", outcome.subscription.language, organization=organization, newsletter=newsletter)


def _link_error(request: Request, error: service.LinkInvalid | service.LinkExpired) -> Response:
    name = "expired" if isinstance(error, service.LinkExpired) else "invalid"
    return page(request, name, browser_language(request), status_code=error.status_code)
