"""Country facts the GDPR depends on: the EEA, adequacy decisions and the Art. 8 age of digital consent."""

from __future__ import annotations

from functools import cache

from babel import Locale

EEA = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
    ]
)

# Countries with an EU adequacy decision under Art. 45 (Commission list as of 2026). The United
# States is adequate only for organisations certified under the EU-US Data Privacy Framework,
# so a US recipient must state that (safeguard: adequacy) to count as covered.
ADEQUATE = frozenset(["AD", "AR", "BR", "CA", "CH", "FO", "GB", "GG", "IL", "IM", "JE", "JP", "KR", "NZ", "UY"])

# Age of digital consent under Art. 8(1) as set by each member state's law; 16 where a state
# has not lowered it.
DIGITAL_CONSENT_AGE = {
    "AT": 14,
    "BE": 13,
    "BG": 14,
    "CY": 14,
    "CZ": 15,
    "DK": 13,
    "EE": 13,
    "ES": 14,
    "FI": 13,
    "FR": 15,
    "GR": 15,
    "IT": 14,
    "LT": 14,
    "LV": 13,
    "MT": 13,
    "PT": 13,
    "SE": 13,
    "SI": 15,
    "IS": 13,
    "NO": 13,
}
DEFAULT_DIGITAL_CONSENT_AGE = 16


@cache
def iso_countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes known to the CLDR."""
    return frozenset(code for code in Locale("en").territories if isinstance(code, str) and len(code) == 2 and code.isalpha())


def country_name(code: str, lang: str) -> str:
    """The country's name in `lang`, from the CLDR."""
    return str(Locale(lang).territories.get(code, code))


def needs_safeguard(country: str) -> bool:
    """Whether a transfer to `country` needs an Art. 46/49 safeguard."""
    return country not in EEA and country not in ADEQUATE


def digital_consent_age(country: str | None) -> int:
    """The Art. 8 age of digital consent in `country`."""
    return DIGITAL_CONSENT_AGE.get(country or "", DEFAULT_DIGITAL_CONSENT_AGE)
