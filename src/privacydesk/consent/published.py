"""The published policy as the consent service sees it: purposes, their lifetimes, and a cache by version hash."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from privacydesk.errors import Invalid, NotFound
from privacydesk.policy.durations import Duration
from privacydesk.policy.models import ConsentPurpose, Policy
from privacydesk.versions.models import PolicyVersion

# ePrivacy practice (CNIL, EDPB): a cookie consent is asked again after 13 months at the latest.
COOKIE_CONSENT_LIMIT = Duration(13, "month")
_CACHED = 16
_policies: OrderedDict[str, Policy] = OrderedDict()
_lock = threading.Lock()
# One parse at a time: requests arriving together after a start or a publish wait for it instead of each parsing.
_parsing = threading.Lock()
# libyaml when the platform has it: the stored files are read again whenever a version is parsed.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Published:
    """One published version: its number, hash and policy."""

    number: int
    hash: str
    published_at: datetime
    policy: Policy

    @property
    def purposes(self) -> list[str]:
        """The consent purposes, in policy order."""
        return list(self.policy.consents)

    def purpose(self, purpose_id: str) -> ConsentPurpose:
        """One consent purpose; Invalid naming the known ones if there is no such purpose."""
        return require_purpose(self.policy, purpose_id)

    def expiry(self, purpose_id: str, state: str, decided_at: datetime) -> datetime | None:
        """When a decision stops counting: a consent after its lifetime, a refusal once no longer remembered."""
        return expiry(self.policy, purpose_id, state, decided_at)


def lifetime(policy: Policy, purpose_id: str) -> Duration | None:
    """How long a consent to the purpose counts; None: until withdrawn. Cookie consents count 13 months at most."""
    purpose = require_purpose(policy, purpose_id)
    stated = None if purpose.expires == "never" else purpose.expires
    if not sets_cookies(policy, purpose_id):
        return stated
    return COOKIE_CONSENT_LIMIT if stated is None or stated > COOKIE_CONSENT_LIMIT else stated


def sets_cookies(policy: Policy, purpose_id: str) -> bool:
    """Whether the purpose is a cookie consent: its channel is cookie, or a cookie depends on it."""
    return require_purpose(policy, purpose_id).channel == "cookie" or any(cookie.consent == purpose_id for cookie in policy.cookies)


def expiry(policy: Policy, purpose_id: str, state: str, decided_at: datetime) -> datetime | None:
    """When a decision stops counting: a consent after its lifetime, a refusal once no longer remembered."""
    if state == "given":
        duration = lifetime(policy, purpose_id)
    elif state == "refused":
        duration = require_purpose(policy, purpose_id).refusal_remembered
    else:  # a withdrawal stands until the person decides again
        duration = None
    if duration is None:
        return None
    moment = duration.after(decided_at)
    assert isinstance(moment, datetime)
    return moment


def require_purpose(policy: Policy, purpose_id: str) -> ConsentPurpose:
    """The consent purpose `purpose_id` of `policy`; Invalid naming the known ones if there is none."""
    found = policy.consents.get(purpose_id)
    if found is None:
        known = ", ".join(policy.consents) or "none"
        raise Invalid(f"unknown purpose {purpose_id[:80]!r}; the published policy's consent purposes are: {known}")
    return found


def latest(session: Session) -> Published:
    """The latest published version; NotFound when nothing is published yet."""
    row = session.execute(
        select(PolicyVersion.number, PolicyVersion.hash, PolicyVersion.published_at).order_by(PolicyVersion.number.desc()).limit(1)
    ).first()
    if row is None:
        raise NotFound("no policy has been published yet: consent purposes come from the published policy")
    return Published(row.number, row.hash, row.published_at, policy_by_hash(session, row.hash))


def cached_policy(version_hash: str) -> Policy | None:
    """The policy of the version with this hash if this process has parsed it already, without touching the database."""
    return _cached(version_hash)


def policy_by_hash(session: Session, version_hash: str) -> Policy:
    """The policy of the version with this hash, parsed once per process (a hash names one content)."""
    cached = _cached(version_hash)
    if cached is not None:
        return cached
    with _parsing:
        cached = _cached(version_hash)  # parsed while this request waited
        if cached is not None:
            return cached
        query = select(PolicyVersion.policy, PolicyVersion.sources).where(PolicyVersion.hash == version_hash).limit(1)
        row = session.execute(query).first()
        if row is None:
            raise NotFound(f"no published policy version has the hash {version_hash[:80]!r}")
        policy = _in_written_order(Policy.model_validate(row.policy), row.sources)
        with _lock:
            _policies[version_hash] = policy
            while len(_policies) > _CACHED:
                _policies.popitem(last=False)
    return policy


def _cached(version_hash: str) -> Policy | None:
    with _lock:
        cached = _policies.get(version_hash)
        if cached is not None:
            _policies.move_to_end(version_hash)
        return cached


def _in_written_order(policy: Policy, sources: list[Any]) -> Policy:
    """The policy with its consent purposes in the order the files list them.

    Versions store the policy as JSONB, which keeps object keys in its own order; people expect
    the banner to show the purposes as the policy file does, and the files are stored too.
    """
    written: list[str] = []
    for source in sources:
        try:
            data = yaml.load(source["text"], Loader=_YAML_LOADER)  # a safe loader, in C when available
        except yaml.YAMLError:
            continue
        consents = data.get("consents") if isinstance(data, dict) else None
        if isinstance(consents, dict):
            written.extend(str(name) for name in consents)
    order = [name for name in dict.fromkeys(written) if name in policy.consents]
    order += [name for name in policy.consents if name not in order]
    return policy.model_copy(update={"consents": {name: policy.consents[name] for name in order}})
