"""Demo database of the Imou camera cloud (seed 003): accounts, cameras, alarms, cloud plans, billing, after-sales, website."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Float, ForeignKey, Integer, MetaData, Numeric, String, Table, Text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import appkit

metadata = MetaData()


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True, autoincrement=False)


def _parent(name: str, target: str, *, nullable: bool = False, on_delete: str = "CASCADE") -> Column[int]:
    return Column(name, Integer, ForeignKey(target, ondelete=on_delete), nullable=nullable, index=True)


# ---------------------------------------------------------------- the Imou app and cloud (seed §1 B)
users = Table(
    "users",
    metadata,
    _id(),
    # Accounts are registered with an e-mail address, a phone number, or both.
    Column("email", String(254), nullable=True, unique=True, index=True),
    Column("phone", String(20), nullable=True, index=True),
    Column("country_region", String(2), nullable=False),
    Column("nickname", String(64), nullable=False),
    Column("password_hash", String(100), nullable=False),
    Column("avatar_url", String(255), nullable=True),
    Column("social_provider", String(16), nullable=True),
    Column("social_nickname", String(128), nullable=True),
    Column("social_avatar_url", String(255), nullable=True),
    Column("ux_plan_enabled", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_active_at", DateTime, nullable=False, index=True),
)

app_sessions = Table(
    "app_sessions",
    metadata,
    _id(),
    _parent("user_id", "users.id"),
    Column("terminal_uid", String(64), nullable=False),
    Column("terminal_model", String(64), nullable=False),
    Column("terminal_os", String(32), nullable=False),
    Column("gps_latitude", Float, nullable=True),
    Column("gps_longitude", Float, nullable=True),
    Column("push_token", String(128), nullable=True),
    Column("app_version", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False, index=True),
)

devices = Table(
    "devices",
    metadata,
    _id(),
    _parent("user_id", "users.id"),
    Column("serial_number", String(32), nullable=False, unique=True, index=True),
    Column("model", String(32), nullable=False),
    Column("name", String(64), nullable=False),
    Column("firmware_version", String(48), nullable=False),
    Column("wifi_ssid", String(64), nullable=True),
    Column("password_hash", String(100), nullable=False),
    Column("timezone", String(40), nullable=False),
    Column("dst_enabled", Boolean, nullable=False),
    Column("mac_address", String(17), nullable=False),
    Column("ip_address", String(45), nullable=False),
    Column("port", Integer, nullable=False),
    Column("geo_country", String(2), nullable=False),
    Column("geo_city", String(64), nullable=True),
    Column("channel_count", Integer, nullable=False),
    Column("online", Boolean, nullable=False),
    Column("config", String(255), nullable=False),
    Column("cover_image_url", String(255), nullable=True),
    Column("added_at", DateTime, nullable=False),
)

device_shares = Table(
    "device_shares",
    metadata,
    _id(),
    _parent("device_id", "devices.id"),
    _parent("owner_id", "users.id"),
    # The invitee may not have an Imou account yet: then only the address is known.
    _parent("invitee_user_id", "users.id", nullable=True),
    Column("invitee_email", String(254), nullable=True, index=True),
    Column("invitee_phone", String(20), nullable=True, index=True),
    Column("permission", String(16), nullable=False),
    Column("shared_at", DateTime, nullable=False),
)

alarm_messages = Table(
    "alarm_messages",
    metadata,
    _id(),
    _parent("user_id", "users.id"),
    _parent("device_id", "devices.id"),
    Column("channel_id", Integer, nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("message", String(255), nullable=False),
    Column("push_id", String(64), nullable=True),
    Column("created_at", DateTime, nullable=False, index=True),
)

alarm_snapshots = Table(
    "alarm_snapshots",
    metadata,
    _id(),
    _parent("alarm_id", "alarm_messages.id"),
    Column("object_key", String(255), nullable=False),
    Column("captured_at", DateTime, nullable=False, index=True),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    _id(),
    _parent("user_id", "users.id"),
    _parent("device_id", "devices.id", nullable=True, on_delete="SET NULL"),
    Column("plan_code", String(32), nullable=False),
    Column("storage_days", Integer, nullable=False),
    Column("gift_card_code", String(32), nullable=True),
    Column("auto_renew", Boolean, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("ends_at", DateTime, nullable=False, index=True),
)

cloud_recordings = Table(
    "cloud_recordings",
    metadata,
    _id(),
    _parent("subscription_id", "subscriptions.id"),
    _parent("device_id", "devices.id"),
    Column("channel_id", Integer, nullable=False),
    Column("object_key", String(255), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("duration_seconds", Integer, nullable=False),
)

plan_transfers = Table(
    "plan_transfers",
    metadata,
    _id(),
    _parent("subscription_id", "subscriptions.id"),
    Column("from_device_name", String(64), nullable=False),
    Column("to_device_name", String(64), nullable=False),
    Column("transferred_at", DateTime, nullable=False),
)

# Billing records outlive the account (tax law), so they carry the account id without a foreign key.
orders = Table(
    "orders",
    metadata,
    _id(),
    Column("user_id", Integer, nullable=False, index=True),
    Column("email", String(254), nullable=False, index=True),
    Column("plan_code", String(32), nullable=False),
    Column("payment_method", String(16), nullable=False),
    Column("amount", Numeric(10, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("ordered_at", DateTime, nullable=False, index=True),
)

invoices = Table(
    "invoices",
    metadata,
    _id(),
    Column("order_id", Integer, nullable=False, index=True),
    Column("user_id", Integer, nullable=False, index=True),
    Column("invoice_number", String(32), nullable=False, unique=True),
    Column("buyer_name", String(128), nullable=True),
    Column("buyer_email", String(254), nullable=False, index=True),
    Column("billing_address", String(255), nullable=True),
    Column("amount", Numeric(10, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("issued_at", DateTime, nullable=False, index=True),
)

api_logs = Table(
    "api_logs",
    metadata,
    _id(),
    _parent("user_id", "users.id", nullable=True),
    Column("ip_address", String(45), nullable=False),
    Column("method", String(8), nullable=False),
    Column("endpoint", String(128), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
)

support_tickets = Table(
    "support_tickets",
    metadata,
    _id(),
    _parent("user_id", "users.id", nullable=True),
    Column("email", String(254), nullable=True, index=True),
    Column("channel", String(16), nullable=False),
    Column("subject", String(160), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("closed_at", DateTime, nullable=True, index=True),
)

ux_events = Table(
    "ux_events",
    metadata,
    _id(),
    _parent("user_id", "users.id"),
    Column("screen", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("occurred_at", DateTime, nullable=False, index=True),
)

# The account row is gone once deregistration completes; this log proves it and expires itself.
deregistrations = Table(
    "deregistrations",
    metadata,
    _id(),
    Column("account_id", Integer, nullable=False, index=True),
    Column("email", String(254), nullable=True, index=True),
    Column("phone", String(20), nullable=True, index=True),
    Column("requested_at", DateTime, nullable=False, index=True),
    Column("completed_at", DateTime, nullable=True),
)

# ---------------------------------------------------------------- purchases on third-party platforms (seed §1 A)
device_orders = Table(
    "device_orders",
    metadata,
    _id(),
    Column("platform", String(32), nullable=False),
    Column("buyer_name", String(128), nullable=False),
    Column("recipient_name", String(128), nullable=True),
    Column("shipping_address", String(255), nullable=True),
    Column("contact_phone", String(20), nullable=True, index=True),
    Column("products", String(255), nullable=False),
    Column("ordered_at", DateTime, nullable=False, index=True),
)

# ---------------------------------------------------------------- marketing (seed §1 C)
marketing_participants = Table(
    "marketing_participants",
    metadata,
    _id(),
    Column("name", String(128), nullable=True),
    Column("email", String(254), nullable=True, index=True),
    Column("phone", String(20), nullable=True, index=True),
    Column("city", String(64), nullable=True),
    Column("gender", String(16), nullable=True),
    Column("age_range", String(8), nullable=True),
    Column("employment_status", String(32), nullable=True),
    Column("habits", String(255), nullable=True),
    Column("survey_answers", Text, nullable=True),
    Column("social_profile", String(255), nullable=True),
    Column("campaign", String(64), nullable=False),
    Column("joined_at", DateTime, nullable=False, index=True),
)

event_photos = Table(
    "event_photos",
    metadata,
    _id(),
    _parent("participant_id", "marketing_participants.id"),
    Column("event_name", String(64), nullable=False),
    Column("object_key", String(255), nullable=False),
    Column("taken_at", DateTime, nullable=False, index=True),
)

# ---------------------------------------------------------------- after-sales, the RMA platform (seed §1 D)
rma_accounts = Table(
    "rma_accounts",
    metadata,
    _id(),
    Column("name", String(128), nullable=False),
    Column("email", String(254), nullable=False, index=True),
    Column("social_account", String(128), nullable=True),
    Column("country", String(2), nullable=False),
    Column("password_hash", String(100), nullable=False),
    Column("language", String(5), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_login_at", DateTime, nullable=False, index=True),
)

rma_requests = Table(
    "rma_requests",
    metadata,
    _id(),
    _parent("rma_account_id", "rma_accounts.id"),
    Column("device_model", String(32), nullable=False),
    Column("serial_number", String(32), nullable=False, index=True),
    Column("mac_address", String(17), nullable=False),
    Column("ip_address", String(45), nullable=True),
    Column("purchase_proof", String(255), nullable=False),
    Column("phone", String(20), nullable=False, index=True),
    Column("return_name", String(128), nullable=False),
    Column("return_address", String(255), nullable=False),
    Column("tracking_number", String(32), nullable=True),
    Column("return_details", String(255), nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("closed_at", DateTime, nullable=True, index=True),
)

device_password_resets = Table(
    "device_password_resets",
    metadata,
    _id(),
    Column("email", String(254), nullable=False, index=True),
    Column("serial_number", String(32), nullable=False),
    Column("mac_address", String(17), nullable=False),
    Column("requested_at", DateTime, nullable=False, index=True),
)

# ---------------------------------------------------------------- the website (seed §1 E and the cookie statement)
newsletter_subscriptions = Table(
    "newsletter_subscriptions",
    metadata,
    _id(),
    Column("email", String(254), nullable=False, unique=True, index=True),
    Column("language", String(2), nullable=False),
    Column("subscribed_at", DateTime, nullable=False),
    Column("confirmed_at", DateTime, nullable=True),
    Column("unsubscribed_at", DateTime, nullable=True, index=True),
)

web_visits = Table(
    "web_visits",
    metadata,
    _id(),
    _parent("user_id", "users.id", nullable=True),
    Column("visitor_id", String(36), nullable=False, index=True),
    Column("ip_address", String(45), nullable=False),
    Column("user_agent", String(255), nullable=False),
    Column("page", String(255), nullable=False),
    Column("referrer", String(255), nullable=True),
    Column("visited_at", DateTime, nullable=False, index=True),
)


# ---------------------------------------------------------------- fixed pools (cheap to draw from at any scale)
_ASCII = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")
EMAIL_DOMAINS = ("gmail.com", "wp.pl", "onet.pl", "o2.pl", "interia.pl", "op.pl", "outlook.com", "poczta.fm")
COUNTRIES = ("PL",) * 17 + ("DE", "CZ", "RO")
CAMERA_MODELS = ("IPC-A22EP", "IPC-A42P", "IPC-C22EP", "IPC-F22FP", "IPC-K22P", "IPC-GS7EP", "IPC-S41FP", "IPC-T26EP", "DB11", "DB61i")
RECORDER_MODELS = ("NVR1104HS", "NVR1108HS")
DEVICE_NAMES = (
    "Salon",
    "Wejście",
    "Garaż",
    "Ogród",
    "Pokój dziecka",
    "Biuro",
    "Podjazd",
    "Kuchnia",
    "Taras",
    "Brama",
    "Dzwonek",
    "Piwnica",
)
PHONE_MODELS = (
    ("Samsung Galaxy A52", "Android 13"),
    ("Samsung Galaxy S23", "Android 14"),
    ("Xiaomi Redmi Note 12", "Android 13"),
    ("Motorola moto g54", "Android 14"),
    ("iPhone 13", "iOS 17.4"),
    ("iPhone 15", "iOS 17.5"),
    ("Huawei P30 lite", "Android 10"),
    ("OPPO A78", "Android 13"),
    ("iPad (9th generation)", "iPadOS 17.4"),
)
APP_VERSIONS = ("7.4.2", "7.6.0", "7.8.1", "8.0.3", "8.2.0")
WIFI_PREFIXES = ("UPC", "Orange_Swiatlowod_", "PLAY_Internet_", "TP-Link_", "NETIA-", "FunBox2-", "Dom_")
ALARMS = (
    ("motion_detection", "Wykryto ruch"),
    ("human_detection", "Wykryto osobę"),
    ("doorbell_call", "Ktoś dzwoni do drzwi"),
    ("sound_detection", "Wykryto dźwięk"),
    ("tamper_alarm", "Próba sabotażu kamery"),
    ("device_offline", "Urządzenie jest offline"),
)
# (code, storage days, price in PLN, months per period)
PLANS = (
    ("free_7d_basic", 7, Decimal("0.00"), 1),
    ("cloud_7d_monthly", 7, Decimal("9.99"), 1),
    ("cloud_30d_monthly", 30, Decimal("19.99"), 1),
    ("cloud_7d_yearly", 7, Decimal("99.99"), 12),
    ("cloud_30d_yearly", 30, Decimal("199.99"), 12),
)
PAYMENT_METHODS = ("paypal", "card", "card", "google_pay", "apple_pay", "blik")
API_ENDPOINTS = (
    ("POST", "/openapi/accessToken"),
    ("GET", "/openapi/deviceBaseList"),
    ("GET", "/openapi/getAlarmMessage"),
    ("GET", "/openapi/queryCloudRecords"),
    ("POST", "/openapi/bindDevice"),
    ("POST", "/openapi/modifyDeviceName"),
    ("GET", "/openapi/bindDeviceLive"),
)
TICKETS = (
    ("Kamera offline po aktualizacji", "Od wczoraj kamera w ogrodzie jest offline, restart nie pomaga."),
    ("Brak powiadomień o ruchu", "Nie dostaję powiadomień push, chociaż detekcja ruchu jest włączona."),
    ("Zwrot za plan chmury", "Proszę o zwrot za plan, który kupiłem przez pomyłkę na niewłaściwe urządzenie."),
    ("Nie mogę dodać urządzenia", "Aplikacja pokazuje błąd przy skanowaniu kodu QR nowej kamery."),
    ("Pytanie o szyfrowanie", "Czy nagrania w chmurze są szyfrowane i gdzie są przechowywane?"),
    ("Reklamacja dzwonka", "Dzwonek DB11 przestał działać po dwóch miesiącach, proszę o informację co dalej."),
)
UX_SCREENS = ("home", "live_view", "playback", "device_settings", "cloud_storage", "messages", "me", "share")
UX_ACTIONS = ("open", "tap_button", "swipe", "zoom", "change_setting", "play", "close")
WEB_PAGES = (
    "/pl/",
    "/pl/products/cameras",
    "/pl/products/doorbells",
    "/pl/cloud-storage",
    "/pl/support/download",
    "/pl/support/faq",
    "/pl/news",
    "/pl/products/ranger-2",
    "/pl/login",
    "/pl/rma",
)
REFERRERS = (None, None, "https://www.google.com/", "https://www.facebook.com/", "https://allegro.pl/", "https://www.youtube.com/")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-A525F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
)
SALES_PLATFORMS = ("Allegro", "Amazon.pl", "Media Expert", "x-kom", "RTV Euro AGD", "AliExpress")
CAMPAIGNS = (
    ("Targi Security Expo 2023", True),
    ("Konkurs Imou Lato 2024", False),
    ("Losowanie Black Friday 2024", False),
    ("Ankieta satysfakcji 2025", False),
    ("Pokaz Imou Warszawa 2025", True),
)
GENDERS = ("kobieta", "mężczyzna", "nie podano")
AGE_RANGES = ("16-24", "25-34", "35-44", "45-54", "55-64", "65+")
EMPLOYMENT = ("pracuje", "własna działalność", "student", "emeryt", "nie pracuje")
HABITS = ("zakupy online", "inteligentny dom", "podróże", "zwierzęta domowe", "majsterkowanie", "sport")
SURVEY_ANSWERS = (
    "Najważniejsza jest jakość obrazu nocą.",
    "Chciałbym dłuższy czas pracy na baterii.",
    "Aplikacja jest wygodna, ale powiadomienia przychodzą z opóźnieniem.",
    "Kupiłam kamerę, żeby pilnować psa podczas pracy.",
    "Interesuje mnie integracja z Google Home.",
)
CARRIERS = ("InPost", "DPD", "DHL", "Poczta Polska")


@dataclass(frozen=True, slots=True)
class Person:
    """A fake person drawn from the pools."""

    first: str
    last: str
    handle: str

    @property
    def full_name(self) -> str:
        """First and last name."""
        return f"{self.first} {self.last}"


@dataclass
class Pools:
    """Names and places drawn once from Faker, then sampled with the seeded random source."""

    people: list[Person]
    cities: list[str]
    streets: list[str]
    postcodes: list[str]

    @classmethod
    def draw(cls, ctx: appkit.Context, size: int = 600) -> Pools:
        """Precompute `size` names, cities, streets and postcodes."""
        fake = ctx.fake
        people = []
        for index in range(size):
            if index % 2:
                first, last = fake.first_name_female(), fake.last_name_female()
            else:
                first, last = fake.first_name_male(), fake.last_name_male()
            people.append(Person(first, last, f"{first}.{last}".lower().translate(_ASCII).replace(" ", "").replace("-", "")))
        return cls(
            people=people,
            cities=[fake.city() for _ in range(size // 4)],
            streets=[fake.street_name() for _ in range(size // 2)],
            postcodes=[fake.postcode() for _ in range(size // 2)],
        )


# ---------------------------------------------------------------- the generator
Row = tuple[str, dict[str, Any]]
Device = tuple[int, str, str]  # id, serial number, name


class Rows:
    """Draws the rows of one person after another; ids are assigned per table in order."""

    def __init__(self, ctx: appkit.Context) -> None:
        self.rng = ctx.rng
        self.now: datetime = ctx.now
        self.pools = Pools.draw(ctx)
        self.ids: dict[str, int] = {}
        self.recent_users: deque[tuple[int, str | None, str | None]] = deque(maxlen=512)

    # ------------------------------------------------------------ small helpers
    def new_id(self, table: str) -> int:
        """The next primary key of `table`."""
        self.ids[table] = self.ids.get(table, 0) + 1
        return self.ids[table]

    def ago(self, days: float) -> datetime:
        """The moment `days` before now, to the second."""
        return self.now - timedelta(seconds=int(days * 86_400))

    def between(self, start: datetime, end: datetime) -> datetime:
        """A random moment from `start` to `end`."""
        span = max((end - start).total_seconds(), 0.0)
        return start + timedelta(seconds=int(self.rng.uniform(0, span)))

    def address(self) -> str:
        """A Polish street address."""
        rng, pools = self.rng, self.pools
        street = f"ul. {rng.choice(pools.streets)} {rng.randrange(1, 180)}/{rng.randrange(1, 60)}"
        return f"{street}, {rng.choice(pools.postcodes)} {rng.choice(pools.cities)}"

    def public_ip(self) -> str:
        """A public IPv4 address from Polish-looking ranges."""
        rng = self.rng
        first = rng.choice((31, 37, 46, 77, 78, 79, 83, 89, 91, 93, 95, 109, 178, 188, 193, 213))
        return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def secret_hash(self) -> str:
        """A bcrypt-shaped password hash."""
        return f"$2b$12${self.rng.getrandbits(160):040x}{self.rng.getrandbits(72):018x}"

    def mac(self, number: int) -> str:
        """A MAC address derived from `number`."""
        return "9C:14:63:{:02X}:{:02X}:{:02X}".format(*(number >> shift & 0xFF for shift in (16, 8, 0)))

    # ------------------------------------------------------------ one person
    def person(self, uid: int) -> Iterator[Row]:
        """Everything about person `uid`: outside the app first, then the account and what hangs off it."""
        rng = self.rng
        person = rng.choice(self.pools.people)
        email = f"{person.handle}.{uid}@{rng.choice(EMAIL_DOMAINS)}"
        # Phone numbers are derived from the id so that they are unique, like the e-mail addresses.
        digits = f"{500_000_000 + uid:09d}"
        phone = f"+48 {digits[:3]} {digits[3:6]} {digits[6:]}"
        yield from self.shop_order(person, phone)
        yield from self.marketing(uid, person, email, phone)
        yield from self.after_sales(uid, person, email, phone)
        yield from self.newsletter(email)
        yield from self.account(uid, person, email, phone)

    def account(self, uid: int, person: Person, email: str, phone: str) -> Iterator[Row]:
        """The app account, or only the trace of its deregistration."""
        rng = self.rng
        # A tenth are long-standing customers, so that some invoices have outlived their 5-year hold.
        created_at = self.ago(rng.uniform(5, 4 * 365) if rng.random() < 0.9 else rng.uniform(4 * 365, 6 * 365))
        deregistered = rng.random() < 0.04
        if deregistered:
            closing = rng.random() < 0.1
            requested_at = self.ago(rng.uniform(0, 2)) if closing else self.between(created_at, self.now)
            registered_with = rng.random()
            yield (
                "deregistrations",
                {
                    "id": self.new_id("deregistrations"),
                    "account_id": uid,
                    "email": email if registered_with < 0.8 else None,
                    "phone": phone if registered_with >= 0.7 else None,
                    "requested_at": requested_at,
                    "completed_at": None if closing else min(requested_at + timedelta(hours=rng.uniform(1, 72)), self.now),
                },
            )
            if rng.random() < 0.3:
                code, _, price, _ = rng.choice(PLANS[1:])
                yield from self.invoice(uid, person, email, code=code, price=price, ordered_at=self.between(created_at, requested_at))
            if not closing:
                return

        profile = rng.random()
        if profile < 0.65:
            idle_days = rng.uniform(0, 30)
        elif profile < 0.85:
            idle_days = rng.uniform(30, 630)
        elif profile < 0.92:
            idle_days = rng.uniform(640, 730)  # inside the 3-month warning before the 2-year inactivity deletion
        else:
            idle_days = rng.uniform(731, 1400)
        last_active_at = max(self.ago(idle_days), created_at)
        registered_with = rng.random()
        user_email = email if registered_with < 0.85 else None
        user_phone = phone if registered_with >= 0.7 else None
        social = rng.random() < 0.15
        ux_plan = rng.random() < 0.35
        yield (
            "users",
            {
                "id": uid,
                "email": user_email,
                "phone": user_phone,
                "country_region": rng.choice(COUNTRIES),
                "nickname": f"{person.first}{rng.randrange(10, 99)}" if rng.random() < 0.6 else person.first,
                "password_hash": self.secret_hash(),
                "avatar_url": f"https://cdn.imoulife.com/avatar/{uid}/{rng.getrandbits(32):08x}.jpg" if rng.random() < 0.3 else None,
                "social_provider": rng.choice(("facebook", "google", "apple")) if social else None,
                "social_nickname": person.full_name if social else None,
                "social_avatar_url": f"https://graph.facebook.com/{rng.getrandbits(52)}/picture" if social else None,
                "ux_plan_enabled": ux_plan,
                "status": "closing" if deregistered else "active",
                "created_at": created_at,
                "last_active_at": last_active_at,
            },
        )
        self.recent_users.append((uid, user_email, user_phone))
        yield from self.terminals(uid, created_at, last_active_at)
        home_ip = self.public_ip()
        owned: list[Device] = []
        yield from self.devices(uid, created_at, last_active_at, home_ip, owned)
        yield from self.share(uid, owned[0][0], created_at, last_active_at)
        yield from self.alarms(uid, owned)
        if rng.random() < 0.4:
            yield from self.cloud_plan(uid, person, email, owned, created_at)
        yield from self.api_calls(uid, created_at, last_active_at, home_ip)
        if rng.random() < 0.1:
            yield from self.ticket(uid, user_email or email, created_at, last_active_at)
        if ux_plan:
            for _ in range(3):
                yield (
                    "ux_events",
                    {
                        "id": self.new_id("ux_events"),
                        "user_id": uid,
                        "screen": rng.choice(UX_SCREENS),
                        "action": rng.choice(UX_ACTIONS),
                        "occurred_at": max(last_active_at - timedelta(seconds=int(rng.uniform(0, 500 * 86_400))), created_at),
                    },
                )
        if rng.random() < 0.6:
            yield (
                "web_visits",
                {
                    "id": self.new_id("web_visits"),
                    "user_id": uid if rng.random() < 0.4 else None,
                    "visitor_id": f"{rng.getrandbits(64):016x}.{rng.getrandbits(32)}",
                    "ip_address": home_ip,
                    "user_agent": rng.choice(USER_AGENTS),
                    "page": rng.choice(WEB_PAGES),
                    "referrer": rng.choice(REFERRERS),
                    "visited_at": self.ago(rng.uniform(0, 600)),
                },
            )

    def terminals(self, uid: int, created_at: datetime, last_active_at: datetime) -> Iterator[Row]:
        """The phones and tablets the person signs in from."""
        rng = self.rng
        for terminal in range(1 + (rng.random() < 0.35)):
            model, system = rng.choice(PHONE_MODELS)
            located = rng.random() < 0.4
            seen = last_active_at if terminal == 0 else self.between(created_at, last_active_at)
            yield (
                "app_sessions",
                {
                    "id": self.new_id("app_sessions"),
                    "user_id": uid,
                    "terminal_uid": f"{rng.getrandbits(128):032x}",
                    "terminal_model": model,
                    "terminal_os": system,
                    "gps_latitude": round(rng.uniform(49.0, 54.8), 5) if located else None,
                    "gps_longitude": round(rng.uniform(14.1, 24.1), 5) if located else None,
                    "push_token": f"{rng.getrandbits(256):064x}" if rng.random() < 0.6 else None,
                    "app_version": rng.choice(APP_VERSIONS),
                    "created_at": self.between(created_at, seen),
                    "last_seen_at": seen,
                },
            )

    def devices(self, uid: int, created_at: datetime, last_active_at: datetime, home_ip: str, owned: list[Device]) -> Iterator[Row]:
        """Cameras, doorbells and recorders bound to the account; appends them to `owned`."""
        rng = self.rng
        city = rng.choice(self.pools.cities)
        for _ in range(rng.choice((1, 1, 1, 1, 1, 2, 2, 2, 3, 4))):
            device_id = self.new_id("devices")
            recorder = rng.random() < 0.05
            serial = f"{'5678ABCDEF'[device_id % 10]}{device_id:010X}{'KLMNPRSTUW'[uid % 10]}"
            name = rng.choice(DEVICE_NAMES)
            added_at = self.between(created_at, last_active_at)
            owned.append((device_id, serial, name))
            sd_card = "true" if rng.random() < 0.6 else "false"
            yield (
                "devices",
                {
                    "id": device_id,
                    "user_id": uid,
                    "serial_number": serial,
                    "model": rng.choice(RECORDER_MODELS) if recorder else rng.choice(CAMERA_MODELS),
                    "name": name,
                    "firmware_version": f"2.840.0000000.{rng.randrange(10, 40)}.R.{added_at:%y%m%d}",
                    "wifi_ssid": None if recorder else f"{rng.choice(WIFI_PREFIXES)}{rng.getrandbits(16):04X}",
                    "password_hash": self.secret_hash(),
                    "timezone": "Europe/Warsaw",
                    "dst_enabled": True,
                    "mac_address": self.mac(device_id),
                    "ip_address": home_ip,
                    "port": 37777 if recorder else 80,
                    "geo_country": "PL",
                    "geo_city": city,
                    "channel_count": 4 if recorder else 1,
                    "online": rng.random() < 0.8,
                    "config": f'{{"motion_detection":true,"night_vision":"auto","sd_card":{sd_card}}}',
                    "cover_image_url": f"https://cdn.imoulife.com/cover/{serial}/{rng.getrandbits(32):08x}.jpg"
                    if rng.random() < 0.4
                    else None,
                    "added_at": added_at,
                },
            )

    def share(self, uid: int, device_id: int, created_at: datetime, last_active_at: datetime) -> Iterator[Row]:
        """Sometimes a device shared with an earlier user, or with someone not yet registered."""
        rng = self.rng
        if rng.random() >= 0.25:
            return
        invitee_id, invitee_email, invitee_phone = rng.choice(self.recent_users)
        registered = invitee_id != uid and rng.random() < 0.7
        stranger = rng.choice(self.pools.people)
        yield (
            "device_shares",
            {
                "id": self.new_id("device_shares"),
                "device_id": device_id,
                "owner_id": uid,
                "invitee_user_id": invitee_id if registered else None,
                "invitee_email": invitee_email if registered else f"{stranger.handle}.g{uid}@{rng.choice(EMAIL_DOMAINS)}",
                "invitee_phone": invitee_phone if registered else None,
                "permission": rng.choice(("view", "view", "control")),
                "shared_at": self.between(created_at, last_active_at),
            },
        )

    def alarms(self, uid: int, owned: list[Device]) -> Iterator[Row]:
        """Alarm messages of the last three weeks, most with a snapshot; a third are younger than 7 days."""
        rng = self.rng
        for _ in range(rng.choice((0, 1, 2, 3, 3, 4, 5))):
            device_id, serial, name = rng.choice(owned)
            event, text = rng.choice(ALARMS)
            created = self.ago(rng.uniform(0, 21))
            alarm_id = self.new_id("alarm_messages")
            yield (
                "alarm_messages",
                {
                    "id": alarm_id,
                    "user_id": uid,
                    "device_id": device_id,
                    "channel_id": 0,
                    "event_type": event,
                    "message": f"{text} — {name}",
                    "push_id": f"{rng.getrandbits(96):024x}" if rng.random() < 0.6 else None,
                    "created_at": created,
                },
            )
            if event != "device_offline" and rng.random() < 0.8:
                yield (
                    "alarm_snapshots",
                    {
                        "id": self.new_id("alarm_snapshots"),
                        "alarm_id": alarm_id,
                        "object_key": f"snapshots/{uid}/{serial}/{alarm_id}.jpg",
                        "captured_at": created,
                    },
                )

    def cloud_plan(self, uid: int, person: Person, email: str, owned: list[Device], created_at: datetime) -> Iterator[Row]:
        """A cloud storage plan with its recordings, maybe a transfer, and its orders and invoices."""
        rng = self.rng
        code, storage_days, price, months = rng.choice(PLANS)
        started_at = self.between(created_at, self.now)
        period = timedelta(days=30 * months)
        auto_renew = price > 0 and rng.random() < 0.5
        periods = 1
        while auto_renew and started_at + periods * period < self.now:
            periods += 1
        ends_at = started_at + periods * period
        gift_card = price > 0 and rng.random() < 0.1
        device_id, serial, name = rng.choice(owned)
        subscription_id = self.new_id("subscriptions")
        yield (
            "subscriptions",
            {
                "id": subscription_id,
                "user_id": uid,
                "device_id": device_id,
                "plan_code": code,
                "storage_days": storage_days,
                "gift_card_code": f"GC-{rng.getrandbits(16):04X}-{rng.getrandbits(16):04X}" if gift_card else None,
                "auto_renew": auto_renew,
                "started_at": started_at,
                "ends_at": ends_at,
            },
        )
        window_end = min(ends_at, self.now)
        window_start = max(started_at, window_end - timedelta(days=storage_days))
        for _ in range(rng.randrange(2, 7)):
            recording_id = self.new_id("cloud_recordings")
            yield (
                "cloud_recordings",
                {
                    "id": recording_id,
                    "subscription_id": subscription_id,
                    "device_id": device_id,
                    "channel_id": 0,
                    "object_key": f"recordings/{uid}/{serial}/{recording_id}.mp4",
                    "started_at": self.between(window_start, window_end),
                    "duration_seconds": rng.randrange(10, 180),
                },
            )
        if len(owned) > 1 and rng.random() < 0.15:
            target = next(entry for entry in owned if entry[0] != device_id)
            yield (
                "plan_transfers",
                {
                    "id": self.new_id("plan_transfers"),
                    "subscription_id": subscription_id,
                    "from_device_name": name,
                    "to_device_name": target[2],
                    "transferred_at": self.between(started_at, window_end),
                },
            )
        if price > 0 and not gift_card:
            # Only the last renewals are generated: enough for the tax hold, without inflating the row count.
            for index in range(max(0, periods - 3), periods):
                yield from self.invoice(uid, person, email, code=code, price=price, ordered_at=started_at + index * period)

    def invoice(self, uid: int, person: Person, email: str, *, code: str, price: Decimal, ordered_at: datetime) -> Iterator[Row]:
        """An order of a cloud plan and its invoice."""
        rng = self.rng
        order_id = self.new_id("orders")
        yield (
            "orders",
            {
                "id": order_id,
                "user_id": uid,
                "email": email,
                "plan_code": code,
                "payment_method": rng.choice(PAYMENT_METHODS),
                "amount": price,
                "currency": "PLN",
                "ordered_at": ordered_at,
            },
        )
        named = rng.random() < 0.6
        yield (
            "invoices",
            {
                "id": self.new_id("invoices"),
                "order_id": order_id,
                "user_id": uid,
                "invoice_number": f"FV/{ordered_at:%Y}/{order_id:08d}",
                "buyer_name": person.full_name if named else None,
                "buyer_email": email,
                "billing_address": self.address() if named and rng.random() < 0.5 else None,
                "amount": price,
                "currency": "PLN",
                "issued_at": ordered_at,
            },
        )

    def api_calls(self, uid: int, created_at: datetime, last_active_at: datetime, home_ip: str) -> Iterator[Row]:
        """API log lines from the two weeks before the person was last active."""
        rng = self.rng
        for _ in range(rng.choice((0, 1, 2, 2, 3))):
            method, endpoint = rng.choice(API_ENDPOINTS)
            yield (
                "api_logs",
                {
                    "id": self.new_id("api_logs"),
                    "user_id": uid,
                    "ip_address": self.public_ip() if rng.random() < 0.3 else home_ip,
                    "method": method,
                    "endpoint": endpoint,
                    "status_code": rng.choice((200, 200, 200, 200, 401, 500)),
                    "created_at": max(last_active_at - timedelta(seconds=int(rng.uniform(0, 14 * 86_400))), created_at),
                },
            )

    def ticket(self, uid: int, email: str, created_at: datetime, last_active_at: datetime) -> Iterator[Row]:
        """A message sent by e-mail or through the in-app feedback form."""
        rng = self.rng
        subject, body = rng.choice(TICKETS)
        opened = self.between(created_at, last_active_at)
        yield (
            "support_tickets",
            {
                "id": self.new_id("support_tickets"),
                "user_id": uid,
                "email": email,
                "channel": rng.choice(("email", "app_feedback")),
                "subject": subject,
                "body": body,
                "created_at": opened,
                "closed_at": min(opened + timedelta(days=rng.uniform(0.1, 10)), self.now) if rng.random() < 0.85 else None,
            },
        )

    # ------------------------------------------------------------ outside the app
    def shop_order(self, person: Person, phone: str) -> Iterator[Row]:
        """A device bought on a third-party platform, as the platform passes it on."""
        rng = self.rng
        if rng.random() >= 0.3:
            return
        recipient = person if rng.random() < 0.8 else rng.choice(self.pools.people)
        yield (
            "device_orders",
            {
                "id": self.new_id("device_orders"),
                "platform": rng.choice(SALES_PLATFORMS),
                "buyer_name": person.full_name,
                "recipient_name": recipient.full_name,
                "shipping_address": self.address(),
                "contact_phone": phone,
                "products": f"Imou {rng.choice(CAMERA_MODELS)} x{rng.choice((1, 1, 1, 2))}",
                "ordered_at": self.ago(rng.uniform(0, 4 * 365)),
            },
        )

    def marketing(self, uid: int, person: Person, email: str, phone: str) -> Iterator[Row]:
        """Taking part in a contest, draw, survey or exhibition, sometimes photographed there."""
        rng = self.rng
        if rng.random() >= 0.05:
            return
        campaign, offline = rng.choice(CAMPAIGNS)
        joined_at = self.ago(rng.uniform(0, 4 * 365))
        participant_id = self.new_id("marketing_participants")
        surveyed = rng.random() < 0.6
        yield (
            "marketing_participants",
            {
                "id": participant_id,
                "name": person.full_name,
                "email": email,
                "phone": phone if rng.random() < 0.5 else None,
                "city": rng.choice(self.pools.cities),
                "gender": rng.choice(GENDERS) if surveyed else None,
                "age_range": rng.choice(AGE_RANGES) if surveyed else None,
                "employment_status": rng.choice(EMPLOYMENT) if surveyed else None,
                "habits": ", ".join(rng.sample(HABITS, 2)) if surveyed else None,
                "survey_answers": rng.choice(SURVEY_ANSWERS) if surveyed else None,
                "social_profile": f"https://www.facebook.com/{person.handle}.{uid}" if rng.random() < 0.2 else None,
                "campaign": campaign,
                "joined_at": joined_at,
            },
        )
        if offline:  # an exhibition or event: the participant was photographed
            photo_id = self.new_id("event_photos")
            yield (
                "event_photos",
                {
                    "id": photo_id,
                    "participant_id": participant_id,
                    "event_name": campaign,
                    "object_key": f"events/{campaign.lower().replace(' ', '-')}/{photo_id}.jpg",
                    "taken_at": joined_at,
                },
            )

    def after_sales(self, uid: int, person: Person, email: str, phone: str) -> Iterator[Row]:
        """An RMA platform account with its repair requests, or a device password reset."""
        rng = self.rng
        if rng.random() < 0.04:
            account_id = self.new_id("rma_accounts")
            opened = self.ago(rng.uniform(30, 4 * 365))
            last_login = self.between(opened, self.now)
            yield (
                "rma_accounts",
                {
                    "id": account_id,
                    "name": person.full_name,
                    "email": email,
                    "social_account": f"google:{person.handle}.{uid}" if rng.random() < 0.2 else None,
                    "country": "PL",
                    "password_hash": self.secret_hash(),
                    "language": "pl-PL",
                    "created_at": opened,
                    "last_login_at": last_login,
                },
            )
            for _ in range(rng.choice((1, 1, 1, 2))):
                submitted = self.between(opened, last_login)
                closed = submitted + timedelta(days=rng.uniform(5, 30))
                done = closed < self.now
                yield (
                    "rma_requests",
                    {
                        "id": self.new_id("rma_requests"),
                        "rma_account_id": account_id,
                        "device_model": rng.choice(CAMERA_MODELS),
                        "serial_number": f"R{rng.randrange(16**10):010X}",
                        "mac_address": self.mac(rng.getrandbits(24)),
                        "ip_address": self.public_ip() if rng.random() < 0.7 else None,
                        "purchase_proof": f"Paragon nr {rng.randrange(1000, 99999)}/{submitted:%Y}, {rng.choice(SALES_PLATFORMS)}",
                        "phone": phone,
                        "return_name": person.full_name,
                        "return_address": self.address(),
                        "tracking_number": f"{rng.randrange(10**15, 10**16)}" if done else None,
                        "return_details": f"{rng.choice(CARRIERS)}, odesłano {closed:%Y-%m-%d}" if done else None,
                        "status": "closed" if done else "in_repair",
                        "created_at": submitted,
                        "closed_at": closed if done else None,
                    },
                )
        if rng.random() < 0.03:
            yield (
                "device_password_resets",
                {
                    "id": self.new_id("device_password_resets"),
                    "email": email,
                    "serial_number": f"R{rng.randrange(16**10):010X}",
                    "mac_address": self.mac(rng.getrandbits(24)),
                    "requested_at": self.ago(rng.uniform(0, 120)),
                },
            )

    def newsletter(self, email: str) -> Iterator[Row]:
        """A newsletter subscription, confirmed by e-mail, sometimes ended."""
        rng = self.rng
        if rng.random() >= 0.15:
            return
        subscribed = self.ago(rng.uniform(1, 4 * 365))
        yield (
            "newsletter_subscriptions",
            {
                "id": self.new_id("newsletter_subscriptions"),
                "email": email,
                "language": "pl",
                "subscribed_at": subscribed,
                "confirmed_at": subscribed + timedelta(minutes=rng.uniform(1, 600)) if rng.random() < 0.9 else None,
                "unsubscribed_at": self.between(subscribed, self.now) if rng.random() < 0.25 else None,
            },
        )


def generate(ctx: appkit.Context) -> Iterator[Row]:
    """Yield every row, parent-first, about 15 per person; timestamps spread over four years before `ctx.now`."""
    rows = Rows(ctx)
    for uid in range(1, ctx.users + 1):
        yield from rows.person(uid)


if __name__ == "__main__":
    appkit.main(
        metadata,
        generate,
        locale="pl_PL",
        env_url="IMOU_DB_URL",
        description="Build the Imou camera-cloud demo database (seed 003) with fake Polish users.",
    )
