"""Findings with positions, and their text, JSON and SARIF 2.1.0 renderings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from privacydesk import __version__
from privacydesk.policy.errors import PolicyError, Position
from privacydesk.policy.lint.rules import RULES, Rule, Severity, run_rules
from privacydesk.policy.loader import LoadedPolicy

Format = Literal["text", "json", "sarif"]


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule hit (or a load error) pinned to a place in a policy file."""

    rule_id: str
    name: str
    severity: Severity
    position: Position
    path: str
    message: str
    hint: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rule": self.rule_id,
            "name": self.name,
            "severity": self.severity,
            "file": self.position.file,
            "line": self.position.line,
            "column": self.position.column,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }


LOAD_ERROR = Rule("PD000", "invalid-policy", "error", "The policy file does not load.", "fix the file so it matches the policy format")


def lint(loaded: LoadedPolicy) -> list[Finding]:
    """Run every rule on a loaded policy."""
    findings = []
    for hit in run_rules(loaded.policy):
        key = hit.path[-1] if hit.path else None
        # Point at the key for whole-block findings, at the value for field findings.
        position = loaded.source.locate(hit.path, key=isinstance(key, str))
        findings.append(
            Finding(hit.rule.id, hit.rule.name, hit.rule.severity, position, ".".join(map(str, hit.path)), hit.message, hit.rule.hint)
        )
    return findings


def load_error_findings(errors: list[PolicyError]) -> list[Finding]:
    """Load errors shown in the same shape as rule findings."""
    return [Finding(LOAD_ERROR.id, LOAD_ERROR.name, "error", e.position, e.path, e.message, LOAD_ERROR.hint) for e in errors]


def render(findings: list[Finding], fmt: Format) -> str:
    """Findings as text lines, a JSON document or a SARIF log."""
    if fmt == "json":
        return json.dumps([f.as_dict() for f in findings], indent=2, ensure_ascii=False)
    if fmt == "sarif":
        return json.dumps(_sarif(findings), indent=2, ensure_ascii=False)
    lines = [f"{f.position}: {f.severity} {f.rule_id} {f.name}: {f.path}: {f.message} (fix: {f.hint})" for f in findings]
    errors = sum(f.severity == "error" for f in findings)
    lines.append(f"{errors} error(s), {len(findings) - errors} warning(s)")
    return "\n".join(lines)


def _sarif(findings: list[Finding]) -> dict[str, Any]:
    rules = [LOAD_ERROR, *(definition for definition, _ in RULES)]
    index = {definition.id: position for position, definition in enumerate(rules)}
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "privacydesk",
                        "version": __version__,
                        "rules": [
                            {
                                "id": r.id,
                                "name": r.name,
                                "shortDescription": {"text": r.summary},
                                "help": {"text": r.hint},
                                "defaultConfiguration": {"level": r.severity},
                            }
                            for r in rules
                        ],
                    }
                },
                "results": [
                    {
                        "ruleId": f.rule_id,
                        "ruleIndex": index[f.rule_id],
                        "level": f.severity,
                        "message": {"text": f"{f.path}: {f.message}. Fix: {f.hint}"},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": f.position.file},
                                    "region": {"startLine": f.position.line, "startColumn": f.position.column},
                                }
                            }
                        ],
                    }
                    for f in findings
                ],
            }
        ],
    }
