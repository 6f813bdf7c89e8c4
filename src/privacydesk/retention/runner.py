"""Running retention rules: key-ordered batches, each written ahead, executed and recorded once, resumable after a crash.

A rule run walks the rule's due rows in ascending key order, one batch at a time (the connector's
`expired`, `limit` keys after the last key done), so memory holds a batch or two whatever the
table's size. Each batch is planned (held rows left out, notice rules keeping only people whose
notice has run out, rows that reference the due rows found) and written ahead into the run's row
as `pending` before anything of it is executed through the connectors; once executed it is
recorded — counts, cursor, one audit entry — in the transaction that writes the batch after the
next one ahead. That transaction commits in the background while the next batch runs in the
system, so the bookkeeping costs (almost) no time; at most two batches are pending at once.

A crash leaves the pending batches. The next run of the rule (the same run, resumed with the same
moment and cutoffs) replays them first: every step is idempotent, and a replayed deletion counts
the rows it planned, which were all there when planned and are all gone after it, so each row is
counted once whether or not the crash came before its DELETE. Only one process runs a rule at a
time: the run holds a PostgreSQL advisory lock on the rule for its whole length.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, select, text, update
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.connectors.base import Key, Row, as_key
from privacydesk.connectors.registry import Connectors
from privacydesk.db.base import utcnow
from privacydesk.db.engine import get_engine
from privacydesk.engine.decide import decide
from privacydesk.engine.plan import Plan
from privacydesk.engine.run import SchemaMismatch, default_context
from privacydesk.engine.steps import Step, erasure_steps, execute
from privacydesk.errors import PrivacydeskError
from privacydesk.policy.models import Policy
from privacydesk.retention import holds, notices, restricted
from privacydesk.retention.models import RetentionRun
from privacydesk.retention.planner import Moments, Rule, cascade, locate_cascade, moments, root_columns, rules

# What a batch did: collection → action → rows.
Counts = dict[str, dict[str, int]]
# Rows per batch. Whatever its size, a batch costs a planning SELECT and a DELETE in the system, and one audited,
# durable commit in the platform's database made while the next batch runs; from 10,000 rows on, a run keeps pace
# with a hand-written DELETE loop (bench/retention.py), and a DELETE of that size holds its locks for milliseconds.
DEFAULT_BATCH = 10_000


class Progress(Protocol):
    """Shows a rule run's progress (the command line draws a bar)."""

    def begin(self, rule: str, total: int) -> None:
        """A rule starts with `total` due rows."""

    def advance(self, rows: int) -> None:
        """`rows` more rows were handled."""

    def end(self) -> None:
        """The rule is finished."""


@dataclass(frozen=True)
class Report:
    """How one rule run ended: done, failed (resumed next time) or skipped (another process runs the rule)."""

    rule: str
    status: str
    run_id: int | None = None
    deleted: int = 0
    anonymised: int = 0
    cascaded: int = 0
    held: int = 0
    waiting: int = 0
    noticed: int = 0
    batches: int = 0
    error: str | None = None
    # Due rows kept because their person restricted processing (Art. 18) and no legal hold kept them already.
    restricted: int = 0


@dataclass
class Batch:
    """One batch of due rows: the steps that act on them and what was left alone."""

    number: int
    # The last key selected: the cursor once the batch is recorded.
    last: Key
    steps: list[Step]
    # Due rows of the rule kept by a legal hold, and rows waiting for their notice to run out.
    held: int = 0
    waiting: int = 0
    # Rows of referencing collections held (by a hold or a restriction), by collection.
    held_along: dict[str, int] = field(default_factory=dict)
    # A batch of a rule whose rows nothing references is a key range, (after, last], deleted by one statement in
    # the database: no key travels. `planned` rows of it were due when it was planned.
    after: Key | None = None
    planned: int | None = None
    # Due rows of the rule kept because their person restricted processing.
    restricted: int = 0

    def to_json(self) -> dict[str, Any]:
        """The form written ahead into the run."""
        return {
            "number": self.number,
            "last": self.last,
            "steps": [step.to_dict() for step in self.steps],
            "held": self.held,
            "waiting": self.waiting,
            "held_along": self.held_along,
            "after": self.after,
            "planned": self.planned,
            "restricted": self.restricted,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Batch:
        """The batch written ahead by `to_json`."""
        steps = [Step.from_dict(step) for step in data["steps"]]
        return cls(
            data["number"],
            data["last"],
            steps,
            data["held"],
            data["waiting"],
            dict(data["held_along"]),
            data["after"],
            data["planned"],
            data.get("restricted", 0),
        )


def run(
    policy: Policy,
    *,
    policy_hash: str,
    policy_version: int | None,
    trigger: str,
    actor: str,
    selected: Sequence[str] = (),
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    connectors: Connectors | None = None,
) -> list[Report]:
    """Run the policy's retention rules (or the `selected` ones), children first; each resumes its unfinished run if it has one."""
    chosen = rules(policy, selected)
    moment = now or utcnow()
    pool = connectors or Connectors(policy, default_context(policy))
    try:
        return [_run_rule(policy, rule, pool, policy_hash, policy_version, trigger, actor, moment, batch_size, progress) for rule in chosen]
    finally:
        if connectors is None:
            pool.close()


def _run_rule(
    policy: Policy,
    rule: Rule,
    pool: Connectors,
    policy_hash: str,
    policy_version: int | None,
    trigger: str,
    actor: str,
    now: datetime,
    batch_size: int,
    progress: Progress | None,
) -> Report:
    with rule_lock(rule.id) as connection:
        if connection is None:
            return Report(rule.id, "skipped", error="another process is running this rule")
        # The run's bookkeeping goes through the connection holding the lock: one short transaction per batch.
        books = Session(bind=connection, expire_on_commit=False)
        with books.begin():
            run_id, as_of = _resume_or_start(books, rule, policy_hash, policy_version, trigger, actor, now)
        try:
            with books.begin():
                held = holds.resolve(holds.listed(books, now=as_of), policy, pool)
                kept = restricted.resolve(restricted.standing(books), policy, pool)
            _RuleRun(policy, rule, pool, books, run_id, actor, moments(rule, as_of), held, kept, batch_size, progress).execute()
        except Exception as exc:
            message = exc.message if isinstance(exc, PrivacydeskError) else f"{type(exc).__name__}: {exc}"
            books.rollback()
            with books.begin():
                books.execute(
                    update(RetentionRun).where(RetentionRun.id == run_id).values(status="failed", error=message[:2000], updated_at=utcnow())
                )
                audit.record(
                    books,
                    actor=actor,
                    action="retention.run.fail",
                    object_type="retention_run",
                    object_id=str(run_id),
                    summary={"rule": rule.id},
                )
            if not isinstance(exc, PrivacydeskError):
                raise
            return Report(rule.id, "failed", run_id, error=message)
        with books.begin():
            done = books.get(RetentionRun, run_id, populate_existing=True)
            assert done is not None
            return report(done)


def report(run: RetentionRun) -> Report:
    """The report of a recorded run."""
    return Report(
        run.rule,
        run.status,
        run.id,
        run.deleted,
        run.anonymised,
        run.cascaded,
        run.held,
        run.waiting,
        run.noticed,
        run.batches,
        run.error,
        run.restricted,
    )


def _resume_or_start(
    session: Session, rule: Rule, policy_hash: str, policy_version: int | None, trigger: str, actor: str, now: datetime
) -> tuple[int, datetime]:
    """The rule's unfinished run under this policy (resumed), or a new one; an unfinished run under another policy is stopped."""
    unfinished = session.scalars(
        select(RetentionRun)
        .where(RetentionRun.rule == rule.id, RetentionRun.status.in_(("running", "failed")))
        .order_by(RetentionRun.id.desc())
    ).all()
    resumable = unfinished[0] if unfinished and unfinished[0].policy_hash == policy_hash else None
    for stale in unfinished:
        if stale is not resumable:
            # Its cutoffs and steps came from another policy: a new run starts over under this one.
            stale.status, stale.error, stale.pending, stale.updated_at = (
                "stopped",
                "the policy changed before this run finished",
                None,
                utcnow(),
            )
    if resumable is not None:
        resumable.status, resumable.error, resumable.updated_at = "running", None, utcnow()
        audit.record(
            session,
            actor=actor,
            action="retention.run.resume",
            object_type="retention_run",
            object_id=str(resumable.id),
            summary={"rule": rule.id, "batches": resumable.batches},
        )
        return resumable.id, resumable.as_of
    at = moments(rule, now)
    started = RetentionRun(
        rule=rule.id,
        action=rule.retention.action,
        trigger=trigger,
        actor=actor,
        policy_version=policy_version,
        policy_hash=policy_hash,
        as_of=now,
        cutoff=at.cutoff,
        warn_cutoff=at.warn,
        phase="notice" if rule.retention.notice is not None else "expire",
        details={},
        status="running",
    )
    session.add(started)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="retention.run.start",
        object_type="retention_run",
        object_id=str(started.id),
        summary={"rule": rule.id, "action": rule.retention.action, "as_of": now.isoformat(), "policy_version": policy_version},
    )
    return started.id, now


@contextmanager
def rule_lock(rule: str) -> Iterator[Connection | None]:
    """A connection holding the rule's advisory lock while the block runs; None if another process holds the lock."""
    key = int.from_bytes(hashlib.sha256(f"retention:{rule}".encode()).digest()[:8], "big", signed=True)
    with get_engine().connect() as connection:
        acquired = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one())
        connection.commit()  # the lock belongs to the session: no transaction stays open while the rule runs
        try:
            yield connection if acquired else None
        finally:
            if acquired:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()


class _RuleRun:
    """The phases of one rule run: notices first (notice rules), then the due rows."""

    def __init__(
        self,
        policy: Policy,
        rule: Rule,
        pool: Connectors,
        books: Session,
        run_id: int,
        actor: str,
        at: Moments,
        held: holds.HeldKeys,
        kept: holds.HeldKeys,
        batch_size: int,
        progress: Progress | None,
    ) -> None:
        self.policy, self.rule, self.pool, self.books, self.run_id, self.actor, self.at = policy, rule, pool, books, run_id, actor, at
        # Legal holds, and the rows of people who restricted processing: neither is deleted nor anonymised.
        self.held, self.kept, self.batch_size, self.progress = held, kept, batch_size, progress
        self.connector = pool[rule.system]
        self.plan: Plan = cascade(policy, rule)
        # Deletions that take nothing with them, need no notice and hold no row back run as key ranges.
        self.ranged = (
            rule.retention.action == "delete"
            and len(self.plan.nodes) == 1
            and rule.retention.notice is None
            and "." not in rule.retention.start
            and not held.get(rule.id)
            and not kept.get(rule.id)
        )

    def execute(self) -> None:
        """Check the system against the rule's collections, run the remaining phases and mark the run done."""
        names = {node.name for node in self.plan.nodes}
        problems = [
            problem for problem in self.connector.discover() if problem.severity == "error" and problem.collection in (None, *names)
        ]
        if problems:
            raise SchemaMismatch(problems)
        with self.books.begin():
            run = self.books.get(RetentionRun, self.run_id, populate_existing=True)
            assert run is not None
            phase, cursor, number = run.phase, (run.cursor or {}).get("key"), run.batches
            pending = [Batch.from_json(batch) for batch in (run.pending or {}).get("batches", [])]
        if self.progress is not None:
            due = self.connector.overdue(self.rule.collection, self.rule.retention.start, self.at.cutoff, holds=self.at.holds)
            self.progress.begin(self.rule.id, due.rows)
        try:
            if phase == "notice":
                self._warn(cursor)
                cursor = None
            self._expire(cursor, pending, number)
        finally:
            if self.progress is not None:
                self.progress.end()
        with self.books.begin():
            self._update(status="done", finished_at=utcnow())
            run = self.books.get(RetentionRun, self.run_id, populate_existing=True)
            assert run is not None
            audit.record(
                self.books,
                actor=self.actor,
                action="retention.run.finish",
                object_type="retention_run",
                object_id=str(run.id),
                summary={
                    "rule": run.rule,
                    "batches": run.batches,
                    "deleted": run.deleted,
                    "anonymised": run.anonymised,
                    "cascaded": run.cascaded,
                    "held": run.held,
                    "restricted": run.restricted,
                    "noticed": run.noticed,
                },
            )

    def _update(self, **values: Any) -> None:
        self.books.execute(update(RetentionRun).where(RetentionRun.id == self.run_id).values(updated_at=utcnow(), **values))

    # ------------------------------------------------------------ notices
    def _warn(self, after: Key | None) -> None:
        """Notify, batch by batch, everyone within the notice of their deletion who has no standing notice."""
        assert self.at.warn is not None
        # Nobody is told their account will be deleted while a hold or a restriction keeps it.
        legally_held = self.held.get(self.rule.id, set()) | self.kept.get(self.rule.id, set())
        while keys := self._keys(self.at.warn, after):
            with self.books.begin():
                free = [key for key in keys if str(key) not in legally_held]
                people = notices.standings(self.books, self.rule, self.connector, free, self.at)
                sent, unaddressed = notices.warn(self.books, self.policy, self.rule, people, self.at, run_id=self.run_id)
                self._update(noticed=RetentionRun.noticed + sent, cursor={"key": keys[-1]})
                audit.record(
                    self.books,
                    actor=self.actor,
                    action="retention.notices",
                    object_type="retention_run",
                    object_id=str(self.run_id),
                    summary={"rule": self.rule.id, "noticed": sent, "without_address": unaddressed},
                )
            after = keys[-1]
        with self.books.begin():
            self._update(phase="expire", cursor=None)

    # ------------------------------------------------------------ due rows
    def _expire(self, after: Key | None, pending: list[Batch], number: int) -> None:
        """Replay the batches in flight, then go batch after batch until no due row is left."""
        for index, batch in enumerate(pending):
            self._record([(batch, self._execute(batch, replay=True))], pending[index + 1 :])
            after, number = batch.last, batch.number
        current = self._batch(after, number + 1)
        if current is None:
            return
        self._record([], [current])
        done: list[tuple[Batch, Counts]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="retention-ahead") as ahead:
            while current is not None:
                # The current batch was written ahead by the previous commit. While it runs, the next batch is planned
                # and written ahead, in the transaction that records the batch before.
                planning = ahead.submit(self._plan_ahead, done, current)
                try:
                    counts = self._execute(current, replay=False)
                except BaseException:
                    with suppress(Exception):
                        planning.result()  # nothing else touches the bookkeeping before it has finished
                    raise
                done, current = [(current, counts)], planning.result()
        self._record(done, [])

    def _plan_ahead(self, done: Sequence[tuple[Batch, Counts]], current: Batch) -> Batch | None:
        """Plan the batch after `current` and write it ahead, recording `done`; the planned batch."""
        following = self._batch(current.last, current.number + 1)
        self._record(done, [current, *([following] if following else [])])
        return following

    def _keys(self, cutoff: datetime, after: Key | None) -> list[Key]:
        found = self.connector.expired(
            self.rule.collection, self.rule.retention.start, cutoff, after=after, limit=self.batch_size, holds=self.at.holds
        )
        return [as_key(key) for key in found]

    def _batch(self, after: Key | None, number: int) -> Batch | None:
        """Plan the next batch of due rows after `after`: None when there is none left."""
        if self.ranged:
            planned, last = self.connector.due_span(
                self.rule.collection, self.rule.retention.start, self.at.cutoff, after=after, limit=self.batch_size, holds=self.at.holds
            )
            return Batch(number, last, [], after=after, planned=planned) if last is not None else None
        keys = self._keys(self.at.cutoff, after)
        if not keys:
            return None
        legally_held = self.held.get(self.rule.id, set())
        restricted_keys = self.kept.get(self.rule.id, set())
        free = [key for key in keys if str(key) not in legally_held and str(key) not in restricted_keys]
        held = sum(1 for key in keys if str(key) in legally_held)
        waiting = 0
        rows: dict[Key, Row]
        if self.rule.retention.notice is not None:
            with self.books.begin():
                people = notices.standings(self.books, self.rule, self.connector, free, self.at)
            rows = {key: row for key, row, decided in people if decided == "delete"}
            waiting = sum(decided in ("warn", "wait") for _, _, decided in people)
        else:
            rows = self._root_rows(free)
        located = locate_cascade(self.plan, self.pool, rows)
        also_held = {
            node_id: {key for key in found.rows if str(key) in self.held.get(node_id, set()) or str(key) in self.kept.get(node_id, set())}
            for node_id, found in located.found.items()
        }
        decisions = decide(self.plan, located, self.at.now, also_held=also_held)
        root = self.plan.nodes[0].id
        held_along = {
            node_id.split(".", 1)[1]: len(decision.held) for node_id, decision in decisions.items() if node_id != root and decision.held
        }
        steps = erasure_steps(self.plan, decisions)
        return Batch(number, keys[-1], steps, held, waiting, held_along, restricted=len(keys) - len(free) - held)

    def _root_rows(self, keys: Sequence[Key]) -> dict[Key, Row]:
        key_column = self.connector.key_column(self.rule.collection)
        wanted = [column for column in root_columns(self.plan) if column != key_column]
        if not wanted:  # referencing rows point at the key: no need to read the rows
            return {key: {key_column: key} for key in keys}
        rows = self.connector.referencing(self.rule.collection, key_column, keys, wanted)
        return {as_key(row[key_column]): row for row in rows}

    def _execute(self, batch: Batch, *, replay: bool) -> Counts:
        """Run the batch's steps; counts by collection and action."""
        if batch.planned is not None:
            deleted = self.connector.delete_due(
                self.rule.collection, self.rule.retention.start, self.at.cutoff, after=batch.after, through=batch.last, holds=self.at.holds
            )
            if self.progress is not None:
                self.progress.advance(batch.planned)
            # Replayed, its rows were all due when planned and none is left in the range: the planned count is what went.
            return {self.rule.collection: {"delete": batch.planned if replay else deleted}}
        counts: Counts = {}
        for step in batch.steps:
            outcome = execute(self.plan, step, self.pool)
            # A replayed deletion may follow the crashed one's DELETE: its planned rows were all there when
            # planned and are all gone now, so they are counted, once, here.
            done = len(step.keys) if replay and step.action == "delete" else outcome.count
            collection = counts.setdefault(step.collection or "", {})
            collection[step.action] = collection.get(step.action, 0) + done
        if self.progress is not None:
            own = sum(len(step.keys) for step in batch.steps if step.collection == self.rule.collection)
            self.progress.advance(own + batch.held + batch.restricted + batch.waiting)
        return counts

    def _record(self, done: Sequence[tuple[Batch, Counts]], ahead: Sequence[Batch]) -> None:
        """In one transaction: what finished batches did (counts, cursor, one audit entry each), and the batches written ahead."""
        with self.books.begin():
            values: dict[str, Any] = {"pending": {"batches": [batch.to_json() for batch in ahead]} if ahead else None}
            details: dict[str, Any] | None = None
            for batch, counts in done:
                along = dict(counts)
                own = along.pop(self.rule.collection, {})
                deleted, anonymised = own.get("delete", 0), own.get("anonymise", 0)
                values |= {
                    "deleted": values.get("deleted", RetentionRun.deleted) + deleted,
                    "anonymised": values.get("anonymised", RetentionRun.anonymised) + anonymised,
                    "cascaded": values.get("cascaded", RetentionRun.cascaded) + sum(sum(actions.values()) for actions in along.values()),
                    "held": values.get("held", RetentionRun.held) + batch.held,
                    "restricted": values.get("restricted", RetentionRun.restricted) + batch.restricted,
                    "waiting": values.get("waiting", RetentionRun.waiting) + batch.waiting,
                    "batches": batch.number,
                    "cursor": {"key": batch.last},
                }
                if along or batch.held_along:
                    if details is None:
                        details = self.books.scalar(select(RetentionRun.details).where(RetentionRun.id == self.run_id)) or {}
                    details = values["details"] = _merged(details, along, batch.held_along)
                audit.record(
                    self.books,
                    actor=self.actor,
                    action="retention.batch",
                    object_type="retention_run",
                    object_id=str(self.run_id),
                    summary={
                        "rule": self.rule.id,
                        "batch": batch.number,
                        "deleted": deleted,
                        "anonymised": anonymised,
                        "cascaded": along,
                        "held": batch.held,
                        "restricted": batch.restricted,
                        "held_along": batch.held_along,
                        "waiting": batch.waiting,
                    },
                )
            self._update(**values)


def _merged(details: Mapping[str, Any], counts: Mapping[str, Mapping[str, int]], held_along: Mapping[str, int]) -> dict[str, Any]:
    """Per-collection totals of the referencing collections, with one more batch added."""
    merged = {collection: dict(actions) for collection, actions in details.items()}
    for collection, actions in counts.items():
        for action, count in actions.items():
            merged.setdefault(collection, {})[action] = merged.get(collection, {}).get(action, 0) + count
    for collection, count in held_along.items():
        merged.setdefault(collection, {})["held"] = merged.get(collection, {}).get("held", 0) + count
    return merged
