"""The compliance linter: `lint(loaded)` returns findings; `report` renders them as text, JSON or SARIF."""

from privacydesk.policy.lint.report import Finding, lint

__all__ = ["Finding", "lint"]
