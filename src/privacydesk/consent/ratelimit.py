"""A per-address request limit for the public consent endpoints, counted in one-minute windows in memory."""

from __future__ import annotations

import ipaddress
import threading
import time

from fastapi import Request

from privacydesk.config import get_settings
from privacydesk.errors import TooManyAttempts

# Beyond this many addresses, windows that have ended are dropped.
_TRACKED = 50_000


class MinuteWindows:
    """Counts requests per client in the current minute; each app instance has its own."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, limit: int, now: float | None = None) -> bool:
        """Count one request from `client`; False once it has made more than `limit` this minute."""
        minute = int((time.time() if now is None else now) // 60)
        with self._lock:
            if len(self._counts) > _TRACKED:
                self._counts = {key: value for key, value in self._counts.items() if value[0] == minute}
            window, count = self._counts.get(client, (minute, 0))
            count = count + 1 if window == minute else 1
            self._counts[client] = (minute, count)
        return count <= limit


def client_of(request: Request) -> str:
    """Whom a request is counted against: its address, or its /64 network for IPv6 (one host holds a whole /64)."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


async def limit_public(request: Request) -> None:
    """Dependency (async: no worker thread for a few dictionary operations): refuse with 429 a client that exceeds `consent_rate_limit` requests this minute."""
    state = request.app.state
    windows: MinuteWindows | None = getattr(state, "consent_windows", None)
    if windows is None:
        windows = state.consent_windows = MinuteWindows()
    limit = get_settings().consent_rate_limit
    if not windows.allow(client_of(request), limit):
        raise TooManyAttempts(f"more than {limit} requests a minute from this address; try again in a minute")
