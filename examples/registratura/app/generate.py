"""Registratura electronică demo database: an electronic document registry sold to public institutions, in Romanian.

python examples/registratura/app/generate.py --url sqlite:////tmp/registratura.db --users 200
"""

from __future__ import annotations

import struct
import sys
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Column, DateTime, ForeignKey, Integer, LargeBinary, MetaData, Numeric, String, Table, Text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import appkit

metadata = MetaData()

# ---------------------------------------------------------------- clients and their contracts
# The client institutions are legal persons: this table holds no personal data.
institutions = Table(
    "institutions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("fiscal_code", String(16), nullable=False),
    Column("county", String(50), nullable=False),
    Column("address", String(300), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

contracts = Table(
    "contracts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("institution_id", Integer, ForeignKey("institutions.id"), nullable=False, index=True),
    Column("number", String(32), nullable=False),
    Column("plan", String(40), nullable=False),
    Column("signatory_name", String(200), nullable=False),
    Column("signatory_email", String(254), nullable=True, index=True),
    Column("signatory_phone", String(40), index=True),
    Column("started_at", DateTime, nullable=False),
    Column("ended_at", DateTime, index=True),
)

# ---------------------------------------------------------------- accounts, activations, usage
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("contract_id", Integer, ForeignKey("contracts.id"), nullable=False, index=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("full_name", String(200), nullable=False),
    Column("phone", String(40), index=True),
    Column("postal_address", String(300)),
    Column("password_hash", String(200), nullable=False),
    Column("password_hint", String(200)),
    Column("role", String(20), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_login_at", DateTime, index=True),
    Column("deactivated_at", DateTime),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("contract_id", Integer, ForeignKey("contracts.id"), nullable=False, index=True),
    Column("device_uid", String(64), nullable=False),
    Column("device_type", String(40), nullable=False),
    Column("app_id", String(64), nullable=False),
    Column("app_version", String(20), nullable=False),
    Column("license_key", String(40), nullable=False),
    Column("ip_address", String(45)),
    Column("city", String(100)),
    Column("activated_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False),
)

usage_events = Table(
    "usage_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("occurred_at", DateTime, nullable=False, index=True),
    Column("feature", String(100), nullable=False),
    Column("search_query", String(200)),
    Column("ip_address", String(45)),
    Column("city", String(100)),
)

interest_profiles = Table(
    "interest_profiles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, unique=True),
    Column("interests", String(500), nullable=False),
    Column("age_range", String(10)),
    Column("region", String(100)),
    Column("updated_at", DateTime, nullable=False, index=True),
)

# ---------------------------------------------------------------- customer support
support_tickets = Table(
    "support_tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("user_id", Integer, ForeignKey("users.id"), index=True),
    Column("contact_name", String(200), nullable=False),
    Column("contact_email", String(254), nullable=False, index=True),
    Column("contact_phone", String(40), index=True),
    Column("channel", String(20), nullable=False),  # email, telefon, chat, formular
    Column("kind", String(20), nullable=False),  # întrebare, problemă, reparație, feedback, recenzie
    Column("subject", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("closed_at", DateTime),
)

support_messages = Table(
    "support_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("ticket_id", Integer, ForeignKey("support_tickets.id"), nullable=False, index=True),
    Column("author", String(10), nullable=False),  # client, agent
    Column("body", Text, nullable=False),
    Column("sent_at", DateTime, nullable=False),
)

support_calls = Table(
    "support_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("ticket_id", Integer, ForeignKey("support_tickets.id"), nullable=False, index=True),
    Column("phone_number", String(40), nullable=False),
    Column("started_at", DateTime, nullable=False, index=True),
    Column("duration_seconds", Integer, nullable=False),
    Column("recording", LargeBinary),
)

# ---------------------------------------------------------------- payments
payments = Table(
    "payments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("contract_id", Integer, ForeignKey("contracts.id"), nullable=False, index=True),
    Column("payer_name", String(200)),
    Column("payer_email", String(254), index=True),
    Column("amount", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("card_brand", String(20)),
    Column("card_last4", String(4)),
    Column("processor_reference", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("paid_at", DateTime, nullable=False, index=True),
)

# ---------------------------------------------------------------- the registry kept for each institution
registry_entries = Table(
    "registry_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("contract_id", Integer, ForeignKey("contracts.id"), nullable=False, index=True),
    Column("registration_number", String(32), nullable=False),
    Column("registered_at", DateTime, nullable=False, index=True),
    Column("direction", String(10), nullable=False),  # intrare, ieșire
    Column("petitioner_name", String(200), nullable=False),
    Column("petitioner_email", String(254), index=True),
    Column("petitioner_phone", String(40), index=True),
    Column("petitioner_address", String(300)),
    Column("subject", String(300), nullable=False),
    Column("summary", Text),
    Column("department", String(100), nullable=False),
)

INSTITUTION_KINDS = ["Primăria Comunei", "Primăria Orașului", "Primăria Municipiului", "Consiliul Județean", "Școala Gimnazială"]
PLANS = {"Standard": Decimal("1200.00"), "Profesional": Decimal("2400.00"), "Instituțional": Decimal("4800.00")}
DEVICE_TYPES = ["PC Windows", "Laptop", "Tabletă Android", "Scanner de documente", "Telefon Android"]
FEATURES = [
    "înregistrare document",
    "căutare în registru",
    "export registru",
    "repartizare document",
    "raport lunar",
    "semnătură electronică",
]
SEARCHES = [
    "cerere certificat urbanism",
    "autorizație construire",
    "adeverință rol agricol",
    "petiție",
    "sesizare",
    "nr. înregistrare",
    None,
    None,
]
INTERESTS = [
    "arhivare electronică",
    "semnătură electronică",
    "managementul documentelor",
    "urbanism",
    "taxe locale",
    "resurse umane",
    "achiziții publice",
]
AGE_RANGES = ["25-34", "35-44", "45-54", "55-64"]
TICKET_SUBJECTS = {
    "întrebare": ["Cum export registrul în format PDF?", "Cum adaug un utilizator nou?", "Numerotarea documentelor la început de an"],
    "problemă": ["Nu pot să mă autentific", "Eroare la încărcarea documentului scanat", "Aplicația nu pornește după actualizare"],
    "reparație": ["Scannerul nu mai este recunoscut", "Reinstalare aplicație pe calculator nou"],
    "feedback": ["Sugestie: căutare după emitent", "Mulțumiri pentru ajutor"],
    "recenzie": ["Recenzie Registratura electronică"],
}
CLIENT_MESSAGES = [
    "Bună ziua, vă rog să ne ajutați cu problema descrisă mai sus.",
    "Am încercat din nou și eroarea persistă. Atașez o captură de ecran.",
    "Mulțumesc, acum funcționează corect.",
    "Aplicația este foarte utilă pentru registratura primăriei, recomand.",
]
AGENT_MESSAGES = [
    "Bună ziua, vă mulțumim pentru mesaj. Verificăm și revenim în cel mai scurt timp.",
    "Vă rugăm să instalați ultima versiune și să reporniți calculatorul.",
    "Am resetat accesul; veți primi un e-mail pentru setarea unei parole noi.",
    "Problema a fost rezolvată. Vă stăm la dispoziție pentru orice întrebare.",
]
REGISTRY_SUBJECTS = [
    "Cerere eliberare certificat de urbanism",
    "Cerere autorizație de construire",
    "Petiție privind iluminatul public",
    "Sesizare groapă în carosabil",
    "Cerere adeverință rol agricol",
    "Declarație impunere clădiri",
    "Răspuns la petiție",
    "Solicitare informații de interes public (Legea 544/2001)",
]
DEPARTMENTS = ["Registratură", "Urbanism", "Taxe și impozite locale", "Registrul agricol", "Secretariat", "Relații cu publicul"]
DAY = timedelta(days=1)


class Person(NamedTuple):
    """An account holder as support sees them."""

    user_id: int
    name: str
    email: str
    phone: str | None


def _between(ctx: appkit.Context, start: datetime, end: datetime) -> datetime:
    """A random moment in [start, end], to the second."""
    if end <= start:
        return start
    return start + timedelta(seconds=ctx.rng.randint(0, int((end - start).total_seconds())))


def _email(ctx: appkit.Context, name: str, tag: str) -> str:
    """A realistic address made unique by `tag`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return f"{'.'.join(ascii_name.replace('-', ' ').split()[:2])}.{tag}@{ctx.fake.free_email_domain()}"


def _hex(ctx: appkit.Context, length: int) -> str:
    return f"{ctx.rng.getrandbits(length * 4):0{length}x}"


def _wav(ctx: appkit.Context, seconds: float) -> bytes:
    """A short, quiet 8 kHz mono WAV standing in for a call recording."""
    samples = bytes(128 + ctx.rng.randint(-3, 3) for _ in range(int(8000 * seconds)))
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(samples), b"WAVE", b"fmt ", 16, 1, 1, 8000, 8000, 1, 8, b"data", len(samples)
    )
    return header + samples


def generate(ctx: appkit.Context) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield rows parent first for `ctx.users` accounts (about 15 rows each), in groups of one institution."""
    ids = dict.fromkeys(["institution", "contract", "device", "event", "profile", "ticket", "message", "call", "payment", "entry"], 0)

    def next_id(kind: str) -> int:
        ids[kind] += 1
        return ids[kind]

    number = 0
    while number < ctx.users:
        group = min(ctx.users - number, ctx.rng.randint(4, 12))
        contract: dict[str, Any] = {}
        for table, row in _institution(ctx, next_id):
            contract = row if table == "contracts" else contract
            yield table, row
        for _ in range(group):
            number += 1
            yield from _user(ctx, next_id, number, contract)
    for _ in range(max(1, ctx.users // 10)):  # questions from people without an account
        yield from _ticket(ctx, next_id, None, ctx.now - timedelta(days=4 * 365), ctx.now)


def _institution(ctx: appkit.Context, next_id: Callable[[str], int]) -> Iterator[tuple[str, dict[str, Any]]]:
    """A client institution, its current or last contract (some ended, a few beyond 3 years) and its payments."""
    fake, rng, now = ctx.fake, ctx.rng, ctx.now
    institution_id = next_id("institution")
    started = now - timedelta(seconds=rng.randint(60 * 86400, 7 * 365 * 86400))
    yield (
        "institutions",
        {
            "id": institution_id,
            "name": f"{rng.choice(INSTITUTION_KINDS)} {fake.city()}",
            "fiscal_code": str(rng.randint(1_000_000, 49_999_999)),
            "county": fake.administrative_unit(),
            "address": fake.street_address(),
            "created_at": started - timedelta(days=rng.randint(1, 30)),
        },
    )
    ended = None
    if rng.random() < 0.45 and started < now - 400 * DAY:
        earliest, three_years_ago = started + 365 * DAY, now - 3 * 365 * DAY
        if earliest < three_years_ago and rng.random() < 0.4:  # past the 3-year limit: due for deletion
            ended = _between(ctx, earliest, three_years_ago - 30 * DAY)
        else:
            ended = _between(ctx, max(earliest, three_years_ago), now - 10 * DAY)
    signatory = fake.name()
    contract_id = next_id("contract")
    signatory_email = _email(ctx, signatory, f"c{contract_id}")
    plan = rng.choice(list(PLANS))
    yield (
        "contracts",
        {
            "id": contract_id,
            "institution_id": institution_id,
            "number": f"RE-{started:%Y}-{contract_id:05d}",
            "plan": plan,
            "signatory_name": signatory,
            "signatory_email": signatory_email,
            "signatory_phone": fake.phone_number(),
            "started_at": started,
            "ended_at": ended,
        },
    )
    paid = started
    while paid <= (ended or now):
        yield (
            "payments",
            {
                "id": next_id("payment"),
                "contract_id": contract_id,
                "payer_name": signatory,
                "payer_email": signatory_email,
                "amount": PLANS[plan],
                "currency": "RON",
                "card_brand": rng.choice(["Visa", "Mastercard"]),
                "card_last4": f"{rng.randint(0, 9999):04d}",
                "processor_reference": _hex(ctx, 24),
                "status": rng.choices(["plătită", "refuzată"], weights=[95, 5])[0],
                "paid_at": paid + timedelta(minutes=rng.randint(0, 7 * 24 * 60)),
            },
        )
        paid += 365 * DAY


def _user(
    ctx: appkit.Context, next_id: Callable[[str], int], number: int, contract: dict[str, Any]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """One staff account of a client institution with its devices, usage, profile, tickets and registry entries."""
    fake, rng, now = ctx.fake, ctx.rng, ctx.now
    started, ended = contract["started_at"], contract["ended_at"]
    until = ended or now
    created = _between(ctx, started, max(started, until - 30 * DAY))
    last_login = _between(ctx, max(created, until - 90 * DAY), until) if rng.random() < 0.95 else None
    name = fake.name()
    email = _email(ctx, name, str(number))
    phone = fake.phone_number() if rng.random() < 0.8 else None
    yield (
        "users",
        {
            "id": number,
            "contract_id": contract["id"],
            "email": email,
            "full_name": name,
            "phone": phone,
            "postal_address": f"{fake.street_address()}, {fake.postcode()} {fake.city()}" if rng.random() < 0.5 else None,
            "password_hash": f"pbkdf2_sha256$600000${_hex(ctx, 16)}${_hex(ctx, 44)}",
            "password_hint": rng.choice(["numele primului animal de companie", "orașul natal", None, None]),
            "role": rng.choices(["registrator", "administrator", "consultare"], weights=[70, 10, 20])[0],
            "created_at": created,
            "last_login_at": last_login,
            "deactivated_at": ended,
        },
    )
    seen = last_login or created
    city = fake.city()
    for _ in range(rng.choice([1, 1, 2])):
        yield (
            "devices",
            {
                "id": next_id("device"),
                "user_id": number,
                "contract_id": contract["id"],
                "device_uid": _hex(ctx, 32),
                "device_type": rng.choice(DEVICE_TYPES),
                "app_id": f"ro.registratura.desktop.{_hex(ctx, 8)}",
                "app_version": f"{rng.randint(3, 5)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
                "license_key": "-".join(_hex(ctx, 5).upper() for _ in range(5)),
                "ip_address": fake.ipv4_public(),
                "city": city,
                "activated_at": created,
                "last_seen_at": seen,
            },
        )
    for _ in range(rng.randint(2, 6)):
        yield (
            "usage_events",
            {
                "id": next_id("event"),
                "user_id": number,
                "occurred_at": _between(ctx, max(created, now - 730 * DAY), seen),
                "feature": rng.choice(FEATURES),
                "search_query": rng.choice(SEARCHES),
                "ip_address": fake.ipv4_public(),
                "city": city,
            },
        )
    if rng.random() < 0.7:
        yield (
            "interest_profiles",
            {
                "id": next_id("profile"),
                "user_id": number,
                "interests": ", ".join(rng.sample(INTERESTS, rng.randint(1, 3))),
                "age_range": rng.choice(AGE_RANGES),
                "region": fake.administrative_unit(),
                "updated_at": _between(ctx, max(created, seen - 500 * DAY), seen),
            },
        )
    for _ in range(rng.choice([0, 1, 1, 2])):
        yield from _ticket(ctx, next_id, Person(number, name, email, phone), created, until)
    if rng.random() < 0.85:  # registrars and administrators record the institution's correspondence
        for _ in range(rng.randint(2, 7)):
            entry_id = next_id("entry")
            registered = _between(ctx, created, until)
            petitioner = fake.name()
            yield (
                "registry_entries",
                {
                    "id": entry_id,
                    "contract_id": contract["id"],
                    "registration_number": f"{entry_id}/{registered:%d.%m.%Y}",
                    "registered_at": registered,
                    "direction": rng.choices(["intrare", "ieșire"], weights=[75, 25])[0],
                    "petitioner_name": petitioner,
                    "petitioner_email": _email(ctx, petitioner, f"p{entry_id}") if rng.random() < 0.5 else None,
                    "petitioner_phone": fake.phone_number() if rng.random() < 0.4 else None,
                    "petitioner_address": f"{fake.street_address()}, {fake.city()}",
                    "subject": rng.choice(REGISTRY_SUBJECTS),
                    "summary": rng.choice(
                        [None, "Se solicită soluționarea în termenul legal.", "Anexat: copie act de identitate și plan de situație."]
                    ),
                    "department": rng.choice(DEPARTMENTS),
                },
            )


def _ticket(
    ctx: appkit.Context, next_id: Callable[[str], int], person: Person | None, start: datetime, end: datetime
) -> Iterator[tuple[str, dict[str, Any]]]:
    """A support ticket with its messages and, for phone tickets, the call; `person` is None for someone without an account."""
    fake, rng, now = ctx.fake, ctx.rng, ctx.now
    ticket_id = next_id("ticket")
    name = person.name if person else fake.name()
    phone = person.phone if person else fake.phone_number()
    channel = rng.choice(["email", "telefon", "chat", "formular"]) if phone else rng.choice(["email", "chat", "formular"])
    kind = rng.choices(list(TICKET_SUBJECTS), weights=[35, 35, 10, 10, 10])[0]
    created = _between(ctx, start, end)
    closed = created + timedelta(hours=rng.randint(1, 240)) if rng.random() < 0.9 else None
    closed = closed if closed is None or closed < now else None
    yield (
        "support_tickets",
        {
            "id": ticket_id,
            "user_id": person.user_id if person else None,
            "contact_name": name,
            "contact_email": person.email if person else _email(ctx, name, f"t{ticket_id}"),
            "contact_phone": phone,
            "channel": channel,
            "kind": kind,
            "subject": rng.choice(TICKET_SUBJECTS[kind]),
            "created_at": created,
            "closed_at": closed,
        },
    )
    moment = created
    for index in range(rng.randint(1, 4)):
        yield (
            "support_messages",
            {
                "id": next_id("message"),
                "ticket_id": ticket_id,
                "author": "client" if index % 2 == 0 else "agent",
                "body": rng.choice(CLIENT_MESSAGES if index % 2 == 0 else AGENT_MESSAGES),
                "sent_at": moment,
            },
        )
        moment = min(now, moment + timedelta(minutes=rng.randint(5, 2880)))
    if channel == "telefon" and phone:
        yield (
            "support_calls",
            {
                "id": next_id("call"),
                "ticket_id": ticket_id,
                "phone_number": phone,
                "started_at": created,
                "duration_seconds": rng.randint(40, 1500),
                # Only calls whose callers accepted the recording announcement are recorded.
                "recording": _wav(ctx, 0.1) if rng.random() < 0.6 else None,
            },
        )


if __name__ == "__main__":
    appkit.main(
        metadata,
        generate,
        locale="ro_RO",
        env_url="REGISTRATURA_DB_URL",
        description="Create and fill the Registratura electronică demo database (contracts, accounts, support, payments, registry).",
    )
