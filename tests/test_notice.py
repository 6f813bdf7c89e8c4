"""The privacy notice in every language and format, and the gettext catalogs behind it."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from markupsafe import escape

from privacydesk.i18n import format_day, gettext
from privacydesk.policy.loader import load_policy
from privacydesk.policy.render.notice import render_notice

from .conftest import EXAMPLES, MINIMAL, ROOT, PolicyFactory

LANGUAGES = ("en", "pl", "ro", "fr", "cs")
TRANSLATED = {"pl": 3, "ro": 3, "fr": 2, "cs": 3}  # language -> number of plural forms
LOCALE = ROOT / "src" / "privacydesk" / "locale"
POLICIES = [MINIMAL, *(ROOT / "examples" / name / "policy.yaml" for name in EXAMPLES)]
VOID = {"meta", "br", "hr", "img", "link", "input", "wbr"}


class _Structure(HTMLParser):
    """Checks that every element is closed in order and that every table header has a scope."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "th" and dict(attrs).get("scope") not in ("col", "row"):
            self.problems.append(f"<th> without scope at {self.getpos()}")
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'} at {self.getpos()}")
        else:
            self.open.pop()


def _html_problems(page: str) -> list[str]:
    parser = _Structure()
    parser.feed(page)
    parser.close()
    return parser.problems + [f"<{tag}> never closed" for tag in parser.open]


def _markdown_problems(page: str) -> list[str]:
    """Rows of one table have the header's number of cells; prose never runs on from a list or a table."""
    problems: list[str] = []
    width = None
    previous = ""
    for number, line in enumerate(page.splitlines(), 1):
        if line and not line.startswith(("|", "- ")) and previous.startswith(("|", "- ")):
            problems.append(f"line {number} runs on from the line before: {line}")
        previous = line
        if not line.startswith("|"):
            width = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", line))
        width = width or cells
        if cells != width:
            problems.append(f"line {number} has {cells - 1} cells, its table {width - 1}: {line}")
    return problems


def _section(page: str, start: str, end: str) -> str:
    """The text from the heading containing `start` to the next heading containing `end`."""
    begin = page.index(start)
    return page[begin : page.index(end, begin + len(start))]


# ---------------------------------------------------------------- every policy, language and format
@pytest.mark.parametrize("fmt", ["html", "md"])
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("path", POLICIES, ids=lambda path: path.parent.name if path.name == "policy.yaml" else path.stem)
def test_notice_renders(path: Path, lang: str, fmt: str) -> None:
    loaded = load_policy(path)
    policy = loaded.policy
    page = render_notice(loaded, lang, fmt)  # type: ignore[arg-type]
    assert loaded.version_hash in page
    assert loaded.version_hash[:12] in page
    assert format_day(policy.organization.effective, lang) in page
    for section in ("Your rights", "How long we keep your data", "Complaints to the supervisory authority"):
        assert gettext(lang, section) in page
    titles = [activity.title.get(lang, policy.text_languages()) for activity in policy.activities.values() if not activity.on_behalf_of]
    if fmt == "html":
        assert page.startswith("<!DOCTYPE html>\n")
        assert f'<html lang="{lang}"' in page
        assert "<script" not in page
        assert _html_problems(page) == []
        for title in titles:
            assert str(escape(title)) in page
    else:
        assert page.startswith(f"# {gettext(lang, 'Privacy notice')}\n")
        assert _markdown_problems(page) == []
        assert "\n\n\n" not in page


# ---------------------------------------------------------------- languages: plurals and dates
def _retention(accounts: str, logs: str) -> Any:
    def edit(data: dict[str, Any]) -> None:
        data["activities"]["accounts"]["retention"] = {"after": "account_closure", "period": accounts}
        data["activities"]["security_logs"]["retention"] = logs

    return edit


def test_polish_plural_forms_and_date(make_policy: PolicyFactory) -> None:
    loaded = load_policy(make_policy(_retention("3 months", "5 months")))
    page = render_notice(loaded, "pl", "html")
    assert "3 miesiące po zamknięciu konta" in page
    assert "5 miesięcy od zebrania" in page
    assert "Obowiązuje od 1 maja 2024" in page


def test_french_date_and_plural(make_policy: PolicyFactory) -> None:
    loaded = load_policy(make_policy(_retention("1 month", "5 months")))
    page = render_notice(loaded, "fr", "md")
    assert "En vigueur depuis le 1 mai 2024" in page
    assert "1 mois après la clôture du compte" in page


@pytest.mark.parametrize(
    ("lang", "age", "expected"),
    [
        ("pl", 16, "poniżej 16 lat"),
        ("ro", 16, "sub 16 ani"),
        ("ro", 20, "sub 20 de ani"),
        ("fr", 15, "moins de 15 ans"),
        ("cs", 15, "mladším 15 let"),
    ],
)
def test_minimum_age_uses_plural_forms(make_policy: PolicyFactory, lang: str, age: int, expected: str) -> None:
    path = make_policy(lambda data: data.update(requests={"minimum_age": age}))
    assert expected in render_notice(load_policy(path), lang, "md")


# ---------------------------------------------------------------- content
def test_html_escapes_policy_text(make_policy: PolicyFactory) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["activities"]["accounts"]["title"] = {"en": "Accounts <script>alert(1)</script>", "fr": "Comptes <script>alert(1)</script>"}

    loaded = load_policy(make_policy(edit))
    page = render_notice(loaded, "en", "html")
    assert "<script>" not in page
    assert "Accounts &lt;script&gt;alert(1)&lt;/script&gt;" in page
    markdown = render_notice(loaded, "en", "md")
    assert "<script>" not in markdown
    assert r"Accounts \<script\>alert(1)\</script\>" in markdown


def test_only_web_addresses_become_links(make_policy: PolicyFactory) -> None:
    loaded = load_policy(make_policy(lambda data: data["organization"]["contact"].update(url="javascript:alert(1)")))
    page = render_notice(loaded, "en", "html")
    assert "<dd>javascript:alert(1)</dd>" in page
    assert 'href="javascript' not in page
    assert "](javascript" not in render_notice(loaded, "en", "md")


def test_footer_has_version_hash_and_effective_date() -> None:
    loaded = load_policy(MINIMAL)
    page = render_notice(loaded, "en", "html")
    footer = page[page.index("<footer>") :]
    assert f'<code title="{loaded.version_hash}">{loaded.version_hash[:12]}</code>' in footer
    assert f"<code>{loaded.version_hash}</code>" in footer
    assert "In effect since May 1, 2024" in footer
    markdown = render_notice(loaded, "cs", "md")
    assert f"`{loaded.version_hash}`" in markdown
    assert "Účinné od 1. května 2024" in markdown


def test_transfer_to_us_processor_under_sccs(make_policy: PolicyFactory) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["recipients"]["cloud"] = {"name": "Cloud Inc", "role": "processor", "country": "US", "safeguard": "scc"}
        data["activities"]["accounts"]["recipients"].append("cloud")

    loaded = load_policy(make_policy(edit))
    english = _section(render_notice(loaded, "en", "md"), "Where your data is stored", "\n## ")
    assert "| Cloud Inc | United States | Standard contractual clauses (Art. 46(2)(c) GDPR) |" in english
    assert "You can obtain a copy of the safeguards" in english
    polish = _section(render_notice(loaded, "pl", "html"), 'id="transfers"', "</section>")
    assert "Stany Zjednoczone" in polish
    assert "Standardowe klauzule umowne (art. 46 ust. 2 lit. c RODO)" in polish


def test_no_transfer_outside_the_eea_is_stated() -> None:
    page = render_notice(load_policy(MINIMAL), "en", "md")
    assert "We do not transfer your data outside the European Economic Area." in page


def test_cookie_lifetimes(make_policy: PolicyFactory) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["cookies"] = [
            {"name": "jsuid", "provider": "Clicky", "category": "analytics", "lifetime": "18 years", "purpose": "Counting visitors"},
            {"name": "sid", "provider": "Exemple SAS", "category": "essential", "lifetime": "session", "purpose": "Keeping you signed in"},
        ]

    loaded = load_policy(make_policy(edit))
    assert "| `jsuid` | Clicky | Analytics | 18 years | Counting visitors |" in render_notice(loaded, "en", "md")
    assert "| `sid` | Exemple SAS | Strictly necessary | Session | Keeping you signed in |" in render_notice(loaded, "en", "md")
    for lang, lifetime in (("pl", "18 lat"), ("ro", "18 ani"), ("fr", "18 ans"), ("cs", "18 let")):
        assert f"<td>{lifetime}</td>" in render_notice(loaded, lang, "html")


def test_rights_follow_the_legal_basis() -> None:
    page = render_notice(load_policy(MINIMAL), "en", "md")
    portability = _section(page, "### Right to data portability", "\n### ")
    assert "- Customer accounts" in portability
    assert "Security logs" not in portability
    objection = _section(page, "### Right to object", "\n### ")
    assert "- Security logs" in objection
    assert "Customer accounts" not in objection
    assert "direct marketing at any time and without giving reasons" in objection
    assert "None of our activities is based on your consent." in _section(page, "### Right to withdraw consent", "\n### ")
    assert "We do not make decisions based solely on automated processing" in page


def test_automated_decision_and_consent_are_described(make_policy: PolicyFactory) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["activities"]["security_logs"]["automated_decision"] = {
            "logic": "Addresses on a blocklist are refused.",
            "significance": "You cannot sign in.",
        }
        data["activities"]["newsletter"] = {
            "title": "Newsletter",
            "purposes": ["dpv:DirectMarketing"],
            "legal_basis": "consent",
            "subjects": ["customer"],
            "data": ["email"],
        }
        data["consents"] = {"newsletter": {"title": "Newsletter", "activities": ["newsletter"], "channel": "email", "expires": "2 years"}}

    page = render_notice(load_policy(make_policy(edit)), "en", "md")
    decisions = _section(page, "Automated decisions", "\n## ")
    assert "- **How the decision is made:** Addresses on a blocklist are refused." in decisions
    assert "| **Newsletter** | Newsletter | 2 years |" in page
    assert "- Newsletter" in _section(page, "### Right to withdraw consent", "\n### ")
    assert "Direct marketing covers these activities:\n\n- Newsletter" in page


# ---------------------------------------------------------------- the catalogs
def _catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_catalog_is_complete(lang: str) -> None:
    catalog = _catalog(LOCALE / lang / "LC_MESSAGES" / "privacydesk.po", lang)
    template = _catalog(LOCALE / "privacydesk.pot")
    assert catalog.num_plurals == TRANSLATED[lang]
    problems = [f"missing from the catalog: {message.id!r}" for message in template if message.id and message.id not in catalog]
    for message in catalog:
        if not message.id:
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        source = message.id if isinstance(message.id, tuple) else (message.id,)
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        if not all(forms) or len(forms) != (catalog.num_plurals if message.pluralizable else 1):
            problems.append(f"untranslated: {message.id!r}")
        if any(form == text and len(text.split()) > 2 for form, text in zip(forms, source, strict=False)):
            problems.append(f"left in English: {message.id!r}")
        problems += [f"{message.id!r}: {error}" for error in message.check(catalog)]
    assert problems == []


def test_template_is_current() -> None:
    """Every message marked in the sources is in the template: run `make catalogs` after adding one."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = {message for _, _, message, _, _ in extract_from_dir(str(ROOT / "src"), method_map, options_map, keywords=DEFAULT_KEYWORDS)}
    template = {message.id for message in _catalog(LOCALE / "privacydesk.pot") if message.id}
    assert found - template == set()


def test_duration_plurals_in_every_language() -> None:
    from privacydesk.policy.durations import Duration
    from privacydesk.policy.labels import duration

    expected = {
        "pl": ("1 rok", "2 lata", "5 lat", "22 lata"),
        "ro": ("1 an", "2 ani", "5 ani", "22 de ani"),
        "fr": ("1 an", "2 ans", "5 ans", "22 ans"),
        "cs": ("1 rok", "2 roky", "5 let", "22 let"),
        "en": ("1 year", "2 years", "5 years", "22 years"),
    }
    for lang, words in expected.items():
        assert tuple(duration(Duration(amount, "year"), lang) for amount in (1, 2, 5, 22)) == words
    assert format_day(date(2021, 9, 13), "pl") == "13 września 2021"
