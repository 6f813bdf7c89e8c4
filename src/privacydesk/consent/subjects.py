"""Subject keys: how a person is named in consent calls, and how that name is stored."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

from privacydesk.auth import keys
from privacydesk.auth.service import normalize_email
from privacydesk.errors import Invalid

Kind = Literal["cid", "account", "email"]
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,199}")
# A random (version 4, RFC 4122 variant) UUID written out with hyphens: what uuid.UUID accepts here, without building one.
_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", re.IGNORECASE)
HINT = "write cid:<uuid4>, account:<id> or email:<address>"


@dataclass(frozen=True)
class SubjectKey:
    """A parsed subject key: `shown` as the caller may see it, `stored` as the tables hold it."""

    kind: Kind
    shown: str
    stored: str


def parse(raw: str) -> SubjectKey:
    """Parse and normalise a subject key; Invalid with the reason when it is malformed."""
    kind, colon, value = raw.strip().partition(":")
    if not colon or not value:
        raise Invalid(f"malformed subject {_quote(raw)}: {HINT}")
    if kind == "cid":
        if _UUID4.fullmatch(value):
            return SubjectKey("cid", f"cid:{value.lower()}", f"cid:{value.lower()}")
        try:
            parsed = uuid.UUID(value)
        except ValueError:
            raise Invalid(f"malformed subject {_quote(raw)}: a consent id is a UUID (cid:<uuid4>)") from None
        if parsed.version != 4 or str(parsed) != value.lower():
            raise Invalid(f"malformed subject {_quote(raw)}: a consent id is a random UUID, version 4, written with hyphens")
        return SubjectKey("cid", f"cid:{parsed}", f"cid:{parsed}")
    if kind == "account":
        if not _ACCOUNT.fullmatch(value):
            raise Invalid(f"malformed subject {_quote(raw)}: an account id is 1 to 200 letters, digits or ._:@+-")
        return SubjectKey("account", f"account:{value}", f"account:{value}")
    if kind == "email":
        try:
            address = normalize_email(value)
        except Invalid:
            raise Invalid(f"malformed subject {_quote(raw)}: not an email address") from None
        return SubjectKey("email", f"email:{address}", email_key(address))
    raise Invalid(f"malformed subject {_quote(raw)}: unknown kind {kind!r}; {HINT}")


def email_key(address: str) -> str:
    """The stored key of a (normalised) email: a keyed digest, so the consent tables never hold the address."""
    return f"email:{keys.digest('consent-email', address)}"


def _quote(raw: str) -> str:
    # Echo enough to recognise the input, never a whole pasted document.
    return repr(raw if len(raw) <= 80 else raw[:77] + "...")
