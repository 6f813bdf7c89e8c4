"""Writing an access result to a directory: JSON (values with their categories) and CSV per collection, files as they are."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path, PurePosixPath

from privacydesk.engine.results import AccessResult, CollectionAccess, jsonable


def write_access(result: AccessResult, out: Path) -> list[Path]:
    """Write `<system>/<collection>.json`, `.csv` and `<collection>/files/...`, plus `summary.json`; return what was written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for collection in result.collections:
        folder = out / collection.system
        folder.mkdir(exist_ok=True)
        data = folder / f"{collection.collection}.json"
        data.write_text(json.dumps(collection.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
        table = folder / f"{collection.collection}.csv"
        _write_csv(collection, table)
        written += [data, table]
        written += _copy_files(collection, folder / collection.collection / "files")
    summary = out / "summary.json"
    document = result.to_json()
    document["collections"] = [
        {"system": item.system, "collection": item.collection, "rows": len(item.rows), "files": len(item.files)}
        for item in result.collections
    ]
    summary.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return [*written, summary]


def _write_csv(collection: CollectionAccess, path: Path) -> None:
    columns = list(dict.fromkeys(column for row in collection.rows for column in row))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in collection.rows:
            writer.writerow(["" if row.get(column) is None else _cell(row[column].value) for column in columns])


def _cell(value: object) -> object:
    converted = jsonable(value)
    return "" if converted is None else converted


def _copy_files(collection: CollectionAccess, folder: Path) -> list[Path]:
    copied = []
    for attachment in collection.files:
        relative = PurePosixPath(attachment.path)
        if relative.is_absolute() or ".." in relative.parts:
            continue
        target = folder.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with attachment.open() as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink)
        copied.append(target)
    return copied
