"""The secret key that signs cookies and CSRF tokens, and keyed digests made with it."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from functools import cache
from pathlib import Path

from privacydesk.config import get_settings

KEY_FILE = "secret_key"


def signing_key() -> bytes:
    """The configured secret key, or the one generated into the data directory on first use."""
    settings = get_settings()
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    return _key_file(settings.data_dir / KEY_FILE)


def digest(purpose: str, value: str) -> str:
    """An HMAC-SHA256 of `value` for `purpose`: unforgeable without the key, and distinct per purpose."""
    return hmac.new(signing_key(), f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


def sign(purpose: str, value: str) -> str:
    """`value` with its signature appended."""
    return f"{value}.{digest(purpose, value)}"


def unsign(purpose: str, signed: str) -> str | None:
    """The value of a signed string, or None if the signature does not match."""
    value, _, signature = signed.rpartition(".")
    if not value or not hmac.compare_digest(signature.encode(), digest(purpose, value).encode()):
        return None
    return value


@cache
def _key_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: readers never see a partial key, and when several
        # processes start at once the first link wins and the others read its key.
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink()
    return path.read_text(encoding="ascii").strip().encode()
