"""The five seed systems: their policies lint as expected and their databases match their `systems`."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from sqlalchemy import create_engine, func, inspect, select

from privacydesk.policy.lint import lint
from privacydesk.policy.loader import LoadedPolicy, load_policy
from privacydesk.policy.models import Collection

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "examples"))
import appkit

# What each seed's policy is expected to trip, as (rule, path) pairs: nothing else may fire.
EXPECTED_FINDINGS: dict[str, list[tuple[str, str]]] = {
    "carlab": [],
    "registratura": [("PD001", "consents.use_of_services.mechanism")],
    "website-fr": [],
    "imou": [("PD008", "cookies.{jsuid}.lifetime")],
    "clsmart": [],
}
LOCALES = {"carlab": "pl_PL", "registratura": "ro_RO", "website-fr": "fr_FR", "imou": "pl_PL", "clsmart": "cs_CZ"}


def _policy(example: str) -> LoadedPolicy:
    return load_policy(ROOT / "examples" / example / "policy.yaml")


@pytest.mark.parametrize("example", sorted(EXPECTED_FINDINGS))
def test_example_lints_exactly_as_expected(example: str) -> None:
    loaded = _policy(example)
    expected = []
    for rule_id, path in EXPECTED_FINDINGS[example]:
        resolved = path
        if "{" in path:  # cookies are a list: find the index of the named cookie
            name = path.split("{")[1].split("}")[0]
            index = next(i for i, cookie in enumerate(loaded.policy.cookies) if cookie.name == name)
            resolved = path.replace("{" + name + "}", str(index))
        expected.append((rule_id, resolved))
    assert [(f.rule_id, f.path) for f in lint(loaded)] == expected


def test_registratura_consent_by_use_is_the_seed_clause() -> None:
    policy = _policy("registratura").policy
    (finding,) = lint(_policy("registratura"))
    consent = policy.consents[finding.path.split(".")[1]]
    assert consent.mechanism == "continued_use"


def test_imou_jsuid_cookie_is_18_years() -> None:
    (finding,) = lint(_policy("imou"))
    assert "jsuid" in finding.message and "18 years" in finding.message


def _sql_collections(loaded: LoadedPolicy) -> dict[str, Collection]:
    return {
        collection.table or name: collection
        for system in loaded.policy.systems.values()
        if system.connector == "sql"
        for name, collection in system.collections.items()
    }


def _build(example: str, url: str, users: int) -> dict[str, int]:
    module = appkit.load_generator(example)
    engine = create_engine(url)
    try:
        return appkit.build(engine, module.metadata, module.generate, users=users, locale=LOCALES[example])
    finally:
        engine.dispose()


def _assert_schema_matches_policy(example: str, url: str) -> None:
    """Every table, column and reference the policy names exists in the example database."""
    loaded = _policy(example)
    engine = create_engine(url)
    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    names = {name: collection.table or name for system in loaded.policy.systems.values() for name, collection in system.collections.items()}
    for table, collection in _sql_collections(loaded).items():
        assert table in tables, f"{example}: collection table {table!r} missing"
        columns = {column["name"] for column in inspector.get_columns(table)}
        wanted = {collection.primary_key, *collection.fields, *collection.identities.values(), *collection.references}
        wanted |= {hold.start for hold in collection.holds}
        if collection.retention is not None and "." not in collection.retention.start:
            wanted.add(collection.retention.start)
        assert wanted <= columns, f"{example}.{table}: missing columns {sorted(wanted - columns)}"
        for target in collection.references.values():
            target_collection, target_column = target.split(".")
            target_table = names[target_collection]
            assert target_column in {c["name"] for c in inspector.get_columns(target_table)}, f"{example}.{table} -> {target}"
        if collection.retention is not None and "." in collection.retention.start:
            via, column = collection.retention.start.split(".")
            assert via in {t.split(".")[0] for t in collection.references.values()}, (
                f"{example}.{table}: retention through {via} needs a reference"
            )
            assert column in {c["name"] for c in inspector.get_columns(names[via])}
    engine.dispose()


@pytest.mark.parametrize("example", sorted(EXPECTED_FINDINGS))
def test_example_database_on_sqlite_matches_policy(example: str, tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    counts = _build(example, url, users=200)
    assert all(count > 0 for count in counts.values()), counts
    _assert_schema_matches_policy(example, url)


@pytest.mark.parametrize("example", sorted(EXPECTED_FINDINGS))
def test_example_generator_is_seeded_and_scales(example: str, tmp_path: Any) -> None:
    first = _build(example, f"sqlite:///{tmp_path / 'a.db'}", users=10)
    again = _build(example, f"sqlite:///{tmp_path / 'b.db'}", users=10)
    larger = _build(example, f"sqlite:///{tmp_path / 'c.db'}", users=40)
    assert first == again
    assert sum(larger.values()) > 2 * sum(first.values())
    engine_a, engine_b = create_engine(f"sqlite:///{tmp_path / 'a.db'}"), create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    module = appkit.load_generator(example)
    table = module.metadata.sorted_tables[0]
    with engine_a.connect() as a, engine_b.connect() as b:
        assert a.execute(select(table)).all() == b.execute(select(table)).all()


def _assert_counts_match(example: str, url: str, counts: dict[str, int]) -> None:
    engine = create_engine(url)
    module = appkit.load_generator(example)
    with engine.connect() as connection:
        for table in module.metadata.sorted_tables:
            assert connection.execute(select(func.count()).select_from(table)).scalar_one() == counts[table.name]
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("example", sorted(EXPECTED_FINDINGS))
def test_example_database_on_postgresql(example: str, postgres_url: str) -> None:
    counts = _build(example, postgres_url, users=200)
    assert all(count > 0 for count in counts.values()), counts
    _assert_schema_matches_policy(example, postgres_url)
    _assert_counts_match(example, postgres_url, counts)


@pytest.mark.mariadb
@pytest.mark.parametrize("example", sorted(EXPECTED_FINDINGS))
def test_example_database_on_mariadb(example: str, mariadb_url: str) -> None:
    counts = _build(example, mariadb_url, users=200)
    assert all(count > 0 for count in counts.values()), counts
    _assert_schema_matches_policy(example, mariadb_url)
    _assert_counts_match(example, mariadb_url, counts)
