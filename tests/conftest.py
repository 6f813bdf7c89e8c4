"""Shared fixtures: policies built from the minimal policy with changes applied."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "tests" / "policies" / "minimal.yaml"
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/policy.yaml"))

PolicyFactory = Callable[[Callable[[dict[str, Any]], None]], Path]


@pytest.fixture
def make_policy(tmp_path: Path) -> PolicyFactory:
    """Write the minimal policy, changed by `edit`, to a file and return its path."""
    counter = iter(range(1_000_000))

    def build(edit: Callable[[dict[str, Any]], None]) -> Path:
        data = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
        edit(data)
        path = tmp_path / f"policy{next(counter)}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    return build


# ---------------------------------------------------------------- real database servers
def _unavailable(service: str, error: Exception) -> None:
    """Fail in CI (a missing service is a broken environment), skip with the reason elsewhere."""
    import os

    message = f"{service} is not reachable: {error}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Any:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import os
    import uuid

    import psycopg

    server = os.environ.get("PRIVACYDESK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"pd_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        base = server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def mariadb_url() -> Any:
    """A fresh, empty MariaDB database for one test, dropped afterwards."""
    import os
    import uuid

    import pymysql

    host = os.environ.get("PRIVACYDESK_TEST_MARIADB_HOST", "127.0.0.1")
    name = f"pd_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = pymysql.connect(host=host, user="root", password="", connect_timeout=5, autocommit=True)
    except pymysql.MySQLError as exc:
        _unavailable("MariaDB", exc)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield f"mysql+pymysql://root@{host}/{name}?charset=utf8mb4"
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE `{name}`")
    admin.close()


# ---------------------------------------------------------------- the platform's own database
@pytest.fixture(scope="session")
def migrated_template() -> Any:
    """A database migrated to head once per test run, cloned by each test that needs one."""
    import os
    import uuid

    import psycopg

    from privacydesk.db import migrate

    server = os.environ.get("PRIVACYDESK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"pd_tmpl_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
    base = server.rsplit("/", 1)[0]
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        migrate.upgrade(f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}")
        yield server, name
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def platform_url(migrated_template: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh migrated database, configured as privacydesk's own (PRIVACYDESK_DATABASE_URL)."""
    yield from _platform_database(migrated_template, monkeypatch)


@pytest.fixture(scope="module")
def module_platform_url(migrated_template: Any) -> Any:
    """Like platform_url, but shared by the tests of one module (for costly setups such as a running server)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from _platform_database(migrated_template, monkeypatch)


def _platform_database(migrated_template: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import uuid

    import psycopg

    from privacydesk.config import get_settings
    from privacydesk.db.engine import get_engine, get_sessionmaker

    server, template = migrated_template
    name = f"pd_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        url = f"{server.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
        monkeypatch.setenv("PRIVACYDESK_DATABASE_URL", url)
        for cached in (get_settings, get_engine, get_sessionmaker):
            cached.cache_clear()
        yield url
        get_engine().dispose()
        for cached in (get_settings, get_engine, get_sessionmaker):
            cached.cache_clear()
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
