"""OpenDSR status callbacks: signed with an HMAC key per client, queued with each visible change, sent by a retried job.

The key of a client is derived from the platform's secret key and the id of the client's API
token, so it is never stored and changes when the token is replaced. See docs/opendsr.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import urllib.request
from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from privacydesk.auth import keys
from privacydesk.config import get_settings
from privacydesk.db.base import utcnow
from privacydesk.jobs.service import enqueue
from privacydesk.requests.models import OpendsrCallback, OpendsrSubmission, RequestStatus, SubjectRequest

API_VERSION = "2.0"
CALLBACK_TASK = "requests.opendsr_callback"
SIGNATURE_HEADER = "X-OpenDSR-Signature"
TIMESTAMP_HEADER = "X-OpenDSR-Timestamp"
DOMAIN_HEADER = "X-OpenDSR-Processor-Domain"
TIMEOUT_SECONDS = 10.0

# OpenDSR knows four states; ours are finer. A refusal or a failure ends the request for the client as well.
_VISIBLE = {
    RequestStatus.received: "pending",
    RequestStatus.verifying: "pending",
    RequestStatus.verified: "pending",
    RequestStatus.awaiting_approval: "pending",
    RequestStatus.approved: "pending",
    RequestStatus.executing: "in_progress",
    RequestStatus.waiting_manual: "in_progress",
    RequestStatus.completed: "completed",
    RequestStatus.rejected: "cancelled",
    RequestStatus.cancelled: "cancelled",
    RequestStatus.failed: "cancelled",
    RequestStatus.expired: "cancelled",
}


def visible_status(status: RequestStatus) -> str:
    """The OpenDSR status a client sees for one of ours."""
    return _VISIBLE[status]


def client_key(token_id: int) -> bytes:
    """The HMAC key of the OpenDSR client authenticating with API token `token_id`."""
    return bytes.fromhex(keys.digest("opendsr-callback-key", f"token:{token_id}"))


def sign(token_id: int, body: bytes, *, now: datetime | None = None) -> dict[str, str]:
    """The headers that let client `token_id` check `body` came from us, unaltered, at this time."""
    timestamp = str(int((now or utcnow()).timestamp()))
    mac = hmac.new(client_key(token_id), timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return {
        DOMAIN_HEADER: urlsplit(get_settings().base_url).hostname or "localhost",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: base64.b64encode(mac).decode(),
    }


def encode(body: dict[str, Any]) -> bytes:
    """The exact bytes a JSON body is sent (and signed) as."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def expected_completion(request: SubjectRequest) -> str:
    """The end of the due day, in RFC 3339."""
    return datetime.combine(request.due_on, time(23, 59, 59), tzinfo=UTC).isoformat().replace("+00:00", "Z")


def status_body(submission: OpendsrSubmission, request: SubjectRequest) -> dict[str, Any]:
    """What a client is told about its request."""
    return {
        "api_version": API_VERSION,
        "controller_id": f"token:{submission.client_token_id}",
        "subject_request_id": submission.subject_request_id,
        "request_status": visible_status(request.status),
        "expected_completion_time": expected_completion(request),
    }


def status_changed(session: Session, request: SubjectRequest, previous: RequestStatus, *, now: datetime | None = None) -> None:
    """Queue a callback to every URL of every OpenDSR submission of `request` if the status they see changed."""
    if visible_status(previous) == visible_status(request.status):
        return
    stored = inspect(request)
    if stored.persistent and "forwarded" not in stored.unloaded and not request.forwarded:
        return
    submissions = session.scalars(
        select(OpendsrSubmission).where(OpendsrSubmission.request_id == request.id).order_by(OpendsrSubmission.id)
    )
    for submission in submissions:
        for url in submission.callback_urls:
            callback = OpendsrCallback(
                submission_id=submission.id,
                url=url,
                body={**status_body(submission, request), "status_callback_url": url},
                status="queued",
                attempts=0,
                created_at=now or utcnow(),
            )
            session.add(callback)
            session.flush()
            enqueue(session, CALLBACK_TASK, callback_id=callback.id)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # The signature covers this URL and body: a redirect elsewhere is a failure, not something to follow.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def deliver(session: Session, callback_id: int, *, last_attempt: bool) -> str | None:
    """POST one queued callback and record the outcome; return the error, or None when sent (or sent before)."""
    callback = session.get(OpendsrCallback, callback_id, with_for_update=True)
    if callback is None or callback.status != "queued":
        return None
    submission = session.get(OpendsrSubmission, callback.submission_id)
    if submission is None:
        return None
    callback.attempts += 1
    body = encode(callback.body)
    headers = {"Content-Type": "application/json", **sign(submission.client_token_id, body)}
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(urllib.request.Request(callback.url, data=body, headers=headers, method="POST"), timeout=TIMEOUT_SECONDS):
            pass
    except (OSError, http.client.HTTPException) as exc:  # refused, timed out, or answered other than 2xx
        callback.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if last_attempt:
            callback.status = "failed"
        return callback.last_error
    callback.status = "sent"
    callback.sent_at = utcnow()
    callback.last_error = None
    return None
