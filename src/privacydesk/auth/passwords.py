"""Password hashing with argon2id, rehashing when the parameters change."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from privacydesk.errors import Invalid

MIN_LENGTH = 12
# Hashing cost grows with the input: refuse absurd lengths before they reach the hasher.
MAX_LENGTH = 1024

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@dataclass(frozen=True)
class Verified:
    """The outcome of checking a password: whether it matched, and a fresh hash if the stored one is outdated."""

    ok: bool
    new_hash: str | None = None


def check_strength(password: str) -> None:
    """Refuse a new password that is too short or too long."""
    if len(password) < MIN_LENGTH:
        raise Invalid(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise Invalid(f"the password must have at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    """The argon2id hash of a password, in PHC string format."""
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> Verified:
    """Check a password against its stored hash; offer a new hash when the parameters changed."""
    if len(password) > MAX_LENGTH:
        return Verified(False)
    try:
        _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return Verified(False)
    return Verified(True, _hasher.hash(password) if _hasher.check_needs_rehash(stored_hash) else None)


def burn_time(password: str) -> None:
    """Spend the time a real check would, so unknown accounts answer as slowly as known ones."""
    verify_password(_dummy_hash(), password)


def generate_password() -> str:
    """A random password for an account created without one (about 144 bits)."""
    return secrets.token_urlsafe(18)


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(18))
