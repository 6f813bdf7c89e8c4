"""Identities a request names: checked against the policy, normalised, and hashed with the platform key."""

from __future__ import annotations

import re
from collections.abc import Iterable

from privacydesk.auth import keys
from privacydesk.auth.service import normalize_email
from privacydesk.errors import Invalid

MAX_IDENTITIES = 10
MAX_VALUE_LENGTH = 320
_PHONE_SEPARATORS = re.compile(r"[\s\-./()]")
_PHONE = re.compile(r"\+?[0-9]{6,15}")


def normalize(kind: str, value: str) -> str:
    """The identity as stored and compared: emails lowercased, phone numbers as digits with an optional leading +."""
    if kind == "email":
        try:
            return normalize_email(value)
        except Invalid:
            raise Invalid(f"{value!r} is not an email address") from None
    if kind == "phone":
        compact = _PHONE_SEPARATORS.sub("", value)
        if compact.startswith("00"):
            compact = "+" + compact[2:]
        if not _PHONE.fullmatch(compact):
            raise Invalid(f"{value!r} is not a phone number; write it with its country code, like +48 600 100 200")
        return compact
    cleaned = value.strip()
    if not cleaned:
        raise Invalid(f"the {kind} is empty")
    if len(cleaned) > MAX_VALUE_LENGTH or any(ord(character) < 32 for character in cleaned):
        raise Invalid(f"the {kind} is longer than {MAX_VALUE_LENGTH} characters or holds control characters")
    return cleaned


def parse(pairs: Iterable[tuple[str, str]], accepted: Iterable[str]) -> list[tuple[str, str]]:
    """Normalised, de-duplicated (type, value) pairs; Invalid for a type the policy does not accept or a bad value."""
    allowed = list(accepted)
    found: dict[tuple[str, str], None] = {}
    for kind, value in pairs:
        if kind not in allowed:
            raise Invalid(
                f"unknown identity type {kind!r}; this organisation recognises people by: {', '.join(allowed)}",
                details={"accepted": allowed},
            )
        found[(kind, normalize(kind, value))] = None
    if not found:
        raise Invalid("name at least one identity (like your email address) so we can find your data")
    if len(found) > MAX_IDENTITIES:
        raise Invalid(f"name at most {MAX_IDENTITIES} identities")
    return list(found)


def value_hash(kind: str, value: str) -> str:
    """The keyed hash of one normalised identity, for audit entries and rate limits."""
    return keys.digest("subject-identity", f"{kind}:{value}")


def set_key(pairs: Iterable[tuple[str, str]]) -> str:
    """The keyed hash of a set of identities, whatever their order: equal sets give equal keys."""
    return keys.digest("subject-identity-set", "\n".join(sorted(f"{kind}:{value}" for kind, value in pairs)))
