"""Connectors are found through the `privacydesk.connectors` entry points, by the policy's `systems.<name>.connector`."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from types import TracebackType
from typing import Any, Protocol, cast

from privacydesk.connectors.base import Connector, ConnectorContext, ConnectorError
from privacydesk.policy.models import Policy, System

GROUP = "privacydesk.connectors"


class ConnectorFactory(Protocol):
    """A connector class: built from the system's name, its policy entry and the context."""

    delegates: bool

    def __call__(self, name: str, system: System, context: ConnectorContext) -> Connector: ...


@cache
def connector_class(kind: str) -> ConnectorFactory:
    """The installed connector registered under `kind` (installed packages do not change while running)."""
    installed = {entry.name: entry for entry in entry_points(group=GROUP)}
    if kind not in installed:
        raise ConnectorError(f"no connector {kind!r} is installed (installed: {', '.join(sorted(installed)) or 'none'})")
    loaded: Any = installed[kind].load()
    return cast(ConnectorFactory, loaded)


class Connectors:
    """The connectors of one policy's systems, each opened on first use and all closed together."""

    def __init__(self, policy: Policy, context: ConnectorContext) -> None:
        self._policy = policy
        self._context = context
        self._open: dict[str, Connector] = {}

    def __getitem__(self, name: str) -> Connector:
        if name not in self._open:
            system = self._policy.systems.get(name)
            if system is None:
                raise ConnectorError(f"the policy has no system {name!r}")
            self._open[name] = connector_class(system.connector)(name, system, self._context)
        return self._open[name]

    def close(self) -> None:
        """Close every opened connector."""
        for connector in self._open.values():
            connector.close()
        self._open.clear()

    def __enter__(self) -> Connectors:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()
