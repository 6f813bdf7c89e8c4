"""The details a request type carries (corrected values, activities objected to...), checked against the policy."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from privacydesk.errors import Invalid
from privacydesk.policy.models import Policy
from privacydesk.requests.models import RequestType
from privacydesk.requests.schemas import RequestDetails

_BELONGS_TO: dict[str, RequestType] = {
    "portability": RequestType.portability,
    "corrections": RequestType.rectification,
    "objection": RequestType.objection,
    "consents": RequestType.consent_withdrawal,
    "restriction_reason": RequestType.restriction,
    "post_mortem": RequestType.post_mortem,
}
_OBJECTABLE_BASES = ("legitimate_interest", "public_task")


def is_absolute(request_type: RequestType, details: dict[str, Any]) -> bool:
    """Whether the request must be granted without weighing it: an objection to direct marketing (Art. 21(3))."""
    return request_type is RequestType.objection and bool(details.get("objection", {}).get("direct_marketing"))


def check(request_type: RequestType, details: RequestDetails, policy: Policy) -> dict[str, Any]:
    """The details `request_type` needs, checked against the policy, as they are stored; Invalid otherwise."""
    # Only the detail fields: `details` may be a whole request body, which also carries identities and ages.
    given = details.model_dump(mode="json", exclude_none=True, include=set(RequestDetails.model_fields))
    for name in given:
        if name in _BELONGS_TO and _BELONGS_TO[name] is not request_type:
            raise Invalid(f"'{name}' belongs to a {_BELONGS_TO[name].value} request, not to a {request_type.value} request")
    if request_type is RequestType.portability:
        portability = given.setdefault("portability", {"to": "subject"})
        if portability.get("to") == "controller":
            portability["controller_url"] = _controller_url(portability.get("controller_url"))
        elif portability.get("controller_url"):
            raise Invalid("controller_url is only for a copy sent to another controller (portability.to: controller)")
    elif request_type is RequestType.rectification:
        corrections = given.get("corrections") or []
        if not corrections:
            raise Invalid("a rectification request lists the corrected values ('corrections')")
        _known("data category", [correction["category"] for correction in corrections], policy.data)
    elif request_type is RequestType.objection:
        objection = given.get("objection")
        if not objection or not (objection["direct_marketing"] or objection["activities"]):
            raise Invalid("an objection names the activities objected to, or direct_marketing: true")
        _known("activity", objection["activities"], policy.activities)
        if not objection["direct_marketing"]:
            for name in objection["activities"]:
                if policy.activities[name].legal_basis not in _OBJECTABLE_BASES:
                    raise Invalid(
                        f"'{name}' does not rest on legitimate interest or a public task, so it cannot be objected to (Art. 21(1));"
                        " for processing based on consent, withdraw the consent instead"
                    )
    elif request_type is RequestType.consent_withdrawal:
        if not given.get("consents"):
            raise Invalid("a consent withdrawal names the consents withdrawn ('consents')")
        _known("consent", given["consents"], policy.consents)
    elif request_type is RequestType.post_mortem and "post_mortem" not in given:
        raise Invalid("instructions for after death carry the instructions ('post_mortem.instructions')")
    return given


def _known(kind: str, names: list[str], known: dict[str, Any]) -> None:
    unknown = [name for name in names if name not in known]
    if unknown:
        raise Invalid(
            f"unknown {kind} {unknown[0]!r}; the policy has: {', '.join(sorted(known)) or 'none'}",
            details={"unknown": unknown, "known": sorted(known)},
        )


def _controller_url(url: str | None) -> str:
    """The other controller's address, if it is a public https URL (it will receive personal data)."""
    parts = urlsplit(url or "")
    if parts.scheme != "https" or not parts.hostname:
        raise Invalid("give the other controller's address as an https:// URL (portability.controller_url)")
    host = parts.hostname
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        internal = host == "localhost" or host.endswith((".localhost", ".local", ".internal"))
    else:
        internal = not address.is_global
    if internal:
        raise Invalid("the other controller's address must be reachable on the internet, not a local or private address")
    return parts.geturl()
