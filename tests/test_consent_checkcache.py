"""Checks answered from memory: never staler than PostgreSQL's notice of a change, and never kept without the notices."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from privacydesk.consent import restrictions, service, subjects
from privacydesk.consent.checkcache import CHANNEL, Answer, CheckCache
from privacydesk.consent.hotpath import FastChecks, _conninfo
from privacydesk.db.base import utcnow
from privacydesk.db.engine import transaction
from privacydesk.errors import Invalid
from privacydesk.web.app import create_app

from .consent_support import Platform, cid, imou_variant, publish, setup_platform

# How long a change may take to reach a server process's cache here; in practice well under a millisecond.
NOTICE_WAIT_SECONDS = 5.0


# ---------------------------------------------------------------- the cache's rules, without a database
UNTIL = datetime(2030, 1, 1, tzinfo=UTC)


def _answer(person_id: int | None, row: str) -> Answer:
    return Answer(person_id, row, row.encode(), None)


def _listening() -> CheckCache:
    cache = CheckCache()
    cache.listening = True
    return cache


def test_notices_drop_what_they_name_and_nothing_else() -> None:
    cache = _listening()
    for key, person in (("cid:a", 1), ("cid:b", 1), ("cid:c", 2), ("cid:d", 3), ("cid:unknown", None)):
        cache.keep(cache.generation(), key, "ux", _answer(person, f"row {key}"), "token", UNTIL)
    cache.notice("p:1")
    assert (cache.answer("cid:a", "ux"), cache.answer("cid:b", "ux")) == (None, None)
    assert cache.answer("cid:c", "ux") is not None and cache.token("token") == UNTIL
    assert cache.answer("cid:unknown", "ux") is None  # never kept: its first decision sends no notice
    cache.notice("k:cid:d")
    assert cache.answer("cid:d", "ux") is None and cache.answer("cid:c", "ux") is not None
    cache.notice("*")
    assert cache.answer("cid:c", "ux") is None and cache.token("token") is None


def test_a_read_overlapping_a_notice_about_it_is_not_kept() -> None:
    cache = _listening()
    since = cache.generation()
    cache.notice("p:2")  # someone else's change, committed during the read
    cache.keep(since, "cid:a", "ux", _answer(1, "row"), "token", UNTIL)
    assert cache.answer("cid:a", "ux") is not None

    since = cache.generation()
    cache.notice("p:1")  # this person's change, committed during the read
    cache.keep(since, "cid:a", "ux", _answer(1, "stale row"), "token", UNTIL)
    assert cache.answer("cid:a", "ux") is None
    since = cache.generation()
    cache.notice("k:cid:a")
    cache.keep(since, "cid:a", "ux", _answer(1, "stale row"), "token", UNTIL)
    assert cache.answer("cid:a", "ux") is None


def test_without_the_listener_or_with_notices_forgotten_nothing_is_kept() -> None:
    cache = CheckCache()
    cache.keep(cache.generation(), "cid:a", "ux", _answer(1, "row"), "token", UNTIL)
    assert cache.answer("cid:a", "ux") is None and cache.token("token") is None

    cache.listening = True
    since = cache.generation()
    for person in range(10_000):  # more than the cache remembers
        cache.notice(f"p:{person + 100}")
    cache.keep(since, "cid:a", "ux", _answer(1, "row"), "token", UNTIL)
    assert cache.answer("cid:a", "ux") is None


# ---------------------------------------------------------------- in the server, against PostgreSQL
@pytest.fixture
def platform(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Platform:
    return setup_platform(monkeypatch, tmp_path)


@pytest.fixture
def served(platform: Platform) -> Iterator[TestClient]:
    """A client of an application that runs its lifespan: the fast lane with its pool and its cache's listener."""
    with TestClient(create_app(), base_url="https://testserver") as client:
        _wait_until(lambda: _fast_lane(client).cache.listening)
        yield client


def _fast_lane(client: TestClient) -> FastChecks:
    layer: Any = client.app.middleware_stack  # type: ignore[attr-defined]  # built by the lifespan
    while not isinstance(layer, FastChecks):
        layer = layer.app
    return layer


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + NOTICE_WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the change did not reach the cache"
        time.sleep(0.005)


def _reason(client: TestClient, platform: Platform, subject: str, purpose: str = "ux_plan") -> str:
    answer = client.get("/api/v1/consent/check", params={"subject": subject, "purpose": purpose}, headers=platform.headers)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["reason"])


def _database_unused(monkeypatch: pytest.MonkeyPatch, lane: FastChecks) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the database was asked")

    assert lane.pool is not None
    monkeypatch.setattr(lane.pool, "connection", refuse)


def test_a_repeated_check_costs_no_round_trip(platform: Platform, served: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    given, unknown = cid(), cid()
    assert platform.banner(given, {"ux_plan": True}).status_code == 201
    # The first check marks the token used (the regular route); the next ones read and keep.
    for _ in range(2):
        assert (_reason(served, platform, given), _reason(served, platform, unknown)) == ("given", "no_record")
    with monkeypatch.context() as patch:
        _database_unused(patch, _fast_lane(served))
        assert _reason(served, platform, given) == "given"
        # A key nobody decided under is not kept, so its first decision needs no notice to be seen.
        with pytest.raises(AssertionError, match="the database was asked"):
            _reason(served, platform, unknown)


def test_first_and_later_decisions_are_seen_at_once(platform: Platform, served: TestClient) -> None:
    subject = cid()
    assert _reason(served, platform, subject) == _reason(served, platform, subject) == "no_record"
    assert platform.banner(subject, {"ux_plan": True}).status_code == 201
    assert _reason(served, platform, subject) == "given"
    assert _reason(served, platform, subject, "newsletter") == "no_record"
    # A later decision adds states to a known person: that one is notified.
    assert platform.banner(subject, {"newsletter": True}).status_code == 201
    _wait_until(lambda: _reason(served, platform, subject, "newsletter") == "given")
    assert platform.banner(subject, {"ux_plan": False}).status_code == 201
    _wait_until(lambda: _reason(served, platform, subject) == "withdrawn")


def test_every_kind_of_change_reaches_the_cached_answers(platform: Platform, served: TestClient) -> None:
    person, other, linked = cid(), cid(), "account:4711"
    assert platform.banner(person, {"ux_plan": True, "newsletter": True, "analytics_cookies": True}).status_code == 201
    assert platform.banner(other, {"ux_plan": True}).status_code == 201
    assert _reason(served, platform, person) == _reason(served, platform, other) == "given"

    # A decision recorded by another process (here: straight through the service).
    with transaction() as session:
        service.withdraw(session, subjects.parse(person), ["ux_plan"], surface="app", context=service.Context(), actor="test")
    _wait_until(lambda: _reason(served, platform, person) == "withdrawn")
    assert _reason(served, platform, other) == "given"

    # A key never seen, then linked to a person with a standing choice.
    assert _reason(served, platform, linked, "newsletter") == "no_record"
    with transaction() as session:
        service.link(session, [subjects.parse(person), subjects.parse(linked)], actor="test")
    _wait_until(lambda: _reason(served, platform, linked, "newsletter") == "given")

    # A restriction.
    with transaction() as session:
        restrictions.restrict(session, subjects.parse(other), reason="objection", actor="test")
    _wait_until(lambda: _reason(served, platform, other) == "restricted")

    # A new policy version with a new recipient of analytics: the consent given before stops counting.
    assert _reason(served, platform, person, "analytics_cookies") == "given"
    publish(imou_variant(platform.tmp_path, "recipient", _new_analytics_recipient))
    _wait_until(lambda: _reason(served, platform, person, "analytics_cookies") == "revised")
    assert _reason(served, platform, person, "newsletter") == "given"


def test_a_lost_listener_empties_the_cache_until_it_is_back(platform: Platform, served: TestClient) -> None:
    subject = cid()
    assert platform.banner(subject, {"ux_plan": True}).status_code == 201
    lane = _fast_lane(served)
    assert _reason(served, platform, subject) == _reason(served, platform, subject) == "given"
    assert lane.cache.answer(subject, "ux_plan") is not None
    with transaction() as session:
        dropped = session.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN privacydesk_consent'")
        ).scalars()
        assert list(dropped) == [True]
    _wait_until(lambda: lane.cache.answer(subject, "ux_plan") is None)
    # Still answered (from the database), and cached again once the listener is back.
    assert _reason(served, platform, subject) == "given"
    _wait_until(lambda: lane.cache.listening)
    assert _reason(served, platform, subject) == "given"
    assert lane.cache.answer(subject, "ux_plan") is not None


def _new_analytics_recipient(data: dict[str, Any]) -> None:
    data["recipients"]["hotjar"] = {"name": "Hotjar Ltd", "role": "processor", "country": "MT"}
    data["activities"]["website_analytics"]["recipients"].append("hotjar")


def test_a_cached_given_consent_expires_on_time(platform: Platform, served: TestClient) -> None:
    subject = cid()
    assert platform.banner(subject, {"analytics_cookies": True}).status_code == 201
    assert _reason(served, platform, subject, "analytics_cookies") == _reason(served, platform, subject, "analytics_cookies") == "given"
    lane = _fast_lane(served)
    cached = lane.cache.answer(subject, "analytics_cookies")
    assert cached is not None and cached.good_until is not None
    # The same row, as if its expiry had passed: the answer is worked out again rather than served as kept.
    key = (subject, "analytics_cookies")
    lane.cache._answers[key] = Answer(cached.person_id, cached.row._replace(expires_at=utcnow()), cached.body, utcnow())
    assert _reason(served, platform, subject, "analytics_cookies") == "expired"


# ---------------------------------------------------------------- consent ids read without building a UUID
@given(st.uuids() | st.uuids().map(lambda u: str(u).upper()) | st.uuids().map(lambda u: u.hex) | st.text(max_size=40))
@settings(max_examples=500)
def test_consent_ids_parse_as_the_uuid_module_reads_them(value: Any) -> None:
    raw = f"cid:{value}"
    try:
        parsed = uuid.UUID(str(value))
        expected = f"cid:{parsed}" if parsed.version == 4 and str(parsed) == str(value).lower() else None
    except ValueError:
        expected = None
    try:
        stored: str | None = subjects.parse(raw).stored
    except Invalid:
        stored = None
    assert stored == expected


def test_a_first_decision_commits_without_a_notice(platform: Platform, served: TestClient) -> None:
    platform.config()  # the first since publishing derives the version's revisions: a notice to everyone
    with psycopg.connect(_conninfo(), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        subject = cid()
        assert platform.banner(subject, {"ux_plan": True, "newsletter": True}).status_code == 201
        assert [notice.payload for notice in listener.notifies(timeout=0.5)] == []
        assert platform.banner(subject, {"newsletter": False}).status_code == 201
        assert {notice.payload[:2] for notice in listener.notifies(timeout=0.5)} == {"p:"}
