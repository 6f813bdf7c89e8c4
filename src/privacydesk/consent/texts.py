"""What the banner shows in one language, and the hash that proves which text a person saw."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import rfc8785

from privacydesk.i18n import LANGUAGES, gettext
from privacydesk.policy import labels
from privacydesk.policy.labels import _
from privacydesk.policy.models import Cookie, Policy

# The banner's fixed strings, by the key the banner reads them under; translated through the catalogs.
FIXED_TEXTS = {
    "title": _("Your privacy choices"),
    "description": _(
        "We ask for your consent before we use cookies or your data for the purposes below. Essential cookies keep "
        "the site working and need no consent. Refusing is as easy as accepting, and you can change your mind at any time."
    ),
    "accept_all": _("Accept all"),
    "reject_all": _("Reject all"),
    "customise": _("Customise"),
    "save": _("Save my choices"),
    "close": _("Close"),
    "reopen": _("Privacy choices"),
    "revision_notice": _("Our privacy policy has changed since you last chose. Please review your choices."),
    "essential_title": _("Essential cookies"),
    "essential_description": _("Needed for the site to work, so they are always on."),
    "cookies": _("Cookies"),
    "cookie_name": _("Name"),
    "cookie_provider": _("Provider"),
    "cookie_domain": _("Domain"),
    "cookie_lifetime": _("Lifetime"),
    "cookie_purpose": _("Purpose"),
}

_CACHED = 64
_configs: dict[tuple[str, str], dict[str, Any]] = {}
_lock = threading.Lock()


def language_for(policy: Policy, wanted: str | None) -> str:
    """The language to answer in: the one asked for (`pl`, `pl-PL`) if supported, else the policy's first."""
    if wanted:
        code = wanted.strip().lower().replace("_", "-").split("-")[0]
        if code in LANGUAGES:
            return code
    return policy.organization.languages[0]


def banner_config(policy: Policy, version_hash: str, lang: str) -> dict[str, Any]:
    """Texts, purposes and essential cookies in `lang`, and the hash of the texts and purposes (built once per version)."""
    key = (version_hash, lang)
    with _lock:
        cached = _configs.get(key)
    if cached is not None:
        return cached
    fallback = policy.text_languages()
    texts = {name: gettext(lang, message) for name, message in FIXED_TEXTS.items()}
    purposes = [
        {
            "id": purpose_id,
            "title": purpose.title.get(lang, fallback),
            "description": purpose.description.get(lang, fallback) if purpose.description else "",
            "cookies": [_cookie(cookie, policy, lang) for cookie in policy.cookies if cookie.consent == purpose_id],
        }
        for purpose_id, purpose in policy.consents.items()
    ]
    config = {
        "texts": texts,
        "purposes": purposes,
        "essential_cookies": [_cookie(cookie, policy, lang) for cookie in policy.cookies if cookie.category == "essential"],
        "text_hash": text_hash(texts, purposes),
    }
    with _lock:
        if len(_configs) >= _CACHED:
            _configs.clear()
        _configs[key] = config
    return config


def text_hash(texts: dict[str, str], purposes: list[dict[str, Any]]) -> str:
    """SHA-256 of the RFC 8785 canonical JSON of exactly the texts and purposes shown."""
    return hashlib.sha256(rfc8785.dumps({"texts": texts, "purposes": purposes})).hexdigest()


def _cookie(cookie: Cookie, policy: Policy, lang: str) -> dict[str, str]:
    lifetime = gettext(lang, "Session") if cookie.lifetime == "session" else labels.duration(cookie.lifetime, lang)
    return {
        "name": cookie.name,
        "provider": cookie.provider,
        "domain": cookie.domain or "",
        "lifetime": lifetime,
        "purpose": cookie.purpose.get(lang, policy.text_languages()),
    }
