"""Compliance rules: what the GDPR forbids or requires, checked against one policy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import BaseModel

from privacydesk import taxonomy
from privacydesk.policy.countries import digital_consent_age, needs_safeguard
from privacydesk.policy.durations import Duration
from privacydesk.policy.models import Policy, Text

Severity = Literal["error", "warning"]
Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    """A named check with a fixed id and severity."""

    id: str
    name: str
    severity: Severity
    summary: str
    hint: str


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule firing at a place in the policy."""

    rule: Rule
    path: Path
    message: str


Check = Callable[[Policy], Iterator[tuple[Path, str]]]
RULES: list[tuple[Rule, Check]] = []


def rule(rule_id: str, name: str, severity: Severity, summary: str, hint: str) -> Callable[[Check], Check]:
    """Register a check under a rule id."""

    def register(check: Check) -> Check:
        RULES.append((Rule(rule_id, name, severity, summary, hint), check))
        return check

    return register


def run_rules(policy: Policy) -> list[Hit]:
    """Every rule hit in `policy`, in rule order."""
    return [Hit(definition, path, message) for definition, check in RULES for path, message in check(policy)]


@cache
def _narrower(*roots: str) -> frozenset[str]:
    """The DPV terms `roots` and every term below them."""
    by_iri = {term.iri: term.id for term in taxonomy.terms().values()}
    children: dict[str, list[str]] = {}
    for term in taxonomy.terms().values():
        for parent in term.broader:
            if parent in by_iri:
                children.setdefault(by_iri[parent], []).append(term.id)
    found: set[str] = set()
    pending = list(roots)
    while pending:
        current = pending.pop()
        if current not in found:
            found.add(current)
            pending.extend(children.get(current, []))
    return frozenset(found)


MARKETING = ("dpv:Marketing", "dpv:Advertising", "dpv:SellDataToThirdParties", "dpv:SellInsightsFromData")
ANALYTICS_OR_ADS = ("analytics", "advertising")
COOKIE_LIMIT = Duration(13, "month")
DEADLINE_LIMIT = Duration(1, "month")


@rule(
    "PD001",
    "consent-by-use",
    "error",
    "Consent is claimed from mere use, silence or a pre-ticked box; GDPR Art. 4(11) and Art. 7 require a clear affirmative act.",
    "obtain consent with an explicit opt-in (mechanism: opt_in or double_opt_in) or rely on another legal basis",
)
def _consent_by_use(policy: Policy) -> Iterator[tuple[Path, str]]:
    for name, consent in policy.consents.items():
        if consent.mechanism in ("continued_use", "pre_ticked", "implied"):
            how = {"continued_use": "continued use of the service", "pre_ticked": "a pre-ticked box", "implied": "implied agreement"}
            yield ("consents", name, "mechanism"), f"consent {name!r} is taken from {how[consent.mechanism]}, which is not valid consent"


@rule(
    "PD002",
    "marketing-without-consent",
    "error",
    "Marketing, advertising or profiling needs consent, or a legitimate interest with a way to object (Art. 21(2)-(3)).",
    "set legal_basis: consent, or state legitimate_interest and an objection path",
)
def _marketing_basis(policy: Policy) -> Iterator[tuple[Path, str]]:
    marketing = _narrower(*MARKETING)
    for name, activity in policy.activities.items():
        found = [p for p in activity.purposes if p in marketing]
        if not found or activity.legal_basis == "consent":
            continue
        if activity.legal_basis == "legitimate_interest" and activity.objection is not None:
            continue
        yield (
            ("activities", name, "legal_basis"),
            f"activity {name!r} serves {', '.join(found)} on {activity.legal_basis} without consent or an objection path",
        )


@rule(
    "PD003",
    "no-retention",
    "error",
    "Every activity must say how long its data is kept, or the criteria for it (Art. 13(2)(a)).",
    "add retention: a period ('2 years') or an event ('after: account_closure')",
)
def _no_retention(policy: Policy) -> Iterator[tuple[Path, str]]:
    for name, activity in policy.activities.items():
        if activity.retention is None:
            yield ("activities", name), f"activity {name!r} has no retention"


def _held_categories(policy: Policy) -> dict[str, Path]:
    held: dict[str, Path] = {}
    for system_name, system in policy.systems.items():
        for collection_name, collection in system.collections.items():
            for column, spec in collection.fields.items():
                held.setdefault(spec.category, ("systems", system_name, "collections", collection_name, "fields", column))
    return held


def _used_categories(policy: Policy) -> dict[str, Path]:
    used: dict[str, Path] = {}
    for name, activity in policy.activities.items():
        for category in activity.data.all():
            used.setdefault(category, ("activities", name, "data"))
    return used


@rule(
    "PD004",
    "held-without-purpose",
    "error",
    "A system holds a category of personal data that no processing activity uses: data kept without a purpose (Art. 5(1)(b), (c)).",
    "add the category to the activity that needs it, or stop storing it",
)
def _held_without_purpose(policy: Policy) -> Iterator[tuple[Path, str]]:
    used = _used_categories(policy)
    for category, path in _held_categories(policy).items():
        if category not in used:
            yield path, f"category {category!r} is stored here but used by no activity"


@rule(
    "PD005",
    "purpose-without-storage",
    "warning",
    "An activity uses a category that no declared system holds, so requests and retention cannot reach it.",
    "map the column or file that holds it in systems, or remove the category from the activity",
)
def _purpose_without_storage(policy: Policy) -> Iterator[tuple[Path, str]]:
    if not policy.systems:
        return
    held = _held_categories(policy)
    for category, path in _used_categories(policy).items():
        if category not in held:
            yield path, f"category {category!r} is used but held in no system"


@rule(
    "PD006",
    "transfer-without-safeguard",
    "error",
    "A transfer to a country without an EU adequacy decision needs an Art. 46 safeguard or an Art. 49 derogation.",
    "set safeguard (scc, bcr, ...) on the recipient or transfer",
)
def _transfer_without_safeguard(policy: Policy) -> Iterator[tuple[Path, str]]:
    for name, recipient in policy.recipients.items():
        if needs_safeguard(recipient.country) and recipient.safeguard is None:
            yield (
                ("recipients", name, "country"),
                f"recipient {name!r} is in {recipient.country} with no adequacy decision and no safeguard",
            )
    for name, activity in policy.activities.items():
        for index, transfer in enumerate(activity.transfers):
            covered = transfer.safeguard or (policy.recipients[transfer.recipient].safeguard if transfer.recipient else None)
            if needs_safeguard(transfer.country) and covered is None:
                yield ("activities", name, "transfers", index), f"transfer to {transfer.country} has no safeguard"


@rule(
    "PD007",
    "cookie-without-consent",
    "error",
    "Non-essential cookies need prior consent (ePrivacy Directive Art. 5(3)).",
    "link the cookie to a consent purpose with consent: <id>, or classify it as essential if it truly is",
)
def _cookie_without_consent(policy: Policy) -> Iterator[tuple[Path, str]]:
    for index, cookie in enumerate(policy.cookies):
        if cookie.category != "essential" and cookie.consent is None:
            yield ("cookies", index, "category"), f"{cookie.category} cookie {cookie.name!r} is set without a consent category"


@rule(
    "PD008",
    "cookie-lifetime",
    "warning",
    "Analytics and advertising cookies should live at most 13 months (CNIL and EDPB guidance; consent must be renewed).",
    "shorten the cookie's lifetime to 13 months or less",
)
def _cookie_lifetime(policy: Policy) -> Iterator[tuple[Path, str]]:
    for index, cookie in enumerate(policy.cookies):
        if cookie.category in ANALYTICS_OR_ADS and isinstance(cookie.lifetime, Duration) and cookie.lifetime > COOKIE_LIMIT:
            yield (
                ("cookies", index, "lifetime"),
                f"{cookie.category} cookie {cookie.name!r} lives {cookie.lifetime}, longer than {COOKIE_LIMIT}",
            )


@rule(
    "PD009",
    "special-without-art9",
    "error",
    "Special categories of personal data need an Art. 9(2) condition as well as an Art. 6 basis.",
    "set special_basis (explicit_consent, employment, health_care, ...)",
)
def _special_without_basis(policy: Policy) -> Iterator[tuple[Path, str]]:
    for name, activity in policy.activities.items():
        special = [c for c in activity.data.all() if policy.data[c].is_special]
        if special and activity.special_basis is None:
            yield (
                ("activities", name, "data"),
                f"activity {name!r} processes special categories ({', '.join(special)}) without an Art. 9 basis",
            )


@rule(
    "PD010",
    "minimum-age",
    "error",
    "The minimum age is below the member state's age of digital consent (Art. 8(1)).",
    "raise requests.minimum_age, or obtain parental consent below it",
)
def _minimum_age(policy: Policy) -> Iterator[tuple[Path, str]]:
    state = policy.organization.member_state or policy.organization.country
    required = digital_consent_age(state)
    age = policy.requests.minimum_age
    if age is not None and age < required:
        yield ("requests", "minimum_age"), f"minimum age {age} is below {required}, the age of digital consent in {state}"


@rule(
    "PD011",
    "deadline",
    "error",
    "Requests must be answered within one month of receipt (Art. 12(3)); extensions are per request, not a default.",
    "set requests.deadline to 1 month or less",
)
def _deadline(policy: Policy) -> Iterator[tuple[Path, str]]:
    if policy.requests.deadline > DEADLINE_LIMIT:
        yield ("requests", "deadline"), f"deadline {policy.requests.deadline} is longer than one month"


@rule(
    "PD012",
    "no-erase-strategy",
    "error",
    "A collection holding personal data has no erase strategy, so erasure requests cannot be fulfilled there.",
    "set erase: delete, anonymise (with per-field strategies) or keep (with a hold)",
)
def _no_erase_strategy(policy: Policy) -> Iterator[tuple[Path, str]]:
    for system_name, system in policy.systems.items():
        for name, collection in system.collections.items():
            if collection.fields and collection.erase is None:
                yield ("systems", system_name, "collections", name), f"collection {name!r} holds personal data but has no erase strategy"


@rule(
    "PD013",
    "hold-exceeds-retention",
    "error",
    "A legal hold keeps rows longer than the collection's own retention rule allows.",
    "shorten the hold, or lengthen the retention rule to cover it",
)
def _hold_exceeds_retention(policy: Policy) -> Iterator[tuple[Path, str]]:
    for system_name, system in policy.systems.items():
        for name, collection in system.collections.items():
            if collection.retention is None:
                continue
            for index, hold in enumerate(collection.holds):
                if collection.retention.keep < hold.keep:
                    yield (
                        ("systems", system_name, "collections", name, "holds", index, "keep"),
                        f"hold {hold.name!r} keeps {hold.keep}, longer than the retention of {collection.retention.keep}",
                    )


@rule(
    "PD014",
    "hold-without-basis",
    "error",
    "A legal hold must name its Art. 17(3) basis, or the data must be erased on request.",
    "set basis (legal_obligation, legal_claims, ...) and the law that requires it",
)
def _hold_without_basis(policy: Policy) -> Iterator[tuple[Path, str]]:
    for system_name, system in policy.systems.items():
        for name, collection in system.collections.items():
            for index, hold in enumerate(collection.holds):
                if hold.basis is None:
                    yield ("systems", system_name, "collections", name, "holds", index), f"hold {hold.name!r} has no legal basis"


@rule(
    "PD015",
    "no-legitimate-interest",
    "error",
    "Relying on legitimate interest requires stating the interest (Art. 13(1)(d)).",
    "write the interest pursued in legitimate_interest",
)
def _no_legitimate_interest(policy: Policy) -> Iterator[tuple[Path, str]]:
    for name, activity in policy.activities.items():
        if activity.legal_basis == "legitimate_interest" and activity.legitimate_interest is None:
            yield ("activities", name, "legal_basis"), f"activity {name!r} relies on legitimate interest without stating it"


@rule(
    "PD016",
    "consent-not-collectable",
    "error",
    "An activity based on consent has no consent purpose through which a person can give or withdraw it (Art. 7(1), 7(3)).",
    "add a consents entry listing this activity",
)
def _consent_not_collectable(policy: Policy) -> Iterator[tuple[Path, str]]:
    covered = {activity for consent in policy.consents.values() for activity in consent.activities}
    for name, activity in policy.activities.items():
        if activity.legal_basis == "consent" and name not in covered:
            yield ("activities", name, "legal_basis"), f"activity {name!r} relies on consent but no consent purpose covers it"


@rule(
    "PD017",
    "missing-translation",
    "warning",
    "A text lacks one of the organisation's notice languages, so that notice falls back to another language.",
    "add the missing languages to the text",
)
def _missing_translation(policy: Policy) -> Iterator[tuple[Path, str]]:
    wanted = set(policy.organization.languages)
    for path, text in _texts(policy, ()):
        missing = wanted - (text.languages() or wanted)
        if missing:
            yield path, f"text has no {', '.join(sorted(missing))} version"


def _texts(model: object, path: Path) -> Iterator[tuple[Path, Text]]:
    """Every Text value in the policy, with its path."""
    if isinstance(model, Text):
        yield path, model
    elif isinstance(model, dict):
        for key, value in model.items():
            yield from _texts(value, (*path, key))
    elif isinstance(model, list):
        for index, value in enumerate(model):
            yield from _texts(value, (*path, index))
    elif isinstance(model, BaseModel):
        for name, info in type(model).model_fields.items():
            yield from _texts(getattr(model, name), (*path, info.alias or name))
