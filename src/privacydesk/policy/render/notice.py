"""The privacy notice (GDPR Art. 13 and 14) as a standalone HTML page or as GitHub Markdown."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from privacydesk import taxonomy
from privacydesk.i18n import format_day, translations
from privacydesk.policy import labels
from privacydesk.policy.countries import EEA, country_name, needs_safeguard
from privacydesk.policy.loader import LoadedPolicy
from privacydesk.policy.models import Activity, Collection, Contact, Party, Policy, Text

Format = Literal["html", "md"]
_TEMPLATES = Path(__file__).parent / "templates"
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")
# Art. 21(2)-(3): objection to these purposes is absolute. DPV files public relations under
# marketing too, but it is not direct marketing, so only these branches (and plain marketing) count.
_MARKETING_ROOTS = ("dpv:DirectMarketing", "dpv:Advertising", "dpv:SocialMediaMarketing")


@dataclass(frozen=True)
class ContactView:
    """Ways to reach someone, as plain strings."""

    email: str | None = None
    phone: str | None = None
    url: str | None = None
    address: str | None = None

    @property
    def empty(self) -> bool:
        """Whether there is no way to reach them."""
        return not (self.email or self.phone or self.url or self.address)


@dataclass(frozen=True)
class PartyView:
    """A named person or organisation with a country and contact."""

    name: str
    country: str | None
    contact: ContactView


@dataclass(frozen=True)
class ActivityView:
    """One processing activity as the notice tells it."""

    title: str
    description: str | None
    subjects: list[str]
    purposes: list[str]
    required: list[str]
    optional: list[str]
    legal_basis: str
    basis: str
    legitimate_interest: str | None
    special_basis: str | None
    source: str | None
    source_description: str | None
    retention: str | None
    retention_description: str | None
    objection: str | None
    marketing: bool

    @property
    def collected(self) -> bool:
        """Whether the person gives this activity's data themselves."""
        return self.source is None and bool(self.required or self.optional)


@dataclass(frozen=True)
class RecipientView:
    """Someone data is disclosed to."""

    name: str
    kind: str
    role: str
    country: str
    activities: list[str]
    description: str | None


@dataclass(frozen=True)
class TransferView:
    """Data leaving the EEA, and the safeguard that covers it."""

    recipient: str | None
    country: str
    safeguard: str | None
    description: str | None


@dataclass(frozen=True)
class HoldView:
    """Records kept after an erasure request because the law requires it."""

    reason: str
    period: str


@dataclass(frozen=True)
class DecisionView:
    """An automated decision (Art. 22)."""

    activity: str
    logic: str
    significance: str
    safeguards: str | None


@dataclass(frozen=True)
class ConsentView:
    """Something a person can opt into."""

    title: str
    description: str | None
    activities: list[str]
    expires: str | None
    withdraw: str | None


@dataclass(frozen=True)
class CookieView:
    """A cookie or similar storage."""

    name: str
    domain: str | None
    provider: str
    category: str
    lifetime: str | None
    purpose: str


@dataclass(frozen=True)
class NoticeView:
    """Everything the templates print, already in the notice's language."""

    lang: str
    organization: str
    country: str
    contact: ContactView
    representative: PartyView | None
    dpo: PartyView | None
    introduction: str | None
    activities: list[ActivityView]
    recipients: list[RecipientView]
    transfers: list[TransferView]
    storage: list[str]
    holds: list[HoldView]
    inactivity: list[tuple[str, str]]
    decisions: list[DecisionView]
    channels: ContactView
    deadline: str
    verification: str
    consents: list[ConsentView]
    cookies: list[CookieView]
    cookies_need_consent: bool
    minimum_age: int | None
    children: str | None
    security: str | None
    measures: list[str]
    changes: str | None
    authority: str | None
    authority_contact: ContactView
    effective: str
    version_hash: str


def render_notice(loaded: LoadedPolicy, lang: str, fmt: Format) -> str:
    """The privacy notice of `loaded` in `lang`, as a standalone HTML page or as Markdown."""
    view = notice_view(loaded.policy, lang, loaded.version_hash)
    page = _environment(fmt, lang).get_template(f"notice.{fmt}.j2").render(notice=view)
    # Optional sections leave runs of blank lines behind; neither format gives them a meaning.
    return _BLANK_LINES.sub("\n\n", page)


def notice_view(policy: Policy, lang: str, version_hash: str) -> NoticeView:
    """What the notice of `policy` says in `lang`, for other documents that state the same facts (an access report)."""
    return _Builder(policy, lang).view(version_hash)


@cache
def _environment(fmt: Format, lang: str) -> Environment:
    html = fmt == "html"
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=html,
        finalize=None if html else _markdown_finalize,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["paragraphs"] = _paragraphs
    env.filters["oneline"] = _oneline
    env.filters["cell"] = _markdown_cell
    env.filters["code"] = _markdown_code
    # Only web addresses become links: a `javascript:` URL in a policy must not run in a reader's browser.
    env.tests["web_address"] = lambda value: str(value).startswith(("https://", "http://"))
    return env


def _markdown_escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _markdown_finalize(value: object) -> object:
    # Markdown has no autoescape: every printed value is escaped unless a filter already did it.
    return value if isinstance(value, Markup) else _markdown_escape(str(value))


def _oneline(value: str) -> str:
    return " ".join(value.split())


def _markdown_cell(value: str) -> Markup:
    return Markup(_oneline(_markdown_escape(value)))


def _markdown_code(value: str) -> Markup:
    # Backslashes are literal inside a code span; only the table's pipe needs escaping there.
    return Markup("`" + _oneline(value).replace("`", "'").replace("|", "\\|") + "`")


def _paragraphs(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"\n\s*\n", text) if part.strip()]


# ---------------------------------------------------------------- the view
class _Builder:
    """Turns a policy into a NoticeView in one language."""

    def __init__(self, policy: Policy, lang: str) -> None:
        self.policy = policy
        self.lang = lang
        self.own = {key: activity for key, activity in policy.activities.items() if not activity.on_behalf_of}
        self.titles = {key: self.text(activity.title) for key, activity in self.own.items()}

    def text(self, value: Text) -> str:
        return value.get(self.lang, self.policy.text_languages())

    def maybe(self, value: Text | None) -> str | None:
        return None if value is None else self.text(value)

    def view(self, version_hash: str) -> NoticeView:
        policy, lang = self.policy, self.lang
        org = policy.organization
        channels = _contact(policy.requests.channels)
        if channels.empty:
            channels = _contact(org.dpo or org.contact)
        authority = org.supervisory_authority
        consented = [cookie.consent is not None for cookie in policy.cookies if cookie.category != "essential"]
        return NoticeView(
            lang=lang,
            organization=org.name,
            country=country_name(org.country, lang),
            contact=replace(_contact(org.contact), address=org.contact.address or org.address),
            representative=self.party(org.representative),
            dpo=self.party(org.dpo),
            introduction=self.maybe(policy.notice.introduction),
            activities=[self.activity(activity) for activity in self.own.values()],
            recipients=self.recipients(),
            transfers=self.transfers(),
            storage=sorted({country_name(system.location, lang) for system in policy.systems.values()}),
            holds=self.holds(),
            inactivity=self.inactivity(),
            decisions=[
                DecisionView(self.titles[key], self.text(decision.logic), self.text(decision.significance), self.maybe(decision.safeguards))
                for key, activity in self.own.items()
                if (decision := activity.automated_decision) is not None
            ],
            channels=channels,
            deadline=labels.duration(policy.requests.deadline, lang),
            verification=policy.requests.verification,
            consents=[
                ConsentView(
                    title=self.text(consent.title),
                    description=self.maybe(consent.description),
                    activities=[self.titles[key] for key in consent.activities if key in self.titles],
                    expires=None if consent.expires == "never" else labels.duration(consent.expires, lang),
                    withdraw=self.maybe(consent.withdraw),
                )
                for consent in policy.consents.values()
            ],
            cookies=[
                CookieView(
                    name=cookie.name,
                    domain=cookie.domain,
                    provider=cookie.provider,
                    category=labels.plain(labels.COOKIE_CATEGORIES, cookie.category, lang),
                    lifetime=None if cookie.lifetime == "session" else labels.duration(cookie.lifetime, lang),
                    purpose=self.text(cookie.purpose),
                )
                for cookie in policy.cookies
            ],
            cookies_need_consent=bool(consented) and all(consented),
            minimum_age=policy.requests.minimum_age,
            children=self.maybe(policy.notice.children),
            security=self.maybe(policy.notice.security),
            measures=[labels.term(measure, lang) for measure in org.measures],
            changes=self.maybe(policy.notice.changes),
            authority=(labels.term(authority.dpv, lang) if authority.dpv else authority.name) if authority else None,
            authority_contact=ContactView(url=authority.url, address=authority.address) if authority else ContactView(),
            effective=format_day(org.effective, lang),
            version_hash=version_hash,
        )

    def party(self, party: Party | None) -> PartyView | None:
        if party is None:
            return None
        country = country_name(party.country, self.lang) if party.country else None
        return PartyView(name=party.name, country=country, contact=_contact(party))

    def activity(self, activity: Activity) -> ActivityView:
        lang = self.lang
        retention = activity.retention
        period: str | None = None
        if retention is not None and retention.period is not None:
            period = f"{labels.duration(retention.period, lang)} {labels.plain(labels.EVENTS, retention.after, lang)}"
        elif retention is not None:
            period = labels.plain(labels.UNTIL_EVENTS, retention.after, lang)
        return ActivityView(
            title=self.text(activity.title),
            description=self.maybe(activity.description),
            subjects=[labels.subject(self.policy, key, lang) for key in activity.subjects],
            purposes=[labels.term(purpose, lang) for purpose in activity.purposes],
            required=[labels.category(self.policy, key, lang) for key in activity.data.required],
            optional=[labels.category(self.policy, key, lang) for key in activity.data.optional],
            legal_basis=labels.legal_basis(activity.legal_basis, lang),
            basis=activity.legal_basis,
            legitimate_interest=self.maybe(activity.legitimate_interest),
            special_basis=labels.labelled(labels.SPECIAL_BASES, activity.special_basis, lang) if activity.special_basis else None,
            source=None if activity.source == "data_subject" else labels.plain(labels.SOURCES, activity.source, lang),
            source_description=self.maybe(activity.source_description),
            retention=period,
            retention_description=self.maybe(retention.description) if retention is not None else None,
            objection=self.maybe(activity.objection),
            marketing=any(purpose in marketing_terms() for purpose in activity.purposes),
        )

    def recipients(self) -> list[RecipientView]:
        return [
            RecipientView(
                name=recipient.name,
                kind=recipient.role,
                role=labels.plain(labels.ROLES, recipient.role, self.lang),
                country=country_name(recipient.country, self.lang),
                activities=[title for key, title in self.titles.items() if recipient_id in self.own[key].recipients],
                description=self.maybe(recipient.description),
            )
            for recipient_id, recipient in self.policy.recipients.items()
        ]

    def transfers(self) -> list[TransferView]:
        found: dict[tuple[str | None, str], TransferView] = {}
        for activity in self.own.values():
            moves: list[tuple[str | None, str, str | None, Text | None]]
            moves = [(key, self.policy.recipients[key].country, None, None) for key in activity.recipients]
            moves += [(t.recipient, t.country, t.safeguard, t.description) for t in activity.transfers]
            for recipient_id, country, stated, description in moves:
                if country in EEA:
                    continue
                recipient = self.policy.recipients.get(recipient_id) if recipient_id else None
                safeguard = stated or (recipient.safeguard if recipient else None)
                if safeguard is None and not needs_safeguard(country):
                    safeguard = "adequacy"
                key = (recipient.name if recipient else None, country)
                if key not in found or found[key].safeguard is None:
                    found[key] = TransferView(
                        recipient=key[0],
                        country=country_name(country, self.lang),
                        safeguard=labels.labelled(labels.SAFEGUARDS, safeguard, self.lang) if safeguard else None,
                        description=self.maybe(description),
                    )
        return list(found.values())

    def holds(self) -> list[HoldView]:
        found: dict[HoldView, None] = {}
        for collection in self.collections():
            for hold in collection.holds:
                parts = [self.text(value) for value in (hold.reason, hold.law) if value is not None]
                if hold.basis is not None:
                    parts.append(labels.labelled(labels.HOLD_BASES, hold.basis, self.lang))
                found.setdefault(HoldView(reason="; ".join(parts) or hold.name, period=labels.duration(hold.keep, self.lang)))
        return list(found)

    def inactivity(self) -> list[tuple[str, str]]:
        found: dict[tuple[str, str], None] = {}
        for collection in self.collections():
            rule = collection.retention
            if rule is not None and rule.notice is not None:
                found.setdefault((labels.duration(rule.keep, self.lang), labels.duration(rule.notice, self.lang)))
        return list(found)

    def collections(self) -> list[Collection]:
        return [collection for system in self.policy.systems.values() for collection in system.collections.values()]


def _contact(contact: Contact) -> ContactView:
    return ContactView(email=contact.email, phone=contact.phone, url=contact.url, address=contact.address)


@cache
def marketing_terms() -> frozenset[str]:
    """Direct marketing purposes: plain marketing, and the direct marketing branches with every term below them."""
    children: dict[str, list[str]] = {}
    by_iri = {term.iri: term.id for term in taxonomy.terms().values()}
    for term in taxonomy.terms().values():
        for parent in term.broader:
            children.setdefault(by_iri.get(parent, parent), []).append(term.id)
    found = {"dpv:Marketing"}
    pending = list(_MARKETING_ROOTS)
    while pending:
        current = pending.pop()
        if current not in found:
            found.add(current)
            pending.extend(children.get(current, []))
    return frozenset(found)
