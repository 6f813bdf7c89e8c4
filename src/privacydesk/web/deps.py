"""Dependencies shared by the routers of every domain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from privacydesk.db.engine import transaction


def db_session() -> Iterator[Session]:
    """One transaction per request: committed when the endpoint returns, rolled back when it raises."""
    with transaction() as session:
        yield session


# "function" scope: the commit happens before the response is sent, so a failed commit is never a 200.
DbSession = Annotated[Session, Depends(db_session, scope="function")]
