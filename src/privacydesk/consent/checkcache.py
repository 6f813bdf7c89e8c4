"""What the checks' fast lane read recently, kept in the process until PostgreSQL says it changed.

Apps ask about the same people and purposes over and over; a check answered from memory costs no
database round trip. Every table a check reads has triggers (migration 0004) that notify the
channel `privacydesk_consent` on commit: `k:<key>` for a subject key, `p:<person>` for a person's
states or restrictions, `*` for anything all answers share (policy versions, revisions, tokens,
users). Each server process listens on its own connection and drops what a notice names.

Answers about keys nobody has decided under yet are not kept: a key's first decision then needs
no notice (and its commit no NOTIFY, which PostgreSQL serialises), and such checks cost a round
trip. Two more rules keep it exact. Nothing is cached unless the listener is connected (a lost connection
empties the cache until it is back), and an answer read from the database is kept only if no
notice naming its key or person (or `*`) arrived while it was being read: a change committed
during the read is never hidden behind a stale copy. A change therefore reaches every process's
answers as fast as PostgreSQL delivers the notice (well under a millisecond on one machine);
the process that wrote it also drops its own copy at once (`forget`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, OperationalError

CHANNEL = "privacydesk_consent"
EVERYTHING = "*"
# Bounds on memory: past these, the oldest entries are dropped first.
MAX_ANSWERS = 200_000
MAX_TOKENS = 1_000
# Notices remembered to judge reads still in flight; a read older than all of them is not kept.
_RECENT_NOTICES = 4_096
_RECONNECT_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """A check's row as the statement returned it, and the answer it gave until `good_until` (None: until changed)."""

    person_id: int | None
    row: Any
    body: bytes
    good_until: datetime | None


class CheckCache:
    """Answers by (subject key, purpose) and token rows by token hash, dropped on the database's notices."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], Answer] = {}
        self._keys_of_person: dict[int, set[str]] = {}
        self._purposes_of_key: dict[str, set[str]] = {}
        # Token hash: until when it may check consent, as last read.
        self._tokens: dict[str, datetime] = {}
        self._generation = 0
        self._notices: deque[tuple[int, str]] = deque(maxlen=_RECENT_NOTICES)
        self.listening = False

    # ------------------------------------------------------------------ reading and filling
    def generation(self) -> int:
        """A mark to take before reading from the database, for `keep`."""
        return self._generation

    def answer(self, key: str, purpose: str) -> Answer | None:
        """The cached answer, if any."""
        return self._answers.get((key, purpose)) if self.listening else None

    def token(self, token_hash: str) -> datetime | None:
        """Until when the token may check consent, as last read, if known."""
        return self._tokens.get(token_hash) if self.listening else None

    def keep(self, since: int, key: str, purpose: str, answer: Answer, token_hash: str, readable_until: datetime) -> None:
        """Keep what a read begun at `since` returned, unless a notice since then may concern it or the key is unknown."""
        if answer.person_id is None or not self.listening or self._changed_since(since, key, answer.person_id):
            return
        if len(self._tokens) >= MAX_TOKENS:
            self._tokens.pop(next(iter(self._tokens)))
        self._tokens[token_hash] = readable_until
        if len(self._answers) >= MAX_ANSWERS:
            self._drop_answer(*next(iter(self._answers)))
        self._answers[(key, purpose)] = answer
        self._purposes_of_key.setdefault(key, set()).add(purpose)
        if answer.person_id is not None:
            self._keys_of_person.setdefault(answer.person_id, set()).add(key)

    def drop_token(self, token_hash: str) -> None:
        """Forget a token row (it must be read again, e.g. to see it marked used)."""
        self._tokens.pop(token_hash, None)

    # ------------------------------------------------------------------ invalidation
    def forget(self, keys: Iterable[str]) -> None:
        """Drop the answers about these subject keys and their persons (called by the process that changed them)."""
        for key in keys:
            self.notice(f"k:{key}")

    def notice(self, payload: str) -> None:
        """Apply one notice from the channel."""
        self._generation += 1
        self._notices.append((self._generation, payload))
        if payload == EVERYTHING:
            self.clear()
        elif payload.startswith("k:"):
            self._drop_key(payload[2:])
        elif payload.startswith("p:") and payload[2:].isdigit():
            for key in self._keys_of_person.pop(int(payload[2:]), set()):
                self._drop_key(key)

    def clear(self) -> None:
        """Drop everything."""
        self._answers.clear()
        self._keys_of_person.clear()
        self._purposes_of_key.clear()
        self._tokens.clear()

    def _changed_since(self, since: int, key: str, person_id: int | None) -> bool:
        if since == self._generation:
            return False
        if not self._notices or self._notices[0][0] > since + 1:
            return True  # notices were forgotten since the read began: cannot tell
        names = {EVERYTHING, f"k:{key}", f"p:{person_id}"}
        return any(generation > since and payload in names for generation, payload in self._notices)

    def _drop_key(self, key: str) -> None:
        for purpose in self._purposes_of_key.pop(key, set()):
            self._drop_answer(key, purpose)

    def _drop_answer(self, key: str, purpose: str) -> None:
        answer = self._answers.pop((key, purpose), None)
        if answer is not None and answer.person_id is not None:
            keys = self._keys_of_person.get(answer.person_id)
            if keys is not None:
                keys.discard(key)

    # ------------------------------------------------------------------ the listener
    @asynccontextmanager
    async def listening_to(self, conninfo: str) -> AsyncIterator[None]:
        """Listen to the channel in the background while the block runs."""
        task = asyncio.create_task(self._listen(conninfo), name="consent-check-cache")
        try:
            yield
        finally:
            task.cancel()
            self.listening = False
            self.clear()
            with suppress(asyncio.CancelledError):
                await task

    async def _listen(self, conninfo: str) -> None:
        failures = 0
        while True:
            try:
                async with await AsyncConnection.connect(conninfo, autocommit=True) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    # Anything kept before this moment may have missed notices: start empty.
                    self.clear()
                    self.notice(EVERYTHING)
                    self.listening = True
                    failures = 0
                    async for notify in connection.notifies():
                        self.notice(notify.payload)
            except OperationalError as error:
                log.warning("consent check cache: listener lost (%s); answering from the database until it is back", error)
            finally:
                self.listening = False
                self.clear()
            await asyncio.sleep(_RECONNECT_SECONDS[min(failures, len(_RECONNECT_SECONDS) - 1)])
            failures += 1
