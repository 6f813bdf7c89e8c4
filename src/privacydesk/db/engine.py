"""Engine and sessions. Services take a Session and never commit; callers own the transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from privacydesk.config import Settings, get_settings
from privacydesk.db.embedded import start_embedded


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain `postgresql://` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_url(settings: Settings) -> str:
    """The configured database, or the embedded one when none is configured."""
    if settings.database_url is not None:
        return normalize_url(settings.database_url.get_secret_value())
    return start_embedded(settings.data_dir)


@cache
def get_engine() -> Engine:
    """The process-wide engine."""
    return create_engine(database_url(get_settings()), pool_pre_ping=True, pool_size=10, max_overflow=20)


@cache
def get_sessionmaker() -> sessionmaker[Session]:
    """Sessions bound to the process-wide engine."""
    return sessionmaker(get_engine(), expire_on_commit=False)


@contextmanager
def transaction() -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on error."""
    with get_sessionmaker()() as session, session.begin():
        yield session
