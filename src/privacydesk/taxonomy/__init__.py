"""The W3C Data Privacy Vocabulary (DPV 2.3) terms privacydesk understands, with labels in five languages.

The CSV files in `dpv/` are unmodified extracts of DPV 2.3, shipped under the W3C Software and
Document License (see `dpv/LICENSE.md`). The pl, ro, fr and cs labels in `labels.csv` are
privacydesk's own translations.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Kind = Literal[
    "personal_data",
    "purpose",
    "subject",
    "legal_basis",
    "right",
    "measure",
    "transfer",
    "consent_status",
    "authority",
    "breach",
    "justification",
]
LANGUAGES = ("en", "pl", "ro", "fr", "cs")

# Which vocabulary file holds which kind of term.
_FILE_KINDS: dict[str, Kind] = {
    "pd-pd.csv": "personal_data",
    "dpv-purposes.csv": "purpose",
    "dpv-entities_datasubject.csv": "subject",
    "dpv-legal_basis.csv": "legal_basis",
    "legal-eu-gdpr-legal_basis.csv": "legal_basis",
    "legal-eu-gdpr-legal_basis_data_transfer.csv": "transfer",
    "legal-eu-gdpr-data_transfers.csv": "transfer",
    "dpv-rights.csv": "right",
    "legal-eu-gdpr-rights.csv": "right",
    "dpv-TOM.csv": "measure",
    "dpv-technical_measures.csv": "measure",
    "dpv-organisational_measures.csv": "measure",
    "dpv-consent_status.csv": "consent_status",
    "legal-pl-legal-pl.csv": "authority",
    "legal-ro-legal-ro.csv": "authority",
    "legal-fr-legal-fr.csv": "authority",
    "legal-cz-legal-cz.csv": "authority",
    "legal-eu-gdpr-data_breach.csv": "breach",
    "legal-eu-gdpr-rights_justifications.csv": "justification",
}
_PREFIXES = {
    "https://w3id.org/dpv": "dpv",
    "https://w3id.org/dpv/pd": "pd",
    "https://w3id.org/dpv/legal/eu/gdpr": "eu-gdpr",
    "https://w3id.org/dpv/legal/pl": "legal-pl",
    "https://w3id.org/dpv/legal/ro": "legal-ro",
    "https://w3id.org/dpv/legal/fr": "legal-fr",
    "https://w3id.org/dpv/legal/cz": "legal-cz",
}
SPECIAL_CATEGORY = "https://w3id.org/dpv#SpecialCategoryPersonalData"


@dataclass(frozen=True, slots=True)
class Term:
    """One vocabulary term, known by its compact id such as `pd:EmailAddress`."""

    id: str
    iri: str
    kind: Kind
    label: str
    definition: str
    broader: tuple[str, ...]
    special_category: bool

    def localized(self, lang: str) -> str:
        """The label in `lang`, or the English label when no translation exists."""
        return translations().get(self.id, {}).get(lang) or self.label


@cache
def terms() -> dict[str, Term]:
    """Every class term of the shipped vocabulary, keyed by compact id."""
    found: dict[str, Term] = {}
    folder = resources.files(__package__) / "dpv"
    for name, kind in _FILE_KINDS.items():
        with (folder / name).open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["type"] != "class":
                    continue
                compact = f"{_PREFIXES[row['namespace']]}:{row['term']}"
                types = row["dpvtype"].split(";") + row["hasbroader"].split(";")
                found.setdefault(
                    compact,
                    Term(
                        id=compact,
                        iri=row["iri"],
                        kind=kind,
                        label=row["label"],
                        definition=row["definition"],
                        broader=tuple(b for b in row["hasbroader"].split(";") if b),
                        special_category=SPECIAL_CATEGORY in types,
                    ),
                )
    return found


@cache
def translations() -> dict[str, dict[str, str]]:
    """Our own labels per term and language (pl, ro, fr, cs; en overrides are allowed)."""
    table: dict[str, dict[str, str]] = {}
    with (resources.files(__package__) / "labels.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            table[row["term"]] = {lang: row[lang] for lang in LANGUAGES if row.get(lang)}
    return table


def lookup(term_id: str, kinds: tuple[Kind, ...]) -> Term:
    """Return the term `term_id` of one of `kinds`, or raise ValueError with a did-you-mean."""
    term = terms().get(term_id)
    if term is not None and term.kind in kinds:
        return term
    if term is not None:
        raise ValueError(
            f"{term_id!r} is a DPV {term.kind.replace('_', ' ')} term, expected {' or '.join(k.replace('_', ' ') for k in kinds)}"
        )
    candidates = [t.id for t in terms().values() if t.kind in kinds]
    close = difflib.get_close_matches(term_id, candidates, n=1, cutoff=0.6)
    if not close:  # people often forget or mistype the prefix
        bare = term_id.rsplit(":", maxsplit=1)[-1].lower()
        close = [c for c in candidates if c.split(":")[-1].lower() == bare]
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown DPV term {term_id!r}{hint}")
