"""The policy-versions API: publish (policy:publish), list, read and compare (policy:read)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import PurePath
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.datastructures import UploadFile

from privacydesk.auth.deps import protected_router, require
from privacydesk.auth.permissions import Permission
from privacydesk.auth.principal import Principal
from privacydesk.errors import Invalid
from privacydesk.versions import service
from privacydesk.versions.schemas import Finding, PublishOutcome, VersionDetail, VersionDiff, VersionSummary
from privacydesk.web.deps import DbSession

# Each route names its own permission: a token scoped to policy:publish alone can still publish.
router = protected_router(prefix="/policies", tags=["policies"])
READ = [Depends(require(Permission.POLICY_READ))]
Publisher = Annotated[Principal, Depends(require(Permission.POLICY_PUBLISH))]
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}")


@dataclass(frozen=True)
class Upload:
    """A policy sent to the API: its text and the file name its errors are reported under."""

    text: str
    filename: str


async def uploaded_policy(request: Request) -> Upload:
    """The policy in the request: the raw body (YAML), or the `file` field of a multipart form."""
    filename = "policy.yaml"
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid("send the policy file in the form field 'file'")
        raw = await upload.read()
        # Only the base name, and only a plain one, is used: it names a file in a temporary directory.
        name = PurePath(upload.filename or "").name
        filename = name if _SAFE_NAME.fullmatch(name) else filename
    else:
        raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the policy must be UTF-8 text") from None
    if not text.strip():
        raise Invalid("the request carries no policy: send the YAML as the body, or as the form field 'file'")
    return Upload(text, filename)


@router.post(
    "",
    status_code=201,
    responses={
        200: {"model": PublishOutcome, "description": "The content equals the latest version: nothing was published"},
        422: {"description": "The policy does not load or has lint errors"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}
                },
            },
        }
    },
)
def publish(
    principal: Publisher,
    upload: Annotated[Upload, Depends(uploaded_policy)],
    session: DbSession,
    response: Response,
    effective: date | None = None,
) -> PublishOutcome:
    """Validate, lint and publish a policy as the next version (201), or find it unchanged (200)."""
    with service.load_text(upload.text, upload.filename) as loaded:
        result = service.publish(session, loaded, publisher=principal.actor, effective=effective)
    if not result.created:
        response.status_code = 200
    return PublishOutcome(
        created=result.created,
        version=VersionSummary.model_validate(result.version),
        changes=result.diff.changes if result.diff else [],
        warnings=[Finding.model_validate(warning.as_dict()) for warning in result.warnings],
    )


@router.get("", dependencies=READ)
def list_versions(session: DbSession) -> list[VersionSummary]:
    """Every published version, oldest first."""
    return [VersionSummary.model_validate(version) for version in service.list_versions(session)]


@router.get("/{number}", dependencies=READ)
def get_version(number: int, session: DbSession) -> VersionDetail:
    """One version with its policy and source files."""
    return VersionDetail.model_validate(service.get(session, number))


@router.get("/{old}/diff/{new}", dependencies=READ)
def diff_versions(old: int, new: int, session: DbSession) -> VersionDiff:
    """What changed from version `old` to version `new`, material changes flagged."""
    diff = service.diff_versions(session, old, new)
    return VersionDiff(old=old, new=new, material=bool(diff.material), changes=diff.changes, lines=diff.lines())
