"""The job queue application: every task is registered on `app`, which connects when opened.

Tasks are declared with `@app.task(name=...)` in a domain's `tasks.py`, listed in TASK_MODULES so
every worker knows them. Jobs are queued only through `privacydesk.jobs.service.enqueue`, in the
caller's transaction; never with procrastinate's own `defer`, which commits on its own.
"""

from __future__ import annotations

from typing import Any

from procrastinate import App, PsycopgConnector, RetryStrategy
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url

from privacydesk.config import get_settings
from privacydesk.db.engine import database_url

# Modules whose import registers tasks; a domain with a tasks.py adds itself here.
TASK_MODULES = [
    "privacydesk.jobs.tasks",
    "privacydesk.mail.tasks",
    "privacydesk.requests.tasks",
    "privacydesk.consent.tasks",
    "privacydesk.newsletter.tasks",
    "privacydesk.fulfilment.tasks",
    "privacydesk.retention.tasks",
]

# max_attempts counts retries; retry n waits base ** n seconds. Internal work: 2, 4, 8, 16, 32 s.
STANDARD_RETRY = RetryStrategy(max_attempts=5, exponential_wait=2)
# Outside systems (SMTP, connectors) may be down for a while: 3 s, 9 s, ... 5.5 h; 10 runs over about 8 h.
PATIENT_RETRY = RetryStrategy(max_attempts=9, exponential_wait=3)


def conninfo(url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL."""
    parsed = make_url(url)
    options: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "dbname": parsed.database,
        "user": parsed.username,
        "password": parsed.password,
    }
    # Query parameters (sslmode, a socket directory as host, ...) are libpq options already.
    options.update({key: value if isinstance(value, str) else value[-1] for key, value in parsed.query.items()})
    return make_conninfo(**{key: value for key, value in options.items() if value is not None})


def _platform_pool(**options: Any) -> AsyncConnectionPool:
    # Called when the app opens, so the URL is read then (tests and the CLI may set it late).
    return AsyncConnectionPool(conninfo(database_url(get_settings())), **options)


app = App(connector=PsycopgConnector(pool_factory=_platform_pool, min_size=1, max_size=10), import_paths=TASK_MODULES)
