"""Replacement values for anonymised fields: keyed pseudonyms, locale-aware fakes and neutral values.

Every computed value is derived from the secret key and the row's place (system, collection,
column, key), never from the erased value: knowing someone's e-mail address does not lead to
their pseudonym, and anonymising a row twice writes the same values (the step is idempotent).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from privacydesk.connectors.base import Key

# The policy's first language decides the locale of fake values.
LOCALES = {"en": "en_GB", "pl": "pl_PL", "ro": "ro_RO", "fr": "fr_FR", "cs": "cs_CZ"}
# Faker providers for the DPV terms whose values have a recognisable shape.
_FAKERS = {
    "pd:EmailAddress": "safe_email",
    "pd:TelephoneNumber": "phone_number",
    "pd:Name": "name",
    "pd:FirstName": "first_name",
    "pd:Surname": "last_name",
    "pd:PhysicalAddress": "address",
    "pd:Location": "city",
    "pd:Country": "country_code",
    "pd:Username": "user_name",
    "pd:IPAddress": "ipv4_public",
    "pd:MACAddress": "mac_address",
    "pd:UserAgent": "user_agent",
    "pd:Language": "language_code",
    "pd:Communication": "sentence",
}
# What a column that may not be empty gets when the policy names no strategy for it.
NEUTRAL: dict[type, Any] = {
    int: 0,
    float: 0.0,
    Decimal: Decimal(0),
    bool: False,
    date: date(1970, 1, 1),
    datetime: datetime(1970, 1, 1),
    time: time(0, 0),
}
# Pseudonymous addresses stay addresses, in a domain that can never receive mail (RFC 2606).
PSEUDONYM_DOMAIN = "erased.invalid"


class Replacements:
    """Computes per-row replacement values for one system."""

    def __init__(self, secret: bytes, *, system: str, locale: str) -> None:
        self._secret = secret
        self._system = system
        self._locale = locale
        self._faker: Any = None

    def digest(self, collection: str, column: str, key: Key) -> str:
        """The keyed digest of one cell's place."""
        place = f"{self._system}\x00{collection}\x00{column}\x00{key}"
        return hmac.new(self._secret, place.encode(), hashlib.sha256).hexdigest()

    def pseudonym(self, collection: str, column: str, key: Key, *, dpv: str | None, length: int | None) -> str:
        """A keyed pseudonym for one cell; an address for e-mail columns."""
        digest = self.digest(collection, column, key)
        value = f"{digest[:24]}@{PSEUDONYM_DOMAIN}" if dpv == "pd:EmailAddress" else digest[:32]
        if length is not None and len(value) > length:
            return digest[:length]
        return value

    def fake(self, collection: str, column: str, key: Key, *, dpv: str | None, length: int | None) -> str:
        """A realistic value in the policy's locale, the same every time for the same cell."""
        faker = self._fake_generator()
        faker.seed_instance(int(self.digest(collection, column, key)[:16], 16))
        value = str(getattr(faker, _FAKERS.get(dpv or "", "word"))())
        return value[:length] if length is not None else value

    def _fake_generator(self) -> Any:
        if self._faker is None:
            from faker import Faker  # imported on first use: it takes a while and most requests never need it

            self._faker = Faker(self._locale)
        return self._faker
