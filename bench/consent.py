"""Consent on the hot path: checks and decision writes per second, p50 and p99, against an empty endpoint as the floor.

On this machine: a fresh database on the local PostgreSQL (imou's policy published, consents
imported for a set of people), the platform served by uvicorn with one process per core
(`--workers 2`), and a load generator on 127.0.0.1 only: `wrk` when it is installed (Debian
package wrk), else asyncio and httpx. Measured in the same run, one after the other:

- floor:  an empty async FastAPI endpoint served the same way (what the framework itself allows here);
- checks: GET /api/v1/consent/check with an API token (consent:read), random people and purposes,
  after a warm-up of the same load until its rate stops growing (each server process keeps the
  answers it read until the database notifies a change, so repeated questions are answered from
  memory once each process has read them: 2,200 people by 5 purposes, about 20 s here);
- cold checks: the same, each about a consent id never seen (never kept: a database round trip each);
- writes: POST /api/v1/public/consent/decisions, each a new consent id choosing every purpose.

    .venv/bin/python bench/consent.py [--quick] [--connections 16] [--seconds 20] [--postgres URL]

The last line is `RESULT checks_per_s=... checks_p99_ms=... writes_per_s=... writes_p99_ms=... floor_per_s=...
cold_checks_per_s=... cold_checks_p99_ms=...`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "examples" / "imou" / "policy.yaml"
WORKERS = 2
# People with imported decisions, and people the checks ask about whom nothing is known.
KNOWN, UNKNOWN = 2_000, 200

floor_app = FastAPI()


@floor_app.get("/floor")
async def floor() -> dict[str, object]:
    """The floor: no database, no authentication, a body the size of a check's answer."""
    return {"allowed": True, "reason": "given", "record_id": None, "expires_at": None}


@dataclass(frozen=True)
class Fixture:
    """What the load needs: the platform's database, a token, people to ask about, the banner's hashes."""

    database_url: str
    token: str
    subjects: list[str]
    purposes: list[str]
    text_hash: str
    policy_version: str


@dataclass(frozen=True)
class Measured:
    """One phase's outcome."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        """Successful requests per second."""
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------- the platform's database
@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new, migrated platform database on `server`, dropped afterwards."""
    import psycopg

    from privacydesk.db import migrate

    name = f"pd_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        url = f"{server.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
        try:
            migrate.upgrade(url)
            yield url
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def prepare(database_url: str, secret_key: str) -> Fixture:
    """Publish imou's policy, issue a consent:read/write token, import decisions of KNOWN people."""
    os.environ["PRIVACYDESK_DATABASE_URL"] = database_url
    os.environ["PRIVACYDESK_SECRET_KEY"] = secret_key
    from privacydesk.auth import service as auth
    from privacydesk.auth.permissions import Permission, Role, permissions_of
    from privacydesk.consent import imports
    from privacydesk.consent.published import latest
    from privacydesk.consent.texts import banner_config
    from privacydesk.db.engine import transaction
    from privacydesk.policy.loader import load_policy
    from privacydesk.versions import service as versions

    rng = random.Random(7)
    with transaction() as session:
        versions.publish(session, load_policy(POLICY), publisher="bench")
        owner = auth.create_user(
            session, email="bench@example.com", name="Bench", role=Role.OWNER, password=uuid.uuid4().hex, actor="bench"
        )
        _, token = auth.create_token(
            session,
            owner=owner,
            name="bench",
            scopes={Permission.CONSENT_READ, Permission.CONSENT_WRITE},
            expires_days=1,
            grantable=permissions_of(Role.OWNER),
            actor="bench",
        )
        policy = latest(session)
        purposes = policy.purposes
        known = [f"cid:{uuid.UUID(int=rng.getrandbits(128), version=4)}" for _ in range(KNOWN)]
        rows = ["subject,purpose,decision,given_at,source"]
        for subject in known:
            for purpose in rng.sample(purposes, 3):
                rows.append(f"{subject},{purpose},{rng.choice(('given', 'given', 'refused', 'withdrawn'))},2024-05-01,bench")
        imports.import_csv(session, "\n".join(rows) + "\n", actor="bench")
        shown = banner_config(policy.policy, policy.hash, "pl")
    unknown = [f"cid:{uuid.UUID(int=rng.getrandbits(128), version=4)}" for _ in range(UNKNOWN)]
    return Fixture(database_url, token, known + unknown, purposes, shown["text_hash"], policy.hash)


# ---------------------------------------------------------------- servers
def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(app: list[str], ready_path: str, env: dict[str, str]) -> Iterator[str]:
    """Run `uvicorn <app> --workers 2` on a free port until the block ends; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", *app, "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS)]
    command += ["--no-access-log", "--log-level", "warning"]
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base + ready_path, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                # Every worker process answers once it has imported the app; give the second one a moment too.
                time.sleep(1.5)
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} was not ready within a minute")


# ---------------------------------------------------------------- load: wrk
_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""
_WRK_CHECK = """
local subjects = {subjects}
local purposes = {purposes}
local headers = {{["Authorization"] = "Bearer {token}"}}
request = function()
  local path = "/api/v1/consent/check?subject=" .. subjects[math.random(#subjects)] .. "&purpose=" .. purposes[math.random(#purposes)]
  return wrk.format("GET", path, headers)
end
"""
_WRK_COLD_CHECK = """
local purposes = {purposes}
local headers = {{["Authorization"] = "Bearer {token}"}}
init = function(args) math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16)) end
request = function()
  local id = string.gsub("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", "[xy]", function(c)
    return string.format("%x", c == "x" and math.random(0, 15) or math.random(8, 11)) end)
  local path = "/api/v1/consent/check?subject=cid:" .. id .. "&purpose=" .. purposes[math.random(#purposes)]
  return wrk.format("GET", path, headers)
end
"""
_WRK_WRITE = """
local purposes = {purposes}
local headers = {{["Content-Type"] = "application/json", ["User-Agent"] = "Mozilla/5.0 (bench)"}}
init = function(args) math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16)) end
local function uuid4()
  return (string.gsub("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", "[xy]", function(c)
    return string.format("%x", c == "x" and math.random(0, 15) or math.random(8, 11)) end))
end
request = function()
  local choices = {{}}
  for i, p in ipairs(purposes) do choices[i] = string.format('"%s": %s', p, math.random(2) == 1 and "true" or "false") end
  local body = string.format('{{"subject": "cid:%s", "choices": {{%s}}, "method": "custom", "surface": "banner", '
    .. '"language": "pl", "text_hash": "{text_hash}", "policy_version": "{policy_version}", '
    .. '"page_url": "https://www.imoulife.com/pl/"}}', uuid4(), table.concat(choices, ", "))
  return wrk.format("POST", "/api/v1/public/consent/decisions", headers, body)
end
"""


def _lua_list(values: list[str]) -> str:
    return "{" + ", ".join(json.dumps(value) for value in values) + "}"


def wrk(base: str, script: str, connections: int, seconds: int) -> Measured:
    """Run wrk with `script` against `base`; its done() hook reports counts and exact percentiles."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script + _WRK_DONE)
    try:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", handle.name, base]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(handle.name)
    line = next(line for line in output.splitlines() if line.startswith("WRK "))
    requests, micros, errors, p50, p99 = (int(value) for value in line.split()[1:])
    return Measured(requests, micros / 1e6, errors, p50 / 1000, p99 / 1000)


# ---------------------------------------------------------------- load: asyncio and httpx
async def _httpx_load(base: str, make: Any, connections: int, seconds: int, bound: int) -> Measured:
    import httpx

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=5) as http:
        stop = time.monotonic() + seconds

        async def user() -> None:
            nonlocal errors
            while time.monotonic() < stop and len(latencies) < bound:
                method, path, options = make()
                started = time.perf_counter()
                try:
                    answer = await http.request(method, path, **options)
                    ok = answer.status_code < 300
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

        started = time.monotonic()
        await asyncio.gather(*(user() for _ in range(connections)))
        elapsed = time.monotonic() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Measured(len(latencies), elapsed, errors, cuts[49] * 1000, cuts[98] * 1000)


def httpx_load(base: str, kind: str, fixture: Fixture | None, connections: int, seconds: int) -> Measured:
    """The same three loads with asyncio and httpx, at most 200,000 requests."""
    rng = random.Random()

    def make() -> tuple[str, str, dict[str, Any]]:
        if kind == "floor" or fixture is None:
            return "GET", "/floor", {}
        if kind in ("checks", "cold"):
            subject = rng.choice(fixture.subjects) if kind == "checks" else f"cid:{uuid.uuid4()}"
            params = {"subject": subject, "purpose": rng.choice(fixture.purposes)}
            return "GET", "/api/v1/consent/check", {"params": params, "headers": {"Authorization": f"Bearer {fixture.token}"}}
        body = {
            "subject": f"cid:{uuid.uuid4()}",
            "choices": {purpose: rng.random() < 0.5 for purpose in fixture.purposes},
            "method": "custom",
            "surface": "banner",
            "language": "pl",
            "text_hash": fixture.text_hash,
            "policy_version": fixture.policy_version,
            "page_url": "https://www.imoulife.com/pl/",
        }
        return "POST", "/api/v1/public/consent/decisions", {"json": body, "headers": {"User-Agent": "Mozilla/5.0 (bench)"}}

    return asyncio.run(_httpx_load(base, make, connections, seconds, 200_000))


def measure(base: str, kind: str, fixture: Fixture | None, connections: int, seconds: int) -> Measured:
    """One phase, with wrk when installed."""
    if shutil.which("wrk") is None:
        return httpx_load(base, kind, fixture, connections, seconds)
    if kind == "floor" or fixture is None:
        return wrk(base + "/floor", "", connections, seconds)
    if kind == "checks":
        script = _WRK_CHECK.format(subjects=_lua_list(fixture.subjects), purposes=_lua_list(fixture.purposes), token=fixture.token)
    elif kind == "cold":
        script = _WRK_COLD_CHECK.format(purposes=_lua_list(fixture.purposes), token=fixture.token)
    else:
        script = _WRK_WRITE.format(purposes=_lua_list(fixture.purposes), text_hash=fixture.text_hash, policy_version=fixture.policy_version)
    return wrk(base, script, connections, seconds)


def warm_up(base: str, fixture: Fixture, connections: int, *, most_seconds: int) -> int:
    """Checks in rounds of 4 s until the rate stops growing: each process has then read what it is asked about."""
    spent, previous = 0, 0.0
    while spent < most_seconds:
        rate = measure(base, "checks", fixture, connections, 4).per_second
        spent += 4
        if previous and rate < previous * 1.05:
            break
        previous = rate
    return spent


def report(name: str, result: Measured) -> None:
    """One human-readable line per phase."""
    print(
        f"{name:7} {result.per_second:9,.0f}/s  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms"
        f"  ({result.requests:,} requests in {result.seconds:.1f} s, {result.errors} errors)",
        flush=True,
    )


def main() -> None:
    """Prepare, serve, measure the floor, the checks and the writes; print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases (the whole run well under 3 minutes)")
    parser.add_argument("--seconds", type=int, help="length of each measured phase (default 30, or 10 with --quick)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections of the load generator")
    parser.add_argument("--postgres", default=os.environ.get("PRIVACYDESK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    seconds = args.seconds or (10 if args.quick else 30)
    warmup = 2 if args.quick else 5
    print(f"load generator: {'wrk' if shutil.which('wrk') else 'asyncio + httpx'}; {args.connections} connections, {seconds} s per phase")

    with served(["--app-dir", str(Path(__file__).parent), "consent:floor_app"], "/floor", {}) as base:
        measure(base, "floor", None, args.connections, warmup)
        floor_result = measure(base, "floor", None, args.connections, seconds)
    report("floor", floor_result)

    secret_key = uuid.uuid4().hex * 2
    with fresh_database(args.postgres) as database_url:
        fixture = prepare(database_url, secret_key)
        env = {
            "PRIVACYDESK_DATABASE_URL": database_url,
            "PRIVACYDESK_SECRET_KEY": secret_key,
            # All the load comes from 127.0.0.1: the per-address limit of the public API would stop it.
            "PRIVACYDESK_CONSENT_RATE_LIMIT": "1000000000",
            "PRIVACYDESK_LOG_LEVEL": "WARNING",
        }
        with served(["--factory", "privacydesk.web.app:create_app"], "/readyz", env) as base:
            warmed = warm_up(base, fixture, args.connections, most_seconds=60 if args.quick else 120)
            print(f"warm-up: {warmed} s of checks until the rate stopped growing", flush=True)
            checks = measure(base, "checks", fixture, args.connections, seconds)
            report("checks", checks)
            cold = measure(base, "cold", fixture, args.connections, seconds)
            report("cold", cold)
            writes = measure(base, "writes", fixture, args.connections, seconds)
            report("writes", writes)
    if checks.errors or cold.errors or writes.errors or floor_result.errors:
        print("some requests failed: the numbers above count only the answers that succeeded", file=sys.stderr)
    print(
        f"RESULT checks_per_s={checks.per_second:.0f} checks_p99_ms={checks.p99_ms:.1f} writes_per_s={writes.per_second:.0f} "
        f"writes_p99_ms={writes.p99_ms:.1f} floor_per_s={floor_result.per_second:.0f} "
        f"cold_checks_per_s={cold.per_second:.0f} cold_checks_p99_ms={cold.p99_ms:.1f}"
    )


if __name__ == "__main__":
    main()
