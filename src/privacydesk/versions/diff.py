"""What changed between two policies, and which changes matter to the people whose data it is.

A change is material when people must be told before it applies, or asked again: a new purpose
on processing they consented to, new consent-based processing, a new recipient, data going to a
new third country, longer retention, more data taken by an activity, a non-essential cookie
added or kept longer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from privacydesk.policy.countries import EEA
from privacydesk.policy.durations import Duration
from privacydesk.policy.models import Activity, ConsentPurpose, Cookie, Policy, Recipient, Retention

Section = Literal["activity", "purpose", "data", "recipient", "transfer", "retention", "cookie", "consent"]
Kind = Literal["added", "removed", "changed", "longer", "shorter"]

# Fields of an activity compared on their own, each with its own materiality.
_OWN_SECTIONS = {"purposes", "data", "recipients", "transfers", "retention"}
# How much a consent mechanism proves; consents collected under a weaker one must be asked again.
_MECHANISM_STRENGTH = {"implied": 0, "pre_ticked": 0, "continued_use": 0, "opt_in": 1, "double_opt_in": 2}


class Change(BaseModel):
    """One difference between two policies."""

    model_config = ConfigDict(frozen=True)

    section: Section
    kind: Kind
    # The id the change is about: an activity, recipient, consent, cookie name or country code.
    subject: str
    summary: str
    material: bool
    reason: str
    # Members added or removed (purposes, data categories, activities...), or fields changed.
    items: list[str] = []
    before: str | None = None
    after: str | None = None

    def line(self) -> str:
        """The change as one line of text."""
        return f"{'material' if self.material else 'minor   '}  {self.section} {self.subject}: {self.summary} ({self.reason})"


class PolicyDiff(BaseModel):
    """Every change from one policy to the next, in policy order."""

    changes: list[Change]

    @property
    def material(self) -> list[Change]:
        """The changes people must be told about before they apply."""
        return [change for change in self.changes if change.material]

    def lines(self) -> list[str]:
        """The changes as text lines, or one line saying there are none."""
        return [change.line() for change in self.changes] or ["no changes"]


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    """Compare two policies section by section."""
    changes = [
        *_activities(old, new),
        *_recipients(old, new),
        *_transfers(old, new),
        *_cookies(old.cookies, new.cookies),
        *_consents(old.consents, new.consents),
    ]
    return PolicyDiff(changes=changes)


# ---------------------------------------------------------------- activities
def _consent_covered(policy: Policy, activity_id: str) -> bool:
    activity = policy.activities[activity_id]
    return activity.legal_basis == "consent" or any(activity_id in consent.activities for consent in policy.consents.values())


def _activities(old: Policy, new: Policy) -> Iterator[Change]:
    for name in _union(old.activities, new.activities):
        before, after = old.activities.get(name), new.activities.get(name)
        if before is None and after is not None:
            consent = after.legal_basis == "consent"
            reason = "people must be asked for consent before it starts" if consent else f"a new activity based on {after.legal_basis}"
            yield Change(section="activity", kind="added", subject=name, summary="new activity", material=consent, reason=reason)
        elif after is None:
            yield Change(
                section="activity", kind="removed", subject=name, summary="activity removed", material=False, reason="the processing stops"
            )
        elif before is not None and before != after:
            yield from _activity_changes(name, before, after, old, new)


def _activity_changes(name: str, before: Activity, after: Activity, old: Policy, new: Policy) -> Iterator[Change]:
    fields = [field for field in Activity.model_fields if field not in _OWN_SECTIONS and getattr(before, field) != getattr(after, field)]
    if fields:
        to_consent = "legal_basis" in fields and after.legal_basis == "consent"
        reason = "it now rests on consent: people must be asked" if to_consent else "the record and the notice describe it differently"
        yield Change(
            section="activity",
            kind="changed",
            subject=name,
            summary=f"changed {', '.join(fields)}",
            material=to_consent,
            reason=reason,
            items=fields,
        )
    added, removed = _members(before.purposes, after.purposes)
    if added:
        covered = _consent_covered(new, name)
        reason = "consent given before does not cover the new purpose" if covered else "the purpose is not based on consent"
        yield Change(
            section="purpose",
            kind="added",
            subject=name,
            summary=f"new purposes {', '.join(added)}",
            material=covered,
            reason=reason,
            items=added,
        )
    if removed:
        yield Change(
            section="purpose",
            kind="removed",
            subject=name,
            summary=f"purposes dropped {', '.join(removed)}",
            material=False,
            reason="less processing",
            items=removed,
        )
    added, removed = _members(before.data.all(), after.data.all())
    if added:
        yield Change(
            section="data",
            kind="added",
            subject=name,
            summary=f"takes more data: {', '.join(added)}",
            material=True,
            reason="more data about people",
            items=added,
        )
    if removed:
        yield Change(
            section="data",
            kind="removed",
            subject=name,
            summary=f"no longer takes {', '.join(removed)}",
            material=False,
            reason="less data",
            items=removed,
        )
    added, removed = _members(before.recipients, after.recipients)
    # A recipient new to (or gone from) the whole policy is one change of its own, listed in _recipients.
    for recipient in (r for r in added if r in old.recipients):
        yield Change(
            section="recipient",
            kind="added",
            subject=recipient,
            summary=f"now receives data of {name}",
            material=True,
            reason="a new disclosure",
            items=[name],
        )
    for recipient in (r for r in removed if r in new.recipients):
        yield Change(
            section="recipient",
            kind="removed",
            subject=recipient,
            summary=f"no longer receives data of {name}",
            material=False,
            reason="one disclosure fewer",
            items=[name],
        )
    retention = _retention(name, before.retention, after.retention)
    if retention is not None:
        yield retention


# ---------------------------------------------------------------- retention
def _retention_text(retention: Retention | None) -> str:
    if retention is None:
        return "not stated"
    if retention.period is None:
        return f"until {retention.after}"
    return f"{retention.period} after {retention.after}"


def _retention(name: str, before: Retention | None, after: Retention | None) -> Change | None:
    if before == after:
        return None
    old, new = _retention_text(before), _retention_text(after)

    def change(kind: Kind, material: bool, reason: str) -> Change:
        return Change(
            section="retention", kind=kind, subject=name, summary=f"{old} -> {new}", material=material, reason=reason, before=old, after=new
        )

    if before is None:
        return change("shorter", False, "a limit is now stated")
    if after is None:
        return change("longer", True, "no limit is stated any more")
    if before.after != after.after:
        return change("changed", True, "counted from another event: it may keep data longer")
    old_days, new_days = _days(before.period), _days(after.period)
    if new_days > old_days:
        return change("longer", True, "data is kept longer")
    if new_days < old_days:
        return change("shorter", False, "data is kept for less time")
    return change("changed", False, "the same length, described differently")


def _days(period: Duration | None) -> float:
    # No period means "until the event": nothing is kept after it.
    return 0.0 if period is None else period.approx_days


# ---------------------------------------------------------------- recipients and transfers
def _recipients(old: Policy, new: Policy) -> Iterator[Change]:
    for name in _union(old.recipients, new.recipients):
        before, after = old.recipients.get(name), new.recipients.get(name)
        if before is None and after is not None:
            users = [activity for activity, use in new.activities.items() if name in use.recipients]
            yield Change(
                section="recipient",
                kind="added",
                subject=name,
                summary=f"new recipient {after.name} ({after.role}, {after.country}) of {', '.join(users) or 'no activity yet'}",
                material=True,
                reason="a new disclosure",
                items=users,
            )
        elif after is None and before is not None:
            yield Change(
                section="recipient",
                kind="removed",
                subject=name,
                summary=f"{before.name} removed",
                material=False,
                reason="one disclosure fewer",
            )
        elif before is not None and after is not None and before != after:
            yield _recipient_change(name, before, after)


def _recipient_change(name: str, before: Recipient, after: Recipient) -> Change:
    fields = [field for field in Recipient.model_fields if getattr(before, field) != getattr(after, field)]
    details = [
        f"{field} {getattr(before, field)} -> {getattr(after, field)}" for field in ("role", "country", "safeguard") if field in fields
    ]
    reasons = []
    if "country" in fields and after.country not in EEA:
        reasons.append(f"data now goes to {after.country}, outside the EEA")
    if "role" in fields and after.role != "processor":
        reasons.append(f"the recipient now acts as {after.role.replace('_', ' ')}, for its own purposes")
    return Change(
        section="recipient",
        kind="changed",
        subject=name,
        summary=f"changed {', '.join(details or fields)}",
        material=bool(reasons),
        reason="; ".join(reasons) or "the same disclosure, described differently",
        items=fields,
    )


def _third_countries(policy: Policy) -> dict[str, set[str]]:
    """Each country outside the EEA that data goes to, with the activities whose data goes there."""
    found: dict[str, set[str]] = {}
    for name, activity in policy.activities.items():
        countries = {policy.recipients[r].country for r in activity.recipients if r in policy.recipients}
        countries |= {transfer.country for transfer in activity.transfers}
        for country in countries - EEA:
            found.setdefault(country, set()).add(name)
    return found


def _transfers(old: Policy, new: Policy) -> Iterator[Change]:
    before, after = _third_countries(old), _third_countries(new)
    for country in sorted(before.keys() | after.keys()):
        was, now = before.get(country, set()), after.get(country, set())
        if not was:
            activities = sorted(now)
            yield Change(
                section="transfer",
                kind="added",
                subject=country,
                summary=f"data of {', '.join(activities)} now goes to {country}",
                material=True,
                reason="a new country outside the EEA",
                items=activities,
            )
        elif not now:
            yield Change(
                section="transfer",
                kind="removed",
                subject=country,
                summary=f"no data goes to {country} any more",
                material=False,
                reason="one transfer fewer",
            )
        elif now - was:
            activities = sorted(now - was)
            yield Change(
                section="transfer",
                kind="changed",
                subject=country,
                summary=f"data of {', '.join(activities)} now also goes to {country}",
                material=True,
                reason="more data leaves the EEA",
                items=activities,
            )


# ---------------------------------------------------------------- cookies
def _lifetime_days(cookie: Cookie) -> float:
    return 0.0 if cookie.lifetime == "session" else cookie.lifetime.approx_days


def _cookies(old: list[Cookie], new: list[Cookie]) -> Iterator[Change]:
    before = {(cookie.provider, cookie.name): cookie for cookie in old}
    after = {(cookie.provider, cookie.name): cookie for cookie in new}
    for key in _union(before, after):
        was, now = before.get(key), after.get(key)
        if was is None and now is not None:
            optional = now.category != "essential"
            yield Change(
                section="cookie",
                kind="added",
                subject=now.name,
                summary=f"new {now.category} cookie from {now.provider}, kept {now.lifetime}",
                material=optional,
                reason="it needs consent" if optional else "strictly necessary",
            )
        elif now is None and was is not None:
            yield Change(
                section="cookie",
                kind="removed",
                subject=was.name,
                summary=f"{was.category} cookie removed",
                material=False,
                reason="one cookie fewer",
            )
        elif was is not None and now is not None and was != now:
            yield from _cookie_changes(was, now)


def _cookie_changes(was: Cookie, now: Cookie) -> Iterator[Change]:
    optional = now.category != "essential"
    if was.category != now.category:
        newly_optional = optional and was.category == "essential"
        yield Change(
            section="cookie",
            kind="changed",
            subject=now.name,
            summary=f"category {was.category} -> {now.category}",
            material=newly_optional,
            reason="it now needs consent" if newly_optional else "a different kind of cookie",
            before=was.category,
            after=now.category,
        )
    if _lifetime_days(now) != _lifetime_days(was):
        longer = _lifetime_days(now) > _lifetime_days(was)
        yield Change(
            section="cookie",
            kind="longer" if longer else "shorter",
            subject=now.name,
            summary=f"lifetime {was.lifetime} -> {now.lifetime}",
            material=longer and optional,
            reason=("a consent-based cookie is kept longer" if optional else "strictly necessary") if longer else "kept for less time",
            before=str(was.lifetime),
            after=str(now.lifetime),
        )


# ---------------------------------------------------------------- consents
def _consents(old: dict[str, ConsentPurpose], new: dict[str, ConsentPurpose]) -> Iterator[Change]:
    for name in _union(old, new):
        was, now = old.get(name), new.get(name)
        if was is None and now is not None:
            yield Change(
                section="consent",
                kind="added",
                subject=name,
                summary=f"new consent purpose over {', '.join(now.activities)} ({now.mechanism})",
                material=False,
                reason="people are asked before it applies",
                items=list(now.activities),
            )
        elif now is None:
            yield Change(
                section="consent",
                kind="removed",
                subject=name,
                summary="consent purpose removed",
                material=False,
                reason="nothing rests on it any more",
            )
        elif was is not None and was != now:
            yield from _consent_changes(name, was, now)


def _consent_changes(name: str, was: ConsentPurpose, now: ConsentPurpose) -> Iterator[Change]:
    added, removed = _members(was.activities, now.activities)
    if added:
        yield Change(
            section="consent",
            kind="changed",
            subject=name,
            summary=f"now also covers {', '.join(added)}",
            material=True,
            reason="consent given before does not cover the new activities",
            items=added,
        )
    if removed:
        yield Change(
            section="consent",
            kind="changed",
            subject=name,
            summary=f"no longer covers {', '.join(removed)}",
            material=False,
            reason="it covers less",
            items=removed,
        )
    if was.mechanism != now.mechanism:
        stronger = _MECHANISM_STRENGTH[now.mechanism] > _MECHANISM_STRENGTH[was.mechanism]
        yield Change(
            section="consent",
            kind="changed",
            subject=name,
            summary=f"mechanism {was.mechanism} -> {now.mechanism}",
            material=stronger,
            reason="consents collected the old way must be collected again" if stronger else "existing consents still meet it",
            before=was.mechanism,
            after=now.mechanism,
        )
    others = [
        field
        for field in ConsentPurpose.model_fields
        if field not in {"activities", "mechanism"} and getattr(was, field) != getattr(now, field)
    ]
    if others:
        yield Change(
            section="consent",
            kind="changed",
            subject=name,
            summary=f"changed {', '.join(others)}",
            material=False,
            reason="the same choice, described differently",
            items=others,
        )


# ---------------------------------------------------------------- helpers
_Key = TypeVar("_Key")


def _union(before: Mapping[_Key, object], after: Mapping[_Key, object]) -> list[_Key]:
    """Keys of both, in the order they appear (the old policy first, then new ones)."""
    return list(dict.fromkeys([*before, *after]))


def _members(before: list[str], after: list[str]) -> tuple[list[str], list[str]]:
    """Items added and items removed, in list order."""
    return [item for item in after if item not in before], [item for item in before if item not in after]
