"""`privacydesk serve` end to end: on the embedded PostgreSQL by default, or on the configured server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "privacydesk.cli.main", "serve", "--no-worker", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(process: subprocess.Popen[bytes], port: int, deadline_s: float = 90) -> httpx.Response:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"serve exited with {process.returncode}:\n{output[-3000:]}")
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail("serve did not become ready in time")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRIVACYDESK_")}
    env["PRIVACYDESK_DATA_DIR"] = str(tmp_path / "data")
    env["PRIVACYDESK_LOG_JSON"] = "true"
    return env


def test_serves_on_the_embedded_database_and_stops_it(tmp_path: Path) -> None:
    port = _free_port()
    process = _serve(_clean_env(tmp_path), port)
    try:
        assert _wait_ready(process, port).json() == {"status": "ready"}
        assert (tmp_path / "data" / "postgres" / "PG_VERSION").is_file()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
    finally:
        _stop(process)
    # The embedded server stops with its last user: no postmaster is left behind.
    deadline = time.monotonic() + 20
    while (tmp_path / "data" / "postgres" / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()


@pytest.mark.postgres
def test_serves_on_the_configured_database(tmp_path: Path, postgres_url: str) -> None:
    env = _clean_env(tmp_path)
    env["PRIVACYDESK_DATABASE_URL"] = postgres_url
    port = _free_port()
    process = _serve(env, port)
    try:
        assert _wait_ready(process, port).json() == {"status": "ready"}
        assert not (tmp_path / "data" / "postgres").exists()
    finally:
        _stop(process)


def test_a_started_application_freezes_what_it_built_and_spaces_collections_out(platform_url: str) -> None:
    import gc

    from fastapi.testclient import TestClient

    from privacydesk.web.app import create_app
    from privacydesk.web.collector import THRESHOLDS

    with TestClient(create_app()) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > 0
