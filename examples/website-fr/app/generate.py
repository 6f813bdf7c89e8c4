"""Demo database of the French website (seed 002): accounts, invoices, payments, anti-fraud checks, contact messages and logs."""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Table, Text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import appkit

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(100)),
    Column("first_name", String(80)),
    Column("last_name", String(80)),
    Column("phone", String(32)),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_login_at", DateTime, nullable=False, index=True),
    Column("closed_at", DateTime),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("description", String(200), nullable=False),
    Column("billing_name", String(160), nullable=False),
    Column("billing_street", String(200), nullable=False),
    Column("billing_postal_code", String(10), nullable=False),
    Column("billing_city", String(100), nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("vat_cents", Integer, nullable=False),
    Column("issued_at", DateTime, nullable=False, index=True),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False, index=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("provider_reference", String(40), nullable=False),
    Column("method", String(16), nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
)

fraud_checks = Table(
    "fraud_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("payment_id", Integer, ForeignKey("payments.id"), nullable=False, index=True),
    Column("ip_address", String(45), nullable=False),
    Column("score", Integer, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("checked_at", DateTime, nullable=False, index=True),
)

contact_messages = Table(
    "contact_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("account_id", Integer, ForeignKey("accounts.id"), index=True),
    Column("email", String(254), nullable=False, index=True),
    Column("name", String(160), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
)

access_logs = Table(
    "access_logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("account_id", Integer, ForeignKey("accounts.id"), index=True),
    Column("ip_address", String(45), nullable=False),
    Column("user_agent", String(255), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(255), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
)

page_views = Table(
    "page_views",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("visitor_id", String(36), nullable=False, index=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), index=True),
    Column("path", String(255), nullable=False),
    Column("referrer", String(255)),
    Column("created_at", DateTime, nullable=False, index=True),
)

PLANS = (("Essentiel", 990), ("Pro", 2490), ("Entreprise", 7900))
PAGES = ("/", "/tarifs", "/fonctionnalites", "/blog", "/aide", "/contact", "/compte", "/compte/factures", "/connexion")
REFERRERS = (None, None, "https://www.google.fr/", "https://www.qwant.com/", "https://www.linkedin.com/")
SUBJECTS = (
    "Question sur ma facture",
    "Problème de connexion",
    "Contestation d'un prélèvement",
    "Demande de suppression de mon compte",
    "Changement d'offre",
    "Remboursement",
)
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
    first = ctx.rng.choice((2, 5, 37, 78, 86, 90, 109, 176, 185))
    return f"{first}.{ctx.rng.randrange(256)}.{ctx.rng.randrange(256)}.{ctx.rng.randrange(1, 255)}"


def _visitor(ctx: appkit.Context) -> str:
    return str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))


def generate(ctx: appkit.Context) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows for `ctx.users` people, parents first: accounts, then their invoices, payments, checks, messages and logs."""
    ids = _Ids()
    fake, rng, now = ctx.fake, ctx.rng, ctx.now
    agents = [fake.user_agent() for _ in range(40)]
    for user in range(1, ctx.users + 1):
        account_id = ids.next("accounts")
        created = _between(ctx, now - HISTORY, now)
        # A third of the people stop coming back within a few months; the others are still active.
        if rng.random() < 0.35:
            last_login = min(_between(ctx, created, created + timedelta(days=120)), now)
        else:
            last_login = (created + (now - created) * (rng.random() ** 0.3)).replace(microsecond=0)
        first, last = fake.first_name(), fake.last_name()
        closed = rng.random() < 0.08
        account: dict[str, Any] = {
            "id": account_id,
            "email": f"{_slug(first)}.{_slug(last)}.{user}@{fake.free_email_domain()}",
            "password_hash": "pbkdf2_sha256$600000$" + hashlib.sha256(f"pw{user}".encode()).hexdigest()[:60],
            "first_name": first,
            "last_name": last,
            "phone": fake.phone_number() if rng.random() < 0.4 else None,
            "status": "active",
            "created_at": created,
            "last_login_at": last_login,
            "closed_at": None,
        }
        if closed:
            # An account erased on request earlier: the row stays for its invoices, without identity.
            token = hashlib.sha256(f"erased{user}".encode()).hexdigest()[:24]
            closed_at = _between(ctx, last_login, now)
            account |= {"email": f"{token}@erased.invalid", "password_hash": None, "first_name": None, "last_name": None, "phone": None}
            account |= {"status": "closed", "closed_at": closed_at}
        yield "accounts", account
        end = account["closed_at"] or last_login

        if rng.random() < 0.6:
            plan, price = rng.choice(PLANS)
            street, postcode, city = fake.street_address(), fake.postcode(), fake.city()
            issued = created + timedelta(days=rng.randrange(0, 20))
            for _ in range(rng.randint(1, 5)):
                if issued > end:
                    break
                invoice_id = ids.next("invoices")
                yield (
                    "invoices",
                    {
                        "id": invoice_id,
                        "account_id": account_id,
                        "number": f"F{issued:%Y}-{invoice_id:07d}",
                        "description": f"Abonnement {plan} — {issued:%m/%Y}",
                        "billing_name": f"{first} {last}",
                        "billing_street": street,
                        "billing_postal_code": postcode,
                        "billing_city": city,
                        "amount_cents": price,
                        "vat_cents": price // 6,
                        "issued_at": issued,
                    },
                )
                attempts = 2 if rng.random() < 0.1 else 1
                for attempt in range(attempts):
                    payment_id = ids.next("payments")
                    paid_at = issued + timedelta(minutes=5 + attempt * 1440)
                    failed = attempt < attempts - 1
                    yield (
                        "payments",
                        {
                            "id": payment_id,
                            "invoice_id": invoice_id,
                            "account_id": account_id,
                            "provider_reference": f"pay_{rng.getrandbits(96):024x}",
                            "method": rng.choice(("card", "card", "card", "sepa_debit")),
                            "amount_cents": price,
                            "status": "failed" if failed else "succeeded",
                            "created_at": paid_at,
                        },
                    )
                    score = rng.randint(60, 99) if failed and rng.random() < 0.5 else rng.randint(0, 40)
                    yield (
                        "fraud_checks",
                        {
                            "id": ids.next("fraud_checks"),
                            "account_id": account_id,
                            "payment_id": payment_id,
                            "ip_address": _ip(ctx),
                            "score": score,
                            "decision": "rejected" if score >= 80 else ("review" if score >= 60 else "accepted"),
                            "checked_at": paid_at - timedelta(seconds=2),
                        },
                    )
                issued += timedelta(days=rng.choice((30, 31, 61, 92)))

        if user % 10 == 0:
            # Someone without an account writing through the contact form.
            name = fake.name()
            yield (
                "contact_messages",
                {
                    "id": ids.next("contact_messages"),
                    "account_id": None,
                    "email": f"{_slug(name.split()[0])}.{user}@{fake.free_email_domain()}",
                    "name": name,
                    "subject": rng.choice(SUBJECTS),
                    "body": fake.paragraph(nb_sentences=2),
                    "created_at": _between(ctx, now - HISTORY, now),
                },
            )

        if closed:
            # Erasure removed everything but the billing and anti-fraud records.
            continue
        if rng.random() < 0.25:
            for _ in range(rng.randint(1, 2)):
                yield (
                    "contact_messages",
                    {
                        "id": ids.next("contact_messages"),
                        "account_id": account_id,
                        "email": account["email"],
                        "name": f"{first} {last}",
                        "subject": rng.choice(SUBJECTS),
                        "body": fake.paragraph(nb_sentences=3),
                        "created_at": _between(ctx, created, end),
                    },
                )
        agent = rng.choice(agents)
        for _ in range(rng.randint(2, 6)):
            signed_in = rng.random() < 0.7
            yield (
                "access_logs",
                {
                    "id": ids.next("access_logs"),
                    "account_id": account_id if signed_in else None,
                    "ip_address": _ip(ctx),
                    "user_agent": agent,
                    "method": rng.choice(("GET", "GET", "GET", "POST")),
                    "path": rng.choice(PAGES),
                    "status_code": rng.choice((200, 200, 200, 200, 302, 404, 500)),
                    "duration_ms": int(rng.expovariate(1 / 120)) + 3,
                    "created_at": _between(ctx, created, end),
                },
            )

        if rng.random() < 0.5:
            # Visitors who accepted audience measurement; signed-in views carry the account.
            visitor = _visitor(ctx)
            for _ in range(rng.randint(1, 5)):
                yield (
                    "page_views",
                    {
                        "id": ids.next("page_views"),
                        "visitor_id": visitor,
                        "account_id": account_id if rng.random() < 0.6 else None,
                        "path": rng.choice(PAGES),
                        "referrer": rng.choice(REFERRERS),
                        "created_at": _between(ctx, created, end),
                    },
                )


if __name__ == "__main__":
    appkit.main(
        metadata,
        generate,
        locale="fr_FR",
        env_url="WEBSITE_FR_DB_URL",
        description="Create and fill the demo database of the French website example (seed 002).",
    )
