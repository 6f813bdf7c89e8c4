"""Retention at scale: privacydesk's batched, resumable run against a hand-written batched DELETE, and its memory.

A table of N rows (`events`: id, account, IP address, timestamp), about half of them past a
30-day period, is built once with generate_series on the local PostgreSQL and kept as a template
database; each contender gets a fresh copy of it, so both delete the same rows from the same table:

- raw:  the loop a DBA would write, in its fastest form: one statement per batch that finds the batch's last
        key (`SELECT max(id) FROM (SELECT id ... WHERE id > :last AND created_at < :cutoff ORDER BY id LIMIT :n)`)
        and deletes the due rows up to it, committed on its own;
- privacydesk: `retention.runner.run` on a policy naming the table (`retention: {keep: 30 days}`),
        in a process of its own: key-ordered batches of the same size, each written ahead, deleted
        and recorded with its audit entry in the platform database.

Both run at two table sizes (a quarter of N, then N), each `--rounds` times, alternately, and the
best run of each counts (other work on the machine only ever slows a run down). privacydesk's peak
resident memory (ru_maxrss of its process) at both sizes shows that memory does not grow with the table.

    .venv/bin/python bench/retention.py [--quick] [--rows N] [--batch-size 10000] [--rounds 3] [--postgres URL]

`--quick` uses 2,000,000 rows. The last line is `RESULT ratio=... rows_per_s=... peak_mb=...`:
ratio is privacydesk's best throughput over the raw loop's best at N rows, peak_mb its largest peak there.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
# The moment the runs measure from, and the period: rows older than NOW - 30 days are due.
NOW = datetime(2026, 1, 1, tzinfo=UTC)
CUTOFF = (NOW - timedelta(days=30)).replace(tzinfo=None)
POLICY = """\
format: 1
organization:
  name: Bench SAS
  address: 1 rue de la Paix, 75002 Paris
  country: FR
  contact: {email: privacy@example.fr}
  dpo: {name: Jeanne Martin, email: dpo@example.fr}
  supervisory_authority: {dpv: "legal-fr:DPA-FR"}
  languages: [fr, en]
  effective: 2024-05-01
data:
  ip_address: {dpv: "pd:IPAddress"}
subjects:
  customer: {dpv: "dpv:Customer"}
activities:
  security_logs:
    title: {en: Security logs, fr: Journaux de sécurité}
    purposes: ["dpv:EnforceSecurity"]
    legal_basis: legitimate_interest
    legitimate_interest: {en: Keeping the site safe, fr: Protéger le site}
    subjects: [customer]
    data: [ip_address]
    retention: 30 days
systems:
  bench_db:
    connector: sql
    url: env:BENCH_DB_URL
    location: FR
    collections:
      events:
        fields: {ip_address: ip_address}
        erase: delete
        retention: {keep: 30 days, from: created_at}
"""


@dataclass(frozen=True)
class Timing:
    """One contender's run: rows deleted, seconds, and peak resident memory (privacydesk only)."""

    rows: int
    seconds: float
    peak_mb: float = 0.0

    @property
    def rows_per_s(self) -> float:
        """Throughput."""
        return self.rows / self.seconds


class Server:
    """The PostgreSQL server the databases are created on."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.base = url.rsplit("/", 1)[0]

    def sqlalchemy_url(self, name: str) -> str:
        """The SQLAlchemy URL of database `name`."""
        return f"{self.base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"

    def admin(self, *statements: str) -> None:
        """Run statements outside a transaction on the maintenance database."""
        with psycopg.connect(self.url, autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)  # type: ignore[arg-type]

    @contextmanager
    def database(self, template: str | None = None) -> Iterator[str]:
        """A new database (a copy of `template` if given), dropped afterwards."""
        name = f"pd_bench_{uuid.uuid4().hex[:10]}"
        self.admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        try:
            yield name
        finally:
            self.admin(f'DROP DATABASE "{name}" WITH (FORCE)')


def build_table(server: Server, name: str, rows: int) -> int:
    """Fill database `name` with `rows` events, about half past the period; return how many are due."""
    with psycopg.connect(f"{server.base}/{name}", autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE events (id bigint PRIMARY KEY, account_id integer NOT NULL, ip_address text NOT NULL, created_at timestamp NOT NULL)"
        )
        # Ages spread over 60 days by a multiplicative hash of the id: due and kept rows interleave.
        connection.execute(
            "INSERT INTO events SELECT g, g %% 100000, '10.' || (g %% 250) || '.' || (g %% 199) || '.' || (g %% 97),"
            " %s - ((g * 7919) %% 60) * interval '1 day' - (g %% 86400) * interval '1 second' FROM generate_series(1, %s::bigint) g",
            (NOW.replace(tzinfo=None), rows),
        )
        connection.execute("CREATE INDEX ix_events_created_at ON events (created_at)")
        connection.execute("VACUUM ANALYZE events")
        due = connection.execute("SELECT count(*) FROM events WHERE created_at < %s", (CUTOFF,)).fetchone()
    assert due is not None
    return int(due[0])


def raw_delete(server: Server, name: str, batch: int) -> Timing:
    """The hand-written keyset loop: one DELETE ... RETURNING per batch, each committed."""
    # The batch's last key is found first, then the due rows up to it are deleted by a range scan of the primary key:
    # the fastest form measured here (deleting `id = ANY(ARRAY(SELECT ...))` probes the index once per row, and
    # joining the batch turns into a full scan from a few thousand rows).
    statement = (
        "WITH bound AS (SELECT max(id) AS last FROM (SELECT id FROM events WHERE id > %(after)s AND created_at < %(cutoff)s"
        " ORDER BY id LIMIT %(rows)s) batch),"
        " gone AS (DELETE FROM events WHERE id > %(after)s AND id <= (SELECT last FROM bound) AND created_at < %(cutoff)s RETURNING id)"
        " SELECT count(*), max(id) FROM gone"
    )
    deleted, last = 0, 0
    with psycopg.connect(f"{server.base}/{name}", autocommit=True) as connection:
        started = time.perf_counter()
        while True:
            row = connection.execute(statement, {"after": last, "cutoff": CUTOFF, "rows": batch}).fetchone()  # type: ignore[arg-type]
            assert row is not None
            if not row[0]:
                break
            deleted, last = deleted + row[0], row[1]
        seconds = time.perf_counter() - started
    return Timing(deleted, seconds)


def privacydesk_delete(server: Server, name: str, platform: str, batch: int) -> Timing:
    """privacydesk's run, in a process of its own so that its peak memory is its own."""
    with tempfile.TemporaryDirectory() as directory:
        policy = Path(directory) / "policy.yaml"
        policy.write_text(POLICY, encoding="utf-8")
        environment = {
            **os.environ,
            "BENCH_DB_URL": server.sqlalchemy_url(name),
            "PRIVACYDESK_DATABASE_URL": server.sqlalchemy_url(platform),
            "PRIVACYDESK_SECRET_KEY": "bench-secret-key-0123456789abcdef0123",
            "PRIVACYDESK_LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, __file__, "--child", str(policy), "--batch-size", str(batch)]
        output = subprocess.run(command, env=environment, check=True, capture_output=True, text=True).stdout
    measured = json.loads(output.strip().splitlines()[-1])
    return Timing(measured["rows"], measured["seconds"], measured["peak_mb"])


def child(policy_path: str, batch: int) -> None:
    """Run retention once (in the child process) and print rows, seconds and peak memory as JSON."""
    from privacydesk.policy.loader import load_policy
    from privacydesk.retention import runner

    loaded = load_policy(Path(policy_path))
    started = time.perf_counter()
    reports = runner.run(
        loaded.policy, policy_hash=loaded.version_hash, policy_version=None, trigger="cli", actor="bench", now=NOW, batch_size=batch
    )
    seconds = time.perf_counter() - started
    assert reports[0].status == "done", reports
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    print(json.dumps({"rows": reports[0].deleted, "seconds": seconds, "peak_mb": peak_mb}))


def remaining(server: Server, name: str) -> tuple[int, int]:
    """(rows left, of which due): what both contenders must leave is (kept rows, 0)."""
    with psycopg.connect(f"{server.base}/{name}") as connection:
        row = connection.execute("SELECT count(*), count(*) FILTER (WHERE created_at < %s) FROM events", (CUTOFF,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def measure(server: Server, platform: str, rows: int, batch: int, rounds: int) -> tuple[Timing, Timing]:
    """Build a table of `rows`; run both contenders `rounds` times each, alternately, on copies of it; the best run of each."""
    best: dict[str, Timing] = {}
    with server.database() as template:
        started = time.perf_counter()
        due = build_table(server, template, rows)
        print(f"  built {rows:,} rows ({due:,} due) in {time.perf_counter() - started:.0f} s", flush=True)
        for _ in range(rounds):
            for label in ("raw DELETE loop", "privacydesk"):
                with server.database(template) as copy:
                    timing = (
                        raw_delete(server, copy, batch) if label == "raw DELETE loop" else privacydesk_delete(server, copy, platform, batch)
                    )
                    left, still_due = remaining(server, copy)
                assert (timing.rows, left, still_due) == (due, rows - due, 0), (label, timing, left, still_due)
                memory = f", peak {timing.peak_mb:.0f} MB" if timing.peak_mb else ""
                print(
                    f"  {label:<16} {timing.rows:>11,} rows in {timing.seconds:7.1f} s = {timing.rows_per_s:>9,.0f} rows/s{memory}",
                    flush=True,
                )
                fastest = best.get(label)
                peak = max(timing.peak_mb, fastest.peak_mb if fastest else 0.0)
                quicker = timing if fastest is None or timing.seconds < fastest.seconds else fastest
                best[label] = Timing(quicker.rows, quicker.seconds, peak)
    return best["raw DELETE loop"], best["privacydesk"]


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000,000 rows instead of 20,000,000")
    parser.add_argument("--rows", type=int, help="rows in the large table")
    parser.add_argument("--batch-size", type=int, default=10_000, help="rows per batch, for both contenders")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each contender per size; the best counts (the machine may be busy)")
    parser.add_argument("--postgres", default=os.environ.get("PRIVACYDESK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.batch_size)
        return
    from privacydesk.db import migrate

    server = Server(args.postgres)
    large = args.rows or (2_000_000 if args.quick else 20_000_000)
    with server.database() as platform:
        migrate.upgrade(server.sqlalchemy_url(platform))
        results = []
        for rows in (large // 4, large):
            print(f"{rows:,} rows, batches of {args.batch_size}:", flush=True)
            results.append(measure(server, platform, rows, args.batch_size, args.rounds))
    (_, small), (raw, ours) = results
    ratio = ours.rows_per_s / raw.rows_per_s
    print(f"peak memory of privacydesk: {small.peak_mb:.0f} MB at {large // 4:,} rows, {ours.peak_mb:.0f} MB at {large:,} rows")
    print(f"RESULT ratio={ratio:.2f} rows_per_s={ours.rows_per_s:.0f} peak_mb={ours.peak_mb:.0f}")


if __name__ == "__main__":
    main()
