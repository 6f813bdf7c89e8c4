"""The connector protocol: how privacydesk finds, exports, erases and rectifies a person's data in one system.

A connector serves one `systems.<name>` entry of the policy. Row connectors (sql, files) work on
collections, one set-based operation per batch of keys; delegating connectors (webhook, manual)
hand a whole request to the system, which answers at once or later.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, BinaryIO, Literal, Protocol, TypeVar

from privacydesk.errors import PrivacydeskError
from privacydesk.policy.models import FieldErase

Key = int | str
Row = dict[str, Any]
# Restriction and objection reach only delegating systems: the platform's register is what row systems are held to.
RequestKind = Literal["access", "erasure", "rectification", "restriction", "objection"]
# Keys or values per statement: large enough that a person's rows take one statement per
# collection, small enough for every database's parameter limit.
BATCH = 1000
_PHONE_SEPARATORS = re.compile(r"[\s\-./()]")
# As `columns` of find, referencing and linked: every column of the rows (what an export holds).
EVERY_COLUMN: tuple[str, ...] = ("*",)
T = TypeVar("T")


class ConnectorError(PrivacydeskError):
    """A system could not be reached or did not do what was asked."""

    status_code = 502
    code = "connector_error"


class Unsupported(ConnectorError):
    """The connector cannot perform this operation on this kind of system."""

    status_code = 422
    code = "unsupported"


@dataclass(frozen=True)
class ConnectorContext:
    """What every connector is opened with besides its system."""

    # Keys the HMAC pseudonyms and seeds the fake values, so re-running an anonymisation gives the same values.
    secret: bytes
    # Faker locale of fake values, from the policy's first language.
    locale: str = "en_GB"


@dataclass(frozen=True)
class SchemaProblem:
    """A difference between the policy and the live system."""

    system: str
    collection: str | None
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = self.system if self.collection is None else f"{self.system}.{self.collection}"
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class FieldStrategy:
    """How one column is anonymised; `erase` None means: empty it if it may be empty, else a neutral value."""

    erase: FieldErase | None
    value: object = None
    # The DPV term of the column's category, which shapes hmac and fake values (an e-mail stays an e-mail).
    dpv: str | None = None


@dataclass(frozen=True)
class Cutoff:
    """A running period: rows whose `start` is empty, or on or after `before`, are still inside it."""

    start: str
    before: datetime


@dataclass(frozen=True)
class Overdue:
    """Rows of a collection measured against a retention cutoff: what is due, what holds keep, what comes next."""

    # Rows whose start is before the cutoff and that no hold still covers.
    rows: int
    # Rows whose start is before the cutoff but that a hold still covers.
    held: int
    # The earliest start among the due rows.
    oldest: datetime | None
    # The earliest start not yet before the cutoff: the next row to fall due.
    next_start: datetime | None


@dataclass(frozen=True)
class Change:
    """One set-based change of a collection's rows: a deletion, an anonymisation (with strategies) or a rectification (with values)."""

    action: Literal["delete", "anonymise", "rectify"]
    collection: str
    keys: Sequence[Key]
    strategies: Mapping[str, FieldStrategy] = field(default_factory=dict)
    values: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Attachment:
    """A file exported with a row: its path in the system, its size, a way to read it and its category."""

    path: str
    size: int
    open: Callable[[], BinaryIO]
    category: str | None = None


@dataclass(frozen=True)
class Exported:
    """One exported row, with its file when the row is a file."""

    values: Row
    attachment: Attachment | None = None


@dataclass(frozen=True)
class Delegation:
    """A whole request handed to a system that executes it itself."""

    # Stable across retries: the receiving system deduplicates on it.
    reference: str
    kind: RequestKind
    system: str
    collections: tuple[str, ...]
    identities: Mapping[str, tuple[str, ...]]
    corrections: Mapping[str, str] = field(default_factory=dict)
    # Where the system may post its answer later; None when the caller waits for the answer.
    callback: str | None = None
    # What a restriction or objection asks: the restriction's ground, the activities objected to (or direct marketing).
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reported:
    """What a delegating system reports about one of its collections."""

    rows: tuple[Row, ...] = ()
    deleted: int = 0
    anonymised: int = 0
    held: int = 0
    rectified: int = 0


@dataclass(frozen=True)
class ManualTask:
    """Work for a system's owner, who marks it done when the request has been carried out by hand."""

    id: str
    system: str
    owner: str
    kind: RequestKind
    collections: tuple[str, ...]
    identities: Mapping[str, tuple[str, ...]]
    corrections: Mapping[str, str]
    instructions: str


@dataclass(frozen=True)
class Delegated:
    """The answer of a delegating system: done (with what it reports) or pending (with the task, for manual work)."""

    system: str
    status: Literal["done", "pending"]
    collections: Mapping[str, Reported] = field(default_factory=dict)
    task: ManualTask | None = None
    message: str = ""
    # The delegation's reference, echoed by the system, to match a later answer with its request.
    reference: str | None = None


class Connector(Protocol):
    """One system of the policy, reached through its connector."""

    name: str
    # True when the system executes whole requests itself (webhook, manual) instead of row operations.
    delegates: bool
    # True when exported rows come with files, which only `export` opens (found rows are not all an export holds).
    attachments: bool

    def key_column(self, collection: str) -> str:
        """The column (or attribute) that identifies a row of `collection`."""
        ...

    def discover(self) -> list[SchemaProblem]:
        """Compare the live system with the policy; every missing table, column or directory is a problem."""
        ...

    def reading(self) -> AbstractContextManager[None]:
        """While inside, this thread's reads share what the system lets them share (one connection of a database)."""
        ...

    def find(self, collection: str, identities: Mapping[str, Iterable[object]], columns: Sequence[str]) -> list[Row]:
        """Rows of `collection` matching any of the identities (type → values), with the key and `columns`."""
        ...

    def referencing(self, collection: str, column: str, values: Iterable[object], columns: Sequence[str]) -> list[Row]:
        """Rows of `collection` whose `column` holds one of `values`, with the key and `columns`."""
        ...

    def linked(self, collection: str, links: Mapping[str, Iterable[object]], columns: Sequence[str]) -> list[Row]:
        """Rows of `collection` whose column holds one of its values for any of the links (column → values), each row once."""
        ...

    def export(self, collection: str, keys: Sequence[Key]) -> list[Exported]:
        """Every column of the rows with these keys."""
        ...

    def delete(self, collection: str, keys: Sequence[Key]) -> int:
        """Delete the rows with these keys; return how many were deleted."""
        ...

    def anonymise(self, collection: str, keys: Sequence[Key], strategies: Mapping[str, FieldStrategy]) -> int:
        """Overwrite the given columns of these rows; return how many rows changed."""
        ...

    def rectify(self, collection: str, keys: Sequence[Key], values: Mapping[str, object]) -> int:
        """Set corrected values on these rows; return how many rows changed."""
        ...

    def apply(self, changes: Sequence[Change]) -> list[int]:
        """Make the changes in order, all in one transaction where the system has transactions; the count of each."""
        ...

    def expired(
        self,
        collection: str,
        start: str,
        cutoff: datetime,
        *,
        after: Key | None = None,
        limit: int = BATCH,
        holds: Sequence[Cutoff] = (),
    ) -> list[Key]:
        """Keys (ascending, after `after`) of rows whose `start` is before `cutoff` and no hold period still runs."""
        ...

    def due_span(
        self, collection: str, start: str, cutoff: datetime, *, after: Key | None = None, limit: int = BATCH, holds: Sequence[Cutoff] = ()
    ) -> tuple[int, Key | None]:
        """How many of the next `limit` keys `expired` would return there are, and the last of them (a batch as a key range)."""
        ...

    def delete_due(
        self, collection: str, start: str, cutoff: datetime, *, after: Key | None, through: Key, holds: Sequence[Cutoff] = ()
    ) -> int:
        """Delete the rows `expired` would return whose keys are after `after` and up to `through`; return how many."""
        ...

    def overdue(
        self, collection: str, start: str, cutoff: datetime, *, holds: Sequence[Cutoff] = (), among: Sequence[Key] | None = None
    ) -> Overdue:
        """Counts of the rows `expired` would return and of those holds keep, the oldest and the next start (only `among` these keys if given)."""
        ...

    def delegate(self, order: Delegation) -> Delegated:
        """Hand a whole request to the system."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class RowConnector:
    """Base of connectors that work row by row: they cannot take a whole request."""

    delegates = False
    attachments = False

    def reading(self) -> AbstractContextManager[None]:
        """Nothing to share between reads, unless the connector says otherwise."""
        return nullcontext()

    def delegate(self, order: Delegation) -> Delegated:
        """Row connectors execute steps; they do not take whole requests."""
        raise Unsupported(f"system {order.system!r} is reached row by row; it does not take whole requests")


class DelegatingConnector:
    """Base of connectors that hand whole requests to the system: every row operation is unsupported."""

    delegates = True
    attachments = False
    name: str

    def reading(self) -> AbstractContextManager[None]:
        """The system reads its own rows: nothing to share."""
        return nullcontext()

    def key_column(self, collection: str) -> str:
        """Rows are the system's business: there is no key."""
        raise self._unsupported("key_column")

    def find(self, collection: str, identities: Mapping[str, Iterable[object]], columns: Sequence[str]) -> list[Row]:
        """Unsupported: the system finds the rows itself."""
        raise self._unsupported("find")

    def referencing(self, collection: str, column: str, values: Iterable[object], columns: Sequence[str]) -> list[Row]:
        """Unsupported: the system walks its own references."""
        raise self._unsupported("referencing")

    def linked(self, collection: str, links: Mapping[str, Iterable[object]], columns: Sequence[str]) -> list[Row]:
        """Unsupported: the system walks its own references."""
        raise self._unsupported("linked")

    def export(self, collection: str, keys: Sequence[Key]) -> list[Exported]:
        """Unsupported: the system exports through `delegate`."""
        raise self._unsupported("export")

    def delete(self, collection: str, keys: Sequence[Key]) -> int:
        """Unsupported: the system erases through `delegate`."""
        raise self._unsupported("delete")

    def anonymise(self, collection: str, keys: Sequence[Key], strategies: Mapping[str, FieldStrategy]) -> int:
        """Unsupported: the system anonymises through `delegate`."""
        raise self._unsupported("anonymise")

    def rectify(self, collection: str, keys: Sequence[Key], values: Mapping[str, object]) -> int:
        """Unsupported: the system rectifies through `delegate`."""
        raise self._unsupported("rectify")

    def apply(self, changes: Sequence[Change]) -> list[int]:
        """Unsupported: the system changes its rows through `delegate`."""
        raise self._unsupported("apply")

    def expired(
        self,
        collection: str,
        start: str,
        cutoff: datetime,
        *,
        after: Key | None = None,
        limit: int = BATCH,
        holds: Sequence[Cutoff] = (),
    ) -> list[Key]:
        """Unsupported: the system applies its own retention."""
        raise self._unsupported("expired")

    def due_span(
        self, collection: str, start: str, cutoff: datetime, *, after: Key | None = None, limit: int = BATCH, holds: Sequence[Cutoff] = ()
    ) -> tuple[int, Key | None]:
        """Unsupported: the system applies its own retention."""
        raise self._unsupported("due_span")

    def delete_due(
        self, collection: str, start: str, cutoff: datetime, *, after: Key | None, through: Key, holds: Sequence[Cutoff] = ()
    ) -> int:
        """Unsupported: the system applies its own retention."""
        raise self._unsupported("delete_due")

    def overdue(
        self, collection: str, start: str, cutoff: datetime, *, holds: Sequence[Cutoff] = (), among: Sequence[Key] | None = None
    ) -> Overdue:
        """Unsupported: the system applies its own retention."""
        raise self._unsupported("overdue")

    def close(self) -> None:
        """Nothing is held open."""

    def _unsupported(self, operation: str) -> Unsupported:
        return Unsupported(f"system {self.name!r} takes whole requests; {operation} is not available on it")


def resolve_env(reference: str | None, *, system: str, setting: str) -> str:
    """The value of the environment variable an `env:NAME` setting names; a clear error when unset."""
    if reference is None:
        raise ConnectorError(f"system {system!r} has no {setting}; give it as 'env:VARIABLE_NAME'")
    name = reference.removeprefix("env:")
    value = os.environ.get(name)
    if not value:
        raise ConnectorError(f"system {system!r}: {setting} is {reference}, but the environment variable {name} is not set")
    return value


def comparable(kind: str, value: object) -> str:
    """An identity as compared: e-mail addresses ignore case, phone numbers ignore separators."""
    text = str(value).strip()
    if kind == "email":
        return text.lower()
    if kind == "phone":
        compact = _PHONE_SEPARATORS.sub("", text)
        return "+" + compact[2:] if compact.startswith("00") else compact
    return text


def as_key(value: object) -> Key:
    """A row key as carried between steps: integers and strings as they are, anything else as text."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return str(value)
    return value


def key_order(key: Key) -> tuple[int, int | str]:
    """Sort keys of one collection: numbers numerically, text after them."""
    return (0, key) if isinstance(key, int) else (1, key)


def chunks(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def naive_utc(moment: datetime | date) -> datetime:
    """A timestamp as a naive UTC datetime (how most application databases store time); dates at midnight."""
    if not isinstance(moment, datetime):
        return datetime(moment.year, moment.month, moment.day)
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment
