"""Demo database of the clsmart.com webshop (seed 004): customers, addresses, orders, payments, newsletter, support and logs."""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, Numeric, String, Table, Text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import appkit

metadata = MetaData()

customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(100), nullable=False),
    Column("first_name", String(80), nullable=False),
    Column("last_name", String(80), nullable=False),
    Column("phone", String(32), index=True),
    Column("created_at", DateTime, nullable=False),
    Column("last_login_at", DateTime, nullable=False, index=True),
)

addresses = Table(
    "addresses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False, index=True),
    Column("recipient_name", String(160), nullable=False),
    Column("street", String(200), nullable=False),
    Column("city", String(100), nullable=False),
    Column("postal_code", String(10), nullable=False),
    Column("country", String(2), nullable=False),
    Column("phone", String(32)),
    Column("created_at", DateTime, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False, index=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("total", Numeric(10, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("contact_email", String(254), nullable=False, index=True),
    Column("shipping_name", String(160), nullable=False),
    Column("shipping_street", String(200), nullable=False),
    Column("shipping_city", String(100), nullable=False),
    Column("shipping_postal_code", String(10), nullable=False),
    Column("shipping_country", String(2), nullable=False),
    Column("shipping_phone", String(32)),
    Column("ordered_at", DateTime, nullable=False, index=True),
)

order_items = Table(
    "order_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
    Column("sku", String(32), nullable=False),
    Column("product_name", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Numeric(10, 2), nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
    Column("provider", String(32), nullable=False),
    Column("provider_reference", String(40), nullable=False),
    Column("method", String(16), nullable=False),
    Column("amount", Numeric(10, 2), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
)

support_tickets = Table(
    "support_tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), index=True),
    Column("email", String(254), nullable=False, index=True),
    Column("name", String(160), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("message", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
)

newsletter_subscriptions = Table(
    "newsletter_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), index=True),
    Column("channel", String(8), nullable=False),
    Column("email", String(254), index=True),
    Column("phone", String(32), index=True),
    Column("first_name", String(80)),
    Column("subscribed_at", DateTime, nullable=False),
    Column("unsubscribed_at", DateTime),
    Column("last_engaged_at", DateTime, nullable=False, index=True),
)

login_events = Table(
    "login_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False, index=True),
    Column("ip_address", String(45), nullable=False),
    Column("user_agent", String(255), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
)

page_views = Table(
    "page_views",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("visitor_id", String(36), nullable=False, index=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), index=True),
    Column("path", String(255), nullable=False),
    Column("referrer", String(255)),
    Column("user_agent", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
)

identity_verifications = Table(
    "identity_verifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), index=True),
    Column("email", String(254), nullable=False, index=True),
    Column("full_name", String(160), nullable=False),
    Column("document_type", String(16), nullable=False),
    Column("document_number", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("verified_at", DateTime, nullable=False, index=True),
)

PRODUCTS = (
    ("CL-1001", "Chytrá zásuvka Wi-Fi", Decimal("349.00")),
    ("CL-1002", "LED žárovka E27 RGB", Decimal("229.00")),
    ("CL-1003", "Bezdrátový zvonek", Decimal("599.00")),
    ("CL-1004", "Senzor pohybu Zigbee", Decimal("449.00")),
    ("CL-1005", "IP kamera 2K do interiéru", Decimal("1290.00")),
    ("CL-1006", "Chytrý termostat", Decimal("1890.00")),
    ("CL-1007", "Nabíječka USB-C 65 W", Decimal("699.00")),
    ("CL-1008", "Bluetooth sluchátka", Decimal("990.00")),
    ("CL-1009", "Dveřní senzor", Decimal("299.00")),
    ("CL-1010", "Chytrý vypínač", Decimal("549.00")),
)
PAGES = (
    "/",
    "/kategorie/chytra-domacnost",
    "/kategorie/osvetleni",
    "/kategorie/kamery",
    "/produkt/cl-1001",
    "/produkt/cl-1005",
    "/kosik",
    "/pokladna",
)
REFERRERS = (None, None, "https://www.google.cz/", "https://www.seznam.cz/", "https://www.heureka.cz/", "https://www.facebook.com/")
SUBJECTS = ("Kde je moje zásilka?", "Reklamace zboží", "Vrácení peněz", "Změna doručovací adresy", "Dotaz k produktu", "Zrušení objednávky")
HISTORY = timedelta(days=4 * 365)


class _Ids:
    """Explicit primary keys, one counter per table."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def next(self, table: str) -> int:
        self.last[table] = self.last.get(table, 0) + 1
        return self.last[table]


def _between(ctx: appkit.Context, start: datetime, end: datetime) -> datetime:
    return (start + (end - start) * ctx.rng.random()).replace(microsecond=0)


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "", plain)


def _ip(ctx: appkit.Context) -> str:
    first = ctx.rng.choice((31, 46, 77, 78, 85, 89, 90, 93, 109, 185, 213))
    return f"{first}.{ctx.rng.randrange(256)}.{ctx.rng.randrange(256)}.{ctx.rng.randrange(1, 255)}"


def _visitor(ctx: appkit.Context) -> str:
    return str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))


def generate(ctx: appkit.Context) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows for `ctx.users` people, parents first: customers, then their addresses, orders, subscriptions, tickets and logs."""
    ids = _Ids()
    fake, rng, now = ctx.fake, ctx.rng, ctx.now
    agents = [fake.user_agent() for _ in range(40)]
    for user in range(1, ctx.users + 1):
        customer_id = ids.next("customers")
        created = _between(ctx, now - HISTORY, now)
        # A third of the people stop coming back within a few months; the others are still active.
        if rng.random() < 0.35:
            last_login = min(_between(ctx, created, created + timedelta(days=120)), now)
        else:
            last_login = (created + (now - created) * (rng.random() ** 0.3)).replace(microsecond=0)
        first, last = fake.first_name(), fake.last_name()
        email = f"{_slug(first)}.{_slug(last)}.{user}@{fake.free_email_domain()}"
        phone = fake.phone_number() if rng.random() < 0.6 else None
        yield (
            "customers",
            {
                "id": customer_id,
                "email": email,
                "password_hash": "$2b$12$" + hashlib.sha256(f"pw{user}".encode()).hexdigest()[:53],
                "first_name": first,
                "last_name": last,
                "phone": phone,
                "created_at": created,
                "last_login_at": last_login,
            },
        )

        shipping: list[dict[str, Any]] = []
        for _ in range(1 if rng.random() < 0.8 else 2):
            address = {
                "id": ids.next("addresses"),
                "customer_id": customer_id,
                "recipient_name": f"{first} {last}",
                "street": fake.street_address(),
                "city": fake.city(),
                "postal_code": fake.postcode(),
                "country": "CZ",
                "phone": phone,
                "created_at": created,
            }
            shipping.append(address)
            yield "addresses", address

        for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
            ordered = _between(ctx, created, last_login)
            address = rng.choice(shipping)
            order_id = ids.next("orders")
            items = [(rng.choice(PRODUCTS), rng.choice((1, 1, 1, 2, 3))) for _ in range(rng.randint(1, 3))]
            total = sum((price * quantity for (_, _, price), quantity in items), Decimal("0.00"))
            delivered = ordered < now - timedelta(days=10)
            yield (
                "orders",
                {
                    "id": order_id,
                    "customer_id": customer_id,
                    "number": f"CL{ordered:%y}{order_id:07d}",
                    "status": rng.choice(("delivered", "delivered", "delivered", "cancelled")) if delivered else "shipped",
                    "total": total,
                    "currency": "CZK",
                    "contact_email": email,
                    "shipping_name": address["recipient_name"],
                    "shipping_street": address["street"],
                    "shipping_city": address["city"],
                    "shipping_postal_code": address["postal_code"],
                    "shipping_country": address["country"],
                    "shipping_phone": phone,
                    "ordered_at": ordered,
                },
            )
            for (sku, product, price), quantity in items:
                yield (
                    "order_items",
                    {
                        "id": ids.next("order_items"),
                        "order_id": order_id,
                        "sku": sku,
                        "product_name": product,
                        "quantity": quantity,
                        "unit_price": price,
                    },
                )
            attempts = 2 if rng.random() < 0.08 else 1
            for attempt in range(attempts):
                yield (
                    "payments",
                    {
                        "id": ids.next("payments"),
                        "order_id": order_id,
                        "provider": "paypal",
                        "provider_reference": f"{rng.getrandbits(80):020X}",
                        "method": rng.choice(("card", "card", "paypal", "bank_transfer")),
                        "amount": total,
                        "status": "failed" if attempt < attempts - 1 else "completed",
                        "created_at": ordered + timedelta(minutes=1 + attempt * 10),
                    },
                )

        for channel, share in (("email", 0.35), ("sms", 0.1)):
            if rng.random() < share and (channel == "email" or phone):
                # Engagement counts as activity, so a subscription never outlives its customer's last activity.
                subscribed = _between(ctx, created, last_login)
                unsubscribed = _between(ctx, subscribed, last_login) if rng.random() < 0.2 else None
                yield (
                    "newsletter_subscriptions",
                    {
                        "id": ids.next("newsletter_subscriptions"),
                        "customer_id": customer_id,
                        "channel": channel,
                        "email": email if channel == "email" else None,
                        "phone": phone if channel == "sms" else None,
                        "first_name": first,
                        "subscribed_at": subscribed,
                        "unsubscribed_at": unsubscribed,
                        "last_engaged_at": _between(ctx, subscribed, unsubscribed or last_login),
                    },
                )
        if user % 5 == 0:
            # A newsletter subscriber without a customer account.
            subscribed = _between(ctx, now - HISTORY, now)
            yield (
                "newsletter_subscriptions",
                {
                    "id": ids.next("newsletter_subscriptions"),
                    "customer_id": None,
                    "channel": "email",
                    "email": f"odber.{user}@{fake.free_email_domain()}",
                    "phone": None,
                    "first_name": None,
                    "subscribed_at": subscribed,
                    "unsubscribed_at": None,
                    "last_engaged_at": _between(ctx, subscribed, now),
                },
            )

        if rng.random() < 0.2:
            yield (
                "support_tickets",
                {
                    "id": ids.next("support_tickets"),
                    "customer_id": customer_id,
                    "email": email,
                    "name": f"{first} {last}",
                    "subject": rng.choice(SUBJECTS),
                    "message": fake.paragraph(nb_sentences=3),
                    "status": rng.choice(("closed", "closed", "open")),
                    "created_at": _between(ctx, created, last_login),
                },
            )
        if user % 40 == 1:
            full_name = f"{first} {last}"
            yield (
                "identity_verifications",
                {
                    "id": ids.next("identity_verifications"),
                    "customer_id": customer_id,
                    "email": email,
                    "full_name": full_name,
                    "document_type": rng.choice(("id_card", "passport")),
                    "document_number": f"{rng.randrange(10**8, 10**9)}",
                    "outcome": rng.choice(("verified", "verified", "rejected")),
                    "verified_at": _between(ctx, created, last_login),
                },
            )

        agent = rng.choice(agents)
        for _ in range(rng.randint(2, 5)):
            yield (
                "login_events",
                {
                    "id": ids.next("login_events"),
                    "customer_id": customer_id,
                    "ip_address": _ip(ctx),
                    "user_agent": agent,
                    "outcome": "success" if rng.random() < 0.9 else "wrong_password",
                    "created_at": _between(ctx, created, last_login),
                },
            )
        if rng.random() < 0.5:
            # Visitors who accepted analytics cookies; signed-in views carry the customer.
            visitor = _visitor(ctx)
            for _ in range(rng.randint(1, 5)):
                yield (
                    "page_views",
                    {
                        "id": ids.next("page_views"),
                        "visitor_id": visitor,
                        "customer_id": customer_id if rng.random() < 0.6 else None,
                        "path": rng.choice(PAGES),
                        "referrer": rng.choice(REFERRERS),
                        "user_agent": agent,
                        "created_at": _between(ctx, created, last_login),
                    },
                )


if __name__ == "__main__":
    appkit.main(
        metadata,
        generate,
        locale="cs_CZ",
        env_url="CLSMART_DB_URL",
        description="Create and fill the demo database of the clsmart.com webshop example (seed 004).",
    )
