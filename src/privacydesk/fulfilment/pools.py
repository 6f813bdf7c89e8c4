"""Connectors kept open across the requests a worker executes, so schemas are read and pools opened once.

A pool is keyed by the policy version, the connector context and the values of the environment
variables the policy's systems name: a changed setting (a new database URL) opens a new pool.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from privacydesk.connectors.base import Connector, ConnectorContext
from privacydesk.connectors.registry import Connectors
from privacydesk.engine.run import default_context
from privacydesk.policy.models import Policy

# Policy versions a worker keeps connectors for; older ones are closed.
KEPT = 4
_pools: OrderedDict[tuple[object, ...], Connectors] = OrderedDict()
_lock = threading.Lock()


def connectors(policy: Policy, version_hash: str) -> Connectors:
    """The open connectors of this policy version (shared by the threads of the process)."""
    context = default_context(policy)
    key = (version_hash, context, *_settings(policy))
    with _lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = _Shared(policy, context)
            while len(_pools) > KEPT:
                _pools.popitem(last=False)[1].close()
        _pools.move_to_end(key)
        return pool


def close_all() -> None:
    """Close every kept pool (tests, shutdown)."""
    with _lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


def _settings(policy: Policy) -> tuple[str | None, ...]:
    references = [reference for system in policy.systems.values() for reference in (system.url, system.secret) if reference]
    return tuple(os.environ.get(reference.removeprefix("env:")) for reference in references)


class _Shared(Connectors):
    """Connectors opened under a lock: two threads asking at once get the same one."""

    def __init__(self, policy: Policy, context: ConnectorContext) -> None:
        super().__init__(policy, context)
        self._opening = threading.Lock()

    def __getitem__(self, name: str) -> Connector:
        with self._opening:
            return super().__getitem__(name)
