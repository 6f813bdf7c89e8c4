"""Helpers for the fulfilment tests: example databases shared by a module, a published example policy, requests
made and verified the way a person makes them, the job worker, and the exports and records they leave.
"""

from __future__ import annotations

import io
import os
import socket
import uuid
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select, text

from privacydesk.auth.permissions import Permission
from privacydesk.db.engine import transaction
from privacydesk.fulfilment import pools
from privacydesk.fulfilment.models import RequestExecution, RequestExport
from privacydesk.policy.loader import load_policy
from privacydesk.requests.models import RequestStatus
from privacydesk.versions import service as versions
from tests.auth_support import OWNER, add_user, configure, issue_token
from tests.dsr_support import ENV, LOCALES, appkit
from tests.jobs_support import work_until
from tests.requests_support import last_code, make, stored

from .conftest import ROOT, _unavailable

SETTLED = {RequestStatus.completed, RequestStatus.failed, RequestStatus.waiting_manual}


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the tests of one module."""
    import psycopg

    server = os.environ.get("PRIVACYDESK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"pd_mod_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{server.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def module_mariadb_url() -> Iterator[str]:
    """A fresh MariaDB database for the tests of one module."""
    import pymysql

    host = os.environ.get("PRIVACYDESK_TEST_MARIADB_HOST", "127.0.0.1")
    name = f"pd_mod_{uuid.uuid4().hex[:12]}"
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


def example_database(request: pytest.FixtureRequest, example: str, backend: str, *, users: int) -> Iterator[Engine]:
    """The example's demo database on `backend`, built once for the module, its env variable set for the module."""
    url = request.getfixturevalue(f"module_{backend}_url")
    module = appkit.load_generator(example)
    engine = create_engine(url)
    appkit.build(engine, module.metadata, module.generate, users=users, locale=LOCALES[example])
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv(ENV[example], url)
        yield engine
    engine.dispose()
    pools.close_all()


def start_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, example: str, *, approval: bool = False) -> TestClient:
    """Settings for a test (quick polling, a mail server nobody listens on), the example's policy published, a client."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    configure(monkeypatch, tmp_path, worker_poll_seconds="0.1", smtp_port=str(closed_port), base_url="https://privacy.example")
    source = (ROOT / "examples" / example / "policy.yaml").read_text(encoding="utf-8")
    if approval:
        source = source.replace("\nrequests:\n", "\nrequests:\n  approval: true\n", 1)
    path = tmp_path / "policy.yaml"
    path.write_text(source, encoding="utf-8")
    with transaction() as session:
        versions.publish(session, load_policy(path), publisher="test")
    return TestClient(_app(), base_url="https://testserver")


def _app() -> Any:
    from privacydesk.web.app import create_app

    return create_app()


def request_verified(browser: TestClient, kind: str, email: str, *, language: str = "en", **details: Any) -> str:
    """Make a request through the privacy centre and verify it with the code mailed; return its reference."""
    payload = {"type": kind, "identities": [{"type": "email", "value": email}], "age_confirmed": True, "language": language, **details}
    receipt = make(browser, payload)
    answer = browser.post(
        f"/api/v1/public/requests/{receipt['reference']}/verify",
        json={"code": last_code(email)},
        headers={"X-Status-Token": receipt["status_token"]},
    )
    assert answer.status_code == 200, answer.text
    return str(receipt["reference"])


def request_vouched(browser: TestClient, kind: str, identities: list[dict[str, str]], **details: Any) -> str:
    """Submit a request the company's app vouches for (verified at once, as a phone number alone may be); return its reference."""
    add_user()
    _, app = issue_token(OWNER, {Permission.REQUESTS_SUBMIT_VERIFIED})
    created = browser.post(
        "/api/v1/requests/verified", json={"type": kind, "identities": identities, **details}, headers={"Authorization": f"Bearer {app}"}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["request"]["reference"])


def run_jobs_until_settled(reference: str, timeout: float = 60) -> RequestStatus:
    """Run a worker until the request is completed, failed or waiting for a manual task; return that status."""
    work_until(lambda: stored(reference).status in SETTLED, timeout=timeout)
    return stored(reference).status


def execution(reference: str) -> RequestExecution:
    """The request's execution record."""
    with transaction() as session:
        record = session.get(RequestExecution, stored(reference).id)
        assert record is not None
        return record


def export_of(reference: str) -> RequestExport:
    """The request's export row."""
    with transaction() as session:
        export = session.scalar(select(RequestExport).where(RequestExport.request_id == stored(reference).id))
        assert export is not None
        return export


def zip_contents(data: bytes) -> dict[str, bytes]:
    """Every member of a ZIP by name."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def held_at(engine: Engine, rows: dict[str, set[Any]], rules: dict[str, tuple[str, int]], moment: datetime) -> dict[str, set[Any]]:
    """Which of the person's rows holds keep at `moment`: rules map a table to (start column, years kept)."""
    naive = moment.replace(tzinfo=None)
    held: dict[str, set[Any]] = {}
    with engine.connect() as c:
        for table, (column, years) in rules.items():
            if rows.get(table):
                stamps = c.execute(text(f"SELECT id, {column} FROM {table}")).all()
                held[table] = {
                    key
                    for key, start in stamps
                    if key in rows[table] and (start is None or _naive(start) + relativedelta(years=years) > naive)
                }
    return {table: keys for table, keys in held.items() if keys}


def _naive(moment: Any) -> datetime:
    return datetime.fromisoformat(moment) if isinstance(moment, str) else moment
