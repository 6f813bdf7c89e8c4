"""Translations through gettext catalogs (Babel), and locale-aware dates.

Catalogs live as `.po` files in `locale/<lang>/LC_MESSAGES/privacydesk.po`; they are compiled in
memory on first use, so a source checkout needs no build step.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from importlib import resources
from io import BytesIO

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("en", "pl", "ro", "fr", "cs")
DOMAIN = "privacydesk"


def catalog_path(lang: str) -> resources.abc.Traversable:
    """Where the `.po` catalog of `lang` lives in the package."""
    return resources.files("privacydesk") / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(lang: str) -> NullTranslations:
    """The gettext translations for `lang`; English is the source language."""
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}; supported: {', '.join(LANGUAGES)}")
    path = catalog_path(lang)
    if lang == "en" or not path.is_file():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


def gettext(lang: str, message: str) -> str:
    """`message` translated into `lang`."""
    return translations(lang).gettext(message)


def ngettext(lang: str, singular: str, plural: str, count: int) -> str:
    """The form of a message for `count`, with the plural rules of `lang`."""
    return translations(lang).ngettext(singular, plural, count)


def format_day(value: date, lang: str) -> str:
    """A date written out the way `lang` writes it (e.g. '13 września 2021')."""
    return format_date(value, format="long", locale=Locale.parse(lang))
