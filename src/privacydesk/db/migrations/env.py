"""Alembic environment: migrates the database of the given URL to the models' metadata."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from privacydesk.db.registry import metadata

# Tables owned by the job queue's own schema, not by our models.
EXTERNAL_PREFIXES = ("procrastinate_",)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Leave the job queue's tables out of autogenerate and `db check`."""
    return not (type_ == "table" and name is not None and name.startswith(EXTERNAL_PREFIXES))


def run_migrations() -> None:
    """Run migrations online against the URL the caller put in the config attributes."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(context.config.attributes["url"])
    with engine.connect() as connection:
        _migrate(connection)
    engine.dispose()


def _migrate(connection: Any) -> None:
    context.configure(connection=connection, target_metadata=metadata, include_name=include_name, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
