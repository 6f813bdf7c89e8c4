"""CSRF tokens: an HMAC of the browser session (or, before login, of a random nonce cookie)."""

from __future__ import annotations

import hmac

from privacydesk.auth import keys
from privacydesk.auth.principal import Principal

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def token_for(binding: str) -> str:
    """The token a form bound to `binding` (a session hash or a login nonce) must carry."""
    return keys.digest("csrf", binding)


def session_token(principal: Principal) -> str | None:
    """The token for the forms (or the X-CSRF-Token header) of a page shown to a signed-in browser."""
    return token_for(principal.session_hash) if principal.session_hash else None


def matches(binding: str | None, submitted: str | None) -> bool:
    """Whether the submitted token belongs to `binding`, compared in constant time."""
    if not binding or not submitted:
        return False
    return hmac.compare_digest(submitted.encode(), token_for(binding).encode())
