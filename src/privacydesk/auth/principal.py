"""The authenticated caller of a request: a signed-in user or an API token acting for its owner."""

from __future__ import annotations

from dataclasses import dataclass

from privacydesk.auth.permissions import Permission, Role


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do; `actor` names them in the audit log."""

    user_id: int
    email: str
    name: str
    role: Role
    permissions: frozenset[Permission]
    token_id: int | None = None
    # The SHA-256 of the session token, when the caller signed in with a browser.
    session_hash: str | None = None

    @property
    def actor(self) -> str:
        """The audit log's name for this caller: `token:<id>` or `user:<id>`."""
        return f"token:{self.token_id}" if self.token_id is not None else f"user:{self.user_id}"

    def can(self, permission: Permission) -> bool:
        """Whether the caller holds `permission`."""
        return permission in self.permissions
