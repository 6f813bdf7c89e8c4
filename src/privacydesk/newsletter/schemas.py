"""What the public newsletter endpoint reads and returns."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints

from privacydesk.consent.schemas import Input, PurposeId


class SubscribeIn(Input):
    """A subscription asked for on a site's form."""

    email: Annotated[str, StringConstraints(min_length=3, max_length=254)]
    purpose: PurposeId
    # The language of the mails and pages; the policy's first language when omitted.
    language: Annotated[str, StringConstraints(min_length=2, max_length=5)] | None = None


class SubscribeOut(BaseModel):
    """The same answer whatever the address's history, so the endpoint reveals nobody's subscriptions."""

    message: str
