"""Cross-references inside a policy: every id used must be declared, every declared id unique."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from privacydesk.policy.models import Policy

Problem = tuple[tuple[str | int, ...], str, bool]


def check_references(policy: Policy) -> list[Problem]:
    """Every dangling reference and duplicate id, as (path, message, points-at-key)."""
    return list(_problems(policy))


def _problems(policy: Policy) -> Iterator[Problem]:
    for name, activity in policy.activities.items():
        here: tuple[str, ...] = ("activities", name)
        yield from _each(activity.subjects, policy.subjects, (*here, "subjects"), "data-subject type")
        yield from _each(activity.data.required, policy.data, (*here, "data", "required"), "data category")
        yield from _each(activity.data.optional, policy.data, (*here, "data", "optional"), "data category")
        yield from _each(activity.recipients, policy.recipients, (*here, "recipients"), "recipient")
        yield from _each(activity.on_behalf_of, policy.recipients, (*here, "on_behalf_of"), "recipient")
        for index, transfer in enumerate(activity.transfers):
            if transfer.recipient is not None:
                yield from _each(
                    [transfer.recipient], policy.recipients, (*here, "transfers", index, "recipient"), "recipient", single=True
                )
    for name, consent in policy.consents.items():
        yield from _each(consent.activities, policy.activities, ("consents", name, "activities"), "activity")
    seen_cookies: dict[tuple[str, str | None], int] = {}
    for index, cookie in enumerate(policy.cookies):
        key = (cookie.name, cookie.domain)
        if key in seen_cookies:
            yield ("cookies", index, "name"), f"duplicate cookie {cookie.name!r}, first listed as cookies.{seen_cookies[key]}", False
        seen_cookies.setdefault(key, index)
        if cookie.consent is not None:
            yield from _each([cookie.consent], policy.consents, ("cookies", index, "consent"), "consent", single=True)
    for system_name, system in policy.systems.items():
        for collection_name, collection in system.collections.items():
            here = ("systems", system_name, "collections", collection_name)
            for column, spec in collection.fields.items():
                yield from _each([spec.category], policy.data, (*here, "fields", column), "data category", single=True)
            for column, target in collection.references.items():
                table = target.split(".")[0]
                if table not in system.collections:
                    yield (
                        (*here, "references", column),
                        f"reference to unknown collection {table!r} of system {system_name!r}{_hint(table, system.collections)}",
                        False,
                    )
            for identity in collection.identities:
                if identity not in policy.requests.identities:
                    yield (
                        (*here, "identities", identity),
                        f"identity {identity!r} is not declared in requests.identities ({', '.join(policy.requests.identities)})",
                        True,
                    )
            names = [hold.name for hold in collection.holds]
            for index, hold_name in enumerate(names):
                if hold_name in names[:index]:
                    yield (*here, "holds", index, "name"), f"duplicate hold {hold_name!r}", False


def _each(
    used: Iterable[str],
    declared: Iterable[str],
    path: tuple[str | int, ...],
    what: str,
    *,
    single: bool = False,
) -> Iterator[Problem]:
    known = list(declared)
    for index, name in enumerate(used):
        if name not in known:
            where = path if single else (*path, index)
            yield where, f"unknown {what} {name!r}{_hint(name, known)}", False


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
