"""Migrations are reversible and match the models."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from privacydesk.db import migrate
from privacydesk.db.registry import metadata

pytestmark = pytest.mark.postgres


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(postgres_url: str) -> None:
    migrate.upgrade(postgres_url)
    tables = _tables(postgres_url)
    assert set(metadata.tables) <= tables
    assert {"procrastinate_jobs", "procrastinate_events"} <= tables
    migrate.check(postgres_url)  # the models and the migrated schema agree

    migrate.downgrade(postgres_url, "base")
    assert _tables(postgres_url) == set()
    assert migrate.current(postgres_url) is None

    migrate.upgrade(postgres_url)
    assert _tables(postgres_url) == tables
    migrate.check(postgres_url)
