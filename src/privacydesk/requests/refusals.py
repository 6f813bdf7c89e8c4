"""Telling a person their request was refused (Art. 12(4)): the reasons, and the complaint and court they may turn to."""

from __future__ import annotations

from sqlalchemy.orm import Session

from privacydesk.mail.service import queue_mail
from privacydesk.policy import labels
from privacydesk.policy.models import Policy
from privacydesk.requests.models import SubjectRequest


def notify(session: Session, request: SubjectRequest, policy: Policy, reason: str) -> bool:
    """Mail the person, in their language, why their request was refused and what remedies they have; False without an address.

    The mail goes where the verification code went (the request's e-mail address, verified or not): a
    request refused because the person could not be verified is answered too.
    """
    address = request.identity("email")
    if address is None:
        return False
    lang = request.language
    authority = policy.organization.supervisory_authority
    context = {
        "organization": policy.organization.name,
        "reference": request.reference,
        "reason": reason,
        "authority": None if authority is None else (labels.term(authority.dpv, lang) if authority.dpv else authority.name),
        "authority_contact": None if authority is None else (authority.url or authority.address),
    }
    queue_mail(session, to=address, template="request_refused", language=lang, context=context)
    return True
