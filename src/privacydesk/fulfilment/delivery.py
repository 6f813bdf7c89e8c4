"""Telling people what was done: the result mail to the person, tasks to system owners, a portable copy to another controller.

A person verified by phone alone is told by a text message (a retried job, through the pluggable
SMS sender); a download link in it asks for a code sent to the same number.

A copy for another controller (Art. 20(2)) is POSTed as JSON by a retried job, signed with the
platform's Ed25519 key (its public key is served at /api/v1/public/consent/receipt-key):
`X-Privacydesk-Signature: t=<unix time>,ed25519=<base64 signature of "<t>.<body>">`.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
import zipfile
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.connectors.base import ManualTask
from privacydesk.consent import receipts
from privacydesk.db.base import utcnow
from privacydesk.fulfilment.exports import link
from privacydesk.fulfilment.models import RequestExport
from privacydesk.i18n import format_day, gettext
from privacydesk.jobs.service import enqueue
from privacydesk.mail.service import queue_mail
from privacydesk.policy import labels
from privacydesk.policy.models import Policy
from privacydesk.requests import sms
from privacydesk.requests.models import RequestType, SubjectRequest
from privacydesk.requests.service import policy_for

SIGNATURE_HEADER = "X-Privacydesk-Signature"
KEY_HEADER = "X-Privacydesk-Key-Id"
TIMEOUT_SECONDS = 30.0
TEXT_RESULT_TASK = "fulfilment.text_result"


def notify(session: Session, request: SubjectRequest, policy: Policy, result: dict[str, Any], export: RequestExport | None) -> bool:
    """Mail the person the result, in their language, to their verified address; False when there is none."""
    address = request.verified_identity("email")
    if address is None:
        return False
    lang = request.language
    context: dict[str, Any] = {
        "organization": policy.organization.name,
        "reference": request.reference,
        "kind": request.type.value,
        "download_url": None,
        "expires_on": None,
        "controller_url": request.details.get("portability", {}).get("controller_url"),
        "deleted": sum(int(item.get("deleted") or 0) for item in result.get("collections", [])),
        "anonymised": sum(int(item.get("anonymised") or 0) for item in result.get("collections", [])),
        "rectified": sum(int(item.get("rectified") or 0) for item in result.get("collections", [])),
        "holds": holds(policy, result, lang),
        "legal_holds": legal_holds(result, lang),
        "consents": _titles(policy, _consents(request, result), lang),
        "activities": [
            policy.activities[name].title.get(lang, policy.text_languages())
            for name in result.get("object", {}).get("activities", [])
            if name in policy.activities
        ],
    }
    if export is not None and not context["controller_url"]:
        context["download_url"] = link(export)
        context["expires_on"] = format_day(export.expires_at.date(), lang)
    queue_mail(session, to=address, template="request_completed", language=lang, context=context)
    return True


def text(session: Session, request: SubjectRequest) -> bool:
    """Queue the text message telling a person verified by phone alone (no verified address) that the request is done."""
    if request.verified_identity("email") is not None or request.verified_identity("phone") is None:
        return False
    enqueue(session, TEXT_RESULT_TASK, queueing_lock=f"{TEXT_RESULT_TASK}:{request.id}", request_id=request.id)
    return True


def text_result(session: Session, request_id: int) -> None:
    """Send the result's text message; OSError when the gateway cannot take it (the job retries)."""
    request = session.get(SubjectRequest, request_id)
    phone = request.verified_identity("phone") if request is not None else None
    if request is None or phone is None:
        return
    values: dict[str, Any] = {"organization": policy_for(session, request).organization.name, "reference": request.reference}
    export = session.scalar(select(RequestExport).where(RequestExport.request_id == request.id, RequestExport.deleted_at.is_(None)))
    if export is not None and request.details.get("portability", {}).get("to") != "controller":
        message = gettext(
            request.language,
            "%(organization)s: your request %(reference)s is done. Your copy, until %(expires_on)s: %(url)s"
            " (a code will be sent to this number)",
        )
        values |= {"url": link(export), "expires_on": format_day(export.expires_at.date(), request.language)}
    else:
        message = gettext(request.language, "%(organization)s: your request %(reference)s is done.")
    sms.sender().send(phone, message % values)
    audit.record(session, actor="system", action="request.result_texted", object_type="subject_request", object_id=str(request.id))


def holds(policy: Policy, result: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The records the policy's holds keep, merged by reason: why (law and basis), how many, and until when."""
    merged: dict[str, dict[str, Any]] = {}
    for item in result.get("collections", []):
        for hold in item.get("holds", []):
            if hold.get("legal_hold"):
                continue
            parts = [hold["law"]] if hold.get("law") else []
            if hold.get("basis"):
                parts.append(labels.labelled(labels.HOLD_BASES, hold["basis"], lang))
            _merge(merged, "; ".join(parts) or hold["name"], hold)
    return _dated(merged, lang)


def legal_holds(result: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The records staff legal holds keep, merged by the reason staff gave: how many, and when the hold ends (None: until released)."""
    merged: dict[str, dict[str, Any]] = {}
    for item in result.get("collections", []):
        for hold in item.get("holds", []):
            if hold.get("legal_hold"):
                _merge(merged, hold["reason"], hold)
    for entry in merged.values():
        if entry["open"]:  # one of the holds has no end: the records are kept until it is released
            entry["until"] = None
    return _dated(merged, lang)


def _merge(merged: dict[str, dict[str, Any]], reason: str, hold: dict[str, Any]) -> None:
    entry = merged.setdefault(reason, {"reason": reason, "rows": 0, "until": None, "open": False})
    entry["rows"] += hold["rows"]
    entry["open"] = entry["open"] or bool(hold.get("open_rows")) or (bool(hold.get("legal_hold")) and not hold.get("until"))
    if hold.get("until") and (entry["until"] is None or hold["until"] > entry["until"]):
        entry["until"] = hold["until"]


def _dated(merged: dict[str, dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    for entry in merged.values():
        entry["until"] = format_day(datetime.fromisoformat(entry["until"]).date(), lang) if entry["until"] else None
    return list(merged.values())


def notify_owner(session: Session, policy: Policy, request: SubjectRequest, task: ManualTask) -> bool:
    """Mail a manual system's owner their task, in the organisation's language; False when the owner is not an address."""
    if "@" not in task.owner:
        return False
    system = policy.systems[task.system]
    lang = policy.organization.languages[0]
    context = {
        "organization": policy.organization.name,
        "system": system.title.get(lang, policy.text_languages()) if system.title else task.system,
        "task_id": task.id,
        "instructions": task.instructions,
        "due_on": format_day(request.due_on, lang),
    }
    queue_mail(session, to=task.owner, template="manual_task", language=lang, context=context)
    return True


def send_portable(session: Session, export_id: int, *, last_attempt: bool) -> str | None:
    """POST the export's JSON to the other controller once; return the error, or None when taken (or taken before)."""
    export = session.get(RequestExport, export_id, with_for_update=True)
    if export is None or export.delivered_at is not None or export.deleted_at is not None:
        return None
    request = session.get(SubjectRequest, export.request_id)
    assert request is not None
    url = request.details.get("portability", {}).get("controller_url")
    if request.type is not RequestType.portability or not url:
        return None
    body = portable_body(export, request)
    try:
        _post(url, body)
    except OSError as exc:
        export.delivery_error = f"{type(exc).__name__}: {exc}"[:2000]
        if last_attempt:
            audit.record(
                session, actor="system", action="request.portable_failed", object_type="subject_request", object_id=str(request.id)
            )
        return export.delivery_error
    export.delivered_at = utcnow()
    export.delivery_error = None
    audit.record(
        session,
        actor="system",
        action="request.portable_sent",
        object_type="subject_request",
        object_id=str(request.id),
        summary={"export": export.id, "bytes": len(body)},
    )
    return None


def portable_body(export: RequestExport, request: SubjectRequest) -> bytes:
    """The JSON a controller receives: every collection of the export, values with their categories."""
    with zipfile.ZipFile(export.path) as archive:
        collections = [
            json.loads(archive.read(name))
            for name in sorted(archive.namelist())
            if name.endswith(".json") and name.count("/") == 1 and not name.startswith("summary")
        ]
    document = {"format": "privacydesk-portable/1", "reference": request.reference, "collections": collections}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def signature(body: bytes, *, timestamp: int | None = None) -> str:
    """The signature header value of `body`: Ed25519 over `<t>.<body>` with the platform's public signing key."""
    moment = int(time.time()) if timestamp is None else timestamp
    signed = receipts.private_key().sign(f"{moment}.".encode() + body)
    return f"t={moment},ed25519={base64.b64encode(signed).decode()}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # The copy goes to the address the person gave, never on to another one.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post(url: str, body: bytes) -> None:
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(body),
        KEY_HEADER: receipts.key_id(receipts.public_key()),
    }
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.build_opener(_NoRedirects).open(request, timeout=TIMEOUT_SECONDS):
            pass
    except urllib.error.HTTPError as exc:
        raise OSError(f"the controller answered HTTP {exc.code}") from None


def _consents(request: SubjectRequest, result: dict[str, Any]) -> list[str]:
    """The consents the request ended: those named in a withdrawal, those an objection restricted."""
    if request.type is RequestType.consent_withdrawal:
        return list(request.details.get("consents", []))
    return list(result.get("object", {}).get("purposes", []))


def _titles(policy: Policy, names: list[str], lang: str) -> list[str]:
    return [policy.consents[name].title.get(lang, policy.text_languages()) for name in names if name in policy.consents]
