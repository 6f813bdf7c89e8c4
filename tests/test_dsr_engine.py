"""The engine's plan, steps, schema discovery and retention primitive."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import create_engine, text

from privacydesk.connectors.base import ConnectorError, Cutoff
from privacydesk.connectors.registry import Connectors
from privacydesk.connectors.sql import SqlConnector
from privacydesk.engine.decide import decide
from privacydesk.engine.plan import plan_request
from privacydesk.engine.run import SchemaMismatch, prepare, run_erasure
from privacydesk.engine.steps import Step, erasure_steps
from privacydesk.errors import Invalid
from privacydesk.policy.loader import load_policy
from privacydesk.policy.models import Policy

from .dsr_support import BACKENDS, NOW, build, context, counted_statements, database_url, ids, policy, shop_database

IMOU = policy("imou")
PolicyFactory = Callable[[Callable[[dict[str, Any]], None]], Path]


def _minimal(make_policy: PolicyFactory, edit: Callable[[dict[str, Any]], None] = lambda data: None) -> Policy:
    return load_policy(make_policy(edit)).policy


# ---------------------------------------------------------------- plans
def test_plan_orders_parents_before_children_and_lists_unreachable_collections() -> None:
    plan = plan_request(IMOU, "erasure", {"email": "a@b.c"})

    order = [node.name for node in plan.nodes]
    for node in plan.nodes:
        for edge in node.parents:
            assert order.index(edge.parent) < order.index(node.name), (edge.parent, node.name)
    assert set(order) == set(IMOU.systems["imou_cloud"].collections)
    assert [node.name for node in plan.children_first()] == order[::-1]
    assert plan.unreachable == ()


def test_reference_cycles_are_reported(make_policy: PolicyFactory) -> None:
    def cycle(data: dict[str, Any]) -> None:
        collections = data["systems"]["shop_db"]["collections"]
        collections["customer"]["references"] = {"last_visit_id": "access_log.id"}

    with pytest.raises(Invalid, match=re.escape("form a cycle (customer -> access_log -> customer)")):
        plan_request(_minimal(make_policy, cycle), "erasure", {"email": "a@b.c"})


@pytest.mark.parametrize(
    ("kind", "identities", "corrections", "message"),
    [
        (
            "deletion",
            {"email": "a@b.c"},
            None,
            "unknown request type 'deletion'; expected one of: access, erasure, rectification, restriction, objection",
        ),
        ("access", {"passport": "X1"}, None, "unknown identity type 'passport'; this policy recognises people by: email"),
        ("access", {"email": "  "}, None, "the email is empty"),
        ("access", {}, None, "give at least one identity"),
        ("access", {"email": "a@b.c"}, {"name": "Ana"}, "corrected values are only for rectification requests, not access"),
        ("rectification", {"email": "a@b.c"}, None, "a rectification needs at least one corrected value"),
        ("rectification", {"email": "a@b.c"}, {"shoe_size": "42"}, "unknown data category 'shoe_size'"),
        ("rectification", {"email": "a@b.c"}, {"ip_address": "1.2.3.4"}, None),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message(
    make_policy: PolicyFactory, kind: str, identities: dict[str, str], corrections: dict[str, str] | None, message: str | None
) -> None:
    loaded = _minimal(make_policy)
    if message is None:
        assert plan_request(loaded, kind, identities, corrections=corrections).corrections == corrections
        return
    with pytest.raises(Invalid, match=re.escape(message)):
        plan_request(loaded, kind, identities, corrections=corrections)


def test_a_category_no_system_holds_cannot_be_rectified(make_policy: PolicyFactory) -> None:
    def unheld(data: dict[str, Any]) -> None:
        data["data"]["phone"] = {"dpv": "pd:TelephoneNumber"}

    with pytest.raises(Invalid, match="no system declares a field of category 'phone'"):
        plan_request(_minimal(make_policy, unheld), "rectification", {"email": "a@b.c"}, corrections={"phone": "+33 1"})


# ---------------------------------------------------------------- finding a person
def _contacts_and_accounts(data: dict[str, Any]) -> None:
    data["data"]["phone"] = {"dpv": "pd:TelephoneNumber"}
    data["requests"] = {"identities": ["email", "phone"]}
    data["systems"]["shop_db"]["collections"] = {
        "contact": {"identities": {"email": "email", "phone": "phone"}, "fields": {"email": "email", "phone": "phone"}, "erase": "delete"},
        "account": {"identities": {"phone": "phone", "email": "email"}, "fields": {"email": "email", "phone": "phone"}, "erase": "delete"},
    }


def test_identities_found_in_rows_are_asked_of_every_collection_once(
    make_policy: PolicyFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    monkeypatch.setenv("SHOP_DB_URL", url)
    engine = create_engine(url)
    with engine.begin() as c:
        for table in ("contact", "account"):
            c.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, email VARCHAR(254), phone VARCHAR(30))"))
        # Asked for ana@: her contact row gives her phone, which finds her account, which gives a second address,
        # which finds her other contact row (a collection asked before the address was known). Ion is someone else.
        c.execute(text("INSERT INTO contact VALUES (1, 'Ana@example.fr', '+33 6 12 34 56 78'), (2, 'ana.pop@example.fr', NULL)"))
        c.execute(text("INSERT INTO contact VALUES (3, 'ion@example.fr', '+33 6 99 99 99 99')"))
        c.execute(text("INSERT INTO account VALUES (10, 'ana.pop@example.fr', '+33612345678'), (11, 'ion@example.fr', NULL)"))
    engine.dispose()
    shop = _minimal(make_policy, _contacts_and_accounts)
    plan = plan_request(shop, "access", {"email": "ana@example.fr"})
    with Connectors(shop, context("imou")) as connectors, counted_statements() as counts:
        located = prepare(plan, connectors)

    assert {name: sorted(found.rows) for name, found in ((f.node.name, f) for f in located.found.values())} == {
        "contact": [1, 2],
        "account": [10],
    }
    # Compared without case and separators: one address as asked and as stored, one phone number however written.
    assert sorted(map(str, located.identities["email"])) == ["ana.pop@example.fr", "ana@example.fr"]
    assert len(located.identities["phone"]) == 1
    # The first pass asks each collection what is known when its turn comes (the account: the address and the phone
    # number the contact gave); the second asks both about the account's address; a third would ask nothing.
    assert counts["contact"] == 2 and counts["account"] == 2


# ---------------------------------------------------------------- steps and discovery on a real database
def test_steps_have_stable_ids_survive_persistence_and_run_children_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = build("imou", f"sqlite:///{tmp_path / 'imou.db'}", monkeypatch, users=40)
    with engine.connect() as c:
        email = c.execute(text("SELECT email FROM users WHERE email IS NOT NULL ORDER BY id")).scalars().first()
    engine.dispose()
    plan = plan_request(IMOU, "erasure", {"email": email})
    with Connectors(IMOU, context("imou")) as connectors:
        decisions = decide(plan, prepare(plan, connectors), NOW)
        again = decide(plan, prepare(plan, connectors), NOW)

    steps = erasure_steps(plan, decisions)
    assert [step.id for step in steps] == [step.id for step in erasure_steps(plan, again)]
    assert [Step.from_dict(step.to_dict()) for step in steps] == steps
    assert all(re.fullmatch(r"erasure/imou_cloud/[a-z_]+/(delete|anonymise)/\d{4}", step.id) for step in steps)
    positions = {step.collection: index for index, step in enumerate(steps)}
    assert positions["users"] == len(steps) - 1 and positions["devices"] < positions["users"]


def test_discovery_names_every_missing_table_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_policy: PolicyFactory
) -> None:
    def more(data: dict[str, Any]) -> None:
        data["systems"]["shop_db"]["collections"]["customer"]["fields"]["phone"] = "email"
        data["systems"]["shop_db"]["collections"]["newsletter"] = {"identities": {"email": "email"}, "fields": {"email": "email"}}

    url = f"sqlite:///{tmp_path / 'shop.db'}"
    shop_database(url).dispose()
    monkeypatch.setenv("SHOP_DB_URL", url)
    loaded = _minimal(make_policy, more)

    problems = [str(problem) for problem in SqlConnector("shop_db", loaded.systems["shop_db"], context("imou")).discover()]
    assert problems == [
        "shop_db.customer: error: column 'phone' (field of category 'email') does not exist in table 'customer'",
        "shop_db.newsletter: error: table 'newsletter' does not exist",
    ]
    with pytest.raises(SchemaMismatch, match="column 'phone'"):
        run_erasure(loaded, {"email": "a@b.c"}, context=context("imou"))


def test_an_unset_database_url_is_a_clear_error(make_policy: PolicyFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOP_DB_URL", raising=False)
    with pytest.raises(
        ConnectorError, match="system 'shop_db': url is env:SHOP_DB_URL, but the environment variable SHOP_DB_URL is not set"
    ):
        run_erasure(_minimal(make_policy), {"email": "a@b.c"}, context=context("imou"))


# ---------------------------------------------------------------- the retention primitive
@pytest.mark.parametrize("backend", [param for param in BACKENDS if param.id != "mariadb"])
def test_expired_rows_come_in_key_ordered_batches(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = build("imou", database_url(request, backend, tmp_path), monkeypatch, users=80)
    connector = SqlConnector("imou_cloud", IMOU.systems["imou_cloud"], context("imou"))
    now = NOW.replace(tzinfo=None)
    week, day = now - timedelta(days=7), now - timedelta(days=1)
    year, two_years = now - relativedelta(years=1), now - relativedelta(years=2)
    with engine.connect() as c:
        old_logs = ids(c, "SELECT id FROM api_logs WHERE created_at < :t", t=week)
        ended = ids(c, "SELECT r.id FROM cloud_recordings r JOIN subscriptions s ON s.id = r.subscription_id WHERE s.ends_at < :t", t=day)
        year_old = ids(c, "SELECT id FROM orders WHERE ordered_at < :t", t=year)
        two_years_old = ids(c, "SELECT id FROM orders WHERE ordered_at < :t", t=two_years)
        repaired_long_ago = ids(c, "SELECT id FROM rma_requests WHERE closed_at IS NOT NULL AND closed_at < :t", t=two_years)
        repairs = ids(c, "SELECT id FROM rma_requests")

    batches: list[list[Any]] = []
    after = None
    while batch := connector.expired("api_logs", "created_at", week, after=after, limit=25):
        batches.append(batch)
        after = batch[-1]

    assert [key for batch in batches for key in batch] == sorted(old_logs) and len(old_logs) > 50
    assert all(len(batch) == 25 for batch in batches[:-1])
    assert set(connector.expired("cloud_recordings", "subscriptions.ends_at", day, limit=10_000)) == ended and ended
    # Rows whose hold still runs stay, and so do rows whose hold has not started (an open repair).
    two_year_hold = Cutoff("ordered_at", two_years)
    kept_longer = connector.expired("orders", "ordered_at", year, limit=10_000, holds=[two_year_hold])
    assert set(kept_longer) == two_years_old and two_years_old != year_old
    warranty = Cutoff("closed_at", two_years)
    assert set(connector.expired("rma_requests", "created_at", now, limit=10_000, holds=[warranty])) == repaired_long_ago
    assert repairs - repaired_long_ago
    assert connector.delete("api_logs", batches[0]) == 25
    assert connector.expired("api_logs", "created_at", week, limit=25) == batches[1]
    connector.close()
    engine.dispose()
