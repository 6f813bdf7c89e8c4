"""Shared fixtures: policies built from the minimal policy with changes applied."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "tests" / "policies" / "minimal.yaml"
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/policy.yaml"))

PolicyFactory = Callable[[Callable[[dict[str, Any]], None]], Path]


@pytest.fixture
def make_policy(tmp_path: Path) -> PolicyFactory:
    """Write the minimal policy, changed by `edit`, to a file and return its path."""
    counter = iter(range(1_000_000))

    def build(edit: Callable[[dict[str, Any]], None]) -> Path:
        data = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
        edit(data)
        path = tmp_path / f"policy{next(counter)}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    return build
