"""ConfigError: every problem in a config, each named by the path of its key."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from watcher.config.values import PATTERN_HINTS, describe

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_LINE_BREAK = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
#: pydantic's last location step when the *key* of a mapping is wrong, not its value.
_KEY_STEP = "[key]"


class ConfigIssue(NamedTuple):
    """One problem: `path` is like `policies[1].extension.max_upfront_fee`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """The config is invalid. `issues` lists every problem found, in file order.

    Deliberately not a ValueError: pydantic would swallow a ValueError raised inside a
    validator and re-wrap it, losing the paths.
    """

    def __init__(self, issues: Iterable[ConfigIssue | tuple[str, str]]) -> None:
        # One issue is one line of output, whatever a YAML or pydantic message contained.
        self.issues: list[ConfigIssue] = [
            ConfigIssue(_one_line(path), _one_line(message)) for path, message in issues
        ]
        super().__init__("\n".join(str(issue) for issue in self.issues))


def _one_line(text: str) -> str:
    return " ".join(text.split()) if _LINE_BREAK.search(text) else text


def format_path(loc: Sequence[int | str]) -> str:
    """('policies', 1, 'extension', 'max_fee') -> 'policies[1].extension.max_fee'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            path += f".{part}" if path else part
        else:
            path += f"[{part!r}]"
    return path


def _unwrap(annotation: Any, part: int | str) -> Any:
    """The type found one step down `annotation` at `part` (a field, index or mapping key)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field is not None else None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            found = _unwrap(arg, part)
            if found is not None:
                return found
        return None
    if origin in (tuple, list) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _allowed_keys(root: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    annotation: Any = root
    for part in loc:
        annotation = _unwrap(annotation, part)
        if annotation is None:
            return []
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return list(candidate.model_fields)
    return []


def _message(root: type[BaseModel], error: ErrorDetails) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        allowed = _allowed_keys(root, loc[:-1])
        hint = difflib.get_close_matches(key, allowed, n=1)
        if hint:
            return f"unknown key (did you mean {hint[0]!r}?)"
        if allowed:
            return f"unknown key (allowed: {', '.join(allowed)})"
        return "unknown key"
    if kind == "invalid_key":
        return "keys must be strings (quote it)"
    if loc and loc[-1] == _KEY_STEP:
        return f"keys must be strings, got {describe(error['input'])} (quote it)"
    if kind == "missing":
        return "required key is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {describe(error['input'])}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {describe(error['input'])}"
    if kind == "string_type":
        return f"expected a string, got {describe(error['input'])} (quote it)"
    if kind in ("bool_type", "int_type"):
        wanted = "true or false" if kind == "bool_type" else "a whole number"
        return f"expected {wanted}, got {describe(error['input'])}"
    context = error.get("ctx") or {}
    if kind == "enum" and "expected" in context:
        expected = str(context["expected"]).replace("'", "")
        return f"expected {expected}, got {describe(error['input'])}"
    if kind == "string_pattern_mismatch":
        pattern = str(context.get("pattern", ""))
        wanted = PATTERN_HINTS.get(pattern, f"to match {pattern}")
        return f"expected {wanted}, got {describe(error['input'])}"
    message = error["msg"]
    return message.removeprefix("Value error, ")


def issues_from_validation(root: type[BaseModel], exc: ValidationError) -> list[ConfigIssue]:
    """Translate pydantic's errors into ConfigIssues with dotted/indexed paths."""
    issues = []
    for error in exc.errors(include_url=False, include_context=True):
        loc = error["loc"]
        if loc and loc[-1] == _KEY_STEP:
            loc = loc[:-1]  # the issue belongs to the entry whose key is wrong
        issues.append(ConfigIssue(format_path(loc) or "(top level)", _message(root, error)))
    return issues
