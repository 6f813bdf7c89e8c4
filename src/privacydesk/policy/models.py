"""The policy format: Pydantic models of one policy file (see docs/policy-format.md)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, model_validator

from privacydesk import taxonomy
from privacydesk.policy.countries import iso_countries
from privacydesk.policy.durations import Duration

Language = Literal["en", "pl", "ro", "fr", "cs"]
LANGUAGES: tuple[Language, ...] = ("en", "pl", "ro", "fr", "cs")


class Strict(BaseModel):
    """Base for every policy block: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _identifier(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
        raise ValueError(f"{value!r} is not a valid id; use lower_snake_case letters, digits and underscores")
    return value


def _country(value: str) -> str:
    if value not in iso_countries():
        raise ValueError(f"{value!r} is not an ISO 3166 two-letter country code (like 'PL' or 'FR')")
    return value


def _env_reference(value: str) -> str:
    if not re.fullmatch(r"env:[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError("connection settings are secrets: give them by reference, as 'env:VARIABLE_NAME'")
    return value


def _term(*kinds: taxonomy.Kind) -> AfterValidator:
    return AfterValidator(lambda value: taxonomy.lookup(value, kinds).id)


Id = Annotated[str, AfterValidator(_identifier)]
Country = Annotated[str, AfterValidator(_country)]
EnvReference = Annotated[str, AfterValidator(_env_reference)]
PersonalDataTerm = Annotated[str, _term("personal_data")]
PurposeTerm = Annotated[str, _term("purpose")]
SubjectTerm = Annotated[str, _term("subject")]
MeasureTerm = Annotated[str, _term("measure")]
AuthorityTerm = Annotated[str, _term("authority")]


class Text(RootModel[str | dict[Language, str]]):
    """Free text written by the organisation: one string, or one string per language."""

    model_config = ConfigDict(frozen=True)

    def get(self, lang: str, fallback: tuple[str, ...] = ()) -> str:
        """The text in `lang`, else in the first fallback language that has it, else any."""
        if isinstance(self.root, str):
            return self.root
        for candidate in (lang, *fallback, "en"):
            if candidate in self.root:
                return self.root[candidate]
        return next(iter(self.root.values()))

    def languages(self) -> set[str] | None:
        """Languages this text is written in; None when it is one language-neutral string."""
        return None if isinstance(self.root, str) else set(self.root)


# ---------------------------------------------------------------- the organisation
class Contact(Strict):
    """Ways to reach someone."""

    email: str | None = None
    phone: str | None = None
    url: str | None = None
    address: str | None = None


class Party(Contact):
    """A named person or organisation and how to reach them."""

    name: str
    country: Country | None = None


class Authority(Strict):
    """The supervisory authority people may complain to (Art. 77)."""

    dpv: AuthorityTerm | None = None
    name: str | None = None
    url: str | None = None
    address: str | None = None

    @model_validator(mode="after")
    def _named(self) -> Authority:
        if self.dpv is None and self.name is None:
            raise ValueError("give the authority's DPV term (like 'legal-pl:DPA-PL') or its name")
        return self


class Organization(Strict):
    """The controller (or processor) this policy speaks for: Art. 13(1)(a)-(b), Art. 30(1)(a)."""

    name: str
    address: str
    country: Country
    # Where the main establishment in the EU is; decides the Art. 8 age and the lead authority.
    member_state: Country | None = None
    role: Literal["controller", "processor", "controller_and_processor"] = "controller"
    contact: Contact = Contact()
    representative: Party | None = None
    dpo: Party | None = None
    supervisory_authority: Authority | None = None
    languages: list[Language] = Field(min_length=1)
    effective: date
    measures: list[MeasureTerm] = []


# ---------------------------------------------------------------- what and whom
class DataCategory(Strict):
    """A category of personal data, mapped to a DPV term."""

    dpv: PersonalDataTerm
    title: Text | None = None
    description: Text | None = None
    # Art. 9 special category; derived from DPV unless stated.
    special: bool | None = None

    @property
    def is_special(self) -> bool:
        """Whether this category falls under Art. 9."""
        if self.special is not None:
            return self.special
        return taxonomy.terms()[self.dpv].special_category


class SubjectType(Strict):
    """A kind of person whose data is processed."""

    dpv: SubjectTerm
    title: Text | None = None


TransferSafeguard = Literal[
    "adequacy",  # Art. 45 (for the US: the organisation is certified under the Data Privacy Framework)
    "scc",  # Art. 46(2)(c) standard contractual clauses
    "bcr",  # Art. 46(2)(b) binding corporate rules
    "code_of_conduct",  # Art. 46(2)(e)
    "certification",  # Art. 46(2)(f)
    "ad_hoc_clauses",  # Art. 46(3)(a), authorised by the authority
    "explicit_consent",  # Art. 49(1)(a)
    "contract_necessity",  # Art. 49(1)(b)
    "legal_claims",  # Art. 49(1)(e)
]


class Recipient(Strict):
    """Someone the data is disclosed to: Art. 13(1)(e)."""

    name: str
    role: Literal["processor", "controller", "joint_controller", "public_authority"]
    country: Country
    safeguard: TransferSafeguard | None = None
    description: Text | None = None
    contact: Contact | None = None


# ---------------------------------------------------------------- processing activities
LegalBasis = Literal["consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interest"]
SpecialBasis = Literal[
    "explicit_consent",  # Art. 9(2)(a)
    "employment",  # (b)
    "vital_interests",  # (c)
    "not_for_profit",  # (d)
    "made_public",  # (e)
    "legal_claims",  # (f)
    "substantial_public_interest",  # (g)
    "health_care",  # (h)
    "public_health",  # (i)
    "archiving_research",  # (j)
]
Event = Literal[
    "collection",
    "last_activity",
    "account_closure",
    "contract_end",
    "subscription_end",
    "transaction",
    "consent_withdrawal",
    "purpose_fulfilled",
    "session_end",
]


class DataUse(Strict):
    """Which categories an activity needs, and which it may take if offered."""

    required: list[Id] = []
    optional: list[Id] = []

    @model_validator(mode="before")
    @classmethod
    def _list_means_required(cls, value: Any) -> Any:
        return {"required": value} if isinstance(value, list) else value

    def all(self) -> list[str]:
        """Required then optional categories."""
        return [*self.required, *self.optional]


class Retention(Strict):
    """How long an activity keeps its data: a period counted from an event, or until the event."""

    period: Duration | None = None
    after: Event = "collection"
    description: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"period": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _bounded(self) -> Retention:
        if self.period is None and self.after == "collection":
            raise ValueError("a retention needs a period, an event it runs until ('after: account_closure'), or both")
        return self


class Transfer(Strict):
    """A transfer outside the EEA not already implied by a recipient's country."""

    country: Country
    recipient: Id | None = None
    safeguard: TransferSafeguard | None = None
    description: Text | None = None


class AutomatedDecision(Strict):
    """Art. 22 automated decision-making: the logic and its consequences."""

    logic: Text
    significance: Text
    safeguards: Text | None = None


class Activity(Strict):
    """One processing activity: a row of the record of processing (Art. 30)."""

    title: Text
    description: Text | None = None
    purposes: list[PurposeTerm] = Field(min_length=1)
    legal_basis: LegalBasis
    legitimate_interest: Text | None = None
    special_basis: SpecialBasis | None = None
    # How a person objects to a legitimate-interest or marketing activity (Art. 21).
    objection: Text | None = None
    subjects: list[Id] = Field(min_length=1)
    data: DataUse
    source: Literal["data_subject", "observed", "derived", "third_party", "public"] = "data_subject"
    source_description: Text | None = None
    recipients: list[Id] = []
    transfers: list[Transfer] = []
    retention: Retention | None = None
    automated_decision: AutomatedDecision | None = None
    # Set when the organisation processes on behalf of these controllers (Art. 30(2)).
    on_behalf_of: list[Id] = []
    measures: list[MeasureTerm] = []


# ---------------------------------------------------------------- consent and cookies
class ConsentPurpose(Strict):
    """Something a person can opt into and out of."""

    title: Text
    description: Text | None = None
    activities: list[Id] = Field(min_length=1)
    channel: Literal["web", "cookie", "email", "sms", "phone", "push", "in_app", "post"]
    # How the consent is obtained; anything but an affirmative act is not valid consent (Art. 4(11)).
    mechanism: Literal["opt_in", "double_opt_in", "continued_use", "pre_ticked", "implied"] = "opt_in"
    expires: Duration | Literal["never"] = "never"
    refusal_remembered: Duration = Duration(6, "month")
    withdraw: Text | None = None


CookieCategory = Literal["essential", "preferences", "analytics", "advertising"]


class Cookie(Strict):
    """A cookie or similar storage the services set."""

    name: str
    provider: str
    domain: str | None = None
    party: Literal["first", "third"] = "first"
    category: CookieCategory
    consent: Id | None = None
    lifetime: Duration | Literal["session"]
    purpose: Text


class ConsentSettings(Strict):
    """How consent decisions are recorded."""

    # The address a decision came from is personal data; kept only truncated (IPv4 /24, IPv6 /48), and only if asked for.
    store_ip: Literal["none", "truncated"] = "none"


# ---------------------------------------------------------------- systems
FieldErase = Literal["null", "fixed", "hmac", "fake", "keep"]


class FieldSpec(Strict):
    """A column or attribute holding one category of personal data."""

    category: Id
    erase: FieldErase | None = None
    value: str | int | float | bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"category": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _fixed_needs_value(self) -> FieldSpec:
        if self.erase == "fixed" and self.value is None:
            raise ValueError("erase 'fixed' needs a value")
        return self


HoldBasis = Literal["legal_obligation", "legal_claims", "public_interest", "freedom_of_expression"]


class Hold(Strict):
    """Rows kept despite an erasure request (Art. 17(3)), restricted, until the period ends."""

    name: Id
    basis: HoldBasis | None = None
    law: Text | None = None
    keep: Duration
    # The timestamp column the period runs from.
    start: str = Field(alias="from")
    reason: Text | None = None


class RetentionRule(Strict):
    """Which rows of a collection have outlived their period, and what happens to them."""

    keep: Duration
    # A timestamp column, or `collection.column` reached through a reference.
    start: str = Field(alias="from")
    action: Literal["delete", "anonymise"] = "delete"
    # Warn the person this long before deletion (inactivity rules).
    notice: Duration | None = None
    # The column holding the person's language, for the notice (else the policy's first language).
    language: str | None = None


class Collection(Strict):
    """A table, or a set of files, holding personal data."""

    table: str | None = None
    path: str | None = None
    primary_key: str = "id"
    identities: dict[str, str] = {}
    fields: dict[str, FieldSpec] = {}
    references: dict[str, str] = {}
    erase: Literal["delete", "anonymise", "keep"] | None = None
    holds: list[Hold] = []
    retention: RetentionRule | None = None

    @model_validator(mode="after")
    def _reference_shape(self) -> Collection:
        for column, target in self.references.items():
            if target.count(".") != 1:
                raise ValueError(f"reference {column!r} -> {target!r}: write the target as 'collection.column'")
        return self


class System(Strict):
    """A place the data lives, and how privacydesk reaches it."""

    title: Text | None = None
    connector: Literal["sql", "files", "webhook", "manual"]
    url: EnvReference | None = None
    # The key a webhook system's requests are signed with (and its callbacks checked against).
    secret: EnvReference | None = None
    location: Country
    owner: str | None = None
    collections: dict[Id, Collection] = {}


# ---------------------------------------------------------------- requests and the notice
class RequestSettings(Strict):
    """How data-subject requests are taken and answered."""

    deadline: Duration = Duration(1, "month")
    verification: Literal["email_code", "phone_code", "account", "manual"] = "email_code"
    approval: bool = False
    minimum_age: int | None = Field(default=None, ge=0, le=21)
    identities: list[str] = ["email"]
    channels: Contact = Contact()


class NoticeSettings(Strict):
    """Texts of the privacy notice that cannot be derived from the rest of the policy."""

    introduction: Text | None = None
    children: Text | None = None
    changes: Text | None = None
    security: Text | None = None
    # Whether people are told before a disclosure the law compels (unless the law forbids telling them).
    disclosure: Text | None = None
    # That exercising a right never costs more or lowers the level of service.
    non_discrimination: Text | None = None


class Policy(Strict):
    """One privacy policy as code."""

    format: Literal[1]
    organization: Organization
    data: dict[Id, DataCategory] = Field(min_length=1)
    subjects: dict[Id, SubjectType] = Field(min_length=1)
    recipients: dict[Id, Recipient] = {}
    activities: dict[Id, Activity] = Field(min_length=1)
    consents: dict[Id, ConsentPurpose] = {}
    cookies: list[Cookie] = []
    consent_settings: ConsentSettings = ConsentSettings()
    systems: dict[Id, System] = {}
    requests: RequestSettings = RequestSettings()
    notice: NoticeSettings = NoticeSettings()

    def text_languages(self) -> tuple[str, ...]:
        """The languages to fall back on when a text lacks the one asked for."""
        return tuple(self.organization.languages)
