"""The files connector: a directory tree (photos, recordings) whose paths carry people's identities.

A collection's `path` is a template relative to the root, with placeholders filled from identity
values (`identities: {account_id: account_id}`) or parent values (`references`): "photos/{account_id}/"
(every file below), "{user_id}/recordings/*.mp4" (a glob). Its `fields` map file-name patterns to
categories ({"*.png": photo}); with fields, only matching files belong to the collection. A row is a
file: path (its key, relative to the root), name, stem, size and modified (UTC).
"""

from __future__ import annotations

import glob
import string
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from privacydesk.connectors.base import (
    BATCH,
    Attachment,
    Change,
    ConnectorContext,
    ConnectorError,
    Cutoff,
    Exported,
    FieldStrategy,
    Key,
    Overdue,
    Row,
    RowConnector,
    SchemaProblem,
    Unsupported,
    comparable,
    key_order,
    naive_utc,
    resolve_env,
)
from privacydesk.policy.models import Collection, System

MODIFIED = "modified"


class FilesConnector(RowConnector):
    """A directory tree named by `url: env:NAME` (a path, or a file:// URL)."""

    attachments = True

    def __init__(self, name: str, system: System, context: ConnectorContext) -> None:
        self.name = name
        self.system = system
        location = resolve_env(system.url, system=name, setting="url")
        self.root = Path(location.removeprefix("file://")).resolve()

    def key_column(self, collection: str) -> str:
        """Files are identified by their path relative to the root."""
        return "path"

    def discover(self) -> list[SchemaProblem]:
        """The root exists; every template is safe and filled only by identities and references."""
        if not self.root.is_dir():
            return [SchemaProblem(self.name, None, f"the root directory {self.root} does not exist")]
        problems: list[SchemaProblem] = []
        for name, spec in self.system.collections.items():
            problems.extend(SchemaProblem(self.name, name, message) for message in _template_problems(spec))
            if spec.path is not None:
                prefix = self.root / _static_prefix(spec.path)
                if not prefix.is_dir():
                    problems.append(SchemaProblem(self.name, name, f"directory {prefix} does not exist (yet)", "warning"))
        return problems

    # ------------------------------------------------------------ finding files
    def find(self, collection: str, identities: Mapping[str, Iterable[object]], columns: Sequence[str]) -> list[Row]:
        """Files whose path, filled with one identity, matches the template (several identities OR-ed)."""
        spec = self._spec(collection)
        bindings = {
            placeholder: [comparable(kind, value) for value in identities[kind]]
            for kind, placeholder in spec.identities.items()
            if kind in identities
        }
        return self._matching(spec, bindings)

    def referencing(self, collection: str, column: str, values: Iterable[object], columns: Sequence[str]) -> list[Row]:
        """Files whose template placeholder `column` is filled with one of the parent values."""
        return self._matching(self._spec(collection), {column: [str(value) for value in values]})

    def linked(self, collection: str, links: Mapping[str, Iterable[object]], columns: Sequence[str]) -> list[Row]:
        """Files whose template is filled, for any of the links, with one of its parent values."""
        return self._matching(self._spec(collection), {column: [str(value) for value in values] for column, values in links.items()})

    def _matching(self, spec: Collection, bindings: Mapping[str, Sequence[str]]) -> list[Row]:
        found: dict[str, Row] = {}
        for placeholder, values in bindings.items():
            for value in values:
                if _safe(value):
                    for path in self._glob(spec, {placeholder: glob.escape(value)}):
                        row = self._row(path)
                        found[row["path"]] = row
        return sorted(found.values(), key=lambda row: str(row["path"]))

    def _glob(self, spec: Collection, bound: Mapping[str, str]) -> list[Path]:
        pattern = _render(_template(spec), bound)
        if pattern.endswith("/"):
            pattern += "**/*"
        return [path for path in self.root.glob(pattern) if self._inside(path) and _belongs(spec, path)]

    def _inside(self, path: Path) -> bool:
        # Symbolic links could lead out of the root: they are never followed, read or deleted.
        return path.is_file() and not path.is_symlink() and path.resolve().is_relative_to(self.root)

    def _row(self, path: Path) -> Row:
        stat = path.stat()
        return {
            "path": path.relative_to(self.root).as_posix(),
            "name": path.name,
            "stem": path.stem,
            "size": stat.st_size,
            MODIFIED: datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None),
        }

    def _path(self, key: Key) -> Path:
        relative = PurePosixPath(str(key))
        if relative.is_absolute() or ".." in relative.parts:
            raise ConnectorError(f"system {self.name!r}: {key!r} is not a path inside the root")
        return self.root / relative

    def _spec(self, collection: str) -> Collection:
        spec = self.system.collections.get(collection)
        if spec is None:
            raise ConnectorError(f"system {self.name!r} has no collection {collection!r}")
        return spec

    # ------------------------------------------------------------ export and erasure
    def export(self, collection: str, keys: Sequence[Key]) -> list[Exported]:
        """The files' attributes, each with the file itself."""
        spec = self._spec(collection)
        exported: list[Exported] = []
        for key in keys:
            path = self._path(key)
            if self._inside(path):
                row = self._row(path)
                category = next((spec.fields[pattern].category for pattern in spec.fields if fnmatch(path.name, pattern)), None)
                attachment = Attachment(row["path"], row["size"], _opener(path), category)
                exported.append(Exported(row, attachment))
        return exported

    def delete(self, collection: str, keys: Sequence[Key]) -> int:
        """Delete the files, then the directories their deletion left empty below the template's fixed part."""
        keep_depth = len(PurePosixPath(_static_prefix(_template(self._spec(collection)))).parts)
        deleted = 0
        for key in keys:
            path = self._path(key)
            if not self._inside(path):
                continue
            path.unlink()
            deleted += 1
            parent = path.parent
            while parent != self.root and len(parent.relative_to(self.root).parts) > keep_depth and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
        return deleted

    def anonymise(self, collection: str, keys: Sequence[Key], strategies: Mapping[str, FieldStrategy]) -> int:
        """Files have no fields to overwrite: they are deleted or kept."""
        raise Unsupported(f"system {self.name!r}: files cannot be anonymised; set erase: delete or keep on {collection!r}")

    def rectify(self, collection: str, keys: Sequence[Key], values: Mapping[str, object]) -> int:
        """A file's content is not a value privacydesk can correct."""
        raise Unsupported(f"system {self.name!r}: the content of files in {collection!r} cannot be rectified automatically")

    def apply(self, changes: Sequence[Change]) -> list[int]:
        """Each deletion in turn (a file system has no transactions); Unsupported before any change when one is not a deletion."""
        for change in changes:
            if change.action == "anonymise":
                self.anonymise(change.collection, change.keys, change.strategies)
            elif change.action == "rectify":
                self.rectify(change.collection, change.keys, change.values)
        return [self.delete(change.collection, change.keys) for change in changes]

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
        """Paths (in order, after `after`) of files last modified before `cutoff`, outside running holds."""
        if start != MODIFIED or any(hold.start != MODIFIED for hold in holds):
            raise ConnectorError(f"system {self.name!r}: retention and holds of files run from {MODIFIED!r}, not {start!r}")
        spec = self._spec(collection)
        limit_moment = naive_utc(cutoff)
        rows = [self._row(path) for path in self._glob(spec, {})]
        keys = [
            str(row["path"])
            for row in rows
            if row[MODIFIED] < limit_moment and not any(row[MODIFIED] >= naive_utc(hold.before) for hold in holds)
        ]
        keys.sort(key=key_order)
        if after is not None:
            keys = [key for key in keys if key > str(after)]
        return list(keys[:limit])

    def due_span(
        self, collection: str, start: str, cutoff: datetime, *, after: Key | None = None, limit: int = BATCH, holds: Sequence[Cutoff] = ()
    ) -> tuple[int, Key | None]:
        """The count and last path of the next `limit` expired files."""
        keys = self.expired(collection, start, cutoff, after=after, limit=limit, holds=holds)
        return len(keys), keys[-1] if keys else None

    def delete_due(
        self, collection: str, start: str, cutoff: datetime, *, after: Key | None, through: Key, holds: Sequence[Cutoff] = ()
    ) -> int:
        """Delete the expired files whose paths are after `after` and up to `through`."""
        keys = self.expired(collection, start, cutoff, after=after, limit=sys.maxsize, holds=holds)
        return self.delete(collection, [key for key in keys if key_order(key) <= key_order(through)])

    def overdue(
        self, collection: str, start: str, cutoff: datetime, *, holds: Sequence[Cutoff] = (), among: Sequence[Key] | None = None
    ) -> Overdue:
        """One walk of the collection's files: due and held counts, the oldest due and the next modification time."""
        if start != MODIFIED or any(hold.start != MODIFIED for hold in holds):
            raise ConnectorError(f"system {self.name!r}: retention and holds of files run from {MODIFIED!r}, not {start!r}")
        wanted = None if among is None else {str(key) for key in among}
        stamps = [
            row[MODIFIED] for row in map(self._row, self._glob(self._spec(collection), {})) if wanted is None or row["path"] in wanted
        ]
        limit_moment = naive_utc(cutoff)
        past = [stamp for stamp in stamps if stamp < limit_moment]
        due = [stamp for stamp in past if not any(stamp >= naive_utc(hold.before) for hold in holds)]
        upcoming = [stamp for stamp in stamps if stamp >= limit_moment]
        return Overdue(len(due), len(past) - len(due), min(due, default=None), min(upcoming, default=None))

    def close(self) -> None:
        """Nothing is held open."""


def _opener(path: Path) -> Callable[[], BinaryIO]:
    def open_file() -> BinaryIO:
        return path.open("rb")

    return open_file


def _template(spec: Collection) -> str:
    if spec.path is None:
        raise ConnectorError("a files collection needs a path template")
    return spec.path.lstrip("/")


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _render(template: str, bound: Mapping[str, str]) -> str:
    """The template as a glob: bound placeholders filled, the others matching any one path segment."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(glob.escape(literal))
        if name:
            parts.append(bound.get(name, "*"))
    return "".join(parts)


def _static_prefix(template: str) -> str:
    """The directories of the template before its first placeholder."""
    head = template.split("{", 1)[0]
    return head.rsplit("/", 1)[0] if "/" in head else ""


def _belongs(spec: Collection, path: Path) -> bool:
    return not spec.fields or any(fnmatch(path.name, pattern) for pattern in spec.fields)


def _safe(value: str) -> bool:
    # An identity value becomes a path segment: it may not climb out of it or name another one.
    return bool(value) and value not in (".", "..") and not any(character in value for character in "/\\\x00")


def _template_problems(spec: Collection) -> list[str]:
    if spec.path is None:
        return ["a files collection needs a path template (path: 'photos/{account_id}/')"]
    problems = []
    placeholders = _placeholders(spec.path)
    if not placeholders:
        problems.append(f"path {spec.path!r} has no placeholder: every file would belong to every person")
    known = set(spec.identities.values()) | set(spec.references)
    problems.extend(f"placeholder {{{name}}} is neither an identity nor a reference" for name in sorted(placeholders - known))
    if spec.erase == "anonymise":
        problems.append("files cannot be anonymised; set erase: delete or keep")
    starts = [hold.start for hold in spec.holds] + ([spec.retention.start] if spec.retention else [])
    problems.extend(f"periods of files run from {MODIFIED!r}, not {start!r}" for start in starts if start != MODIFIED)
    return problems
