"""Helpers for the request-engine tests: example databases on each server, snapshots and statement counts."""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, Engine, ForeignKey, Integer, MetaData, String, Table, bindparam, create_engine, event, select, text
from sqlalchemy.engine import Connection

from privacydesk.connectors.base import ConnectorContext
from privacydesk.policy.loader import load_policy
from privacydesk.policy.models import Policy

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "examples"))
import appkit

# The servers every engine test runs on; SQLite needs no server.
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]
# Three weeks after the demo data's "now" (2026-11-01): some holds have run out, most still run.
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LOCALES = {"carlab": "pl_PL", "website-fr": "fr_FR", "imou": "pl_PL"}
ENV = {"carlab": "CARLAB_DB_URL", "website-fr": "WEBSITE_FR_DB_URL", "imou": "IMOU_DB_URL"}


def database_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """A fresh empty database on `backend`."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    url: str = request.getfixturevalue(f"{backend}_url")
    return url


def build(example: str, url: str, monkeypatch: pytest.MonkeyPatch, *, users: int = 200) -> Engine:
    """The example's demo database at `url`, with the policy's env variable pointing at it."""
    module = appkit.load_generator(example)
    engine = create_engine(url)
    appkit.build(engine, module.metadata, module.generate, users=users, locale=LOCALES[example])
    monkeypatch.setenv(ENV[example], url)
    return engine


@cache
def policy(example: str) -> Policy:
    """The example's policy."""
    return load_policy(ROOT / "examples" / example / "policy.yaml").policy


def context(example: str) -> ConnectorContext:
    """A fixed key, and fakes in the example's language."""
    return ConnectorContext(secret=b"engine-tests-secret-key-0123456789", locale=LOCALES[example])


def shop_database(url: str) -> Engine:
    """The tables of tests/policies/minimal.yaml's shop_db: customers and their access log."""
    engine = create_engine(url)
    metadata = MetaData()
    Table(
        "customer",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("email", String(254)),
        Column("name", String(30)),
    )
    Table(
        "access_log",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("customer_id", Integer, ForeignKey("customer.id")),
        Column("ip", String(45)),
        Column("created_at", DateTime),
    )
    metadata.create_all(engine)
    return engine


Snapshot = dict[str, dict[Any, dict[str, Any]]]


@cache
def _tables(engine: Engine) -> MetaData:
    metadata = MetaData()
    metadata.reflect(engine)
    return metadata


def snapshot(engine: Engine) -> Snapshot:
    """Every row of every table, by primary key."""
    metadata = _tables(engine)
    with engine.connect() as connection:
        return {
            name: {row._mapping["id"]: dict(row._mapping) for row in connection.execute(select(table))}
            for name, table in metadata.tables.items()
        }


def ids(connection: Connection, sql: str, **parameters: Any) -> set[Any]:
    """The first column of a hand-written query; list parameters expand into IN lists."""
    statement = text(sql).bindparams(
        *(bindparam(name, expanding=True) for name, value in parameters.items() if isinstance(value, set | list))
    )
    values = {name: sorted(value) if isinstance(value, set) else value for name, value in parameters.items()}
    return {row[0] for row in connection.execute(statement, values)}


@contextmanager
def counted_statements() -> Iterator[Counter[str]]:
    """Count every statement any engine sends, by the table it reads or changes."""
    counts: Counter[str] = Counter()

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        match = re.search(r"\b(?:FROM|UPDATE|INTO)\s+[`\"]?(\w+)", statement)
        counts[match.group(1) if match else statement.split(maxsplit=1)[0]] += 1

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield counts
    finally:
        event.remove(Engine, "before_cursor_execute", count)
