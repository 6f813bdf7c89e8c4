"""CARLAB demo database: SEESTEMS's vehicle-photo app and its CRM, filled with Polish fake data.

    python examples/carlab/app/generate.py --url sqlite:////tmp/carlab.db --users 200

With CARLAB_FILES_ROOT set, the photo files are written too, as `photos/<account id>/<file name>`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    select,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import appkit

metadata = MetaData()

# ---------------------------------------------------------------- CRM: contacts, their messages, the newsletter
crm_contacts = Table(
    "crm_contacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("full_name", String(200), nullable=False),
    Column("email", String(254), nullable=False, index=True),
    Column("phone", String(40), index=True),
    Column("company", String(200)),
    Column("source", String(20), nullable=False),  # phone, email, contact_form
    Column("created_at", DateTime, nullable=False),
    Column("last_contact_at", DateTime, nullable=False, index=True),
)

crm_messages = Table(
    "crm_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("contact_id", Integer, ForeignKey("crm_contacts.id"), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("direction", String(10), nullable=False),  # in, out
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("sent_at", DateTime, nullable=False, index=True),
)

newsletter_subscribers = Table(
    "newsletter_subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("contact_id", Integer, ForeignKey("crm_contacts.id"), index=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("full_name", String(200)),
    Column("subscribed_at", DateTime, nullable=False),
    Column("confirmed_at", DateTime),
    Column("unsubscribed_at", DateTime, index=True),
    Column("unsubscribe_token", String(64), nullable=False, unique=True),
)

# ---------------------------------------------------------------- the app: accounts, devices, usage, photos
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("username", String(80), nullable=False, unique=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("full_name", String(200)),
    Column("phone", String(40), index=True),
    Column("preferred_language", String(8)),
    Column("hosting_months", Integer, nullable=False),  # the hosting period of the user's offer
    Column("training_opt_out", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_active_at", DateTime, nullable=False, index=True),
    Column("closed_at", DateTime),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("device_uid", String(64), nullable=False),
    Column("mac_address", String(17)),
    Column("imei", String(15)),
    Column("device_name", String(100)),
    Column("os", String(50)),
    Column("browser", String(50)),
    Column("language", String(10)),
    Column("first_seen_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False, index=True),
)

usage_events = Table(
    "usage_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("device_id", Integer, ForeignKey("devices.id"), index=True),
    Column("occurred_at", DateTime, nullable=False, index=True),
    Column("ip_address", String(45)),
    Column("page", String(300), nullable=False),
    Column("link", String(300)),
    Column("city", String(100)),
    Column("region", String(100)),
)

photos = Table(
    "photos",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("file_name", String(200), nullable=False),
    Column("vehicle", String(100)),
    Column("taken_at", DateTime, nullable=False),
    Column("uploaded_at", DateTime, nullable=False),
    Column("hosted_until", DateTime, nullable=False, index=True),
)

training_samples = Table(
    "training_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("photo_id", Integer, ForeignKey("photos.id"), nullable=False, index=True),
    Column("vehicle_position", String(20), nullable=False),
    Column("dataset_version", String(20), nullable=False),
    Column("added_at", DateTime, nullable=False),
)

VEHICLES = [
    "Škoda Octavia",
    "Toyota Corolla",
    "Volkswagen Golf",
    "Opel Astra",
    "Kia Ceed",
    "Ford Focus",
    "Renault Clio",
    "Dacia Duster",
    "Hyundai Tucson",
    "BMW 320d",
    "Audi A4",
    "Peugeot 3008",
    "Fiat Tipo",
    "Mercedes-Benz Vito",
]
POSITIONS = ["przód", "tył", "lewy bok", "prawy bok", "przód-lewy", "przód-prawy", "tył-lewy", "tył-prawy", "wnętrze"]
DEVICES = [
    ("Samsung Galaxy S21", "Android 13"),
    ("Xiaomi Redmi Note 11", "Android 12"),
    ("iPhone 12", "iOS 17"),
    ("iPhone 14", "iOS 18"),
    ("Motorola moto g54", "Android 14"),
    ("Laptop Dell Latitude", "Windows 11"),
]
BROWSERS = ["Chrome", "Safari", "Firefox", "Edge", "CARLAB app"]
PAGES = ["/", "/oferta", "/cennik", "/aplikacja/zdjecia", "/aplikacja/nowe-zdjecie", "/aplikacja/eksport", "/pomoc", "/kontakt"]
LINKS = ["Pobierz aplikację", "Zobacz cennik", "Dodaj zdjęcia", "Eksportuj do ogłoszenia", "Skontaktuj się", None, None]
SUBJECTS = [
    "Pytanie o ofertę CARLAB",
    "Prośba o wycenę dla komisu",
    "Problem z logowaniem",
    "Eksport zdjęć do portalu ogłoszeniowego",
    "Przedłużenie hostingu zdjęć",
    "Prezentacja aplikacji",
    "Faktura za abonament",
]
INCOMING = [
    "Dzień dobry, prowadzimy komis samochodowy i chcielibyśmy poznać szczegóły oferty.",
    "Proszę o kontakt telefoniczny w sprawie wdrożenia aplikacji w naszym salonie.",
    "Nie mogę zalogować się do aplikacji po zmianie telefonu, proszę o pomoc.",
    "Czy można wydłużyć okres przechowywania zdjęć o kolejny rok?",
    "Zdjęcia nie pojawiają się w eksporcie do ogłoszenia, co robię źle?",
]
OUTGOING = [
    "Dziękujemy za wiadomość, przesyłamy ofertę w załączniku.",
    "Potwierdzamy termin prezentacji aplikacji w przyszłym tygodniu.",
    "Hasło można zresetować linkiem wysłanym na adres e-mail konta.",
    "Okres hostingu został przedłużony zgodnie z zamówieniem.",
]
HOSTING_MONTHS = [12, 12, 24, 36]
DAY = timedelta(days=1)


def _between(ctx: appkit.Context, start: datetime, end: datetime) -> datetime:
    """A random moment in [start, end], to the second."""
    if end <= start:
        return start
    return start + timedelta(seconds=ctx.rng.randint(0, int((end - start).total_seconds())))


def _email(ctx: appkit.Context, name: str, number: int, prefix: str = "") -> str:
    """A realistic address made unique by the person's number."""
    local = ".".join(name.lower().split()[:2])
    local = local.translate(str.maketrans("ąćęłńóśźż", "acelnoszz")).replace("'", "")
    return f"{prefix}{local}.{number}@{ctx.fake.free_email_domain()}"


def _hex(ctx: appkit.Context, length: int) -> str:
    return f"{ctx.rng.getrandbits(length * 4):0{length}x}"


def generate(ctx: appkit.Context) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield CRM and app rows, parent first, for `ctx.users` people (about 15 rows each)."""
    fake, rng, now = ctx.fake, ctx.rng, ctx.now
    ids = dict.fromkeys(["contact", "message", "subscriber", "device", "event", "photo", "sample"], 0)

    def next_id(kind: str) -> int:
        ids[kind] += 1
        return ids[kind]

    for number in range(1, ctx.users + 1):
        name = fake.name()
        email = _email(ctx, name, number)
        phone = fake.phone_number()
        created = now - timedelta(seconds=rng.randint(30 * 86400, 4 * 365 * 86400))
        # Most accounts are in use; some went quiet (a few past the 2-year inactivity limit), some were closed.
        state = rng.choices(["active", "inactive", "closed"], weights=[70, 20, 10])[0]
        if state == "active":
            last_active = _between(ctx, max(created, now - 60 * DAY), now)
        else:
            last_active = _between(ctx, created, max(created, now - 200 * DAY))
        closed = last_active if state == "closed" else None
        hosting = rng.choice(HOSTING_MONTHS)
        opted_out = rng.random() < 0.1  # objected to the use of their photos for model training

        if rng.random() < 0.6:  # the person also talked to sales, so the CRM knows them
            yield from _crm_contact(ctx, next_id, name=name, email=email, phone=phone, start=created, end=last_active)
        if rng.random() < 0.15:  # a prospect who never opened an account
            prospect = fake.name()
            start = now - timedelta(seconds=rng.randint(86400, 4 * 365 * 86400))
            prospect_email = _email(ctx, prospect, number, "k")
            yield from _crm_contact(ctx, next_id, name=prospect, email=prospect_email, phone=fake.phone_number(), start=start, end=start)

        user_id = number
        yield (
            "users",
            {
                "id": user_id,
                "username": f"{fake.user_name()}{number}",
                "email": email,
                "password_hash": f"pbkdf2_sha256$600000${_hex(ctx, 16)}${_hex(ctx, 44)}",
                "full_name": name if rng.random() < 0.9 else None,
                "phone": phone if rng.random() < 0.7 else None,
                "preferred_language": rng.choice(["pl", "pl", "pl", "en"]),
                "hosting_months": hosting,
                "training_opt_out": opted_out,
                "created_at": created,
                "last_active_at": last_active,
                "closed_at": closed,
            },
        )

        device_ids = []
        for _ in range(rng.choice([1, 1, 2])):
            device_id = next_id("device")
            device_ids.append(device_id)
            model, system = rng.choice(DEVICES)
            mobile = not model.startswith("Laptop")
            yield (
                "devices",
                {
                    "id": device_id,
                    "user_id": user_id,
                    "device_uid": _hex(ctx, 32),
                    "mac_address": fake.mac_address() if mobile else None,
                    "imei": "".join(str(rng.randint(0, 9)) for _ in range(15)) if mobile else None,
                    "device_name": model,
                    "os": system,
                    "browser": rng.choice(BROWSERS),
                    "language": rng.choice(["pl-PL", "pl-PL", "en-GB"]),
                    "first_seen_at": created,
                    "last_seen_at": last_active,
                },
            )

        # Usage statistics exist only for people who accepted analytics cookies.
        if rng.random() < 0.6:
            city = fake.city()
            region = fake.administrative_unit()
            for _ in range(rng.randint(3, 8)):
                page = rng.choice(PAGES)
                yield (
                    "usage_events",
                    {
                        "id": next_id("event"),
                        "user_id": user_id,
                        "device_id": rng.choice(device_ids),
                        "occurred_at": _between(ctx, max(created, now - 730 * DAY), last_active),
                        "ip_address": fake.ipv4_public() if rng.random() < 0.8 else fake.ipv6(),
                        "page": page,
                        "link": rng.choice(LINKS),
                        "city": city,
                        "region": region,
                    },
                )

        for _ in range(rng.randint(2, 8)):
            photo_id = next_id("photo")
            uploaded = _between(ctx, created, last_active)
            taken = uploaded - timedelta(minutes=rng.randint(1, 600))
            yield (
                "photos",
                {
                    "id": photo_id,
                    "user_id": user_id,
                    "file_name": f"IMG_{taken:%Y%m%d_%H%M%S}_{photo_id}.png",
                    "vehicle": rng.choice(VEHICLES),
                    "taken_at": taken,
                    "uploaded_at": uploaded,
                    "hosted_until": uploaded + timedelta(days=round(hosting * 30.44)),
                },
            )
            if not opted_out and rng.random() < 0.3:
                yield (
                    "training_samples",
                    {
                        "id": next_id("sample"),
                        "photo_id": photo_id,
                        "vehicle_position": rng.choice(POSITIONS),
                        "dataset_version": f"pozycja-{rng.randint(1, 6)}.0",
                        "added_at": _between(ctx, uploaded, min(now, uploaded + 90 * DAY)),
                    },
                )


def _crm_contact(
    ctx: appkit.Context, next_id: Callable[[str], int], *, name: str, email: str, phone: str, start: datetime, end: datetime
) -> Iterator[tuple[str, dict[str, Any]]]:
    """One CRM contact with its exchanged messages and, often, a newsletter subscription."""
    rng, now = ctx.rng, ctx.now
    contact_id = next_id("contact")
    first = _between(ctx, start - 30 * DAY, start)
    sent = sorted(_between(ctx, first, max(first, end)) for _ in range(rng.randint(1, 5)))
    yield (
        "crm_contacts",
        {
            "id": contact_id,
            "full_name": name,
            "email": email,
            "phone": phone if rng.random() < 0.8 else None,
            "company": ctx.fake.company() if rng.random() < 0.7 else None,
            "source": rng.choice(["phone", "email", "contact_form"]),
            "created_at": first,
            "last_contact_at": sent[-1],
        },
    )
    subject = rng.choice(SUBJECTS)
    for index, moment in enumerate(sent):
        incoming = index % 2 == 0
        yield (
            "crm_messages",
            {
                "id": next_id("message"),
                "contact_id": contact_id,
                "channel": rng.choice(["email", "phone", "contact_form"]) if incoming else "email",
                "direction": "in" if incoming else "out",
                "subject": subject if incoming else f"Re: {subject}",
                "body": rng.choice(INCOMING if incoming else OUTGOING),
                "sent_at": moment,
            },
        )
    if rng.random() < 0.45:
        subscribed = _between(ctx, first, max(first, sent[-1]))
        confirmed = subscribed + timedelta(minutes=rng.randint(1, 300)) if rng.random() < 0.9 else None
        unsubscribed = None
        if confirmed is not None and rng.random() < 0.25:
            # Some left long ago (their row is past the 7-day window), some in the last week.
            unsubscribed = now - timedelta(days=rng.randint(1, 5)) if rng.random() < 0.3 else _between(ctx, confirmed, now - 8 * DAY)
        yield (
            "newsletter_subscribers",
            {
                "id": next_id("subscriber"),
                "contact_id": contact_id,
                "email": email,
                "full_name": name if rng.random() < 0.5 else None,
                "subscribed_at": subscribed,
                "confirmed_at": confirmed,
                "unsubscribed_at": unsubscribed,
                "unsubscribe_token": _hex(ctx, 48),
            },
        )


# ---------------------------------------------------------------- photo files
def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid single-colour PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def write_photo_files(engine: Engine, root: Path) -> int:
    """Replace `root/photos/` with one small image per `photos` row, as `<user id>/<file name>`; return how many."""
    shutil.rmtree(root / "photos", ignore_errors=True)
    count = 0
    with engine.connect() as connection:
        for photo_id, user_id, file_name in connection.execute(select(photos.c.id, photos.c.user_id, photos.c.file_name)):
            folder = root / "photos" / str(user_id)
            folder.mkdir(parents=True, exist_ok=True)
            shade = (photo_id * 37) % 256
            (folder / file_name).write_bytes(_png(32, 24, (shade, 90, 255 - shade)))
            count += 1
    return count


if __name__ == "__main__":
    appkit.main(
        metadata,
        generate,
        locale="pl_PL",
        env_url="CARLAB_DB_URL",
        description="Create and fill the CARLAB demo database (CRM, accounts, devices, usage statistics, photos).",
    )
    files_root = os.environ.get("CARLAB_FILES_ROOT")
    if files_root:
        url_parser = argparse.ArgumentParser(add_help=False)
        url_parser.add_argument("--url", default=os.environ.get("CARLAB_DB_URL"))
        written = write_photo_files(create_engine(url_parser.parse_known_args()[0].url), Path(files_root))
        print(f"{'photo files':<24} {written:>12,}")
