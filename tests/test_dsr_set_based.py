"""Set-based execution, proved by counting statements: a person with hundreds of rows costs what a person with a few costs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, Table, insert, select, text

from privacydesk.connectors.base import ConnectorContext
from privacydesk.connectors.registry import Connectors
from privacydesk.connectors.values import PSEUDONYM_DOMAIN
from privacydesk.engine.decide import decide
from privacydesk.engine.plan import plan_request
from privacydesk.engine.run import prepare, run_erasure
from privacydesk.engine.steps import erasure_steps, execute
from privacydesk.policy.loader import load_policy

from .dsr_support import BACKENDS, NOW, build, context, counted_statements, database_url, policy, shop_database, snapshot

IMOU = policy("imou")
EXTRA = 450


def _add_rows(engine: Engine, uid: int, phone: str) -> None:
    """Hundreds more log lines, alarms with snapshots and shop orders for one person."""
    with engine.begin() as c:
        device = c.execute(text("SELECT MIN(id) FROM devices WHERE user_id = :u"), {"u": uid}).scalar_one()
        top = {
            table: c.execute(text(f"SELECT MAX(id) FROM {table}")).scalar_one()
            for table in ("api_logs", "alarm_messages", "alarm_snapshots", "device_orders")
        }
        moment = NOW.replace(tzinfo=None)
        c.execute(
            text(
                "INSERT INTO api_logs (id, user_id, ip_address, method, endpoint, status_code, created_at) VALUES (:id, :u, '10.0.0.1', 'GET', '/x', 200, :t)"
            ),
            [{"id": top["api_logs"] + n, "u": uid, "t": moment} for n in range(1, EXTRA + 1)],
        )
        c.execute(
            text(
                "INSERT INTO alarm_messages (id, user_id, device_id, channel_id, event_type, message, created_at)"
                " VALUES (:id, :u, :d, 0, 'motion_detection', 'ruch', :t)"
            ),
            [{"id": top["alarm_messages"] + n, "u": uid, "d": device, "t": moment} for n in range(1, EXTRA + 1)],
        )
        c.execute(
            text("INSERT INTO alarm_snapshots (id, alarm_id, object_key, captured_at) VALUES (:id, :a, 'snapshots/x.jpg', :t)"),
            [{"id": top["alarm_snapshots"] + n, "a": top["alarm_messages"] + n, "t": moment} for n in range(1, EXTRA + 1)],
        )
        c.execute(
            text(
                "INSERT INTO device_orders (id, platform, buyer_name, recipient_name, shipping_address, contact_phone, products, ordered_at)"
                " VALUES (:id, 'Allegro', 'Jan Kowalski', 'Jan Kowalski', 'ul. Długa 1', :p, 'Imou IPC-A22EP x1', :t)"
            ),
            [{"id": top["device_orders"] + n, "p": phone, "t": moment} for n in range(1, EXTRA + 1)],
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_statements_per_collection_do_not_grow_with_rows(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database_url(request, backend, tmp_path)
    runs: list[tuple[Counter[str], dict[str, int]]] = []
    for extra in (False, True):
        engine = build("imou", url, monkeypatch, users=60)  # the same seed: the same people every time
        with engine.connect() as c:
            email, phone, uid = c.execute(
                text("SELECT u.email, u.phone, u.id FROM users u WHERE u.email IS NOT NULL AND u.phone IS NOT NULL ORDER BY u.id")
            ).first()  # type: ignore[misc]
        if extra:
            _add_rows(engine, uid, phone)
        engine.dispose()
        with counted_statements() as counts:
            result = run_erasure(IMOU, {"email": email}, now=NOW, context=context("imou"))
        runs.append((counts, {item.collection: item.deleted + item.anonymised for item in result.collections}))

    (few, few_done), (many, many_done) = runs
    for table in ("api_logs", "alarm_messages", "alarm_snapshots"):
        assert many_done[table] == few_done[table] + EXTRA
    assert many_done["device_orders"] == few_done["device_orders"] + EXTRA
    assert many == few, "the number of statements per table depends on the number of rows"
    assert sum(few.values()) < 150


# ---------------------------------------------------------------- per-row values in one statement
def _anonymising_policy(make_policy: Callable[[Callable[[dict[str, Any]], None]], Path]) -> Path:
    def edit(data: dict[str, Any]) -> None:
        customer = data["systems"]["shop_db"]["collections"]["customer"]
        customer["fields"] = {"email": {"category": "email", "erase": "hmac"}, "name": {"category": "name", "erase": "fake"}}
        customer["erase"] = "anonymise"

    return make_policy(edit)


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_row_pseudonyms_and_fakes_are_one_update_per_batch_and_steps_are_idempotent(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_policy: Any
) -> None:
    url = database_url(request, backend, tmp_path)
    engine = shop_database(url)
    monkeypatch.setenv("SHOP_DB_URL", url)
    loaded = load_policy(_anonymising_policy(make_policy)).policy
    shop = ConnectorContext(secret=b"shop-secret-key-for-tests-0123456789", locale="fr_FR")
    with engine.begin() as c:
        c.execute(
            insert(Table("customer", MetaData(), autoload_with=c)),
            [{"id": n, "email": "ana@example.fr", "name": "Ana Pop"} for n in range(1, 901)],
        )
        c.execute(text("INSERT INTO customer (id, email, name) VALUES (1000, 'other@example.fr', 'Ion Ionescu')"))

    plan = plan_request(loaded, "erasure", {"email": "ana@example.fr"})
    with Connectors(loaded, shop) as connectors:
        located = prepare(plan, connectors)
        steps = erasure_steps(plan, decide(plan, located, NOW))
        assert [step.id for step in steps] == ["erasure/shop_db/customer/anonymise/0000"]
        with counted_statements() as counts:
            first = execute(plan, steps[0], connectors)
        after = snapshot(engine)
        again = execute(plan, steps[0], connectors)  # a runner resuming after a crash re-runs its last step

    assert first.count == 900 and counts["customer"] == 1
    assert again.count == 0 and snapshot(engine) == after
    rows = after["customer"]
    emails = {rows[n]["email"] for n in range(1, 901)}
    assert len(emails) == 900 and all(email.endswith(f"@{PSEUDONYM_DOMAIN}") for email in emails)
    names = [rows[n]["name"] for n in range(1, 901)]
    assert "Ana Pop" not in names and len(set(names)) > 100 and all(0 < len(name) <= 30 for name in names)
    assert rows[1000] == {"id": 1000, "email": "other@example.fr", "name": "Ion Ionescu"}
    with engine.connect() as c:
        assert c.execute(select(text("COUNT(*)")).select_from(text("customer"))).scalar_one() == 901
    engine.dispose()
