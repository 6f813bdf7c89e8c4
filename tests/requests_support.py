"""Helpers for the data-subject request tests: a published policy, request bodies, the mail and the audit log."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from privacydesk.db.engine import transaction
from privacydesk.mail.models import OutboundMail
from privacydesk.policy.loader import load_policy
from privacydesk.requests.models import SubjectRequest
from privacydesk.versions import service as versions
from tests.conftest import PolicyFactory

ANIA = "ania.kowalska@example.org"


def publish(make_policy: PolicyFactory, edit: Callable[[dict[str, Any]], None] | None = None, **requests: Any) -> None:
    """Publish the minimal policy with these `requests` settings (email, phone and account_id accepted by default)."""

    def change(data: dict[str, Any]) -> None:
        data["requests"] = {"identities": ["email", "phone", "account_id"], **requests}
        if edit is not None:
            edit(data)

    with transaction() as session:
        versions.publish(session, load_policy(make_policy(change)), publisher="test")


def body(request_type: str = "access", email: str = ANIA, **fields: Any) -> dict[str, Any]:
    """A public request body naming `email`, the age confirmed."""
    return {"type": request_type, "identities": [{"type": "email", "value": email}], "age_confirmed": True, **fields}


def make(browser: TestClient, payload: dict[str, Any], expected: int = 201) -> dict[str, Any]:
    """Make a public request and return the receipt."""
    answer = browser.post("/api/v1/public/requests", json=payload)
    assert answer.status_code == expected, answer.text
    result: dict[str, Any] = answer.json()
    return result


def mails(template: str | None = None) -> list[OutboundMail]:
    """The queued and sent mail, oldest first, optionally of one template."""
    with transaction() as session:
        query = select(OutboundMail).order_by(OutboundMail.id)
        if template is not None:
            query = query.where(OutboundMail.template == template)
        return list(session.scalars(query))


def code_in(text: str) -> str:
    """The 6-digit code of a verification message."""
    found = re.search(r"^\s+(\d{6})\s*$", text, re.M)
    assert found is not None, text
    return found.group(1)


def last_code(to: str = ANIA) -> str:
    """The code in the latest verification mail to `to`."""
    sent = [mail for mail in mails("verification_code") if mail.to == to]
    assert sent, f"no code was mailed to {to}"
    return code_in(sent[-1].text_body)


def stored(reference: str) -> SubjectRequest:
    """The request with this reference, as stored."""
    with transaction() as session:
        return session.scalars(select(SubjectRequest).where(SubjectRequest.reference == reference)).one()
