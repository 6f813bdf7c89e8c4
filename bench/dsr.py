"""Data-subject requests at scale: access and erasure of one person end to end, and erasures per second with two workers.

The Imou demo database (examples/imou) is built on PostgreSQL at scale: a base of 2,000 people from
the example's own generator is copied over with COPY, then replicated inside the server with
INSERT ... SELECT (ids shifted, e-mail addresses, phone numbers and unique numbers rewritten per
copy), and indexed afterwards, with the expression indexes docs/connectors.md asks for. A bench
database built before is reused when its build finished (a marker row says so).

Measured in the same run, against a fresh platform database with imou's policy published:

- access and erasure of single people, from the approved request to the completed one, through the
  job system (a worker in this process): the median end to end, and the time the engine's SQL
  statements took against the application database (plus, for access, writing the ZIP);
- the same work as hand-written SQL for comparable people (statement time, same connection type):
  the ratios are engine / hand-written;
- 1,000 erasures through two `privacydesk worker` processes, after 20 untimed ones that warm them
  (parsed policy, read schema, open pools): erasures per second.

    .venv/bin/python bench/dsr.py [--quick] [--users N] [--postgres URL] [--singles N] [--erasures N]

`--quick` builds 20,000 people (about 300,000 rows); the default is 1,400,000 people (over 21
million rows). The last line is
`RESULT access_ratio=... erasure_ratio=... access_ms=... erasure_ms=... erasures_per_s=...`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
POLICY = ROOT / "examples" / "imou" / "policy.yaml"
BASE_USERS = 2_000
# Ids of copy k are those of the base plus k * STRIDE: far above any base id, below 2**31 for 1,000 copies.
STRIDE = 1_000_000
QUICK_USERS, FULL_USERS = 20_000, 1_400_000
# Columns of the schema that hold an id of some row (channel_id is a camera channel number, not a row).
NOT_IDS = {"channel_id"}
UNIQUE_TEXT = {("devices", "serial_number"), ("invoices", "invoice_number")}
# Erasures each run of the throughput measure starts with, untimed, so the workers are warm.
WARM_UP = 20
# The share of the example's people who registered with an e-mail address.
REGISTERED_WITH_EMAIL = 0.85


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the application database
def app_database(server: str, users: int) -> str:
    """The bench database of `users` people on `server`: reused when a finished build is there, else built."""
    import psycopg

    name = f"pd_bench_imou_{users}"
    base_url = server.rsplit("/", 1)[0]
    url = f"{base_url}/{name}"
    with psycopg.connect(server, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists:
        with psycopg.connect(url) as connection:
            try:
                built = connection.execute("SELECT users, row_count FROM bench_build").fetchone()
                # Every run erases people: rebuild once a third of them are gone.
                left = connection.execute("SELECT count(*) FROM users WHERE email IS NOT NULL").fetchone()
            except psycopg.errors.UndefinedTable:
                built = left = None
        if built is not None and left is not None and built[0] == users and left[0] * 3 >= users * 2 * REGISTERED_WITH_EMAIL:
            log(f"reusing {name}: {built[0]:,} people, {built[1]:,} rows")
            return url
    started = time.monotonic()
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    rows = _build(server, url, users)
    log(f"built {name}: {users:,} people, {rows:,} rows in {time.monotonic() - started:.0f} s")
    return url


def _build(server: str, url: str, users: int) -> int:
    import appkit
    import psycopg
    from sqlalchemy import create_engine
    from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable

    from privacydesk.policy.loader import load_policy

    module = appkit.load_generator("imou")
    metadata = module.metadata
    copies = max(1, users // BASE_USERS)
    # The base, built by the example's generator in a staging database, then streamed over with COPY.
    staging = f"pd_bench_staging_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{staging}"')
        try:
            engine = create_engine(_sqlalchemy(f"{server.rsplit('/', 1)[0]}/{staging}"))
            appkit.build(engine, metadata, module.generate, users=min(users, BASE_USERS), locale="pl_PL")
            engine.dispose()
            target = create_engine(_sqlalchemy(url))
            with target.begin() as connection:
                for table in metadata.sorted_tables:
                    connection.execute(CreateTable(table, include_foreign_key_constraints=[]))
            target.dispose()
            with psycopg.connect(f"{server.rsplit('/', 1)[0]}/{staging}") as source, psycopg.connect(url) as sink:
                for table in metadata.sorted_tables:
                    columns = ", ".join(f'"{column.name}"' for column in table.columns)
                    with (
                        source.cursor().copy(f'COPY "{table.name}" ({columns}) TO STDOUT') as out,
                        sink.cursor().copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as into,
                    ):
                        for block in out:
                            into.write(block)
        finally:
            admin.execute(f'DROP DATABASE "{staging}" WITH (FORCE)')
    policy = load_policy(POLICY).policy
    collections = policy.systems["imou_cloud"].collections
    with psycopg.connect(url, autocommit=True) as connection:
        for table in metadata.sorted_tables:
            if copies > 1:
                log(f"  replicating {table.name} x{copies}")
                connection.execute(_replicate(table, collections.get(table.name), copies))
        engine = create_engine(_sqlalchemy(url))
        with engine.begin() as ddl:
            log("  indexing")
            for table in metadata.sorted_tables:
                for index in table.indexes:
                    ddl.execute(CreateIndex(index))
                for constraint in table.foreign_key_constraints:
                    ddl.execute(AddConstraint(constraint))
            for statement in _identity_indexes(collections):
                ddl.execute(_text(statement))
        engine.dispose()
        connection.execute("ANALYZE")
        total = sum(connection.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0] for table in metadata.sorted_tables)  # type: ignore[index]
        connection.execute("CREATE TABLE bench_build (users integer, row_count bigint, built_at timestamptz DEFAULT now())")
        connection.execute("INSERT INTO bench_build (users, row_count) VALUES (%s, %s)", (users, total))
    return int(total)


def _kinds(collection: Any) -> dict[str, str]:
    """Which columns hold e-mail addresses and phone numbers, from the policy."""
    kinds = {column: kind for kind, column in collection.identities.items() if kind in ("email", "phone")}
    kinds |= {column: spec.category for column, spec in collection.fields.items() if spec.category in ("email", "phone")}
    return kinds


def _replicate(table: Any, collection: Any, copies: int) -> str:
    """One INSERT ... SELECT writing copies 1..copies-1 of the base rows, each copy a distinct set of people."""
    from sqlalchemy import Integer

    kinds = _kinds(collection) if collection is not None else {}
    values = []
    for column in table.columns:
        name = f'b."{column.name}"'
        if isinstance(column.type, Integer) and (column.name == "id" or column.name.endswith("_id")) and column.name not in NOT_IDS:
            values.append(f"{name} + k * {STRIDE}")
        elif kinds.get(column.name) == "email":
            values.append(f"'r' || k || '.' || {name}")
        elif kinds.get(column.name) == "phone":
            values.append(f"'+' || lpad(k::text, 4, '0') || substr({name}, 2)")
        elif (table.name, column.name) in UNIQUE_TEXT:
            values.append(f"k || '-' || {name}")
        else:
            values.append(name)
    columns = ", ".join(f'"{column.name}"' for column in table.columns)
    return (
        f'INSERT INTO "{table.name}" ({columns}) SELECT {", ".join(values)}'
        f' FROM "{table.name}" AS b CROSS JOIN generate_series(1, {copies - 1}) AS k WHERE b.id < {STRIDE}'
    )


def _identity_indexes(collections: Any) -> list[str]:
    """Expression indexes for the connector's comparisons: e-mail without case, phone numbers without separators."""
    statements = []
    for name, collection in collections.items():
        for kind, column in collection.identities.items():
            if kind == "email":
                statements.append(f'CREATE INDEX ON "{name}" (lower("{column}"))')
            elif kind == "phone":
                expression = f'"{column}"'
                for separator in (" ", "-", ".", "/", "(", ")"):
                    expression = f"replace({expression}, '{separator}', '')"
                statements.append(f'CREATE INDEX ON "{name}" (({expression}))')
    return statements


def _sqlalchemy(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _text(statement: str) -> Any:
    from sqlalchemy import text

    return text(statement)


# ---------------------------------------------------------------- the platform
@contextmanager
def platform(server: str, app_url: str) -> Iterator[str]:
    """A fresh migrated platform database with imou's policy published; settings in the environment."""
    import psycopg

    from privacydesk.db import migrate

    name = f"pd_bench_platform_{uuid.uuid4().hex[:8]}"
    url = _sqlalchemy(f"{server.rsplit('/', 1)[0]}/{name}")
    data = tempfile.mkdtemp(prefix="pd-bench-")
    os.environ.update(
        {
            "PRIVACYDESK_DATABASE_URL": url,
            "PRIVACYDESK_SECRET_KEY": "bench-secret-key-" + "x" * 32,
            "PRIVACYDESK_DATA_DIR": data,
            "PRIVACYDESK_LOG_LEVEL": "WARNING",
            "PRIVACYDESK_WORKER_POLL_SECONDS": "0.5",
            "IMOU_DB_URL": _sqlalchemy(app_url),
        }
    )
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            migrate.upgrade(url)
            from privacydesk.db.engine import transaction
            from privacydesk.policy.loader import load_policy
            from privacydesk.versions import service as versions

            with transaction() as session:
                versions.publish(session, load_policy(POLICY), publisher="bench")
            yield url
        finally:
            from privacydesk.db.engine import get_engine

            get_engine().dispose()
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def submit(kind: str, emails: list[str]) -> list[int]:
    """Requests the company's app vouches for (verified, approved and queued at once), committed together."""
    from privacydesk.db.engine import transaction
    from privacydesk.requests import service
    from privacydesk.requests.models import Channel, RequestType

    with transaction() as session:
        submitted = [
            service.submit(session, service.Intake(RequestType(kind), [("email", email)], Channel.app), actor="bench", vouched_by="app")
            for email in emails
        ]
        return [item.request.id for item in submitted]


def completed(request_ids: list[int]) -> int:
    """How many of the requests are completed (failed ones stop the bench)."""
    from sqlalchemy import text

    from privacydesk.db.engine import get_engine

    with get_engine().connect() as connection:
        done, failed = connection.execute(
            text(
                "SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed')"
                " FROM subject_requests WHERE id = ANY(:ids)"
            ),
            {"ids": request_ids},
        ).one()
    if failed:
        raise SystemExit("a request failed; see its execution record (request_executions.error)")
    return int(done)


# ---------------------------------------------------------------- statement time
@dataclass
class StatementClock:
    """Time spent in SQL statements against one database, from SQLAlchemy's cursor events, across threads."""

    database: str
    seconds: float = 0.0
    statements: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self) -> None:
        """Listen to every engine of this process."""
        from sqlalchemy import Engine, event

        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)

    def take(self) -> tuple[float, int]:
        """The time and count since the last take."""
        with self._lock:
            taken = (self.seconds, self.statements)
            self.seconds, self.statements = 0.0, 0
        return taken

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if conn.engine.url.database == self.database:
            elapsed = time.perf_counter() - conn.info.pop("bench_started")
            with self._lock:
                self.seconds += elapsed
                self.statements += 1


# ---------------------------------------------------------------- single requests, end to end
@dataclass
class Single:
    """One person's request: end to end, the engine's statement time, and (access) the ZIP writing."""

    end_to_end: float
    statements: float
    count: int
    packaging: float = 0.0


@contextmanager
def worker_in_this_process() -> Iterator[None]:
    """A job worker of the default queue running in a thread of this process while the block runs.

    Like the workers of the throughput measure, it leaves the mail queue alone: sending the
    person's message is not part of carrying the request out (here there is no SMTP server).
    """
    from privacydesk.jobs.worker import running_worker

    ready, stop = threading.Event(), threading.Event()

    async def serve() -> None:
        async with running_worker(queues=["default"]):
            ready.set()
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(30)
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


def singles(kind: str, emails: list[str], clock: StatementClock) -> list[Single]:
    """Each person's request submitted alone and waited for; the first three (warming pools and caches) are left out.

    The end is when the job's run returns, after the commit that completed the request: measured in
    the worker's thread, so this thread does not poll (and take the interpreter from the worker).
    """
    from privacydesk.fulfilment import exports, runner

    packaging: list[float] = []
    ended: dict[int, float] = {}
    done = threading.Event()
    original_package, original_run = exports.package, runner.run

    def timed_package(*args: Any, **kwargs: Any) -> Any:
        packaged = original_package(*args, **kwargs)
        packaging.append(packaged.seconds)
        return packaged

    def timed_run(request_id: int, **kwargs: Any) -> None:
        try:
            original_run(request_id, **kwargs)
        finally:
            ended[request_id] = time.perf_counter()
            done.set()

    exports.package, runner.run = timed_package, timed_run  # type: ignore[assignment]
    measured = []
    try:
        for email in emails:
            done.clear()
            (request_id,) = submit(kind, [email])
            clock.take()
            started = time.perf_counter()
            if not done.wait(60) or not completed([request_id]):
                raise SystemExit(f"the {kind} request {request_id} did not complete within a minute")
            seconds, count = clock.take()
            measured.append(Single(ended[request_id] - started, seconds, count, packaging[-1] if kind == "access" else 0.0))
    finally:
        exports.package, runner.run = original_package, original_run  # type: ignore[assignment]
    return measured[3:]


# ---------------------------------------------------------------- the same work, hand-written
def handwritten_access(connection: Any, email: str) -> int:
    """Every row of the person, table by table, as someone who knows the schema would select them."""
    rows = 0

    def fetch(sql: str, **values: Any) -> list[Any]:
        nonlocal rows
        found = list(connection.execute(_text(sql), values))
        rows += len(found)
        return found

    person = _person(connection, email)
    uid, phone = person["uid"], person["phone"]
    fetch("SELECT * FROM users WHERE id = :u", u=uid)
    fetch("SELECT * FROM app_sessions WHERE user_id = :u", u=uid)
    devices = [row.id for row in fetch("SELECT * FROM devices WHERE user_id = :u", u=uid)] or [0]
    fetch(
        "SELECT * FROM device_shares WHERE device_id = ANY(:d) OR owner_id = :u OR invitee_user_id = :u OR invitee_email = :e"
        " OR invitee_phone = :p",
        d=devices,
        u=uid,
        e=email,
        p=phone,
    )
    alarms = [row.id for row in fetch("SELECT * FROM alarm_messages WHERE user_id = :u OR device_id = ANY(:d)", u=uid, d=devices)] or [0]
    fetch("SELECT * FROM alarm_snapshots WHERE alarm_id = ANY(:a)", a=alarms)
    plans = [row.id for row in fetch("SELECT * FROM subscriptions WHERE user_id = :u OR device_id = ANY(:d)", u=uid, d=devices)] or [0]
    fetch("SELECT * FROM cloud_recordings WHERE subscription_id = ANY(:s) OR device_id = ANY(:d)", s=plans, d=devices)
    fetch("SELECT * FROM plan_transfers WHERE subscription_id = ANY(:s)", s=plans)
    orders = [row.id for row in fetch("SELECT * FROM orders WHERE email = :e OR user_id = :u", e=email, u=uid)] or [0]
    fetch("SELECT * FROM invoices WHERE buyer_email = :e OR user_id = :u OR order_id = ANY(:o)", e=email, u=uid, o=orders)
    for table in ("api_logs", "ux_events", "web_visits"):
        fetch(f"SELECT * FROM {table} WHERE user_id = :u", u=uid)
    fetch("SELECT * FROM support_tickets WHERE email = :e OR user_id = :u", e=email, u=uid)
    fetch("SELECT * FROM deregistrations WHERE account_id = :u OR email = :e OR phone = :p", u=uid, e=email, p=phone)
    fetch("SELECT * FROM device_orders WHERE contact_phone = :p", p=phone)
    people = [row.id for row in fetch("SELECT * FROM marketing_participants WHERE email = :e OR phone = :p", e=email, p=phone)] or [0]
    fetch("SELECT * FROM event_photos WHERE participant_id = ANY(:m)", m=people)
    accounts = [row.id for row in fetch("SELECT * FROM rma_accounts WHERE email = :e", e=email)] or [0]
    fetch("SELECT * FROM rma_requests WHERE phone = :p OR rma_account_id = ANY(:r)", p=phone, r=accounts)
    fetch("SELECT * FROM device_password_resets WHERE email = :e", e=email)
    fetch("SELECT * FROM newsletter_subscriptions WHERE email = :e", e=email)
    return rows


def handwritten_erasure(connection: Any, email: str) -> int:
    """The person's rows deleted children first, held ones kept, parents of held rows and shop orders anonymised."""
    person = _person(connection, email)
    uid, phone = person["uid"], person["phone"]
    changed = 0

    def run(sql: str, **values: Any) -> list[Any]:
        nonlocal changed
        result = connection.execute(_text(sql), values)
        if result.returns_rows:
            return list(result)
        changed += result.rowcount
        return []

    devices = [row.id for row in run("SELECT id FROM devices WHERE user_id = :u", u=uid)] or [0]
    alarms = [row.id for row in run("SELECT id FROM alarm_messages WHERE user_id = :u OR device_id = ANY(:d)", u=uid, d=devices)] or [0]
    plans = [row.id for row in run("SELECT id FROM subscriptions WHERE user_id = :u OR device_id = ANY(:d)", u=uid, d=devices)] or [0]
    people = [row.id for row in run("SELECT id FROM marketing_participants WHERE email = :e OR phone = :p", e=email, p=phone)] or [0]
    accounts = [row.id for row in run("SELECT id FROM rma_accounts WHERE email = :e", e=email)] or [0]
    orders = [row.id for row in run("SELECT id FROM orders WHERE email = :e OR user_id = :u", e=email, u=uid)] or [0]
    run("DELETE FROM event_photos WHERE participant_id = ANY(:m)", m=people)
    run("DELETE FROM marketing_participants WHERE id = ANY(:m)", m=people)
    run(
        "DELETE FROM rma_requests WHERE (phone = :p OR rma_account_id = ANY(:r)) AND closed_at < now() - interval '2 years'",
        p=phone,
        r=accounts,
    )
    run(
        "DELETE FROM rma_accounts WHERE id = ANY(:r) AND NOT EXISTS (SELECT 1 FROM rma_requests q WHERE q.rma_account_id = rma_accounts.id)",
        r=accounts,
    )
    run(
        "UPDATE rma_accounts SET name = md5(name), email = md5(email) || '@erased.invalid', social_account = NULL WHERE id = ANY(:r)",
        r=accounts,
    )
    run("DELETE FROM device_password_resets WHERE email = :e", e=email)
    run("DELETE FROM newsletter_subscriptions WHERE email = :e", e=email)
    for table in ("web_visits", "api_logs", "ux_events"):
        run(f"DELETE FROM {table} WHERE user_id = :u", u=uid)
    run("DELETE FROM support_tickets WHERE email = :e OR user_id = :u", e=email, u=uid)
    run("DELETE FROM deregistrations WHERE account_id = :u OR email = :e OR phone = :p", u=uid, e=email, p=phone)
    run(
        "UPDATE device_orders SET buyer_name = 'anonimizowano', recipient_name = NULL, shipping_address = NULL, contact_phone = NULL"
        " WHERE contact_phone = :p",
        p=phone,
    )
    run("DELETE FROM plan_transfers WHERE subscription_id = ANY(:s)", s=plans)
    run("DELETE FROM cloud_recordings WHERE subscription_id = ANY(:s) OR device_id = ANY(:d)", s=plans, d=devices)
    run("DELETE FROM alarm_snapshots WHERE alarm_id = ANY(:a)", a=alarms)
    run("DELETE FROM alarm_messages WHERE id = ANY(:a)", a=alarms)
    run(
        "DELETE FROM device_shares WHERE device_id = ANY(:d) OR owner_id = :u OR invitee_user_id = :u OR invitee_email = :e OR invitee_phone = :p",
        d=devices,
        u=uid,
        e=email,
        p=phone,
    )
    run("DELETE FROM subscriptions WHERE id = ANY(:s)", s=plans)
    run("DELETE FROM devices WHERE id = ANY(:d)", d=devices)
    run("DELETE FROM app_sessions WHERE user_id = :u", u=uid)
    run(
        "DELETE FROM invoices WHERE (buyer_email = :e OR user_id = :u OR order_id = ANY(:o)) AND issued_at < now() - interval '5 years'",
        e=email,
        u=uid,
        o=orders,
    )
    run("DELETE FROM orders WHERE id = ANY(:o) AND ordered_at < now() - interval '5 years'", o=orders)
    run("DELETE FROM users WHERE id = :u", u=uid)
    return changed


def _person(connection: Any, email: str) -> dict[str, Any]:
    row = connection.execute(_text("SELECT id, phone FROM users WHERE email = :e"), {"e": email}).one()
    return {"uid": row.id, "phone": row.phone}


def handwritten(work: Callable[[Any, str], int], app_url: str, emails: list[str], clock: StatementClock) -> list[float]:
    """Statement time of the hand-written work for each person, in one transaction each."""
    from sqlalchemy import create_engine

    engine = create_engine(_sqlalchemy(app_url))
    measured = []
    for email in emails:
        clock.take()
        with engine.begin() as connection:
            work(connection, email)
        measured.append(clock.take()[0])
    engine.dispose()
    return measured[3:]


def people(app_url: str, count: int, seed: float) -> list[str]:
    """Addresses of people registered with an e-mail address, drawn at random."""
    from sqlalchemy import create_engine

    engine = create_engine(_sqlalchemy(app_url))
    with engine.connect() as connection:
        total = connection.execute(_text("SELECT reltuples FROM pg_class WHERE relname = 'users'")).scalar_one()
        connection.execute(_text("SELECT setseed(:seed)"), {"seed": seed})
        # Most people registered with an address; sample a few times more than needed.
        percent = min(100.0, 400.0 * count / max(total, 1))
        rows = connection.execute(
            _text(f"SELECT email FROM users TABLESAMPLE BERNOULLI ({percent:.6f}) WHERE email IS NOT NULL ORDER BY random() LIMIT :count"),
            {"count": count},
        )
        found = [email for (email,) in rows]
    engine.dispose()
    if len(found) < count:
        raise SystemExit(f"only {len(found)} people with an address were drawn; ask for fewer")
    return found


# ---------------------------------------------------------------- throughput
def throughput(emails: list[str], warm_up: list[str], processes: int) -> float:
    """Erasures per second through `processes` workers, from the commit of all requests to the last completion.

    The workers first carry out the `warm_up` erasures, untimed: a worker's first requests parse the
    policy, read the schema and open its pools, which a long-running worker does once.
    """
    from sqlalchemy import text

    from privacydesk.db.engine import get_engine

    command = [sys.executable, "-m", "privacydesk.cli.main", "worker", "--queue", "default", "--concurrency", "2"]
    workers = [subprocess.Popen(command, cwd=ROOT, env=dict(os.environ)) for _ in range(processes)]
    try:
        deadline = time.monotonic() + 60
        with get_engine().connect() as connection:
            while connection.execute(text("SELECT count(*) FROM procrastinate_workers")).scalar_one() < processes:
                if time.monotonic() > deadline:
                    raise SystemExit("the workers did not start")
                time.sleep(0.1)
        warming = submit("erasure", warm_up)
        while completed(warming) < len(warming):
            time.sleep(0.1)
        request_ids = submit("erasure", emails)
        started = time.perf_counter()
        # Polled every 50 ms: often enough for the figure, rarely enough not to load the server the workers use.
        while completed(request_ids) < len(request_ids):
            time.sleep(0.05)
        return len(request_ids) / (time.perf_counter() - started)
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            process.wait(30)


# ---------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_USERS:,} people instead of {FULL_USERS:,}")
    parser.add_argument("--users", type=int, help="people in the bench database (overrides --quick)")
    parser.add_argument("--postgres", default=os.environ.get("PRIVACYDESK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--singles", type=int, default=23, help="single requests of each kind (the first three warm up)")
    parser.add_argument("--erasures", type=int, default=1_000, help="erasures through the two workers")
    args = parser.parse_args()
    users = args.users or (QUICK_USERS if args.quick else FULL_USERS)
    app_url = app_database(args.postgres, users)
    chosen = people(app_url, 3 * args.singles + WARM_UP + args.erasures, seed=(time.time() % 1000) / 1000)
    access_people, erased, baseline_erased = (
        chosen[: args.singles],
        chosen[args.singles : 2 * args.singles],
        chosen[2 * args.singles : 3 * args.singles],
    )
    clock = StatementClock(app_url.rsplit("/", 1)[1])
    clock.install()
    with platform(args.postgres, app_url):
        with worker_in_this_process():
            access = singles("access", access_people, clock)
            erasure = singles("erasure", erased, clock)
        access_sql = handwritten(handwritten_access, app_url, access_people, clock)
        erasure_sql = handwritten(handwritten_erasure, app_url, baseline_erased, clock)
        warm_up = chosen[3 * args.singles : 3 * args.singles + WARM_UP]
        per_second = throughput(chosen[3 * args.singles + WARM_UP :], warm_up, processes=2)

    def median(values: list[float]) -> float:
        return statistics.median(values) * 1000

    access_ms, erasure_ms = median([item.end_to_end for item in access]), median([item.end_to_end for item in erasure])
    access_ratio = median([item.statements for item in access]) / median(access_sql)
    erasure_ratio = median([item.statements for item in erasure]) / median(erasure_sql)
    print(f"people: {users:,}; single requests: {len(access)} of each kind (medians)")
    print(
        f"access:  end to end {access_ms:.1f} ms; engine statements {median([i.statements for i in access]):.2f} ms"
        f" ({statistics.median([i.count for i in access]):.0f} statements); ZIP {median([i.packaging for i in access]):.1f} ms;"
        f" hand-written {median(access_sql):.2f} ms"
    )
    print(
        f"erasure: end to end {erasure_ms:.1f} ms; engine statements {median([i.statements for i in erasure]):.2f} ms"
        f" ({statistics.median([i.count for i in erasure]):.0f} statements); hand-written {median(erasure_sql):.2f} ms"
    )
    print(f"throughput: {args.erasures:,} erasures through 2 workers: {per_second:.1f} erasures/s")
    print(
        f"RESULT access_ratio={access_ratio:.2f} erasure_ratio={erasure_ratio:.2f} access_ms={access_ms:.1f}"
        f" erasure_ms={erasure_ms:.1f} erasures_per_s={per_second:.1f}"
    )


if __name__ == "__main__":
    main()
