"""Each lint rule fires on a policy that breaks it and stays silent on its nearest compliant neighbour."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from privacydesk.policy.lint import lint
from privacydesk.policy.lint.rules import RULES
from privacydesk.policy.loader import load_policy

from .conftest import PolicyFactory

Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return edit


def _all(*edits: Edit) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        for each in edits:
            each(data)

    return edit


_DELETE = object()
NEWSLETTER = {
    "title": "Newsletter",
    "purposes": ["dpv:DirectMarketing"],
    "legal_basis": "consent",
    "subjects": ["customer"],
    "data": ["email"],
    "retention": {"after": "consent_withdrawal"},
}
NEWSLETTER_CONSENT = {"title": "Newsletter", "activities": ["newsletter"], "channel": "email", "mechanism": "double_opt_in"}
ANALYTICS_CONSENT = {"title": "Analytics", "activities": ["accounts"], "channel": "cookie"}


def _cookie(category: str, lifetime: str, consent: str | None = "analytics") -> Edit:
    cookie: dict[str, Any] = {"name": "_ga", "provider": "Google", "category": category, "lifetime": lifetime, "purpose": "Statistics"}
    if consent:
        cookie["consent"] = consent
    return _all(_set("consents.analytics", ANALYTICS_CONSENT), _set("cookies", [cookie]))


def _hold(keep: str, basis: str | None = "legal_obligation") -> Edit:
    hold: dict[str, Any] = {"name": "tax", "keep": keep, "from": "created_at"}
    if basis:
        hold["basis"] = basis
    return _set("systems.shop_db.collections.access_log.holds", [hold])


CASES: dict[str, tuple[Edit, Edit]] = {
    "PD001": (
        _all(_set("activities.newsletter", NEWSLETTER), _set("consents.newsletter", {**NEWSLETTER_CONSENT, "mechanism": "continued_use"})),
        _all(_set("activities.newsletter", NEWSLETTER), _set("consents.newsletter", NEWSLETTER_CONSENT)),
    ),
    "PD002": (
        _set("activities.newsletter", {**NEWSLETTER, "legal_basis": "legitimate_interest", "legitimate_interest": "Selling to customers"}),
        _set(
            "activities.newsletter",
            {
                **NEWSLETTER,
                "legal_basis": "legitimate_interest",
                "legitimate_interest": "Selling to customers",
                "objection": "Unsubscribe link",
            },
        ),
    ),
    "PD003": (_set("activities.security_logs.retention", _DELETE), _set("activities.security_logs.retention", "30 days")),
    "PD004": (
        _all(_set("data.phone", {"dpv": "pd:TelephoneNumber"}), _set("systems.shop_db.collections.customer.fields.phone", "phone")),
        _all(
            _set("data.phone", {"dpv": "pd:TelephoneNumber"}),
            _set("systems.shop_db.collections.customer.fields.phone", "phone"),
            _set("activities.accounts.data", {"required": ["email", "name"], "optional": ["phone"]}),
        ),
    ),
    "PD005": (
        _all(_set("data.phone", {"dpv": "pd:TelephoneNumber"}), _set("activities.accounts.data", ["email", "name", "phone"])),
        _all(
            _set("data.phone", {"dpv": "pd:TelephoneNumber"}),
            _set("activities.accounts.data", ["email", "name", "phone"]),
            _set("systems.shop_db.collections.customer.fields.phone", "phone"),
        ),
    ),
    "PD006": (
        _set("recipients.mailer", {"name": "Mailer Inc", "role": "processor", "country": "US"}),
        _set("recipients.mailer", {"name": "Mailer Inc", "role": "processor", "country": "US", "safeguard": "scc"}),
    ),
    "PD007": (_cookie("analytics", "13 months", consent=None), _cookie("essential", "13 months", consent=None)),
    "PD008": (_cookie("analytics", "14 months"), _cookie("analytics", "13 months")),
    "PD009": (
        _all(
            _set("data.health", {"dpv": "pd:HealthRecord"}),
            _set("activities.accounts.data", {"required": ["email", "name"], "optional": ["health"]}),
            _set("systems.shop_db.collections.customer.fields.health", "health"),
        ),
        _all(
            _set("data.health", {"dpv": "pd:HealthRecord"}),
            _set("activities.accounts.data", {"required": ["email", "name"], "optional": ["health"]}),
            _set("systems.shop_db.collections.customer.fields.health", "health"),
            _set("activities.accounts.special_basis", "explicit_consent"),
        ),
    ),
    "PD010": (_set("requests.minimum_age", 14), _set("requests.minimum_age", 15)),
    "PD011": (_set("requests.deadline", "2 months"), _set("requests.deadline", "30 days")),
    "PD012": (_set("systems.shop_db.collections.customer.erase", _DELETE), _set("systems.shop_db.collections.customer.erase", "anonymise")),
    "PD013": (
        _all(_set("systems.shop_db.collections.access_log.retention.keep", "1 year"), _hold("2 years")),
        _all(_set("systems.shop_db.collections.access_log.retention.keep", "2 years"), _hold("2 years")),
    ),
    "PD014": (_hold("7 days", basis=None), _hold("7 days")),
    "PD015": (
        _set("activities.security_logs.legitimate_interest", _DELETE),
        _set("activities.security_logs.legitimate_interest", "Security"),
    ),
    "PD016": (
        _set("activities.newsletter", NEWSLETTER),
        _all(_set("activities.newsletter", NEWSLETTER), _set("consents.newsletter", NEWSLETTER_CONSENT)),
    ),
    "PD017": (_set("activities.accounts.title", {"fr": "Comptes clients"}), _set("activities.accounts.title", "Comptes / Accounts")),
}


def test_every_rule_has_a_case() -> None:
    assert sorted(CASES) == sorted(rule.id for rule, _ in RULES)


def test_minimal_policy_is_clean(make_policy: PolicyFactory) -> None:
    assert lint(load_policy(make_policy(lambda data: None))) == []


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires(rule_id: str, make_policy: PolicyFactory) -> None:
    path = make_policy(CASES[rule_id][0])
    findings = lint(load_policy(path))
    assert [f.rule_id for f in findings] == [rule_id], findings
    finding = findings[0]
    assert finding.position.file == str(path)
    assert finding.position.line > 1
    assert finding.hint


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_stays_silent_on_compliant_neighbour(rule_id: str, make_policy: PolicyFactory) -> None:
    assert lint(load_policy(make_policy(CASES[rule_id][1]))) == []


def test_finding_points_at_the_offending_line(make_policy: PolicyFactory) -> None:
    path = make_policy(CASES["PD011"][0])
    finding = lint(load_policy(path))[0]
    line = path.read_text().splitlines()[finding.position.line - 1]
    assert "deadline" in line
