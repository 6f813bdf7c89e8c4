"""The webhook connector: a signed JSON POST asking the company's own service to carry out a request.

The service answers at once (200 with what it did, or the rows for an access request) or accepts the
work (202) and later POSTs the same answer, signed the same way, to the callback URL it was given;
`handle_callback` checks such an answer. Signature: `X-Privacydesk-Signature: t=<unix time>,v1=<hex>`,
the HMAC-SHA256 of `<t>.<body>` under the system's `secret` (see docs/connectors.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from privacydesk.connectors.base import (
    ConnectorContext,
    ConnectorError,
    Delegated,
    DelegatingConnector,
    Delegation,
    Reported,
    SchemaProblem,
    resolve_env,
)
from privacydesk.errors import Invalid, NotAuthenticated
from privacydesk.policy.models import System

SIGNATURE_HEADER = "X-Privacydesk-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# A signed message older (or newer) than this is refused, so a captured one cannot be replayed later.
TOLERANCE_SECONDS = 300
TIMEOUT_SECONDS = 30.0
MAX_ANSWER_BYTES = 50_000_000


class _CollectionAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] = []
    deleted: int = Field(0, ge=0)
    anonymised: int = Field(0, ge=0)
    held: int = Field(0, ge=0)
    rectified: int = Field(0, ge=0)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str | None = None
    status: Literal["done", "pending"] = "done"
    collections: dict[str, _CollectionAnswer] = {}
    message: str = ""


def sign(secret: bytes, body: bytes, *, timestamp: int | None = None) -> str:
    """The signature header value for `body`."""
    moment = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret, f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={moment},v1={mac}"


def verify(secret: bytes, body: bytes, header: str | None, *, now: datetime | None = None) -> bool:
    """Whether `header` signs `body` with `secret`, recently enough."""
    if not header:
        return False
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        moment = int(parts.get("t", ""))
    except ValueError:
        return False
    current = now.timestamp() if now is not None else time.time()
    if abs(current - moment) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret, f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def payload(order: Delegation) -> bytes:
    """The JSON body describing the request to the service."""
    document = {
        "reference": order.reference,
        "action": order.kind,
        "system": order.system,
        "collections": list(order.collections),
        "identities": {kind: list(values) for kind, values in order.identities.items()},
        "corrections": dict(order.corrections),
        "details": dict(order.details),
        "callback": order.callback,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def parse_answer(system: str, body: bytes) -> Delegated:
    """A service's answer (immediate or called back) as a Delegated result; Invalid if malformed."""
    try:
        answer = _Answer.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise Invalid(f"system {system!r} answered with malformed JSON at {where}: {first['msg']}") from None
    reported = {
        name: Reported(tuple(item.rows), item.deleted, item.anonymised, item.held, item.rectified)
        for name, item in answer.collections.items()
    }
    return Delegated(system, answer.status, reported, message=answer.message, reference=answer.reference)


def handle_callback(name: str, system: System, body: bytes, signature: str | None, *, now: datetime | None = None) -> Delegated:
    """Check and parse a service's later answer; NotAuthenticated when the signature does not match."""
    secret = resolve_env(system.secret, system=name, setting="secret").encode()
    if not verify(secret, body, signature, now=now):
        raise NotAuthenticated(f"the callback of system {name!r} is not signed with its secret, or the signature is too old")
    return parse_answer(name, body)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # The signature was made for this URL: a redirect elsewhere is a failure, not something to follow.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookConnector(DelegatingConnector):
    """The company's service at `url: env:NAME`, signing with `secret: env:NAME`."""

    def __init__(self, name: str, system: System, context: ConnectorContext) -> None:
        self.name = name
        self.system = system
        self._url = resolve_env(system.url, system=name, setting="url")
        self._secret = resolve_env(system.secret, system=name, setting="secret").encode()

    def discover(self) -> list[SchemaProblem]:
        """The URL must be HTTP(S); what the service holds is its own business."""
        if not self._url.startswith(("https://", "http://")):
            return [SchemaProblem(self.name, None, f"{self.system.url} must hold an http:// or https:// URL")]
        return []

    def delegate(self, order: Delegation) -> Delegated:
        """POST the signed request; 200 carries the answer, 202 means it will come to the callback."""
        body = payload(order)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self._secret, body), IDEMPOTENCY_HEADER: order.reference}
        request = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.build_opener(_NoRedirects).open(request, timeout=TIMEOUT_SECONDS) as response:
                status = response.status
                answer = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise ConnectorError(f"system {self.name!r}: the webhook answered HTTP {exc.code}") from None
        except OSError as exc:
            raise ConnectorError(f"system {self.name!r}: the webhook could not be reached ({getattr(exc, 'reason', exc)})") from None
        if status == 202:
            return Delegated(self.name, "pending", message="accepted; the answer will come to the callback", reference=order.reference)
        if len(answer) > MAX_ANSWER_BYTES:
            raise ConnectorError(f"system {self.name!r}: the webhook's answer is larger than {MAX_ANSWER_BYTES} bytes")
        return parse_answer(self.name, answer)
