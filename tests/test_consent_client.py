"""The Python client of the consent API, against the real app: checks, records, links and its answer cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from privacydesk.client import Answer, ConsentClient, ConsentError
from privacydesk.consent import service, subjects
from privacydesk.db.engine import transaction

from .consent_support import Platform, cid, setup_platform

pytestmark = pytest.mark.postgres


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def platform(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Platform:
    return setup_platform(monkeypatch, tmp_path)


def _client(platform: Platform, clock: Clock, cache_seconds: float = 0.0) -> ConsentClient:
    token = platform.headers["Authorization"].removeprefix("Bearer ")
    return ConsentClient("https://testserver", token, cache_seconds=cache_seconds, http=platform.client, clock=clock)


def test_check_record_and_link(platform: Platform) -> None:
    clock = Clock()
    with _client(platform, clock) as consent:
        assert consent.check("account:77", "newsletter") == Answer(False, "no_record", None, None)
        recorded = consent.record("account:77", {"newsletter": True, "ux_plan": False}, surface="email")
        assert recorded.subject == "account:77" and recorded.choices == {"newsletter": True, "ux_plan": False}
        assert recorded.expires_at["newsletter"] is None and recorded.expires_at["ux_plan"] is not None
        answer = consent.check("account:77", "newsletter")
        assert (answer.allowed, answer.reason, answer.record_id) == (True, "given", recorded.record_id)
        browser = cid()
        assert sorted(consent.link(browser, "account:77")) == sorted([browser, "account:77"])
        assert [a.reason for a in consent.check_many([(browser, "newsletter"), (browser, "ux_plan"), ("account:78", "newsletter")])] == [
            "given",
            "refused",
            "no_record",
        ]
        with pytest.raises(ConsentError) as refused:
            consent.check("account:77", "profiling")
        assert refused.value.status == 422 and refused.value.code == "invalid" and "unknown purpose" in refused.value.message
    bad = ConsentClient("https://testserver", "pd_not-a-token", http=platform.client)
    with pytest.raises(ConsentError) as unauthenticated:
        bad.check("account:77", "newsletter")
    assert unauthenticated.value.status == 401


def test_answers_are_cached_until_they_expire_or_the_client_records(platform: Platform) -> None:
    clock = Clock()
    consent = _client(platform, clock, cache_seconds=30)
    consent.record("account:5", {"newsletter": True})
    assert consent.check("account:5", "newsletter").reason == "given"
    # Withdrawn elsewhere (the person's preference centre): within the cache time the client still says given...
    with transaction() as session:
        service.withdraw(session, subjects.parse("account:5"), None, surface="preference_centre", context=service.Context(), actor="test")
    assert consent.check("account:5", "newsletter").reason == "given"
    assert consent.check_many([("account:5", "newsletter")])[0].reason == "given"
    # ...and asks again once it expires.
    clock.now += 31
    assert consent.check("account:5", "newsletter").reason == "withdrawn"
    # Recording through the client empties the cache at once.
    consent.check("account:6", "newsletter")
    consent.record("account:6", {"newsletter": True})
    assert consent.check("account:6", "newsletter").reason == "given"
    # Without a cache time nothing is kept.
    uncached = _client(platform, clock)
    assert uncached.check("account:6", "newsletter").reason == "given"
    with transaction() as session:
        service.withdraw(session, subjects.parse("account:6"), None, surface="preference_centre", context=service.Context(), actor="test")
    assert uncached.check("account:6", "newsletter").reason == "withdrawn"
