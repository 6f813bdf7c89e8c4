"""Problems found in a policy file, each pinned to a file, line and column."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a policy file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class PolicyError:
    """One problem that stops a policy from loading."""

    position: Position
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.position}: {self.path or '(document)'}: {self.message}"


class PolicyLoadError(Exception):
    """The policy could not be loaded; `errors` lists every problem found."""

    def __init__(self, errors: list[PolicyError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors
