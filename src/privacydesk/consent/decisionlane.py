"""The fast lane of POST /api/v1/public/consent/decisions: a new consent id's first decision without the framework.

Most banner decisions are a visitor's first, stored in one statement (firstwrite.py). This ASGI
middleware takes such a request before routing: it reads the JSON body, counts the client
against the same per-address limit, validates the body with the route's own model and stores
the decision through the same first-write statement, then answers as the route does. Anything
else (another content type, a body the model refuses, a client over its limit, a key already
known, a version not the latest, no pool) goes on to the regular route with the body replayed,
and the route gives every answer and every error.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from privacydesk.consent import firstwrite
from privacydesk.consent.checkcache import CheckCache
from privacydesk.consent.hotpath import CACHE_STATE, POOL_STATE, ServedRoute, answer_json
from privacydesk.consent.public import DATA_SUBJECT, banner_decision, decision_out
from privacydesk.consent.ratelimit import limit_public
from privacydesk.consent.schemas import PublicDecisionIn
from privacydesk.errors import PrivacydeskError

PATH = "/api/v1/public/consent/decisions"
# A banner's decision is a few hundred bytes; anything much larger is left to the regular route.
MAX_BODY = 64 * 1024
_ROUTE = ServedRoute(PATH)


class FastFirstDecisions:
    """ASGI middleware: stores ordinary first decisions itself, hands everything else to the application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        messages, body = await _read(receive)
        answer = await _answer(scope, body) if body is not None else None
        if answer is not None:
            await answer_json(scope, send, _ROUTE, 201, answer)
            return
        await self.app(scope, _replay(messages, receive), send)


async def _answer(scope: Scope, body: bytes) -> bytes | None:
    """The route's answer to an ordinary first decision, once stored; None to let the regular route handle it."""
    state = scope.get("state", {})
    pool, cache = state.get(POOL_STATE), state.get(CACHE_STATE)
    if pool is None:
        return None
    request = Request(scope)
    try:
        await limit_public(request)
        decision = banner_decision(PublicDecisionIn.model_validate_json(body), request)
    except (ValidationError, PrivacydeskError):
        return None
    recorded = await firstwrite.record_first(pool, decision, actor=DATA_SUBJECT, require_notice=True)
    if recorded is None or recorded.record_id is None:
        return None
    if isinstance(cache, CheckCache):
        cache.forget([decision.subject.stored])
    return decision_out(recorded).model_dump_json().encode()


def _is_json(scope: Scope) -> bool:
    content_type = next((value for name, value in scope["headers"] if name == b"content-type"), b"")
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"


async def _read(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's messages as received, and its body (None when too large or cut short)."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > MAX_BODY:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(part.get("body", b"") for part in messages)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives the messages already read, then the rest of the request."""
    pending = list(messages)

    async def replayed() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
