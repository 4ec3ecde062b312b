"""Reading a config: YAML file -> environment overrides -> validated, frozen Config."""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from watcher.config.checks import cross_check
from watcher.config.errors import ConfigError, ConfigIssue, format_path, issues_from_validation
from watcher.config.models import Config
from watcher.config.values import describe

DEFAULT_CONFIG_PATH = Path("config/watcher.yaml")
CONFIG_PATH_VARIABLE = "PLAN_WATCHER_CONFIG"

#: Environment variables that override one key of the file. Empty values are ignored.
ENV_OVERRIDES: Mapping[str, tuple[str, ...]] = {
    "PLAN_WATCHER_MODE": ("mode",),
    "PLAN_WATCHER_LOG_LEVEL": ("logging", "level"),
    "PLAN_WATCHER_METRICS_LISTEN": ("metrics", "listen"),
}


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """$PLAN_WATCHER_CONFIG if set, else config/watcher.yaml (relative to the working dir)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(CONFIG_PATH_VARIABLE) or DEFAULT_CONFIG_PATH)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, override from `environ` (default: os.environ) and validate a YAML config file.

    Raises ConfigError listing every problem; never anything else for a bad file.
    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError([(source, "no such file")]) from None
    except IsADirectoryError:
        raise ConfigError([(source, "is a directory, not a config file")]) from None
    except OSError as exc:
        raise ConfigError([(source, f"cannot read: {exc.strerror or exc}")]) from None
    data = _parse_yaml(raw, source)
    if data is None:
        raise ConfigError([(source, "the file is empty; a config needs at least `policies`")])
    return parse_config(data, environ, source=source)


def parse_config(
    data: object, environ: Mapping[str, str] | None = None, *, source: str = "(top level)"
) -> Config:
    """Validate an already-parsed document (e.g. from YAML) into a Config.

    `environ` supplies the PLAN_WATCHER_* overrides and the ambient AWS region; it defaults
    to os.environ. Raises ConfigError listing every problem.
    """
    environ = os.environ if environ is None else environ
    if not isinstance(data, Mapping):
        raise ConfigError([(source, f"expected a mapping of config keys, got {describe(data)}")])
    merged, applied = _apply_overrides(dict(data), environ)
    try:
        config = Config.model_validate(merged, context={"environ": environ})
    except ValidationError as exc:
        issues = issues_from_validation(Config, exc)
    except RecursionError:
        issues = [ConfigIssue(source, "the document is nested too deeply")]
    else:
        # Rules that relate several keys run once every section has the right shape.
        issues = cross_check(config)
        if not issues:
            return config
    raise ConfigError(_name_overrides(issues, applied)) from None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[tuple[str, str]] = set()
        # A `!!set` or `!!map` tag on a scalar lands here too: PyYAML's own check reports it.
        pairs = node.value if isinstance(node, yaml.MappingNode) else []
        for key_node, _ in pairs:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"duplicate key {key_node.value!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(raw: bytes, source: str) -> object:
    try:
        return yaml.load(raw, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([(where, f"YAML syntax error: {problem}")]) from None
    except yaml.reader.ReaderError as exc:
        raise ConfigError([(source, f"not valid YAML: {_unreadable(exc)}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([(source, f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise ConfigError([(source, "the document is nested too deeply")]) from None


def _unreadable(exc: yaml.reader.ReaderError) -> str:
    """A reader error on one line, without PyYAML's `in "<byte string>"` trailer."""
    if isinstance(exc.character, bytes):
        return (
            f"byte {exc.character[:1].hex()} at offset {exc.position} "
            f"is not {exc.encoding}: {exc.reason}"
        )
    return f"character #x{exc.character:04x} at offset {exc.position}: {exc.reason}"


def _apply_overrides(
    data: dict[Any, Any], environ: Mapping[str, str]
) -> tuple[dict[Any, Any], dict[str, tuple[str, str]]]:
    """Put each set PLAN_WATCHER_* value into `data`; return what was applied, by path."""
    applied: dict[str, tuple[str, str]] = {}
    for variable, keys in ENV_OVERRIDES.items():
        value = environ.get(variable)
        if not value:
            continue
        if len(keys) == 1:
            data[keys[0]] = value
        else:
            section, key = keys
            current = data.get(section)
            if current is None:
                data[section] = {key: value}
            elif isinstance(current, Mapping):
                data[section] = {**current, key: value}
            else:
                continue  # the section itself is wrong; that error is reported as is
        applied[format_path(keys)] = (variable, value)
    return data, applied


def _name_overrides(
    issues: list[ConfigIssue], applied: Mapping[str, tuple[str, str]]
) -> list[ConfigIssue]:
    """An error in an overridden key belongs to the environment variable, not the file."""
    named = []
    for issue in issues:
        override = applied.get(issue.path)
        if override is None:
            named.append(issue)
        else:
            variable, value = override
            named.append(
                ConfigIssue(
                    variable, f"{issue.message} (value {describe(value)} overrides {issue.path})"
                )
            )
    return named
