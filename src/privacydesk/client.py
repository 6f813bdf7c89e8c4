"""A small synchronous client of the consent API for the company's own applications.

    from privacydesk.client import ConsentClient

    with ConsentClient("https://privacy.example.com", token="pd_...", cache_seconds=30) as consent:
        if consent.check("account:42", "newsletter").allowed:
            send_newsletter()

With `cache_seconds`, answers are kept that long in memory; recording a decision or linking keys
through the same client empties the cache, so the client never contradicts what it just wrote.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx


class ConsentError(Exception):
    """The consent API refused a call; `status` and `code` say why, `message` in words."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Answer:
    """The answer to one check."""

    allowed: bool
    reason: str
    record_id: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class Recorded:
    """A stored decision."""

    record_id: str | None
    subject: str
    choices: dict[str, bool]
    expires_at: dict[str, datetime | None]


class ConsentClient:
    """Checks and records consent through privacydesk's API with a token holding consent:read (and consent:write to record)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        cache_seconds: float = 0.0,
        timeout: float = 5.0,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._owns_http = http is None
        self._headers = {"Authorization": f"Bearer {token}"}
        self._ttl = cache_seconds
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Answer]] = {}

    def check(self, subject: str, purpose: str) -> Answer:
        """May `purpose` be pursued for `subject` now?"""
        cached = self._cached(subject, purpose)
        if cached is not None:
            return cached
        answer = _answer(self._call("GET", "/api/v1/consent/check", params={"subject": subject, "purpose": purpose}))
        self._keep(subject, purpose, answer)
        return answer

    def check_many(self, checks: Iterable[tuple[str, str]]) -> list[Answer]:
        """Several (subject, purpose) checks in one call (those cached are not asked again)."""
        asked = list(checks)
        answers: list[Answer | None] = [self._cached(subject, purpose) for subject, purpose in asked]
        missing = [index for index, answer in enumerate(answers) if answer is None]
        if missing:
            body = {"checks": [{"subject": asked[index][0], "purpose": asked[index][1]} for index in missing]}
            for index, item in zip(missing, self._call("POST", "/api/v1/consent/check", json=body), strict=True):
                answers[index] = _answer(item)
                self._keep(*asked[index], _answer(item))
        return [answer for answer in answers if answer is not None]

    def record(
        self,
        subject: str,
        choices: dict[str, bool],
        *,
        surface: str = "app",
        language: str | None = None,
        text_hash: str | None = None,
        policy_version: str | None = None,
        page_url: str | None = None,
    ) -> Recorded:
        """Record a decision the application collected (method api)."""
        body: dict[str, Any] = {"subject": subject, "choices": choices, "surface": surface}
        optional = {"language": language, "text_hash": text_hash, "policy_version": policy_version, "page_url": page_url}
        body.update({key: value for key, value in optional.items() if value is not None})
        self._cache.clear()
        data = self._call("POST", "/api/v1/consent/decisions", json=body)
        expires = {purpose: _time(moment) for purpose, moment in data["expires_at"].items()}
        return Recorded(data["record_id"], data["subject"], data["choices"], expires)

    def link(self, *keys: str) -> list[str]:
        """Declare that the keys name one person; returns every key linked to them."""
        self._cache.clear()
        return list(self._call("POST", "/api/v1/consent/links", json={"keys": list(keys)})["keys"])

    def close(self) -> None:
        """Close the connection pool (if the client opened it)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ConsentClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def _cached(self, subject: str, purpose: str) -> Answer | None:
        entry = self._cache.get((subject, purpose))
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def _keep(self, subject: str, purpose: str, answer: Answer) -> None:
        if self._ttl > 0:
            self._cache[(subject, purpose)] = (self._clock() + self._ttl, answer)

    def _call(self, method: str, path: str, **options: Any) -> Any:
        response = self._http.request(method, path, headers=self._headers, **options)
        if response.is_success:
            return response.json()
        try:
            error = response.json().get("error", {})
        except ValueError:
            error = {}
        raise ConsentError(response.status_code, str(error.get("code", "http_error")), str(error.get("message", response.text[:200])))


def _answer(data: dict[str, Any]) -> Answer:
    return Answer(bool(data["allowed"]), str(data["reason"]), data.get("record_id"), _time(data.get("expires_at")))


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
