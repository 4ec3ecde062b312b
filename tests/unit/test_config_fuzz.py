"""The config loader under generated input: whatever the file or the environment holds,
plan-watcher answers with a Config or with ConfigError issues that each name a key path (or
the file / the variable), one line each, and `plan-watcher validate` exits 0 or 2 without a
traceback.

Two families of documents: near the schema (a complete, valid config with one thing broken:
a wrong type, a bare number for money or a duration, an unknown key, a huge or negative
value, a null, an empty list, a duplicate name, another currency, deep nesting, a root that
is not a mapping) and arbitrary YAML (syntax errors, tabs, anchors and aliases, merge keys,
tags, several documents, binary junk). Every example is derandomized so CI sees the same ones.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watcher.config import ENV_OVERRIDES, Config, ConfigError, load_config, parse_config
from watcher.decide.backoff import retry_at

REPO = Path(__file__).resolve().parents[2]

# A config that uses every section and most keys; each mutation starts from it.
SKELETON: dict[str, Any] = {
    "mode": "enforce",
    "poll": {"interval": "5m", "jitter": "30s"},
    "targets": [
        {"name": "prod", "region": "us-east-1"},
        {
            "name": "research",
            "region": "eu-west-1",
            "role_arn": "arn:aws:iam::111122223333:role/plan-watcher",
            "external_id": "shared-secret-id",
        },
    ],
    "policies": [
        {
            "name": "llm",
            "match": {"names": ["llm-*"], "tags": {"team": "llm"}, "targets": ["prod"]},
            "action": "extend",
            "extend_before": "72h",
            "safety_margin": "2h",
            "require_demand": True,
            "extension": {
                "min_duration": "1d",
                "max_duration": "14d",
                "prefer": "cheapest",
                "max_upfront_fee": "60000.00 USD",
                "max_fee_per_hour": "3000.00 USD",
                "same_availability_zone": True,
            },
            "max_extensions": 10,
        },
        {
            "name": "review",
            "match": {"names": ["eval-*"]},
            "action": "propose",
            "approval": {
                "fee_tolerance": "5%",
                "auto_approve_below": "1000.00 USD",
                "auto_approve_within": "6h",
            },
        },
        {"name": "rest", "action": "notify"},
    ],
    "budgets": [
        {
            "name": "monthly",
            "limit": "250000.00 USD",
            "window": "calendar-month",
            "policies": ["llm"],
        }
    ],
    "state": {
        "journal": "/var/lib/plan-watcher/journal.db",
        "lease": {"duration": "60s", "renew_every": "15s"},
    },
    "metrics": {"listen": "0.0.0.0:9108", "plan_labels_from_tags": ["team", "cost-center"]},
    "logging": {"level": "info", "format": "json"},
    "notifications": {
        "sns_topic_arn": "arn:aws:sns:us-east-1:111122223333:plan-watcher",
        "webhook": {"url": "https://hooks.example.com/pw", "token_env": "PW_TOKEN"},
        "retries": 3,
    },
    "safety": {"circuit_breaker_failures": 3, "retry_backoff": "15m"},
}

Path_ = tuple[str | int, ...]


def _paths(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _get(node: Any, path: Path_) -> Any:
    for part in path:
        node = node[part]
    return node


PATHS: list[Path_] = list(_paths(SKELETON))
LEAVES: list[Path_] = [p for p in PATHS if p and not isinstance(_get(SKELETON, p), dict | list)]
DURATION_KEYS = {
    "interval",
    "jitter",
    "extend_before",
    "safety_margin",
    "min_duration",
    "max_duration",
    "auto_approve_within",
    "duration",
    "renew_every",
    "retry_backoff",
}
MONEY_KEYS = {"max_upfront_fee", "max_fee_per_hour", "auto_approve_below", "limit"}


def key_path(path: Path_) -> str:
    """The path as plan-watcher prints it: ('policies', 0, 'name') -> policies[0].name."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


# --- values a careless (or hostile) editor might write --------------------------------------

_NASTY_TEXT = [
    "",
    " ",
    "\t",
    "null",
    "~",
    "0",
    "-1",
    "-5m",
    "0s",
    "5 m",
    "1.5h",
    "1h30m",
    "999999999w",
    "999999999d",
    "99999999d",
    "5000w",
    "٣d",  # Arabic-Indic digit three
    "３ｄ",  # fullwidth
    "60000.00",
    "60000.00 usd",
    "60000.00 EUR",
    "60,000.00 USD",
    "1e3 USD",
    "NaN USD",
    "Infinity USD",
    "-1.00 USD",
    "0.00 USD",
    "99999999999999999999999999999999999999.99 USD",
    "0.0000000000000000000000000001 USD",
    "١٠٠ USD",
    "arn:aws:iam::١١١١٢٢٢٢٣٣٣٣:role/x",
    "us-east-١",
    "0.0.0.0:٩١٠٨",
    ":0",
    ":65536",
    "[::1]:9108",
    "dynamodb://",
    "dynamodb://ab",
    "http://",
    "*",
    "llm-*",
    "enforce",
    "dry-run",
    "DRY-RUN",
    "extend",
    "ignore",
    "a\nb",
    "a\x00b",
    "😀",
    "İ",
    "x" * 300,
    "%",
    "150%",
    "5.12345%",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 60000, 10**30, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(_NASTY_TEXT),
    st.text(max_size=20),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    st.datetimes(timezones=st.just(UTC)),
    st.binary(max_size=8),
)
junk = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "action", "x", "1"]) | st.text(max_size=5), inner
        )
    ),
    max_leaves=8,
)


def _nest(value: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        value = [value] if as_list else {"deeper": value}
    return value


@st.composite
def near_schema(draw: st.DrawFn) -> tuple[Any, str]:
    """A copy of SKELETON with one thing broken; returns it with a label of what was done."""
    document: Any = copy.deepcopy(SKELETON)
    path = draw(st.sampled_from(PATHS))
    operation = draw(
        st.sampled_from(
            ["replace", "delete", "unknown_key", "duplicate", "empty", "null", "nest", "swap"]
        )
    )
    parent_path, last = path[:-1], (path[-1] if path else None)
    parent = _get(document, parent_path) if path else None
    value = _get(document, path)
    if operation == "replace" or (operation in ("delete", "duplicate", "swap") and not path):
        replacement = draw(junk)
        if not path:
            return replacement, f"root replaced by {replacement!r}"
        parent[last] = replacement
    elif operation == "delete":
        del parent[last]
    elif operation == "unknown_key":
        key = draw(st.sampled_from(["extra", "Name", "mode ", "policy", "名前", "", "1"]))
        target = value if isinstance(value, dict) else (parent if path else document)
        if isinstance(target, dict):
            target[key] = draw(junk)
        else:
            target.append({key: draw(junk)})
    elif operation == "duplicate":
        if isinstance(parent, list):
            parent.append(copy.deepcopy(value))
        else:
            parent[last] = [value, copy.deepcopy(value)]
    elif operation == "empty":
        replacement = draw(st.sampled_from([[], {}, ""]))
        if not path:
            return replacement, "empty root"
        parent[last] = replacement
    elif operation == "null":
        if not path:
            return None, "null root"
        parent[last] = None
    elif operation == "nest":
        nested = _nest(value, draw(st.integers(1, 60)), draw(st.booleans()))
        if not path:
            return nested, "nested root"
        parent[last] = nested
    else:  # swap: the value of another key of the skeleton, usually of another type
        other = _get(SKELETON, draw(st.sampled_from(LEAVES)))
        parent[last] = copy.deepcopy(other)
    return document, f"{operation} at {key_path(path) or '(root)'}"


def dump(document: Any, flow: bool, unicode: bool) -> str:
    return yaml.safe_dump(
        document, default_flow_style=flow, allow_unicode=unicode, sort_keys=False, width=10**6
    )


@st.composite
def corrupted_text(draw: st.DrawFn) -> bytes:
    """A near-schema document as YAML text, then damaged the way hand edits damage files."""
    document, _ = draw(near_schema())
    text = dump(document, draw(st.booleans()), draw(st.booleans()))
    damage = draw(
        st.sampled_from(
            ["none", "tab", "truncate", "duplicate_line", "insert", "alias", "merge", "bom"]
        )
    )
    lines = text.splitlines(keepends=True) or [""]
    at = draw(st.integers(0, max(0, len(lines) - 1)))
    if damage == "tab":
        lines[at] = lines[at].replace("  ", "\t", 1)
    elif damage == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
        lines = [text]
    elif damage == "duplicate_line":
        lines.insert(at, lines[at])
    elif damage == "insert":
        junk_text = draw(st.sampled_from(["{", "]", ": :", "- -", "&", "*x", "!!", "'", '"', "|"]))
        lines[at] = junk_text + lines[at]
    elif damage == "alias":
        lines = ["shared: &shared {name: a, action: extend}\n", *lines, "again: *shared\n"]
    elif damage == "merge":
        lines = ["defaults: &d {action: extend}\n", *lines, "more: {<<: *d, name: m}\n"]
    raw = "".join(lines).encode("utf-8")
    if damage == "bom":
        raw = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])) + raw
    return raw


_YAML_TOKENS = [
    "mode",
    "policies",
    "name",
    "action",
    "poll",
    "interval",
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "\n    ",
    "\t",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "<<: ",
    "? ",
    "!!str ",
    "!!binary ",
    "!!python/object:os.system ",
    "!!set ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "# comment\n",
    "'",
    '"',
    "|\n  ",
    ">\n  ",
    "5m",
    '"60000.00 USD"',
    "60000.00",
    "~",
    "null",
    "yes",
    "0x1F",
    "0o17",
    "1_000",
    ".inf",
    ".nan",
    "2026-03-02",
    "2026-03-02T09:00:00Z",
    "\\",
    "\x00",
    "\x85",
    "\u2028",
    "😀",
]
arbitrary_yaml = st.one_of(
    st.lists(st.sampled_from(_YAML_TOKENS), max_size=40).map(lambda t: "".join(t).encode()),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=200),
    corrupted_text(),
)

environs = st.dictionaries(
    st.sampled_from(sorted(ENV_OVERRIDES)),
    st.sampled_from(["enforce", "dry-run", "DEBUG", "info", ":9108", "0.0.0.0:9108", "", " "])
    | st.sampled_from(_NASTY_TEXT)
    | st.text(max_size=12).filter(lambda t: "\x00" not in t),
    max_size=3,
)

# --- what a user must always see -------------------------------------------------------------

# A key path: a first key (plain or quoted), then .key, [index] or ['quoted key'] steps.
_STEP = r"(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\]|\[(?:'[^\n]*'|\"[^\n]*\")\])"
KEY_PATH = re.compile(rf"^(?:[A-Za-z_][A-Za-z0-9_-]*|\[\d+\]|\[(?:'[^\n]*'|\"[^\n]*\")\]){_STEP}*$")


def check_issues(exc: ConfigError, source: str) -> None:
    """Every issue names where (the file, a variable or a key path) and what, on one line."""
    assert exc.issues, "a ConfigError without issues tells the user nothing"
    for issue in exc.issues:
        where, message = issue.path, issue.message
        assert where and message.strip(), issue
        assert "\n" not in where and "\n" not in message, f"issue spans lines: {issue!s}"
        assert "Traceback" not in message
        named_file = where == source or where.startswith(source + ":")
        assert named_file or where in ENV_OVERRIDES or KEY_PATH.match(where), issue


def load(tmp_path: Path, raw: bytes, environ: dict[str, str] | None = None) -> Config | None:
    """load_config on `raw`; None when it was refused (after checking the issues)."""
    path = tmp_path / "watcher.yaml"
    path.write_bytes(raw)
    try:
        config = load_config(path, environ={} if environ is None else environ)
    except ConfigError as exc:
        check_issues(exc, str(path))
        return None
    usable(config)
    return config


def usable(config: Config) -> None:
    """A config that validates can be acted on: its durations add up with real dates."""
    ends = [datetime(2026, 3, 4, 11, 30, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)]
    assert config.poll.interval + config.poll.jitter > timedelta(0)
    for policy in config.policies:
        for end in ends:
            assert end - policy.effective_safety_margin < end
            assert end - policy.extend_before < end
            assert end + policy.extension.max_duration > end
            assert end - policy.approval.auto_approve_within <= end
    lease, start = config.state.lease, datetime(2026, 1, 1, tzinfo=UTC)
    assert start + lease.duration + lease.renew_every > start
    # However many purchases failed in a row, the retry falls between the failure and the
    # deadline (the wait doubles but never past a quarter of what is left).
    for end in ends:
        deadline = end - timedelta(hours=2)
        for failures in (1, 2, 30, 1000):
            assert start <= retry_at(config.safety.retry_backoff, failures, start, deadline)
            assert retry_at(config.safety.retry_backoff, failures, start, deadline) < deadline


FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@settings(FUZZ, max_examples=200)
@given(case=near_schema(), flow=st.booleans(), unicode=st.booleans())
def test_near_schema_documents_load_or_name_their_keys(
    tmp_path: Path, case: tuple[Any, str], flow: bool, unicode: bool
) -> None:
    document, _what = case
    load(tmp_path, dump(document, flow, unicode).encode("utf-8"))


@settings(FUZZ, max_examples=200)
@given(raw=arbitrary_yaml)
def test_arbitrary_yaml_loads_or_names_where_it_breaks(tmp_path: Path, raw: bytes) -> None:
    load(tmp_path, raw)


@settings(FUZZ, max_examples=100)
@given(case=near_schema(), environ=environs)
def test_environment_overrides_with_junk_name_the_variable(
    case: tuple[Any, str], environ: dict[str, str]
) -> None:
    document, _ = case
    try:
        config = parse_config(document, environ=environ)
    except ConfigError as exc:
        check_issues(exc, "(top level)")
        return
    usable(config)
    if environ.get("PLAN_WATCHER_MODE"):
        assert config.mode.value == environ["PLAN_WATCHER_MODE"]
    if environ.get("PLAN_WATCHER_METRICS_LISTEN"):
        assert config.metrics.listen == environ["PLAN_WATCHER_METRICS_LISTEN"]


@pytest.mark.parametrize("variable", sorted(ENV_OVERRIDES))
@pytest.mark.parametrize("value", ["sometimes", "٩١٠٨", "a\nb", "😀", "x" * 300, "-1"])
def test_a_junk_override_is_blamed_on_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(copy.deepcopy(SKELETON), environ={variable: value})
    check_issues(caught.value, "(top level)")
    assert [issue.path for issue in caught.value.issues] == [variable]


def test_the_skeleton_itself_is_valid() -> None:
    """The fuzzers mutate a valid config, so a failure is the mutation's, not the base's."""
    config = parse_config(copy.deepcopy(SKELETON), environ={})
    assert [p.name for p in config.policies] == ["llm", "review", "rest"]
    usable(config)


def test_the_longest_retry_backoff_allowed_is_usable() -> None:
    document = copy.deepcopy(SKELETON)
    document["safety"]["retry_backoff"] = "14d"
    config = parse_config(document, environ={})
    assert config.safety.retry_backoff == timedelta(days=14)
    usable(config)


@pytest.mark.parametrize(
    "path", [p for p in LEAVES if p[-1] in DURATION_KEYS | MONEY_KEYS], ids=key_path
)
@pytest.mark.parametrize("bare", [60000, 60000.5, 0, -3])
def test_bare_numbers_for_money_and_durations_are_refused_at_their_key(
    path: Path_, bare: float
) -> None:
    document = copy.deepcopy(SKELETON)
    _get(document, path[:-1])[path[-1]] = bare
    with pytest.raises(ConfigError) as caught:
        parse_config(document, environ={})
    assert [issue.path for issue in caught.value.issues] == [key_path(path)]


@pytest.mark.parametrize("path", [p for p in LEAVES if p[-1] in DURATION_KEYS], ids=key_path)
@pytest.mark.parametrize("huge", ["999999999d", "99999999w", "5000w", "-1h"])
def test_absurd_durations_are_refused_at_their_key(path: Path_, huge: str) -> None:
    document = copy.deepcopy(SKELETON)
    _get(document, path[:-1])[path[-1]] = huge
    with pytest.raises(ConfigError) as caught:
        parse_config(document, environ={})
    assert key_path(path) in [issue.path for issue in caught.value.issues]


def test_an_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    lines.append("policies: *a8")
    assert load(tmp_path, "\n".join(lines).encode()) is None


def test_a_self_referencing_document_is_refused(tmp_path: Path) -> None:
    assert load(tmp_path, b"policies: &p [{name: a, action: extend, match: *p}]\n") is None
    assert load(tmp_path, b"&root {policies: [{name: a, action: extend}], extra: *root}\n") is None


# --- the real process ------------------------------------------------------------------------


def validate_process(path: Path, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONIOENCODING": "utf-8", **environ}
    return subprocess.run(
        [sys.executable, "-m", "watcher", "validate", "--config", str(path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        check=False,
        timeout=60,
    )


# A real environment cannot hold a NUL: subprocess refuses it before the process starts.
process_environs = environs.filter(lambda env: not any("\x00" in v for v in env.values()))


@settings(FUZZ, max_examples=6)
@given(raw=st.one_of(corrupted_text(), arbitrary_yaml), environ=process_environs)
def test_validate_exits_0_or_2_and_names_a_key_without_a_traceback(
    tmp_path: Path, raw: bytes, environ: dict[str, str]
) -> None:
    path = tmp_path / "watcher.yaml"
    path.write_bytes(raw)
    result = validate_process(path, environ)
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 2), result.stderr
    if result.returncode == 0:
        assert result.stderr == "" and "valid" in result.stdout
        return
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines
    for line in lines:
        where, sep, message = line.partition(": ")
        assert sep and message.strip(), line
        named_file = where == str(path) or where.startswith(f"{path}:")
        assert named_file or where in ENV_OVERRIDES or KEY_PATH.match(where), line


def test_validate_names_the_key_of_an_absurd_duration(tmp_path: Path) -> None:
    document = copy.deepcopy(SKELETON)
    document["poll"] = {"interval": "999999999d", "jitter": "999999999d"}
    path = tmp_path / "watcher.yaml"
    path.write_text(dump(document, False, True), encoding="utf-8")
    result = validate_process(path, {})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("poll.interval: ")
