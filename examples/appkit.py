"""Shared runner for the example application databases: create the schema and fill it with fake data.

Each example's `app/generate.py` declares its tables (SQLAlchemy Core, so the same schema runs on
PostgreSQL, MariaDB and SQLite) and a row generator, then calls `main()`:

    python examples/imou/app/generate.py --url postgresql+psycopg://postgres@127.0.0.1/imou --users 1000

Rows are yielded parent-first and written in batches, so memory stays flat at any `--users`.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from faker import Faker
from sqlalchemy import Engine, MetaData, create_engine, insert

Row = tuple[str, dict[str, Any]]
Generator = Callable[["Context"], Iterator[Row]]
BATCH = 5_000


@dataclass
class Context:
    """What a row generator gets: the user count, a seeded Faker and a seeded random source."""

    users: int
    fake: Faker
    rng: random.Random
    now: Any


def build(
    engine: Engine,
    metadata: MetaData,
    generate: Generator,
    *,
    users: int,
    locale: str,
    seed: int = 1,
    drop: bool = True,
    now: Any = None,
    progress: bool = False,
) -> dict[str, int]:
    """Create the tables (dropping old ones if asked) and insert the generated rows; return counts per table."""
    from datetime import datetime

    if drop:
        metadata.drop_all(engine)
    metadata.create_all(engine)
    fake = Faker(locale)
    fake.seed_instance(seed)
    context = Context(users=users, fake=fake, rng=random.Random(seed), now=now or datetime(2026, 11, 1, tzinfo=UTC).replace(tzinfo=None))
    order = [table.name for table in metadata.sorted_tables]
    buffers: dict[str, list[dict[str, Any]]] = {name: [] for name in order}
    counts = dict.fromkeys(order, 0)
    started = time.monotonic()

    def flush() -> None:
        with engine.begin() as connection:
            for name in order:  # parents before children keeps foreign keys valid
                if buffers[name]:
                    connection.execute(insert(metadata.tables[name]), buffers[name])
                    counts[name] += len(buffers[name])
                    buffers[name].clear()
        if progress:
            total = sum(counts.values())
            print(
                f"\r  {total:>12,} rows  {total / max(time.monotonic() - started, 1e-6):>10,.0f} rows/s",
                end="",
                file=sys.stderr,
                flush=True,
            )

    pending = 0
    for table, row in generate(context):
        buffers[table].append(row)
        pending += 1
        if pending >= BATCH:
            flush()
            pending = 0
    flush()
    if progress:
        print(file=sys.stderr)
    return counts


def main(metadata: MetaData, generate: Generator, *, locale: str, env_url: str, description: str) -> None:
    """Command line: `--url` (default from the example's env variable), `--users`, `--seed`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", default=os.environ.get(env_url), help=f"SQLAlchemy URL of the database (default: ${env_url})")
    parser.add_argument("--users", type=int, default=100, help="number of people to generate (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same data")
    parser.add_argument("--keep", action="store_true", help="do not drop existing tables first")
    args = parser.parse_args()
    if not args.url:
        parser.error(f"give --url or set {env_url}")
    engine = create_engine(args.url)
    counts = build(engine, metadata, generate, users=args.users, locale=locale, seed=args.seed, drop=not args.keep, progress=True)
    for name, count in counts.items():
        print(f"{name:<24} {count:>12,}")


def load_generator(example: str) -> Any:
    """Import `examples/<example>/app/generate.py` as a module (example names contain dashes)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent / example / "app" / "generate.py"
    spec = importlib.util.spec_from_file_location(f"example_{example.replace('-', '_')}_generate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
