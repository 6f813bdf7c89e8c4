"""The fast lane of GET /api/v1/consent/check: the common case answered in one database round trip.

A check is what the company's apps call on every request they serve, so it skips the per-request
machinery the rest of the API pays for (routing, dependency injection, a worker thread, an ORM
session and transaction): an ASGI middleware reads the token and the question, runs one prepared
statement (the route's own check, joined with the token's row) on an autocommit connection of a
per-process async pool, and answers with the same schema as the route.

It answers only when everything is ordinary: a well-formed question, an API token that is valid,
holds consent:read and was marked used within the last minute, a policy whose revisions are
derived and whose content this process has parsed, a known purpose. Anything else goes on to the
regular route, which stays the reference: it gives every error, marks tokens used, derives
revisions and fills the policy cache, so the next call can take the fast lane. The pool exists
while the application serves (its lifespan); without one, every check takes the regular route.
The first decisions of new consent ids use the same pool (decisionlane.py, firstwrite.py).

What the statement returns is kept in the process (checkcache.py) until PostgreSQL notifies a
change to anything it read, so a repeated question costs no round trip at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from psycopg import AsyncConnection
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from privacydesk.auth.permissions import Permission, Role, permissions_of
from privacydesk.auth.service import LAST_USED_PRECISION, TOKEN_PREFIX, hash_token
from privacydesk.consent import checks, published, subjects
from privacydesk.consent.checkcache import Answer, CheckCache
from privacydesk.consent.schemas import CheckOut
from privacydesk.db.base import utcnow
from privacydesk.db.engine import get_engine, transaction
from privacydesk.errors import Invalid, NotFound
from privacydesk.jobs.app import conninfo

PATH = "/api/v1/consent/check"
# The name of the pool in the application's lifespan state (request.state).
POOL_STATE = "consent_pool"
# The name of the checks' cache in the same state (the decisions' route drops what it changed).
CACHE_STATE = "consent_check_cache"
POOL_SIZE = 10
# How long a check waits for a pooled connection before it takes the regular route instead.
POOL_WAIT_SECONDS = 0.5
_READ = Permission.CONSENT_READ
# The regular route's very check statement, in psycopg's parameter style, with the token's row beside its answer.
_ONE = checks.ONE.compile(dialect=PGDialect_psycopg())  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it unannotated
_CHECK = f"""
SELECT checked.*, token.scopes AS token_scopes, token.revoked_at AS token_revoked_at, token.expires_at AS token_expires_at,
       token.last_used_at AS token_last_used_at, owner.role AS owner_role, owner.active AS owner_active
FROM ({_ONE}) AS checked
LEFT JOIN api_tokens token ON token.token_hash = %(token_hash)s
LEFT JOIN users owner ON owner.id = token.owner_id
"""
_HEADERS = [(b"content-type", b"application/json")]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedRoute:
    """The route pattern a fast-lane answer stands for."""

    path: str


_ROUTE = ServedRoute(PATH)


async def answer_json(scope: Scope, send: Send, route: ServedRoute, status: int, body: bytes) -> None:
    """Send a fast lane's JSON answer, noting the route it stands for as routing would (request metrics name it)."""
    scope["route"] = route
    await send({"type": "http.response.start", "status": status, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": body})


class FastChecks:
    """ASGI middleware: answers ordinary checks itself, hands everything else to the application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self.cache = CheckCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            async with self._pool(), self.cache.listening_to(_conninfo()):
                # Shared with the decisions (decisionlane.py, public.py) through the state each request gets a copy of.
                state = scope.setdefault("state", {})
                state[POOL_STATE] = self.pool
                state[CACHE_STATE] = self.cache
                # In the background: the first requests then find the policy parsed, and a database still starting stops nothing.
                warming = asyncio.create_task(run_in_threadpool(_parse_latest_policy), name="consent-policy-warm-up")
                try:
                    await self.app(scope, receive, send)
                finally:
                    warming.cancel()
            return
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == PATH and self.pool is not None:
            answer = await self._answer(scope, self.pool)
            if answer is not None:
                await answer_json(scope, send, _ROUTE, 200, answer)
                return
        await self.app(scope, receive, send)

    @asynccontextmanager
    async def _pool(self) -> AsyncIterator[None]:
        """The connection pool, open while the application serves."""
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            _conninfo(), min_size=1, max_size=POOL_SIZE, open=False, kwargs={"autocommit": True}, name="consent-checks"
        )
        # Not waiting: a database still starting must not stop the application from serving.
        await pool.open(wait=False)
        self.pool = pool
        try:
            yield
        finally:
            self.pool = None
            await pool.close()

    async def _answer(self, scope: Scope, pool: AsyncConnectionPool[AsyncConnection[Any]]) -> bytes | None:
        """The JSON answer of an ordinary check, or None to let the regular route answer."""
        question = _question(scope)
        if question is None:
            return None
        secret, subject, purpose = question
        token_hash = hash_token(secret)
        readable_until, cached = self.cache.token(token_hash), self.cache.answer(subject.stored, purpose)
        if readable_until is not None and cached is not None:
            now = utcnow()
            if now >= readable_until:
                # Perhaps only not marked used lately: the regular route marks it, the next check reads it afresh.
                self.cache.drop_token(token_hash)
                return None
            if cached.good_until is None or now < cached.good_until:
                return cached.body
            return _answered(cached.row, now)[0]
        since = self.cache.generation()
        params = {"key": subject.stored, "purpose": purpose, "token_hash": token_hash}
        try:
            async with pool.connection(timeout=POOL_WAIT_SECONDS) as connection:
                cursor = connection.cursor(row_factory=namedtuple_row)
                row: Any = await (await cursor.execute(_CHECK, params, prepare=True)).fetchone()
        except PoolTimeout:
            return None
        now = utcnow()
        readable_until = _readable_until(row, now) if row is not None and row.synced else None
        if readable_until is None:
            return None
        policy = published.cached_policy(row.latest_hash)
        if policy is None or purpose not in policy.consents:
            return None
        body, good_until = _answered(row, now)
        self.cache.keep(since, subject.stored, purpose, Answer(row.person_id, row, body, good_until), token_hash, readable_until)
        return body


def _answered(row: Any, now: datetime) -> tuple[bytes, datetime | None]:
    """The answer's JSON, and until when it stays the answer (a consent given until then is expired after)."""
    answer = checks.verdict(row, now)
    body = CheckOut(allowed=answer.allowed, reason=answer.reason, record_id=answer.record_id, expires_at=answer.expires_at)
    changes_at = row.expires_at if row.expires_at is not None and row.expires_at > now else None
    return body.model_dump_json(by_alias=True).encode(), changes_at


def _question(scope: Scope) -> tuple[str, subjects.SubjectKey, str] | None:
    """The token, subject and purpose of a plain check request; None for anything else."""
    authorization = next((value for name, value in scope["headers"] if name == b"authorization"), None)
    if authorization is None:
        return None
    scheme, _, secret = authorization.decode("latin-1").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret.startswith(TOKEN_PREFIX):
        return None
    query = _plain_query(scope["query_string"])
    if query is None:
        return None
    try:
        subject = subjects.parse(query["subject"])
    except Invalid:
        return None
    return secret, subject, query["purpose"]


def _plain_query(raw: bytes) -> dict[str, str] | None:
    """`subject` and `purpose`, each exactly once and nothing else; None for any other query."""
    query: dict[str, str] = {}
    for pair in raw.decode("latin-1").split("&"):
        name, _, value = pair.partition("=")
        if name not in ("subject", "purpose") or name in query:
            return None
        # Percent-decoding only when needed: most subjects and purposes are plain.
        query[name] = unquote_plus(value) if "%" in value or "+" in value else value
    return query if len(query) == 2 else None


def _readable_until(row: Any, now: datetime) -> datetime | None:
    """Until when the token lets its bearer check consent (expiry, or a minute after it was last marked used); None: not now."""
    if row.token_expires_at is None or row.token_revoked_at is not None or row.token_expires_at <= now or not row.owner_active:
        return None
    if row.token_last_used_at is None or now - row.token_last_used_at >= LAST_USED_PRECISION:
        return None
    try:
        role = Role(row.owner_role)
    except ValueError:
        return None
    if _READ.value not in row.token_scopes or _READ not in permissions_of(role):
        return None
    until: datetime = min(row.token_expires_at, row.token_last_used_at + LAST_USED_PRECISION)
    return until


def _parse_latest_policy() -> None:
    """Parse the latest published policy into this process's cache, if the database has one."""
    try:
        with transaction() as session:
            published.latest(session)
    except (NotFound, SQLAlchemyError) as error:
        log.info("no published policy parsed at start (%s); the first requests will", error)


def _conninfo() -> str:
    # The database the rest of the application uses (for the embedded server: the one it already started).
    return conninfo(get_engine().url.render_as_string(hide_password=False))
