"""`plan-watcher validate`: exit 0 for a valid config, exit 2 naming every broken key."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watcher.cli import main
from watcher.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
CLEAN_ENV = {"PATH": os.environ.get("PATH", "")}

VALID = """\
mode: enforce
targets:
  - name: prod
    region: us-east-1
policies:
  - name: llm
    match: {names: ["llm-*"], targets: [prod]}
    action: extend
    extend_before: 72h
    safety_margin: 2h
    extension:
      min_duration: 1d
      max_duration: 14d
      max_upfront_fee: "60000.00 USD"
budgets:
  - name: monthly
    limit: "250000.00 USD"
    window: calendar-month
    policies: [llm]
"""


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PLAN_WATCHER_MODE", "PLAN_WATCHER_LOG_LEVEL", "PLAN_WATCHER_METRICS_LISTEN"):
        monkeypatch.delenv(variable, raising=False)


def validate(tmp_path: Path, text: str) -> tuple[int, str, str]:
    path = tmp_path / "watcher.yaml"
    path.write_text(text, encoding="utf-8")
    return run(["validate", "--config", str(path)])


def test_a_valid_config_exits_0_with_a_summary(tmp_path: Path) -> None:
    code, out, err = validate(tmp_path, VALID)
    assert (code, err) == (0, "")
    assert "valid" in out and "llm (extend)" in out


def test_the_config_path_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "from-env.yaml"
    path.write_text(VALID, encoding="utf-8")
    monkeypatch.setenv("PLAN_WATCHER_CONFIG", str(path))
    code, out, _ = run(["validate"])
    assert code == 0 and str(path) in out


def test_the_default_path_is_config_watcher_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAN_WATCHER_CONFIG", raising=False)
    monkeypatch.chdir(REPO)
    code, out, _ = run(["validate"])
    assert code == 0 and out.startswith("config/watcher.yaml: valid")


BROKEN = [
    (
        "unknown key",
        VALID.replace("safety_margin: 2h", "safety_marg: 2h"),
        "policies[0].safety_marg",
    ),
    ("bad duration", VALID.replace("72h", "72 hours"), "policies[0].extend_before"),
    (
        "money without currency",
        VALID.replace('"60000.00 USD"', '"60000.00"'),
        "policies[0].extension.max_upfront_fee",
    ),
    (
        "float money",
        VALID.replace('"60000.00 USD"', "60000.00"),
        "policies[0].extension.max_upfront_fee",
    ),
    (
        "budget names a missing policy",
        VALID.replace("[llm]", "[llm, gpu]"),
        "budgets[0].policies[1]",
    ),
    (
        "min > max",
        VALID.replace("min_duration: 1d", "min_duration: 20d"),
        "policies[0].extension.min_duration",
    ),
    ("extend_before <= margin", VALID.replace("72h", "2h"), "policies[0].extend_before"),
    ("bad action", VALID.replace("action: extend", "action: buy"), "policies[0].action"),
    (
        "bad prefer",
        VALID.replace("max_duration: 14d", "max_duration: 14d\n      prefer: x"),
        "policies[0].extension.prefer",
    ),
    ("bad mode", VALID.replace("mode: enforce", "mode: live"), "mode"),
    ("bad window", VALID.replace("calendar-month", "monthly"), "budgets[0].window"),
    ("YAML syntax error", VALID.replace("names: [", "names: [["), "watcher.yaml:"),
    ("empty file", "", "watcher.yaml"),
    ("top level is a list", "- mode: enforce\n", "watcher.yaml"),
    (
        "duplicate policy",
        VALID.replace("budgets:", "  - name: llm\n    action: notify\nbudgets:"),
        "policies[1].name",
    ),
    (
        "missing target",
        VALID.replace("targets: [prod]", "targets: [staging]"),
        "policies[0].match.targets[0]",
    ),
    (
        "beyond 182 days",
        VALID.replace("max_duration: 14d", "max_duration: 27w"),
        "policies[0].extension.max_duration",
    ),
]


@pytest.mark.parametrize(("case", "text", "path"), BROKEN, ids=[case for case, _, _ in BROKEN])
def test_broken_configs_exit_2_naming_the_key(
    tmp_path: Path, case: str, text: str, path: str
) -> None:
    code, out, err = validate(tmp_path, text)
    assert code == 2, case
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert any(line.startswith(path) or f"/{path}" in line for line in lines), err


def test_every_error_is_listed_one_per_line(tmp_path: Path) -> None:
    text = (
        VALID.replace("mode: enforce", "mode: live")
        .replace("72h", "72")
        .replace("calendar-month", "monthly")
    )
    code, _, err = validate(tmp_path, text)
    assert code == 2
    assert [line.split(":")[0] for line in err.strip().splitlines()] == [
        "mode",
        "policies[0].extend_before",
        "budgets[0].window",
    ]


def test_a_bad_environment_override_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAN_WATCHER_MODE", "sometimes")
    code, _, err = validate(tmp_path, VALID)
    assert code == 2 and err.startswith("PLAN_WATCHER_MODE: ")


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    code, _, err = run(["validate", "--config", str(tmp_path / "absent.yaml")])
    assert code == 2 and err.strip() == f"{tmp_path / 'absent.yaml'}: no such file"


def test_through_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(VALID.replace("window: calendar-month", "window: fortnightly"), "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "watcher", "validate", "--config", str(path)],
        cwd=REPO,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("budgets[0].window: ")
    assert "Traceback" not in result.stderr


def test_usage_errors_and_missing_config(tmp_path: Path) -> None:
    assert run(["validate", "--bogus"])[0] == 2
    assert run([])[0] == 2
    assert run(["--help"])[0] == 0
    missing = str(tmp_path / "absent.yaml")
    for command in ("once", "plan", "history"):
        code, _, err = run([command, "--config", missing])
        assert code == 2 and "absent.yaml" in err and "Traceback" not in err


# --- fuzzing -----------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["5m", "0s", "99999999w", "1.5 USD", "60000.00 USD", "extend", "dry-run", "*"]),
)
KEY_NAMES = [
    "mode",
    "poll",
    "targets",
    "policies",
    "budgets",
    "name",
    "action",
    "extension",
    "limit",
    "window",
    "match",
    "names",
    "tags",
    "interval",
    "max_duration",
    "min_duration",
    "state",
    "metrics",
    "logging",
    "region",
    "extend_before",
]
keys = st.one_of(st.sampled_from(KEY_NAMES), st.text(max_size=8), st.integers())
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
BASE: dict[str, Any] = yaml.safe_load(VALID)


def mutate(document: Any, path: list[int | str], value: Any) -> Any:
    """Replace the value at `path`: an int picks an existing key or item, a str sets that key."""
    if not path or not isinstance(document, dict | list) or not document:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        key = list(document)[head % len(document)] if isinstance(head, int) else head
        return {**document, key: mutate(document.get(key), rest, value)}
    index = head % len(document) if isinstance(head, int) else 0
    return [*document[:index], mutate(document[index], rest, value), *document[index + 1 :]]


mutants = st.builds(
    mutate,
    st.just(BASE),
    st.lists(st.integers(0, 9) | st.sampled_from(KEY_NAMES), min_size=1, max_size=5),
    documents,
)
environs = st.dictionaries(
    st.sampled_from(["PLAN_WATCHER_MODE", "PLAN_WATCHER_LOG_LEVEL", "PLAN_WATCHER_METRICS_LISTEN"]),
    st.text(max_size=10),
    max_size=2,
)


@settings(max_examples=300, deadline=None)
@given(document=st.one_of(documents, mutants), environ=environs)
def test_parse_config_raises_only_config_error(document: Any, environ: dict[str, str]) -> None:
    try:
        parse_config(document, environ=environ)
    except ConfigError as exc:
        assert exc.issues
        assert all(issue.path and issue.message for issue in exc.issues)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200) | st.builds(yaml.safe_dump, st.one_of(documents, mutants)))
def test_load_config_raises_only_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(path, environ={})
        except ConfigError as exc:
            assert exc.issues


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=st.one_of(documents, mutants))
def test_the_cli_reports_every_error_with_a_path(document: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        code, out, err = run(["validate", "--config", str(path)])
    if code == 0:
        assert err == "" and "valid" in out
        return
    assert code == 2 and out == ""
    for line in err.strip().splitlines():
        where, sep, message = line.partition(": ")
        assert sep and where.strip() and message.strip(), line
        assert "Traceback" not in line


WEBHOOK_CASES = [
    ("http://[::1/x", None, "is not a valid URL"),
    ("https://hooks.example.com:99999/x", None, "port must be between 1 and 65535"),
    ("https://hooks.example.com:hunter2-port/x", None, "port must be between 1 and 65535"),
    ("https://hooks.example.com:0/x", None, "port must be between 1 and 65535"),
    ("https://user:hunter2-pass@hooks.example.com/x", None, "user name or password"),
    ("https:///x?sig=query-secret", None, "has no host"),
    ("ftp://hooks.example.com/x?sig=query-secret", None, "must start with https://"),
    ("http://hooks.example.com/x", "PW_TOKEN", "clear text"),
]


@pytest.mark.parametrize(("url", "token_env", "message"), WEBHOOK_CASES)
def test_validate_checks_the_webhook_url_without_quoting_it(
    tmp_path: Path, url: str, token_env: str | None, message: str
) -> None:
    hook: dict[str, Any] = {"url": url}
    if token_env:
        hook["token_env"] = token_env
    data = yaml.safe_load(VALID)
    data["notifications"] = {"webhook": hook}
    code, _, err = validate(tmp_path, yaml.safe_dump(data))
    assert code == 2, err
    assert "notifications.webhook.url" in err and message in err
    assert "hunter2" not in err and "query-secret" not in err


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "http://[::1]:8080/hook", "http://localhost/hook"]
)
def test_a_token_may_go_over_http_to_loopback(tmp_path: Path, url: str) -> None:
    data = yaml.safe_load(VALID)
    data["notifications"] = {"webhook": {"url": url, "token_env": "PW_TOKEN"}}
    code, _, err = validate(tmp_path, yaml.safe_dump(data))
    assert code == 0, err


def test_run_with_the_url_validate_refused_exits_2_not_a_traceback(tmp_path: Path) -> None:
    data = yaml.safe_load(VALID)
    data["notifications"] = {"webhook": {"url": "http://[::1/x"}}
    path = tmp_path / "watcher.yaml"
    path.write_text(yaml.safe_dump(data))
    code, _, err = run(["run", "--config", str(path)])
    assert code == 2 and "Traceback" not in err and "notifications.webhook.url" in err


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("token_env", "Bearer xoxb-planted-token-1234", "not an environment variable name"),
        ("header", "Authorization: Bearer xoxb-planted-token-1234", "not an HTTP header name"),
    ],
)
def test_a_token_written_where_a_name_belongs_is_refused_without_quoting_it(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    # The careless mistake: the token itself pasted where its variable's or header's name goes.
    data = yaml.safe_load(VALID)
    data["notifications"] = {"webhook": {"url": "https://hooks.example.com/x", key: value}}
    code, out, err = validate(tmp_path, yaml.safe_dump(data))
    assert code == 2, err
    assert f"notifications.webhook.{key}" in err and message in err
    assert "planted-token" not in out + err
