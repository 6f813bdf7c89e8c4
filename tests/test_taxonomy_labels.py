"""Our own labels for the DPV terms (taxonomy/labels.csv) and the licence notice shipped with the vocabulary."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from privacydesk import taxonomy

LABELS = resources.files("privacydesk.taxonomy") / "labels.csv"
TRANSLATED = ("pl", "ro", "fr", "cs")
# Every class term of these kinds must have a label in each notice language.
REQUIRED_KINDS = ("personal_data", "purpose", "subject", "legal_basis", "right", "transfer", "authority", "consent_status")
# Proper names that may legitimately read the same in English and every other language.
SAME_EVERYWHERE = frozenset({"legal-cz:DPA-CZ", "legal-fr:DPA-FR", "legal-pl:DPA-PL", "legal-ro:DPA-RO"})


def _rows() -> list[dict[str, str]]:
    with LABELS.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["term", *taxonomy.LANGUAGES]
        rows = list(reader)
    for row in rows:
        assert None not in row and None not in row.values(), f"wrong number of columns: {row}"
    return rows


def _required() -> list[taxonomy.Term]:
    return [term for term in taxonomy.terms().values() if term.kind in REQUIRED_KINDS]


def test_file_has_one_row_per_term_sorted() -> None:
    ids = [row["term"] for row in _rows()]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))


def test_every_row_names_a_known_term() -> None:
    unknown = [row["term"] for row in _rows() if row["term"] not in taxonomy.terms()]
    assert not unknown


@pytest.mark.parametrize("kind", REQUIRED_KINDS)
def test_every_required_term_is_translated(kind: str) -> None:
    table = taxonomy.translations()
    terms = [term for term in _required() if term.kind == kind]
    assert terms, f"no {kind} terms in the vocabulary"
    missing = [f"{term.id} ({lang})" for term in terms for lang in TRANSLATED if not table.get(term.id, {}).get(lang, "").strip()]
    assert not missing


def test_no_row_is_half_translated() -> None:
    partial = [row["term"] for row in _rows() if any(row[lang] for lang in TRANSLATED) and not all(row[lang] for lang in TRANSLATED)]
    assert not partial


def test_labels_are_clean() -> None:
    for row in _rows():
        for lang in taxonomy.LANGUAGES:
            label = row[lang]
            assert label == label.strip() and "  " not in label, (row["term"], lang, label)
            assert "\n" not in label, (row["term"], lang)


def test_romanian_uses_comma_below_diacritics() -> None:
    cedilla = [row["term"] for row in _rows() if any(char in row["ro"] for char in "şţŞŢ")]
    assert not cedilla


def test_labels_are_not_english_left_untranslated() -> None:
    untranslated = []
    for row in _rows():
        term = taxonomy.terms()[row["term"]]
        english = row["en"] or term.label
        if row["term"] not in SAME_EVERYWHERE and {row[lang] for lang in TRANSLATED} == {english}:
            untranslated.append(row["term"])
    assert not untranslated


def test_english_override_differs_from_the_vocabulary_label() -> None:
    """An English override is for a better wording, not for changing letter case."""
    redundant = [row["term"] for row in _rows() if row["en"] and row["en"].casefold() == taxonomy.terms()[row["term"]].label.casefold()]
    assert not redundant


def test_localized_uses_our_labels() -> None:
    email = taxonomy.terms()["pd:EmailAddress"]
    assert email.localized("pl") == "Adres e-mail"
    assert email.localized("ro") == "Adresă de e-mail"
    assert email.localized("fr") == "Adresse e-mail"
    assert email.localized("cs") == "E-mailová adresa"
    assert email.localized("en") == email.label  # no English override: the vocabulary's label
    assert taxonomy.terms()["pd:BirthDate"].localized("en") == "Date of birth"
    assert taxonomy.terms()["dpv:LegitimateInterest"].localized("pl") == "Prawnie uzasadniony interes"


def test_localized_falls_back_to_english() -> None:
    untranslated = next(term for term in taxonomy.terms().values() if term.id not in taxonomy.translations())
    assert untranslated.localized("pl") == untranslated.label


def test_vocabulary_licence_notice_is_shipped() -> None:
    notice = resources.files("privacydesk.taxonomy") / "dpv" / "LICENSE.md"
    assert notice.is_file()
    text = notice.read_text(encoding="utf-8")
    assert "W3C Software and Document" in text
