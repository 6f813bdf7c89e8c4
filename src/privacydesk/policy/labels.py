"""Human words for the policy's terms, in any supported language.

DPV terms take their labels from the taxonomy; the policy's own enumerations (legal bases,
events, roles, ...) are English msgids translated through the gettext catalogs. Every label the
notice and the record of processing print comes from here, so both always agree.
"""

from __future__ import annotations

from privacydesk import taxonomy
from privacydesk.i18n import gettext, ngettext
from privacydesk.policy.durations import Duration
from privacydesk.policy.models import Policy


def _(message: str) -> str:
    """Mark a msgid for extraction; translated later with gettext(lang, ...)."""
    return message


def _n(singular: str, plural: str) -> tuple[str, str]:
    """Mark a plural msgid pair for extraction; translated later with ngettext(lang, ...)."""
    return singular, plural


LEGAL_BASES = {
    "consent": (_("Consent"), _("Art. 6(1)(a) GDPR")),
    "contract": (_("Performance of a contract"), _("Art. 6(1)(b) GDPR")),
    "legal_obligation": (_("Legal obligation"), _("Art. 6(1)(c) GDPR")),
    "vital_interests": (_("Vital interests"), _("Art. 6(1)(d) GDPR")),
    "public_task": (_("Public task"), _("Art. 6(1)(e) GDPR")),
    "legitimate_interest": (_("Legitimate interest"), _("Art. 6(1)(f) GDPR")),
}
SPECIAL_BASES = {
    "explicit_consent": (_("Explicit consent"), _("Art. 9(2)(a) GDPR")),
    "employment": (_("Employment and social security law"), _("Art. 9(2)(b) GDPR")),
    "vital_interests": (_("Vital interests"), _("Art. 9(2)(c) GDPR")),
    "not_for_profit": (_("Not-for-profit body"), _("Art. 9(2)(d) GDPR")),
    "made_public": (_("Made public by the data subject"), _("Art. 9(2)(e) GDPR")),
    "legal_claims": (_("Legal claims"), _("Art. 9(2)(f) GDPR")),
    "substantial_public_interest": (_("Substantial public interest"), _("Art. 9(2)(g) GDPR")),
    "health_care": (_("Health or social care"), _("Art. 9(2)(h) GDPR")),
    "public_health": (_("Public health"), _("Art. 9(2)(i) GDPR")),
    "archiving_research": (_("Archiving, research or statistics"), _("Art. 9(2)(j) GDPR")),
}
SAFEGUARDS = {
    "adequacy": (_("Adequacy decision"), _("Art. 45 GDPR")),
    "scc": (_("Standard contractual clauses"), _("Art. 46(2)(c) GDPR")),
    "bcr": (_("Binding corporate rules"), _("Art. 46(2)(b) GDPR")),
    "code_of_conduct": (_("Approved code of conduct"), _("Art. 46(2)(e) GDPR")),
    "certification": (_("Approved certification"), _("Art. 46(2)(f) GDPR")),
    "ad_hoc_clauses": (_("Contractual clauses authorised by the supervisory authority"), _("Art. 46(3)(a) GDPR")),
    "explicit_consent": (_("Explicit consent to the transfer"), _("Art. 49(1)(a) GDPR")),
    "contract_necessity": (_("Necessary for a contract with you"), _("Art. 49(1)(b) GDPR")),
    "legal_claims": (_("Necessary for legal claims"), _("Art. 49(1)(e) GDPR")),
}
HOLD_BASES = {
    "legal_obligation": (_("Legal obligation"), _("Art. 17(3)(b) GDPR")),
    "legal_claims": (_("Establishment, exercise or defence of legal claims"), _("Art. 17(3)(e) GDPR")),
    "public_interest": (_("Public interest"), _("Art. 17(3)(c)-(d) GDPR")),
    "freedom_of_expression": (_("Freedom of expression and information"), _("Art. 17(3)(a) GDPR")),
}
ROLES = {
    "processor": _("Processor"),
    "controller": _("Independent controller"),
    "joint_controller": _("Joint controller"),
    "public_authority": _("Public authority"),
}
SOURCES = {
    "data_subject": _("You"),
    "observed": _("Observed from your use of the service"),
    "derived": _("Derived from other data"),
    "third_party": _("Third parties"),
    "public": _("Publicly available sources"),
}
EVENTS = {
    "collection": _("from collection"),
    "last_activity": _("after your last activity"),
    "account_closure": _("after the account is closed"),
    "contract_end": _("after the contract ends"),
    "subscription_end": _("after the subscription ends"),
    "transaction": _("after the transaction"),
    "consent_withdrawal": _("after consent is withdrawn"),
    "purpose_fulfilled": _("after the purpose is fulfilled"),
    "session_end": _("after the session ends"),
}
UNTIL_EVENTS = {
    "last_activity": _("until your last activity"),
    "account_closure": _("until the account is closed"),
    "contract_end": _("until the contract ends"),
    "subscription_end": _("until the subscription ends"),
    "transaction": _("until the transaction is completed"),
    "consent_withdrawal": _("until consent is withdrawn"),
    "purpose_fulfilled": _("until the purpose is fulfilled"),
    "session_end": _("until the session ends"),
}
COOKIE_CATEGORIES = {
    "essential": _("Strictly necessary"),
    "preferences": _("Preferences"),
    "analytics": _("Analytics"),
    "advertising": _("Advertising"),
}


def term(term_id: str, lang: str) -> str:
    """The label of a DPV term in `lang`."""
    return taxonomy.terms()[term_id].localized(lang)


def legal_basis(basis: str, lang: str) -> str:
    """E.g. 'Legitimate interest (Art. 6(1)(f) GDPR)' in `lang`."""
    label, article = LEGAL_BASES[basis]
    return f"{gettext(lang, label)} ({gettext(lang, article)})"


def labelled(table: dict[str, tuple[str, str]], key: str, lang: str) -> str:
    """A label with its legal reference from one of the tables above."""
    label, article = table[key]
    return f"{gettext(lang, label)} ({gettext(lang, article)})"


def plain(table: dict[str, str], key: str, lang: str) -> str:
    """A label from one of the tables above."""
    return gettext(lang, table[key])


def duration(value: Duration, lang: str) -> str:
    """'3 months' with the plural form `lang` needs for the number ('3 miesiące', '5 miesięcy')."""
    forms = {
        "minute": _n("%(num)d minute", "%(num)d minutes"),
        "hour": _n("%(num)d hour", "%(num)d hours"),
        "day": _n("%(num)d day", "%(num)d days"),
        "week": _n("%(num)d week", "%(num)d weeks"),
        "month": _n("%(num)d month", "%(num)d months"),
        "year": _n("%(num)d year", "%(num)d years"),
    }
    singular, plural_form = forms[value.unit]
    return ngettext(lang, singular, plural_form, value.amount) % {"num": value.amount}


def category(policy: Policy, category_id: str, lang: str) -> str:
    """A data category's title, or its DPV label."""
    entry = policy.data[category_id]
    if entry.title is not None:
        return entry.title.get(lang, policy.text_languages())
    return term(entry.dpv, lang)


def subject(policy: Policy, subject_id: str, lang: str) -> str:
    """A data-subject type's title, or its DPV label."""
    entry = policy.subjects[subject_id]
    if entry.title is not None:
        return entry.title.get(lang, policy.text_languages())
    return term(entry.dpv, lang)
