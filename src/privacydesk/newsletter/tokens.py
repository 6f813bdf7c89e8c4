"""The signed links of newsletter mail: confirm a subscription (expiring, single-purpose), unsubscribe (lasting).

A token is `<subscription id>.<...>.<HMAC>`; the HMAC (keyed with the platform's secret key) covers
the id, the address's digest and the purpose, so a token names exactly one subscriber and purpose
and cannot be made or altered without the key. A confirmation token also covers its expiry and the
subscription's current nonce, so a newer request or an unsubscribe voids it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from privacydesk.auth import keys
from privacydesk.newsletter.models import NewsletterSubscription

CONFIRM_LIFETIME = timedelta(days=3)
_CONFIRM = "newsletter-confirm"
_UNSUBSCRIBE = "newsletter-unsubscribe"
MAX_TOKEN = 200


@dataclass(frozen=True)
class Parsed:
    """What a token claims before it is checked against its subscription."""

    subscription_id: int
    expires: int | None
    signature: str


def confirm_token(subscription: NewsletterSubscription, now: datetime) -> str:
    """The token of a confirmation link, valid for CONFIRM_LIFETIME from `now`."""
    expires = int((now + CONFIRM_LIFETIME).timestamp())
    return f"{subscription.id}.{expires}.{_confirm_signature(subscription, expires)}"


def unsubscribe_token(subscription: NewsletterSubscription) -> str:
    """The token of the unsubscribe link every issue carries; it never expires (old mails must keep working)."""
    return f"{subscription.id}.{_unsubscribe_signature(subscription)}"


def parse(token: str, *, expiring: bool) -> Parsed | None:
    """The parts of a well-formed token, or None; says nothing yet about its signature."""
    parts = token.split(".") if len(token) <= MAX_TOKEN else []
    if len(parts) != (3 if expiring else 2) or not all(part.isdigit() for part in parts[:-1]):
        return None
    return Parsed(int(parts[0]), int(parts[1]) if expiring else None, parts[-1])


def confirm_matches(subscription: NewsletterSubscription, parsed: Parsed) -> bool:
    """Whether a parsed confirmation token was made for this subscription's current request."""
    if parsed.expires is None or subscription.confirm_nonce is None:
        return False
    return hmac.compare_digest(parsed.signature.encode(), _confirm_signature(subscription, parsed.expires).encode())


def unsubscribe_matches(subscription: NewsletterSubscription, parsed: Parsed) -> bool:
    """Whether a parsed unsubscribe token was made for this subscription."""
    return hmac.compare_digest(parsed.signature.encode(), _unsubscribe_signature(subscription).encode())


def expired(parsed: Parsed, now: datetime) -> bool:
    """Whether a confirmation token's lifetime has ended at `now`."""
    return parsed.expires is None or datetime.fromtimestamp(parsed.expires, UTC) <= now


def _confirm_signature(subscription: NewsletterSubscription, expires: int) -> str:
    return keys.digest(
        _CONFIRM, f"{subscription.id}:{subscription.email_key}:{subscription.purpose}:{expires}:{subscription.confirm_nonce}"
    )


def _unsubscribe_signature(subscription: NewsletterSubscription) -> str:
    return keys.digest(_UNSUBSCRIBE, f"{subscription.id}:{subscription.email_key}:{subscription.purpose}")
