"""Access exports: rows gathered from the steps, packaged as a ZIP, reached through an expiring signed link, deleted when it expires.

The ZIP holds, per system and collection, JSON (each value with its data category) and CSV, the
files of file collections, `summary.json`, and `report.html` in the person's language. It is
written to the export directory (owner-only permissions) under the request's reference, so
packaging again after an interruption rewrites the same file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.auth import keys
from privacydesk.config import get_settings
from privacydesk.connectors.registry import Connectors
from privacydesk.db.base import utcnow
from privacydesk.engine.export import Entry, entries
from privacydesk.engine.results import AccessResult, CollectionAccess, Value
from privacydesk.errors import NotFound, PrivacydeskError
from privacydesk.fulfilment import report
from privacydesk.fulfilment.models import RequestExport, RequestStep
from privacydesk.fulfilment.planning import identities_of
from privacydesk.policy.models import Policy
from privacydesk.requests.models import SubjectRequest

LINK_PURPOSE = "request-export"
REPORT = "report.html"
# A build directory untouched for this long belongs to a worker that died while packaging.
LEFTOVER_SECONDS = 3600


class LinkExpired(PrivacydeskError):
    """The link was good, but its time is over and the export is deleted."""

    status_code = 410
    code = "link_expired"


@dataclass(frozen=True)
class Packaged:
    """Where an export was written, and how long writing it took (the bench reports it apart)."""

    path: Path
    size: int
    sha256: str
    seconds: float


def directory() -> Path:
    """The export directory, created owner-only on first use."""
    settings = get_settings()
    folder = settings.export_dir or settings.data_dir / "exports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def gather(policy: Policy, request: SubjectRequest, steps: Sequence[RequestStep], connectors: Connectors) -> AccessResult:
    """The person's rows from the steps that exported them, each value with its category; files read again from their system."""
    collections: dict[tuple[str, str], CollectionAccess] = {}
    result = AccessResult({kind: list(values) for kind, values in identities_of(request).items()})
    for step in steps:
        stored = step.result or {}
        if step.action == "export" and step.system and step.collection:
            target = collections.setdefault((step.system, step.collection), CollectionAccess(step.system, step.collection))
            target.rows.extend(_annotated(policy, step.system, step.collection, row) for row in stored.get("rows", []))
            if stored.get("files"):
                exported = connectors[step.system].export(step.collection, step.payload["keys"])
                target.files.extend(item.attachment for item in exported if item.attachment is not None)
        elif step.action == "delegate" and step.system:
            for name, item in stored.get("collections", {}).items():
                target = collections.setdefault((step.system, name), CollectionAccess(step.system, name))
                target.rows.extend(_annotated(policy, step.system, name, row) for row in item.get("rows", []))
    result.collections = list(collections.values())
    return result


def package(policy: Policy, version_hash: str, request: SubjectRequest, result: AccessResult) -> Packaged:
    """Write the ZIP of the export (replacing an earlier attempt's) with owner-only permissions, straight from memory."""
    started = time.perf_counter()
    folder = directory()
    target = folder / f"{request.reference}.zip"
    page = report.render(policy, version_hash, request.language, result, reference=request.reference, received=request.received_at)
    listed = [*entries(result), Entry(REPORT, page.encode("utf-8"))]
    with tempfile.TemporaryDirectory(dir=folder, prefix=".building-") as building:
        draft = Path(building) / "export.zip"
        with zipfile.ZipFile(draft, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for entry in sorted(listed, key=lambda item: PurePosixPath(item.path).parts):
                if entry.attachment is None:
                    archive.writestr(entry.path, entry.content)
                else:
                    with entry.attachment.open() as source, archive.open(entry.path, "w") as sink:
                        shutil.copyfileobj(source, sink)
        os.chmod(draft, 0o600)
        os.replace(draft, target)
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return Packaged(target, target.stat().st_size, digest.hexdigest(), time.perf_counter() - started)


def record(session: Session, request: SubjectRequest, packaged: Packaged, *, now: datetime | None = None) -> RequestExport:
    """Store the export's row (once per request), valid for the configured number of days."""
    now = now or utcnow()
    export = session.scalar(select(RequestExport).where(RequestExport.request_id == request.id))
    if export is None:
        export = RequestExport(request_id=request.id, downloads=0)
        session.add(export)
    export.path, export.size, export.sha256 = str(packaged.path), packaged.size, packaged.sha256
    export.created_at = now
    export.expires_at = now + timedelta(days=get_settings().export_days)
    export.deleted_at = None
    session.flush()
    return export


def link(export: RequestExport) -> str:
    """The signed address of the export's download page, valid until the export expires."""
    token = keys.sign(LINK_PURPOSE, f"{export.id}.{int(export.expires_at.timestamp())}")
    return f"{get_settings().base_url}/api/v1/public/exports/{token}"


def by_token(session: Session, token: str, *, now: datetime | None = None, lock: bool = False) -> RequestExport:
    """The export a link names; NotFound for a forged or mangled link, LinkExpired once its time is over."""
    value = keys.unsign(LINK_PURPOSE, token)
    export_id, _, expires = (value or "").partition(".")
    if not export_id.isdigit() or not expires.isdigit():
        raise NotFound("this download link is not valid; open the whole link from the message")
    export = session.get(RequestExport, int(export_id), with_for_update=lock)
    if export is None:
        raise NotFound("this download link is not valid; open the whole link from the message")
    if export.deleted_at is not None or (now or utcnow()) >= export.expires_at or int(expires) != int(export.expires_at.timestamp()):
        raise LinkExpired("this download link has expired and the copy was deleted; make a new access request to get a new one")
    return export


def purge(session: Session, *, now: datetime | None = None) -> int:
    """Delete the files of expired exports and mark them deleted; return how many."""
    now = now or utcnow()
    # Half-built exports a killed worker left behind hold personal data too.
    for leftover in directory().glob(".building-*"):
        if leftover.stat().st_mtime < now.timestamp() - LEFTOVER_SECONDS:
            shutil.rmtree(leftover, ignore_errors=True)
    expired = session.scalars(
        select(RequestExport).where(RequestExport.deleted_at.is_(None), RequestExport.expires_at <= now).with_for_update(skip_locked=True)
    ).all()
    for export in expired:
        Path(export.path).unlink(missing_ok=True)
        export.deleted_at = now
        audit.record(
            session,
            actor="system",
            action="request.export_deleted",
            object_type="subject_request",
            object_id=str(export.request_id),
            summary={"export": export.id, "expired_at": export.expires_at.isoformat()},
        )
    return len(expired)


def _annotated(policy: Policy, system: str, collection: str, row: dict[str, Any]) -> dict[str, Value]:
    spec = policy.systems[system].collections.get(collection) if system in policy.systems else None
    fields = spec.fields if spec is not None else {}
    return {column: Value(value, fields[column].category if column in fields else None) for column, value in row.items()}
