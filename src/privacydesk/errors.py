"""Typed domain errors; the web layer renders every one of them the same way."""

from __future__ import annotations


class PrivacydeskError(Exception):
    """Base of all domain errors: a status code, a machine-readable code and a human message."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(PrivacydeskError):
    """The object does not exist (or the caller may not know it does)."""

    status_code = 404
    code = "not_found"


class Conflict(PrivacydeskError):
    """The request conflicts with the current state."""

    status_code = 409
    code = "conflict"


class Invalid(PrivacydeskError):
    """The input is well-formed but not acceptable."""

    status_code = 422
    code = "invalid"


class NotAuthenticated(PrivacydeskError):
    """No valid credentials were given."""

    status_code = 401
    code = "not_authenticated"


class Forbidden(PrivacydeskError):
    """The caller is known but lacks the permission."""

    status_code = 403
    code = "forbidden"


class TooManyAttempts(PrivacydeskError):
    """A rate limit or lockout applies."""

    status_code = 429
    code = "too_many_attempts"
