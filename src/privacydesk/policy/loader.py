"""Load a policy file (and the files it includes) into a validated Policy, with file:line:column errors."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from privacydesk.policy.errors import PolicyError, PolicyLoadError, Position
from privacydesk.policy.models import Policy
from privacydesk.policy.references import check_references

DataPath = tuple[str | int, ...]
# Sections whose entries may come from several files; lists are concatenated, mappings merged.
_MERGEABLE = ("data", "subjects", "recipients", "activities", "consents", "cookies", "systems")
_TYPE_TAGS = {"str", "int", "float", "bool", "none", "list", "dict", "date"}
_MAX_NODES = 100_000  # guards against alias bombs
_BUILTIN_ERRORS = {"string_type", "dict_type", "literal_error", "model_type", "list_type", "int_type", "bool_type"}


@dataclass
class SourceMap:
    """Where each key and value of the loaded data came from."""

    keys: dict[DataPath, Position] = field(default_factory=dict)
    values: dict[DataPath, Position] = field(default_factory=dict)

    def locate(self, path: DataPath, *, key: bool = False) -> Position:
        """The position of `path`, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            found = table.get(path[:end]) or self.values.get(path[:end])
            if found is not None:
                return found
        return next(iter(self.values.values()))


@dataclass
class LoadedPolicy:
    """A validated policy with its source positions and version hash."""

    policy: Policy
    source: SourceMap
    files: list[Path]

    @property
    def version_hash(self) -> str:
        """SHA-256 of the policy's canonical JSON: comments and layout do not change it."""
        canonical = json.dumps(
            self.policy.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def load_policy(path: str | Path) -> LoadedPolicy:
    """Load and validate the policy at `path`; raise PolicyLoadError listing every problem found."""
    source = SourceMap()
    errors: list[PolicyError] = []
    files: list[Path] = []
    data = _read_with_includes(Path(path), source, errors, files, stack=())
    if errors:
        raise PolicyLoadError(errors)
    if not isinstance(data, dict):
        raise PolicyLoadError(
            [PolicyError(source.locate(()), "", "a policy file must be a mapping of sections (format, organization, data, ...)")]
        )
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyLoadError(_validation_errors(exc, data, source)) from None
    problems = [PolicyError(source.locate(p, key=key), _dotted(p), message) for p, message, key in check_references(policy)]
    if problems:
        raise PolicyLoadError(problems)
    return LoadedPolicy(policy=policy, source=source, files=files)


# ---------------------------------------------------------------- YAML with positions
def _read_with_includes(path: Path, source: SourceMap, errors: list[PolicyError], files: list[Path], stack: tuple[Path, ...]) -> Any:
    resolved = path.resolve()
    if resolved in stack:
        errors.append(
            PolicyError(Position(str(path), 1, 1), "include", f"include cycle: {' -> '.join(str(p) for p in (*stack, resolved))}")
        )
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(PolicyError(Position(str(path), 1, 1), "", f"cannot read the file: {exc}"))
        return None
    files.append(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = Position(str(path), mark.line + 1, mark.column + 1) if mark else Position(str(path), 1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        errors.append(PolicyError(where, "", f"invalid YAML: {problem}"))
        return None
    if node is None:
        errors.append(PolicyError(Position(str(path), 1, 1), "", "the file is empty"))
        return None
    local = SourceMap()
    try:
        data = _Builder(str(path), local, errors).build(node, ())
    except _TooLarge as exc:
        errors.append(PolicyError(_mark(exc.node, str(path)), "", "the document is too large or its aliases refer to themselves"))
        return None
    if not isinstance(data, dict) or "include" not in data:
        _shift(local, source, {})
        return data
    includes = data.pop("include")
    if not isinstance(includes, list) or not all(isinstance(item, str) for item in includes):
        errors.append(PolicyError(local.locate(("include",)), "include", "include must be a list of file paths"))
        return data
    _shift(local, source, {})
    for index, name in enumerate(includes):
        included_source = SourceMap()
        included = _read_with_includes(path.parent / name, included_source, errors, files, (*stack, resolved))
        if included is None:
            continue
        if not isinstance(included, dict):
            errors.append(PolicyError(local.locate(("include", index)), f"include.{index}", f"{name} must be a mapping of sections"))
            continue
        _merge(data, included, source, included_source, errors)
    return data


class _TooLarge(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


class _Builder:
    """Turns a YAML node tree into plain data, recording positions and duplicate keys."""

    def __init__(self, filename: str, source: SourceMap, errors: list[PolicyError]) -> None:
        self.filename = filename
        self.source = source
        self.errors = errors
        self.count = 0
        self.active: set[int] = set()
        self.scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: DataPath) -> Any:
        self.count += 1
        if self.count > _MAX_NODES or id(node) in self.active:
            raise _TooLarge(node)
        self.source.values[path] = _mark(node, self.filename)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
            assert isinstance(node, yaml.MappingNode)
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: DataPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            here = _mark(key_node, self.filename)
            if not isinstance(key, str | int) or isinstance(key, bool):
                self.errors.append(
                    PolicyError(here, _dotted(path), f"keys must be plain text, got {getattr(key_node, 'value', key_node)!r}"[:200])
                )
                continue
            key = str(key)
            if key in result:
                first = self.source.keys[(*path, key)]
                self.errors.append(PolicyError(here, _dotted((*path, key)), f"duplicate key {key!r}, first defined at line {first.line}"))
                continue
            self.source.keys[(*path, key)] = here
            result[key] = self.build(value_node, (*path, key))
        return result

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError):
            return node.value


def _mark(node: yaml.Node, filename: str) -> Position:
    return Position(filename, node.start_mark.line + 1, node.start_mark.column + 1)


def _shift(local: SourceMap, target: SourceMap, offsets: dict[str, int]) -> None:
    """Copy positions into `target`, moving list items of merged sections by `offsets`."""
    for table_name in ("keys", "values"):
        table: dict[DataPath, Position] = getattr(local, table_name)
        into: dict[DataPath, Position] = getattr(target, table_name)
        for path, position in table.items():
            moved = path
            if len(path) >= 2 and isinstance(path[0], str) and path[0] in offsets and isinstance(path[1], int):
                moved = (path[0], path[1] + offsets[path[0]], *path[2:])
            into.setdefault(moved, position)


def _merge(
    data: dict[str, Any], included: dict[str, Any], source: SourceMap, included_source: SourceMap, errors: list[PolicyError]
) -> None:
    offsets: dict[str, int] = {}
    for section, value in included.items():
        here = included_source.locate((section,), key=True)
        if section not in _MERGEABLE:
            if section in data:
                errors.append(
                    PolicyError(
                        here,
                        section,
                        f"section {section!r} is already defined at {source.locate((section,), key=True)}; only {', '.join(_MERGEABLE)} may be split across files",
                    )
                )
            else:
                data[section] = value
            continue
        existing = data.setdefault(section, [] if isinstance(value, list) else {})
        if isinstance(existing, list) and isinstance(value, list):
            offsets[section] = len(existing)
            existing.extend(value)
        elif isinstance(existing, dict) and isinstance(value, dict):
            for key, entry in value.items():
                if key in existing:
                    first = source.locate((section, key), key=True)
                    errors.append(
                        PolicyError(
                            included_source.locate((section, key), key=True),
                            f"{section}.{key}",
                            f"duplicate id {key!r}, first defined at {first}",
                        )
                    )
                else:
                    existing[key] = entry
        else:
            errors.append(PolicyError(here, section, f"{section!r} has a different shape here than in the including file"))
    _shift(included_source, source, offsets)


# ---------------------------------------------------------------- validation errors
def _validation_errors(exc: ValidationError, data: Any, source: SourceMap) -> list[PolicyError]:
    # A union reports one error per member; keep the member that got furthest into the input.
    grouped: dict[DataPath, list[tuple[DataPath, ErrorDetails]]] = {}
    for error in exc.errors():
        path, union_at = _data_path(error["loc"], data)
        grouped.setdefault(union_at, []).append((path, error))
    result: list[PolicyError] = []
    for candidates in grouped.values():
        deepest = max(len(path) for path, _ in candidates)
        best = [(p, e) for p, e in candidates if len(p) == deepest]
        custom = [(p, e) for p, e in best if e["type"] not in _BUILTIN_ERRORS]
        best = custom or best
        path = best[0][0]
        messages = list(dict.fromkeys(_message(e, data, path) for _, e in best))
        is_key = best[0][1]["type"] == "extra_forbidden"
        result.append(PolicyError(source.locate(path, key=is_key), _dotted(path), " or ".join(messages)))
    return sorted(result, key=lambda e: (e.position.file, e.position.line, e.position.column))


def _data_path(loc: tuple[int | str, ...], data: Any) -> tuple[DataPath, DataPath]:
    """The part of a Pydantic location that exists in the data, and where a union branched."""
    path: list[str | int] = []
    current = data
    union_at: DataPath | None = None
    for part in loc:
        found, child = _child(current, part)
        if found:
            current = child
            path.append(part)
        elif isinstance(current, dict | list) and isinstance(part, str | int) and _is_field_name(part):
            path.append(part)  # a missing or unknown key: it names the place
            current = None
        elif union_at is None:
            union_at = tuple(path)
    return tuple(path), union_at if union_at is not None else (*path, "#")


def _child(container: Any, part: str | int) -> tuple[bool, Any]:
    """Whether `container` has `part`, and the value there."""
    if isinstance(container, dict) and part in container:
        return True, container[part]
    if isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container):
        return True, container[part]
    return False, None


def _is_field_name(part: str | int) -> bool:
    # Pydantic names union members by type ("str", "dict[...]", "function-plain[...]").
    if isinstance(part, int):
        return True
    return part.replace("_", "").isalnum() and not part[:1].isupper() and part not in _TYPE_TAGS


def _message(error: ErrorDetails, data: Any, path: DataPath) -> str:
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    if kind == "missing":
        return f"missing required field {path[-1]!r}"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path[:-1])
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (f"; allowed: {', '.join(sorted(allowed))}" if allowed else "")
        return f"unknown key {path[-1]!r}{hint}"
    if kind == "literal_error":
        expected = [item.strip().strip("'") for item in str(error.get("ctx", {}).get("expected", "")).replace(" or ", ", ").split(",")]
        close = difflib.get_close_matches(str(error.get("input")), expected, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{error.get('input')!r} is not allowed here; expected one of: {', '.join(expected)}{hint}"
    return message


def _allowed_keys(path: DataPath) -> list[str]:
    """Field names of the model found at `path`, for did-you-mean hints."""
    current: Any = Policy
    for part in path:
        current = _step(current, part)
        if current is None:
            return []
    model = _as_model(current)
    return [f.alias or name for name, f in model.model_fields.items()] if model else []


def _step(annotation: Any, part: str | int) -> Any:
    model = _as_model(annotation)
    if model is not None:
        for name, info in model.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    if origin is typing.Annotated:
        return _step(args[0], part)
    return None


def _as_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _as_model(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for member in typing.get_args(annotation):
            found = _as_model(member)
            if found is not None:
                return found
    return None


def _dotted(path: DataPath) -> str:
    return ".".join(str(part) if re.fullmatch(r"[\w-]+", str(part)) else repr(str(part)) for part in path)
