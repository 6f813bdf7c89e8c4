"""The loader: precise file:line:column errors, includes, and never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privacydesk.policy.durations import Duration
from privacydesk.policy.errors import PolicyLoadError
from privacydesk.policy.loader import load_policy

from .conftest import MINIMAL

SOURCE = MINIMAL.read_text(encoding="utf-8")
ERROR_LINE = re.compile(r"^.+:\d+:\d+: [\w.()]*: .+$")


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(path)
    lines = str(caught.value).splitlines()
    assert lines and all(ERROR_LINE.match(line) for line in lines), lines
    return lines


def _line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("legal_basis: contract", "legal_basis: contrat", "did you mean 'contract'?"),
        ("retention: 7 days", "retention: 7 dayz", "unknown unit 'dayz'"),
        ("retention: 7 days", "retention: about a week", "is not a duration"),
        ("recipients: [hosting]", "recipients: [hostng]", "unknown recipient 'hostng'; did you mean 'hosting'?"),
        ("  languages:", "  langauges:", "unknown key 'langauges'; did you mean 'languages'?"),
        ('"pd:IPAddress"', '"pd:IpAddress"', "did you mean 'pd:IPAddress'?"),
        ("url: env:SHOP_DB_URL", "url: postgresql://shop:secret@db/shop", "by reference"),
        ("country: FR", "country: France", "ISO 3166"),
        ("fields: {ip: ip_address}", "fields: {ip: ip_adress}", "unknown data category 'ip_adress'"),
        ("customer_id: customer.id", "customer_id: client.id", "unknown collection 'client'"),
    ],
)
def test_error_names_file_line_column_and_field(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = SOURCE.replace(old, new, 1)
    assert text != SOURCE
    errors = _errors(tmp_path, text)
    assert any(expected in error for error in errors), errors
    line = _line_of(text, new.split(":", maxsplit=1)[0] if old.startswith("  ") else new)
    assert any(f"policy.yaml:{line}:" in error for error in errors), (line, errors)


def test_bad_yaml_reports_its_position(tmp_path: Path) -> None:
    errors = _errors(tmp_path, SOURCE.replace("  country: FR\n", "  country: [FR\n", 1))
    assert "invalid YAML" in errors[0]


def test_duplicate_key_is_reported_with_first_definition(tmp_path: Path) -> None:
    text = SOURCE.replace('  name: {dpv: "pd:Name"}\n', '  name: {dpv: "pd:Name"}\n  email: {dpv: "pd:EmailAddress"}\n', 1)
    errors = _errors(tmp_path, text)
    assert any("duplicate key 'email', first defined at line" in e for e in errors)


def test_missing_field_is_reported(tmp_path: Path) -> None:
    errors = _errors(tmp_path, SOURCE.replace("    legal_basis: contract\n", "", 1))
    assert any("activities.accounts.legal_basis: missing required field 'legal_basis'" in e for e in errors)


def test_includes_merge_sections_and_keep_positions(tmp_path: Path) -> None:
    (tmp_path / "cookies.yaml").write_text(
        "cookies:\n  - {name: sid, provider: Exemple, category: essential, lifetime: session, purpose: Session}\n"
        "  - {name: _ga, provider: Google, category: analytics, lifetime: 3 yearz, purpose: Stats}\n",
        encoding="utf-8",
    )
    errors = _errors(tmp_path, "include: [cookies.yaml]\n" + SOURCE)
    assert len(errors) == 1
    assert errors[0].startswith(f"{tmp_path / 'cookies.yaml'}:3:")
    assert "cookies.1.lifetime: unknown unit 'yearz'" in errors[0]


def test_includes_load_and_detect_duplicates_and_cycles(tmp_path: Path) -> None:
    (tmp_path / "extra.yaml").write_text('data:\n  phone: {dpv: "pd:TelephoneNumber"}\n', encoding="utf-8")
    path = tmp_path / "main.yaml"
    path.write_text("include: [extra.yaml]\n" + SOURCE, encoding="utf-8")
    loaded = load_policy(path)
    assert "phone" in loaded.policy.data
    assert loaded.files == [path, tmp_path / "extra.yaml"]

    (tmp_path / "extra.yaml").write_text('data:\n  email: {dpv: "pd:EmailAddress"}\n', encoding="utf-8")
    with pytest.raises(PolicyLoadError, match=r"extra.yaml:2:3: data.email: duplicate id 'email'"):
        load_policy(path)

    (tmp_path / "extra.yaml").write_text("include: [main.yaml]\n", encoding="utf-8")
    with pytest.raises(PolicyLoadError, match="include cycle"):
        load_policy(path)


def test_version_hash_ignores_comments_and_layout(tmp_path: Path) -> None:
    path = tmp_path / "reformatted.yaml"
    path.write_text("# a comment\n" + yaml.safe_dump(yaml.safe_load(SOURCE), sort_keys=True), encoding="utf-8")
    assert load_policy(path).version_hash == load_policy(MINIMAL).version_hash
    path.write_text(SOURCE.replace("retention: 7 days", "retention: 8 days"), encoding="utf-8")
    assert load_policy(path).version_hash != load_policy(MINIMAL).version_hash


@pytest.mark.parametrize("text", ["7 days", "1 day", "3 months", "1 year", "18 years", "2 weeks"])
def test_durations_parse(text: str) -> None:
    assert str(Duration.parse(text)) == text


@pytest.mark.parametrize("text", ["7", "7days", "seven days", "1 days", "3 month", "0 days", "-1 days", "3.5 months", "3 mo", " "])
def test_durations_are_strict(text: str) -> None:
    with pytest.raises(ValueError):
        Duration.parse(text)


def test_durations_compare_in_calendar_terms() -> None:
    assert Duration.parse("13 months") < Duration.parse("14 months")
    assert Duration.parse("1 month") < Duration.parse("32 days")
    assert Duration.parse("12 months") <= Duration.parse("1 year")


# ---------------------------------------------------------------- property tests: only clean errors
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20), st.dates())
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20
)
_settings = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check_loader_is_clean(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_policy(path)
    except PolicyLoadError as exc:
        assert exc.errors
        for error in exc.errors:
            assert error.position.file == str(path)
            assert error.position.line >= 1 and error.position.column >= 1
            assert error.message
            assert str(error).startswith(f"{path}:{error.position.line}:{error.position.column}: ")


@_settings
@given(text=st.text(max_size=300))
def test_random_text_gives_only_clean_errors(tmp_path: Path, text: str) -> None:
    _check_loader_is_clean(tmp_path, text)


@_settings
@given(value=_values)
def test_random_yaml_gives_only_clean_errors(tmp_path: Path, value: object) -> None:
    _check_loader_is_clean(tmp_path, yaml.safe_dump(value, allow_unicode=True))


@_settings
@given(data=st.data())
def test_mutated_policy_gives_only_clean_errors(tmp_path: Path, data: st.DataObject) -> None:
    policy = yaml.safe_load(SOURCE)
    # Walk to a random node and replace it with a random value.
    node = policy
    for _ in range(data.draw(st.integers(0, 4))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node, key=str)))
            if not isinstance(node[key], dict | list) or not node[key]:
                node[key] = data.draw(_values)
                break
            node = node[key]
        elif isinstance(node, list) and node:
            node = node[data.draw(st.integers(0, len(node) - 1))]
    if isinstance(node, dict):
        node[data.draw(st.text(min_size=1, max_size=12))] = data.draw(_values)
    _check_loader_is_clean(tmp_path, yaml.safe_dump(policy, allow_unicode=True))


@_settings
@given(cut=st.integers(0, len(SOURCE)), insert=st.text(alphabet=":-[]{}&*!|>'\"%@` \n#", max_size=5))
def test_corrupted_policy_text_gives_only_clean_errors(tmp_path: Path, cut: int, insert: str) -> None:
    _check_loader_is_clean(tmp_path, SOURCE[:cut] + insert + SOURCE[cut:])


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    errors = _errors(tmp_path, bomb)
    assert any("too large" in e for e in errors)
