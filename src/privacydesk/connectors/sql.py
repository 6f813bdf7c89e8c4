"""The SQL connector: PostgreSQL, MariaDB/MySQL and SQLite through SQLAlchemy Core.

Set-based throughout: every operation is one statement per batch of keys or values (`WHERE key
IN (...)`), never one per row. Anonymisation is one UPDATE per batch: constant strategies (null,
fixed, neutral) as plain assignments, per-row values (pseudonyms, fakes) as a CASE on the key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    FromClause,
    MetaData,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    case,
    create_engine,
    delete,
    false,
    func,
    inspect,
    literal,
    literal_column,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from privacydesk.connectors.base import (
    BATCH,
    EVERY_COLUMN,
    Change,
    ConnectorContext,
    ConnectorError,
    Cutoff,
    Exported,
    FieldStrategy,
    Key,
    Overdue,
    Row,
    RowConnector,
    SchemaProblem,
    as_key,
    chunks,
    comparable,
    naive_utc,
    resolve_env,
)
from privacydesk.connectors.values import NEUTRAL, Replacements
from privacydesk.policy.models import Collection, System

# Bound parameters per statement, under every supported database's limit (SQLite: 32,766).
_MAX_PARAMETERS = 30_000
_PHONE_SEPARATORS = (" ", "-", ".", "/", "(", ")")
Assignment = tuple[Column[Any], Callable[[Key], object] | object]
T = TypeVar("T")


class SqlConnector(RowConnector):
    """A relational database named by `url: env:NAME` (any SQLAlchemy URL)."""

    def __init__(self, name: str, system: System, context: ConnectorContext) -> None:
        self.name = name
        self.system = system
        self._url = resolve_env(system.url, system=name, setting="url")
        self._replacements = Replacements(context.secret, system=name, locale=context.locale)
        self._engine: Engine | None = None
        self._tables: dict[str, Table] | None = None
        self._problems: list[SchemaProblem] | None = None
        # Statements by shape (operation, collection, columns, terms), built once per connector.
        self._statements: dict[tuple[object, ...], object] = {}
        # The connection a thread's reads share while it is `reading` (the connector serves several threads).
        self._reads = threading.local()

    # ------------------------------------------------------------ schema
    @property
    def engine(self) -> Engine:
        """The engine, created on first use."""
        if self._engine is None:
            try:
                # Last in, first out: a busy worker keeps reusing the same few connections, warm with prepared plans
                # (SQLite has no server and, in memory, a pool of its own).
                lifo = {"pool_use_lifo": True} if make_url(self._url).get_backend_name() != "sqlite" else {}
                self._engine = create_engine(self._url, **lifo)
            except (ArgumentError, NoSuchModuleError) as exc:
                raise ConnectorError(
                    f"system {self.name!r}: {self.system.url} is not a database URL this installation can open ({exc})"
                ) from None
        return self._engine

    def key_column(self, collection: str) -> str:
        """The primary key column the policy declares (default `id`)."""
        return self._spec(collection).primary_key

    def discover(self) -> list[SchemaProblem]:
        """Every table, column and reference the policy names, checked against the live schema (read once per connector)."""
        if self._problems is None:
            tables = self._reflect()
            problems: list[SchemaProblem] = []
            for name, spec in self.system.collections.items():
                table = tables.get(_table_name(name, spec))
                if table is None:
                    problems.append(SchemaProblem(self.name, name, f"table {_table_name(name, spec)!r} does not exist"))
                    continue
                problems.extend(self._column_problems(name, spec, table, tables))
            self._problems = problems
        return list(self._problems)

    def _column_problems(self, name: str, spec: Collection, table: Table, tables: Mapping[str, Table]) -> Iterator[SchemaProblem]:
        wanted = {spec.primary_key: "primary key"}
        wanted |= {column: f"field of category {field.category!r}" for column, field in spec.fields.items()}
        wanted |= {column: f"identity {kind!r}" for kind, column in spec.identities.items()}
        wanted |= {column: f"reference to {target}" for column, target in spec.references.items()}
        wanted |= {hold.start: f"start of hold {hold.name!r}" for hold in spec.holds}
        if spec.retention is not None and "." not in spec.retention.start:
            wanted[spec.retention.start] = "start of the retention period"
        if spec.retention is not None and spec.retention.language is not None:
            wanted[spec.retention.language] = "language of retention notices"
        for column, role in wanted.items():
            if column not in table.c:
                yield SchemaProblem(self.name, name, f"column {column!r} ({role}) does not exist in table {table.name!r}")
        for column, target in spec.references.items():
            parent, target_column = target.split(".")
            parent_spec = self.system.collections.get(parent)
            parent_table = tables.get(_table_name(parent, parent_spec)) if parent_spec is not None else None
            if parent_table is not None and target_column not in parent_table.c:
                yield SchemaProblem(
                    self.name, name, f"reference {column} -> {target}: {parent_table.name!r} has no column {target_column!r}"
                )
        for column, field in spec.fields.items():
            if column in table.c:
                problem = _strategy_problem(table.c[column], field.erase, field.value)
                if problem:
                    yield SchemaProblem(self.name, name, f"column {column!r}: {problem}")

    def _reflect(self) -> dict[str, Table]:
        # Reflected once per connector (the schema does not change during a request), and only the
        # columns: constraints and indexes are the slow part of reflection and nothing here needs them.
        if self._tables is None:
            keys = {_table_name(name, spec): spec.primary_key for name, spec in self.system.collections.items()}
            metadata = MetaData()
            with self._errors("read the schema"):
                inspector = inspect(self.engine)
                present = sorted(set(keys) & set(inspector.get_table_names()))
                described = inspector.get_multi_columns(filter_names=present) if present else {}
            for (_, name), columns in described.items():
                Table(
                    name,
                    metadata,
                    *(
                        Column(column["name"], column["type"], nullable=column["nullable"], primary_key=column["name"] == keys[name])
                        for column in columns
                    ),
                )
            self._tables = dict(metadata.tables)
        return self._tables

    def _spec(self, collection: str) -> Collection:
        spec = self.system.collections.get(collection)
        if spec is None:
            raise ConnectorError(f"system {self.name!r} has no collection {collection!r}")
        return spec

    def _table(self, collection: str) -> tuple[Collection, Table]:
        spec = self._spec(collection)
        table = self._reflect().get(_table_name(collection, spec))
        if table is None:
            raise ConnectorError(
                f"system {self.name!r}: table {_table_name(collection, spec)!r} of collection {collection!r} does not exist"
            )
        return spec, table

    def _column(self, table: Table, name: str) -> Column[Any]:
        if name not in table.c:
            raise ConnectorError(f"system {self.name!r}: table {table.name!r} has no column {name!r}")
        column: Column[Any] = table.c[name]
        return column

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            raise ConnectorError(f"system {self.name!r}: could not {doing}: {str(exc.orig).strip().splitlines()[0]}") from None

    # ------------------------------------------------------------ finding rows
    def find(self, collection: str, identities: Mapping[str, Iterable[object]], columns: Sequence[str]) -> list[Row]:
        """Rows matching any identity: e-mail addresses compared without case, phone numbers without separators."""
        spec, table = self._table(collection)
        terms = [
            (f"{_IDENTITY}{kind}", compared)
            for kind, values in identities.items()
            if kind in spec.identities
            for compared in [_identity_values(kind, self._column(table, spec.identities[kind]), values)]
            if compared
        ]
        return self._select(collection, spec, table, columns, terms)

    def referencing(self, collection: str, column: str, values: Iterable[object], columns: Sequence[str]) -> list[Row]:
        """Rows whose `column` holds one of `values` (a reference to parent rows)."""
        return self.linked(collection, {column: values}, columns)

    def linked(self, collection: str, links: Mapping[str, Iterable[object]], columns: Sequence[str]) -> list[Row]:
        """Rows whose column holds one of its values, for any of the links: one statement, the links OR-ed."""
        spec, table = self._table(collection)
        terms = [
            (column, coerced) for column, values in links.items() for coerced in [_coerced(self._column(table, column), values)] if coerced
        ]
        return self._select(collection, spec, table, columns, terms)

    def _select(
        self, collection: str, spec: Collection, table: Table, columns: Sequence[str], terms: list[tuple[str, list[object]]]
    ) -> list[Row]:
        found: dict[object, Row] = {}
        with self._errors(f"read {collection}"), self._alone() as connection:
            for group in _groups(terms):
                names = tuple(name for name, _ in group)
                statement = self._statement(("select", collection, tuple(columns), names), self._selecting, spec, table, columns, names)
                for row in connection.execute(statement, {f"v{index}": values for index, (_, values) in enumerate(group)}):
                    record = dict(row._mapping)
                    found.setdefault(record[spec.primary_key], record)
        return list(found.values())

    def _selecting(self, spec: Collection, table: Table, columns: Sequence[str], names: tuple[str, ...]) -> Select[Any]:
        """SELECT the key and `columns` (or every column) where any term holds one of its bound values `v0`, `v1`..."""
        selected: list[Any] = (
            [table]
            if tuple(columns) == EVERY_COLUMN
            else [self._column(table, name) for name in dict.fromkeys([spec.primary_key, *columns])]
        )
        conditions = []
        for index, name in enumerate(names):
            if name.startswith(_IDENTITY):
                kind = name.removeprefix(_IDENTITY)
                expression, element = _identity_expression(kind, self._column(table, spec.identities[kind]))
            else:
                expression = self._column(table, name)
                element = expression.type
            conditions.append(self._among(expression, f"v{index}", element))
        return select(*selected).where(or_(*conditions))

    def _statement(self, shape: tuple[object, ...], build: Callable[..., T], *arguments: Any) -> T:
        """The statement of this shape, built once by `build(*arguments)`: a built statement is not built nor compiled again."""
        statement = self._statements.get(shape)
        if statement is None:
            statement = self._statements[shape] = build(*arguments)
        return cast(T, statement)

    def export(self, collection: str, keys: Sequence[Key]) -> list[Exported]:
        """Every column of these rows, in key order."""
        spec, table = self._table(collection)
        key = self._column(table, spec.primary_key)
        statement = self._statement(("export", collection), lambda: select(table).where(self._among(key, "keys", key.type)).order_by(key))
        rows: list[Exported] = []
        with self._errors(f"export {collection}"), self._alone() as connection:
            for chunk in chunks(_coerced(key, keys)):
                rows.extend(Exported(dict(row._mapping)) for row in connection.execute(statement, {"keys": list(chunk)}))
        return rows

    # ------------------------------------------------------------ changing rows
    def delete(self, collection: str, keys: Sequence[Key]) -> int:
        """One DELETE per batch of keys."""
        return self.apply([Change("delete", collection, keys)])[0]

    def anonymise(self, collection: str, keys: Sequence[Key], strategies: Mapping[str, FieldStrategy]) -> int:
        """One UPDATE per batch; rows already holding the replacement values are not counted (nor written)."""
        return self.apply([Change("anonymise", collection, keys, strategies=strategies)])[0]

    def rectify(self, collection: str, keys: Sequence[Key], values: Mapping[str, object]) -> int:
        """One UPDATE per batch setting the corrected values; rows already correct are not counted."""
        return self.apply([Change("rectify", collection, keys, values=values)])[0]

    def apply(self, changes: Sequence[Change]) -> list[int]:
        """Every change in one transaction, in order: a person's erasure in this database is whole or not at all."""
        with self._errors("change rows"), self.engine.begin() as connection:
            return [self._change(connection, change) for change in changes]

    def _change(self, connection: Connection, change: Change) -> int:
        if change.action == "delete":
            with self._errors(f"delete from {change.collection}"):
                return self._delete(connection, change.collection, change.keys)
        if change.action == "anonymise":
            with self._errors(f"anonymise {change.collection}"):
                return self._anonymise(connection, change.collection, change.keys, change.strategies)
        with self._errors(f"rectify {change.collection}"):
            return self._rectify(connection, change.collection, change.keys, change.values)

    def _delete(self, connection: Connection, collection: str, keys: Sequence[Key]) -> int:
        spec, table = self._table(collection)
        key = self._column(table, spec.primary_key)
        statement = self._statement(("delete", collection), lambda: delete(table).where(self._among(key, "keys", key.type)))
        return sum(connection.execute(statement, {"keys": list(chunk)}).rowcount for chunk in chunks(_coerced(key, keys)))

    def _among(self, expression: ColumnElement[Any], name: str, element: sqltypes.TypeEngine[Any]) -> ColumnElement[bool]:
        """`expression IN (values bound as name)`; on PostgreSQL `expression = ANY(array)`: one parameter however many values.

        An IN list of a thousand parameters costs more to render and parse than the statement takes
        on the server, and its text changes with the count; an array costs nothing and keeps one text.
        """
        if self.engine.dialect.name == "postgresql":
            return expression == any_(bindparam(name, type_=postgresql.ARRAY(element)))
        return expression.in_(bindparam(name, expanding=True))

    def _anonymise(self, connection: Connection, collection: str, keys: Sequence[Key], strategies: Mapping[str, FieldStrategy]) -> int:
        spec, table = self._table(collection)
        key = self._column(table, spec.primary_key)
        assignments = [
            (column, value)
            for name, strategy in strategies.items()
            for column in [self._column(table, name)]
            for value in [self._replacement(collection, column, strategy)]
            if value is not _KEEP
        ]
        if not assignments:
            return 0
        per_row = sum(1 for _, value in assignments if callable(value))
        size = max(1, min(BATCH, _MAX_PARAMETERS // (1 + 4 * per_row)))
        changed = 0
        for chunk in chunks(_coerced(key, keys), size):
            targets = {column: _target(column, value, key, chunk) for column, value in assignments}
            differs = or_(*(column.is_distinct_from(target) for column, target in targets.items()))
            statement = update(table).where(key.in_(chunk), differs).values({column.name: target for column, target in targets.items()})
            changed += connection.execute(statement).rowcount
        return changed

    def _replacement(self, collection: str, column: Column[Any], strategy: FieldStrategy) -> object:
        """A constant, a per-row function of the key, or _KEEP."""
        erase = strategy.erase
        problem = _strategy_problem(column, erase, strategy.value)
        if problem:
            raise ConnectorError(f"system {self.name!r}: {collection}.{column.name}: {problem}")
        length = getattr(column.type, "length", None)
        if erase == "keep":
            return _KEEP
        if erase == "fixed":
            return _coerce(column, strategy.value)
        if erase == "fake":
            return lambda row_key: self._replacements.fake(collection, column.name, row_key, dpv=strategy.dpv, length=length)
        if erase == "hmac" or (erase is None and not column.nullable and _is_text(column)):
            return lambda row_key: self._replacements.pseudonym(collection, column.name, row_key, dpv=strategy.dpv, length=length)
        if erase is None and not column.nullable:
            return NEUTRAL[_python_type(column)]
        return None

    def _rectify(self, connection: Connection, collection: str, keys: Sequence[Key], values: Mapping[str, object]) -> int:
        spec, table = self._table(collection)
        key = self._column(table, spec.primary_key)
        targets: dict[Column[Any], object] = {}
        for name, value in values.items():
            column = self._column(table, name)
            try:
                targets[column] = _coerce(column, value)
            except ValueError:
                raise ConnectorError(f"system {self.name!r}: {value!r} cannot be stored in {collection}.{name} ({column.type})") from None
        differs = or_(*(column.is_distinct_from(value) for column, value in targets.items()))
        changed = 0
        for chunk in chunks(_coerced(key, keys)):
            statement = update(table).where(key.in_(chunk), differs).values({column.name: value for column, value in targets.items()})
            changed += connection.execute(statement).rowcount
        return changed

    # ------------------------------------------------------------ retention
    def expired(
        self,
        collection: str,
        start: str,
        cutoff: datetime,
        *,
        after: Key | None = None,
        limit: int = BATCH,
        holds: Sequence[Cutoff] = (),
    ) -> list[Key]:
        """One SELECT: keys whose timestamp (local, or `collection.column` through a reference) is before `cutoff`."""
        spec, table = self._table(collection)
        key = self._column(table, spec.primary_key)
        stamp, source = self._timestamp(collection, spec, table, start)
        conditions = self._due(table, stamp, cutoff, holds)
        if after is not None:
            conditions.append(key > _coerce(key, after))
        statement = select(key).select_from(source).where(*conditions).order_by(key).limit(limit)
        with self._errors(f"select expired rows of {collection}"), self.engine.connect() as connection:
            return list(connection.scalars(statement).all())

    def due_span(
        self, collection: str, start: str, cutoff: datetime, *, after: Key | None = None, limit: int = BATCH, holds: Sequence[Cutoff] = ()
    ) -> tuple[int, Key | None]:
        """One SELECT: how many due rows the next `limit` after `after` are, and the last one's key (None when none is due)."""
        _, key, conditions = self._span(collection, start, cutoff, after, holds)
        window = select(key.label("key")).where(*conditions).order_by(key).limit(limit).subquery()
        with self._errors(f"select expired rows of {collection}"), self._alone() as connection:
            count, last = connection.execute(select(func.count(), func.max(window.c.key))).one()
        return cast(int, count), as_key(last) if last is not None else None

    def delete_due(
        self, collection: str, start: str, cutoff: datetime, *, after: Key | None, through: Key, holds: Sequence[Cutoff] = ()
    ) -> int:
        """One DELETE of the due rows whose keys are after `after` and up to `through`: no key leaves the database."""
        table, key, conditions = self._span(collection, start, cutoff, after, holds)
        with self._errors(f"delete from {collection}"), self._alone() as connection:
            return connection.execute(delete(table).where(*conditions, key <= _coerce(key, through))).rowcount

    @contextmanager
    def reading(self) -> Iterator[None]:
        """The reads inside share one connection, checked out once (each read is still its own transaction)."""
        if getattr(self._reads, "connection", None) is not None:
            yield
            return
        with self.engine.connect() as connection:
            self._reads.connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            try:
                yield
            finally:
                self._reads.connection = None

    @contextmanager
    def _alone(self) -> Iterator[Connection]:
        """A connection for one statement that is its own transaction: no BEGIN and COMMIT round trips around it."""
        shared: Connection | None = getattr(self._reads, "connection", None)
        if shared is not None:
            yield shared
            return
        with self.engine.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")

    def _span(
        self, collection: str, start: str, cutoff: datetime, after: Key | None, holds: Sequence[Cutoff]
    ) -> tuple[Table, Column[Any], list[ColumnElement[bool]]]:
        spec, table = self._table(collection)
        if "." in start:
            raise ConnectorError(f"system {self.name!r}: {collection} runs from {start}, through a reference: select its keys with expired")
        key = self._column(table, spec.primary_key)
        conditions = self._due(table, self._column(table, start), cutoff, holds)
        if after is not None:
            conditions.append(key > _coerce(key, after))
        return table, key, conditions

    def _due(self, table: Table, stamp: Column[Any], cutoff: datetime, holds: Sequence[Cutoff]) -> list[ColumnElement[bool]]:
        """A due row: its start is before the cutoff, and every hold's period has started and ended."""
        conditions = [stamp < _moment(stamp, cutoff)]
        for hold in holds:
            held_from = self._column(table, hold.start)
            conditions.append(and_(held_from.is_not(None), held_from < _moment(held_from, hold.before)))
        return conditions

    def overdue(
        self, collection: str, start: str, cutoff: datetime, *, holds: Sequence[Cutoff] = (), among: Sequence[Key] | None = None
    ) -> Overdue:
        """One aggregate SELECT (one per batch of `among` keys): due and held counts, the oldest due start, the next start."""
        spec, table = self._table(collection)
        key = self._column(table, spec.primary_key)
        stamp, source = self._timestamp(collection, spec, table, start)
        past = stamp < _moment(stamp, cutoff)
        running = [
            or_(column.is_(None), column >= _moment(column, hold.before)) for hold in holds for column in [self._column(table, hold.start)]
        ]
        held = or_(*running) if running else false()
        due = and_(past, not_(held))
        statement = select(
            func.count(case((due, 1))),
            func.count(case((and_(past, held), 1))),
            func.min(case((due, stamp))),
            func.min(case((not_(past), stamp))),
        ).select_from(source)
        statements = [statement] if among is None else [statement.where(key.in_(chunk)) for chunk in chunks(_coerced(key, among))]
        rows = kept = 0
        oldest: list[datetime] = []
        upcoming: list[datetime] = []
        with self._errors(f"count due rows of {collection}"), self.engine.connect() as connection:
            for each in statements:
                due_rows, held_rows, first_due, first_upcoming = connection.execute(each).one()
                rows, kept = rows + cast(int, due_rows), kept + cast(int, held_rows)
                oldest.extend(naive_utc(moment) for moment in [first_due] if isinstance(moment, date))
                upcoming.extend(naive_utc(moment) for moment in [first_upcoming] if isinstance(moment, date))
        return Overdue(rows, kept, min(oldest, default=None), min(upcoming, default=None))

    def _timestamp(self, collection: str, spec: Collection, table: Table, start: str) -> tuple[Column[Any], FromClause]:
        if "." not in start:
            return self._column(table, start), table
        via, column = start.split(".")
        links = [(local, target.split(".")[1]) for local, target in spec.references.items() if target.split(".")[0] == via]
        if len(links) != 1:
            raise ConnectorError(
                f"system {self.name!r}: {collection} runs from {start}, which needs exactly one reference to {via!r} (found {len(links)})"
            )
        _, parent = self._table(via)
        local, target = links[0]
        joined = table.join(parent, self._column(table, local) == self._column(parent, target))
        return self._column(parent, column), joined

    def close(self) -> None:
        """Close the connection pool."""
        if self._engine is not None:
            self._engine.dispose()


_KEEP = object()
# Terms of a lookup named so are identities (`identity:email`); the others are columns.
_IDENTITY = "identity:"


def _table_name(name: str, spec: Collection | None) -> str:
    return (spec.table if spec is not None else None) or name


def _is_text(column: Column[Any]) -> bool:
    return isinstance(column.type, sqltypes.String)


def _python_type(column: Column[Any]) -> type:
    try:
        return column.type.python_type
    except NotImplementedError:
        return object


def _strategy_problem(column: Column[Any], erase: str | None, value: object) -> str | None:
    """Why a strategy cannot work on this column, or None."""
    if erase == "null" and not column.nullable:
        return "erase 'null' on a column that may not be empty (NOT NULL); use fixed, hmac, fake or keep"
    if erase in ("hmac", "fake") and not _is_text(column):
        return f"erase {erase!r} writes text, but the column is {column.type}"
    if erase == "fixed":
        try:
            _coerce(column, value)
        except ValueError:
            return f"the fixed value {value!r} cannot be stored in a {column.type} column"
    if erase is None and not column.nullable and not _is_text(column) and _python_type(column) not in NEUTRAL:
        return f"no erase strategy for a NOT NULL {column.type} column; declare erase: fixed with a value, or keep"
    return None


def _coerce(column: Column[Any], value: object) -> object:
    """`value` as the column's Python type; ValueError when it cannot be."""
    python_type = _python_type(column)
    if value is None or python_type is object:
        return value
    if isinstance(value, python_type) and (python_type is bool or not isinstance(value, bool)):
        return value
    text = str(value).strip()
    if python_type is bool:
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(text)
    if python_type is datetime:
        return datetime.fromisoformat(text)
    if python_type is date:
        return date.fromisoformat(text)
    if python_type in (int, float, Decimal, str):
        try:
            return python_type(text)
        except ArithmeticError as exc:  # Decimal raises InvalidOperation, not ValueError
            raise ValueError(text) from exc
    return python_type(text)


def _coerced(column: Column[Any], values: Iterable[object]) -> list[object]:
    """Distinct values as the column's type; values it cannot hold cannot match, so they are left out."""
    coerced: dict[object, None] = {}
    for value in values:
        try:
            coerced[_coerce(column, value)] = None
        except (ValueError, TypeError):
            continue
    return list(coerced)


def _identity_values(kind: str, column: Column[Any], values: Iterable[object]) -> list[object]:
    """The values an identity column is compared with: e-mail addresses and phone numbers as `comparable` makes them."""
    if kind in ("email", "phone") and _is_text(column):
        return list(dict.fromkeys(comparable(kind, value) for value in values))
    return _coerced(column, values)


def _identity_expression(kind: str, column: Column[Any]) -> tuple[ColumnElement[Any], sqltypes.TypeEngine[Any]]:
    """What an identity's values are compared with, and their type: e-mail without case, phone numbers without separators."""
    if kind in ("email", "phone") and _is_text(column):
        expression: ColumnElement[Any] = func.lower(column)
        if kind == "phone":
            expression = column
            # The separators are constants of the statement's text, as in an expression index on the column: bound as
            # parameters, a plan the database prepared once could not use that index.
            for separator in _PHONE_SEPARATORS:
                expression = func.replace(expression, literal_column(f"'{separator}'"), literal_column("''"))
        return expression, sqltypes.String()
    return column, column.type


def _groups(terms: list[tuple[str, list[object]]]) -> Iterator[list[tuple[str, list[object]]]]:
    """The terms (name, values) split into groups of at most BATCH values, each name once per group: one statement each."""
    group: list[tuple[str, list[object]]] = []
    room = BATCH
    for name, values in terms:
        for start in range(0, len(values), BATCH):
            piece = values[start : start + BATCH]
            if len(piece) > room:
                yield group
                group, room = [], BATCH
            group.append((name, piece))
            room -= len(piece)
    if group:
        yield group


def _target(column: Column[Any], value: object, key: Column[Any], chunk: Sequence[object]) -> ColumnElement[Any]:
    """The value one column is set to in one batch: a literal, or a CASE on the key for per-row values."""
    if callable(value):
        return case({row_key: literal(value(row_key), column.type) for row_key in chunk}, value=key)
    return literal(value, column.type)


def _moment(column: Column[Any], moment: datetime) -> object:
    """A cutoff comparable with the column: aware for timezone columns, naive UTC otherwise, a date for dates."""
    if isinstance(column.type, sqltypes.DateTime) and column.type.timezone:
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    if isinstance(column.type, sqltypes.Date) and not isinstance(column.type, sqltypes.DateTime):
        return naive_utc(moment).date()
    return naive_utc(moment)
