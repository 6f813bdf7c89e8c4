"""What a request did, per system and collection, in a JSON-ready form."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from privacydesk.connectors.base import Attachment, Delegated
from privacydesk.engine.decide import HoldReport


@dataclass(frozen=True)
class Value:
    """One value of a person's row, with the data category the policy declares for its column."""

    value: Any
    category: str | None


@dataclass
class CollectionAccess:
    """A person's rows of one collection; files come with their content."""

    system: str
    collection: str
    rows: list[dict[str, Value]] = field(default_factory=list)
    files: list[Attachment] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Rows as {column: {value, category}}."""
        return {
            "system": self.system,
            "collection": self.collection,
            "rows": [
                {column: {"value": jsonable(cell.value), "category": cell.category} for column, cell in row.items()} for row in self.rows
            ],
            "files": [{"path": item.path, "size": item.size, "category": item.category} for item in self.files],
        }


@dataclass
class AccessResult:
    """Everything found about a person."""

    identities: dict[str, list[object]]
    collections: list[CollectionAccess] = field(default_factory=list)
    delegated: list[Delegated] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The whole export as JSON-ready data."""
        return {
            "identities": {kind: [jsonable(value) for value in values] for kind, values in self.identities.items()},
            "collections": [collection.to_json() for collection in self.collections],
            "pending": [delegated_json(item) for item in self.delegated if item.status == "pending"],
        }


@dataclass
class CollectionErasure:
    """What erasure did (or, in a dry run, would do) to one collection's rows of the person."""

    system: str
    collection: str
    erase: str
    # The person's rows found here; a second erasure finds anonymised and held rows again and changes nothing.
    found: int = 0
    deleted: int = 0
    anonymised: int = 0
    # Of the anonymised rows: those the policy would delete, kept anonymised because held rows reference them.
    downgraded: int = 0
    kept: int = 0
    held: int = 0
    holds: list[HoldReport] = field(default_factory=list)

    @property
    def touched(self) -> bool:
        """Whether the person had any row here."""
        return bool(self.found or self.deleted or self.anonymised or self.held)


@dataclass
class ErasureResult:
    """What erasure did to a person's data, and what legal holds keep."""

    identities: dict[str, list[object]]
    dry_run: bool
    collections: list[CollectionErasure] = field(default_factory=list)
    delegated: list[Delegated] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready data (identities included: keep it with the request, not in logs)."""
        return {
            "dry_run": self.dry_run,
            "identities": {kind: [jsonable(value) for value in values] for kind, values in self.identities.items()},
            "collections": [
                {**_fields(item), "holds": [{**_fields(hold), "until": jsonable(hold.until)} for hold in item.holds]}
                for item in self.collections
            ],
            "delegated": [delegated_json(item) for item in self.delegated],
        }


@dataclass
class CollectionRectification:
    """Which columns of one collection were corrected in how many of the person's rows."""

    system: str
    collection: str
    columns: list[str]
    rectified: int = 0
    # Rows under a legal hold are records of what was: they are not rewritten.
    held: int = 0
    unsupported: str | None = None


@dataclass
class RectificationResult:
    """What rectification changed."""

    identities: dict[str, list[object]]
    dry_run: bool
    collections: list[CollectionRectification] = field(default_factory=list)
    delegated: list[Delegated] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {
            "dry_run": self.dry_run,
            "identities": {kind: [jsonable(value) for value in values] for kind, values in self.identities.items()},
            "collections": [{**_fields(item), "columns": list(item.columns)} for item in self.collections],
            "delegated": [delegated_json(item) for item in self.delegated],
        }


def delegated_json(item: Delegated) -> dict[str, Any]:
    """A delegating system's answer, or its pending task."""
    return {
        "system": item.system,
        "status": item.status,
        "message": item.message,
        "reference": item.reference,
        "task": None if item.task is None else {**asdict(item.task), "identities": {k: list(v) for k, v in item.task.identities.items()}},
        "collections": {
            name: {**asdict(reported), "rows": [{k: jsonable(v) for k, v in row.items()} for row in reported.rows]}
            for name, reported in item.collections.items()
        },
    }


def _fields(item: Any) -> dict[str, Any]:
    """A dataclass's fields, not copied: `asdict` deep-copies every value, which a result of scalars does not need."""
    return {name: getattr(item, name) for name in item.__dataclass_fields__}


def jsonable(value: object) -> Any:
    """A value as JSON can carry it: times in ISO 8601, decimals as text, bytes in base64."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return str(value)
