"""The complete example in docs/policy-format.md is a real, clean policy."""

from __future__ import annotations

import re
from pathlib import Path

from privacydesk.policy.lint import lint
from privacydesk.policy.lint.rules import RULES
from privacydesk.policy.loader import load_policy

from .conftest import ROOT

DOC = (ROOT / "docs" / "policy-format.md").read_text(encoding="utf-8")


def test_documented_example_loads_and_lints_clean(tmp_path: Path) -> None:
    example = DOC.split("## A complete example", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", example, re.S)
    assert block is not None
    path = tmp_path / "example.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    assert lint(load_policy(path)) == []


def test_every_rule_is_documented() -> None:
    for definition, _ in RULES:
        assert f"| {definition.id} | {definition.name} | {definition.severity} |" in DOC
