"""Writing an access result: JSON (values with their categories) and CSV per collection, files as they are.

`entries` lists the export's files (content in memory, attachments opened from their system);
`write_access` writes them to a directory, and the request runner writes them into a ZIP.
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import orjson

from privacydesk.connectors.base import Attachment
from privacydesk.engine.results import AccessResult, CollectionAccess, jsonable

SUMMARY = "summary.json"


@dataclass(frozen=True)
class Entry:
    """One file of an export: its path inside the export, and its content, or the attachment it copies."""

    path: str
    content: bytes = b""
    attachment: Attachment | None = None


def entries(result: AccessResult) -> list[Entry]:
    """`<system>/<collection>.json`, `.csv` and `<collection>/files/...` for every collection, then `summary.json`."""
    listed: list[Entry] = []
    for collection in result.collections:
        base = f"{collection.system}/{collection.collection}"
        listed.append(Entry(f"{base}.json", _json(collection.to_json())))
        listed.append(Entry(f"{base}.csv", _csv(collection)))
        for attachment in collection.files:
            relative = PurePosixPath(attachment.path)
            if relative.is_absolute() or ".." in relative.parts:
                continue
            listed.append(Entry(f"{base}/files/{relative.as_posix()}", attachment=attachment))
    document = result.to_json()
    document["collections"] = [
        {"system": item.system, "collection": item.collection, "rows": len(item.rows), "files": len(item.files)}
        for item in result.collections
    ]
    listed.append(Entry(SUMMARY, _json(document)))
    return listed


def write_access(result: AccessResult, out: Path) -> list[Path]:
    """Write the export's files under `out`; return what was written (`summary.json` last)."""
    written: list[Path] = []
    for entry in entries(result):
        target = out.joinpath(*PurePosixPath(entry.path).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.attachment is None:
            target.write_bytes(entry.content)
        else:
            with entry.attachment.open() as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
        written.append(target)
    return written


def _json(document: object) -> bytes:
    # Indented for people who open the file; orjson, because the standard library indents in pure Python, ten times slower.
    # Column names may be str subclasses (SQLAlchemy's quoted names), which orjson takes as keys only with OPT_NON_STR_KEYS.
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)


def _csv(collection: CollectionAccess) -> bytes:
    columns = list(dict.fromkeys(column for row in collection.rows for column in row))
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(columns)
    for row in collection.rows:
        writer.writerow(["" if row.get(column) is None else _cell(row[column].value) for column in columns])
    return handle.getvalue().encode("utf-8")


def _cell(value: object) -> object:
    converted = jsonable(value)
    return "" if converted is None else converted
