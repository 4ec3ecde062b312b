"""The config layer: parsing, defaults, cross-field rules, environment overrides, helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from watcher.config import (
    Action,
    BudgetWindow,
    Config,
    ConfigError,
    LogLevel,
    Mode,
    Prefer,
    default_config_path,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
)
from watcher.config.schema import SCHEMA_PATH, render_schema
from watcher.model import Money

REPO = Path(__file__).resolve().parents[2]


def minimal(**extra: Any) -> dict[str, Any]:
    return {"policies": [{"name": "all", "action": "extend"}], **extra}


def errors_of(data: object, environ: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, environ={} if environ is None else environ)
    return {issue.path: issue.message for issue in caught.value.issues}


def test_defaults_fill_every_optional_key() -> None:
    config = parse_config(minimal(), environ={})
    assert config.mode is Mode.ENFORCE
    assert config.poll.interval == timedelta(minutes=5)
    assert config.poll.jitter == timedelta(seconds=30)
    assert [(t.name, t.region, t.role_arn) for t in config.targets] == [
        ("default", "us-east-1", None)
    ]
    policy = config.policies[0]
    assert policy.extend_before == timedelta(hours=72)
    assert policy.safety_margin == timedelta(hours=2)
    assert policy.require_demand is True
    assert policy.extension.min_duration == timedelta(days=1)
    assert policy.extension.max_duration == timedelta(days=14)
    assert policy.extension.prefer is Prefer.CHEAPEST
    assert policy.extension.same_availability_zone is True
    assert policy.max_extensions == 10
    assert config.state.journal == "plan-watcher-journal.db"
    assert config.metrics.host == "0.0.0.0" and config.metrics.port == 9108
    assert config.logging.level is LogLevel.INFO
    assert config.notifications.sns_topic_arn is None


@pytest.mark.parametrize(
    ("environ", "region"),
    [
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "ap-south-1"}, "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "ap-south-1"}, "ap-south-1"),
        ({}, "us-east-1"),
    ],
)
def test_default_target_takes_the_ambient_region(environ: dict[str, str], region: str) -> None:
    assert parse_config(minimal(), environ=environ).targets[0].region == region


def test_models_are_frozen() -> None:
    config = parse_config(minimal(), environ={})
    with pytest.raises(ValueError, match="frozen"):
        config.mode = Mode.DRY_RUN  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("6h", timedelta(hours=6)),
        ("3d", timedelta(days=3)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_durations_parse_and_print_back(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("bad", ["90", "1.5h", "3 days", "PT5M", "-1h", "1h30m", "", 90, 1.5, None])
def test_bad_durations_name_the_key(bad: object) -> None:
    errors = errors_of(minimal(poll={"interval": bad}))
    assert list(errors) == ["poll.interval"]
    assert "duration" in errors["poll.interval"]


def test_money_is_exact_decimal_with_currency() -> None:
    config = parse_config(minimal(budgets=[{"name": "b", "limit": "250000.10 USD"}]), environ={})
    assert config.budgets[0].limit == Money(Decimal("250000.10"), "USD")


@pytest.mark.parametrize("bad", [60000.0, 60000, "60000.00", "USD 60000", "60000 usd", "0 USD"])
def test_bad_money_names_the_key(bad: object) -> None:
    data = {"policies": [{"name": "p", "action": "extend", "extension": {"max_upfront_fee": bad}}]}
    errors = errors_of(data)
    assert list(errors) == ["policies[0].extension.max_upfront_fee"]


def test_unknown_keys_are_errors_everywhere_with_a_hint() -> None:
    errors = errors_of(
        {
            "modes": "enforce",
            "poll": {"intervall": "5m"},
            "policies": [{"name": "p", "action": "extend", "extension": {"max_fee": "1 USD"}}],
        }
    )
    assert set(errors) == {"modes", "poll.intervall", "policies[0].extension.max_fee"}
    assert "did you mean 'interval'" in errors["poll.intervall"]


def test_every_structural_error_is_reported_at_once() -> None:
    errors = errors_of(
        {"mode": "live", "logging": {"format": "xml"}, "budgets": [{"name": "b", "window": "x"}]}
    )
    assert set(errors) == {"mode", "logging.format", "budgets[0].limit", "budgets[0].window"}
    assert "enforce or dry-run" in errors["mode"]


def test_cross_field_errors_name_their_keys() -> None:
    errors = errors_of(
        {
            "targets": [{"name": "prod", "region": "us-east-1"}],
            "policies": [
                {
                    "name": "p",
                    "action": "extend",
                    "match": {"targets": ["prod", "staging"]},
                    "extend_before": "2h",
                    "safety_margin": "2h",
                    "extension": {
                        "min_duration": "7d",
                        "max_duration": "3d",
                        "max_upfront_fee": "1000.00 USD",
                        "max_fee_per_hour": "10.00 EUR",
                    },
                },
                {"name": "p", "action": "notify"},
            ],
            "budgets": [{"name": "b", "limit": "5.00 USD", "policies": ["p", "missing"]}],
        }
    )
    assert set(errors) == {
        "policies[0].match.targets[1]",
        "policies[0].extend_before",
        "policies[0].extension.min_duration",
        "policies[0].extension.max_fee_per_hour",
        "policies[1].name",
        "budgets[0].policies[1]",
    }
    assert "duplicate" in errors["policies[1].name"]


def test_extend_before_must_exceed_the_one_hour_floor_of_the_margin() -> None:
    policy = {"name": "p", "action": "extend", "extend_before": "1h", "safety_margin": "0s"}
    data = {"policies": [policy]}
    assert list(errors_of(data)) == ["policies[0].extend_before"]
    policy["extend_before"] = "2h"
    assert parse_config(data, environ={}).policies[0].effective_safety_margin == timedelta(hours=1)


@pytest.mark.parametrize(
    ("extension", "path"),
    [
        ({"min_duration": "12h"}, "policies[0].extension.min_duration"),
        ({"max_duration": "183d"}, "policies[0].extension.max_duration"),
        ({"max_duration": "36h"}, "policies[0].extension.max_duration"),
        ({"prefer": "fastest"}, "policies[0].extension.prefer"),
        ({"same_availability_zone": "yes"}, "policies[0].extension.same_availability_zone"),
    ],
)
def test_extension_rules(extension: dict[str, object], path: str) -> None:
    data = {"policies": [{"name": "p", "action": "extend", "extension": extension}]}
    assert list(errors_of(data)) == [path]


def test_aws_limits_are_accepted_at_the_edges() -> None:
    data = {
        "policies": [
            {
                "name": "p",
                "action": "extend",
                "extend_before": "60d",  # allowed; AWS only sells from 56 days before the end
                "extension": {"min_duration": "1d", "max_duration": "182d"},
            }
        ]
    }
    assert parse_config(data, environ={}).policies[0].extension.max_duration.days == 182


def test_budget_currency_must_match_the_caps_of_its_policies() -> None:
    data = {
        "policies": [
            {"name": "p", "action": "extend", "extension": {"max_upfront_fee": "1.00 USD"}}
        ],
        "budgets": [{"name": "b", "limit": "100.00 EUR"}],
    }
    assert list(errors_of(data)) == ["budgets[0].limit"]


def test_a_policy_after_a_catch_all_is_unreachable() -> None:
    data = {"policies": [{"name": "all", "action": "notify"}, {"name": "p", "action": "extend"}]}
    assert list(errors_of(data)) == ["policies[1].match"]


def test_jitter_must_be_shorter_than_interval() -> None:
    assert list(errors_of(minimal(poll={"interval": "1m", "jitter": "1m"}))) == ["poll.jitter"]


def test_external_id_needs_a_role() -> None:
    data = minimal(targets=[{"name": "t", "region": "us-east-1", "external_id": "abc"}])
    assert list(errors_of(data)) == ["targets[0].external_id"]


def test_duplicate_target_and_budget_names() -> None:
    data = minimal(
        targets=[{"name": "t"}, {"name": "t"}],
        budgets=[{"name": "b", "limit": "1.00 USD"}, {"name": "b", "limit": "2.00 USD"}],
    )
    assert set(errors_of(data)) == {"targets[1].name", "budgets[1].name"}


def test_environment_overrides_win_over_the_file() -> None:
    config = parse_config(
        minimal(mode="enforce", logging={"level": "debug"}),
        environ={
            "PLAN_WATCHER_MODE": "dry-run",
            "PLAN_WATCHER_LOG_LEVEL": "WARNING",
            "PLAN_WATCHER_METRICS_LISTEN": "127.0.0.1:9200",
        },
    )
    assert config.mode is Mode.DRY_RUN and config.dry_run
    assert config.logging.level is LogLevel.WARNING
    assert (config.metrics.host, config.metrics.port) == ("127.0.0.1", 9200)


def test_empty_environment_values_are_ignored() -> None:
    assert parse_config(minimal(), environ={"PLAN_WATCHER_MODE": ""}).mode is Mode.ENFORCE


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PLAN_WATCHER_MODE", "yolo"),
        ("PLAN_WATCHER_LOG_LEVEL", "loud"),
        ("PLAN_WATCHER_METRICS_LISTEN", "localhost"),
        ("PLAN_WATCHER_METRICS_LISTEN", "0.0.0.0:99999"),
    ],
)
def test_a_bad_override_names_the_variable(variable: str, value: str) -> None:
    errors = errors_of(minimal(), environ={variable: value})
    assert list(errors) == [variable]
    assert repr(value) in errors[variable]


def test_policy_matching_first_match_wins() -> None:
    config = parse_config(
        {
            "targets": [{"name": "prod"}, {"name": "dev"}],
            "policies": [
                {
                    "name": "llm",
                    "action": "extend",
                    "match": {"names": ["llm-*"], "tags": {"team": "llm"}, "targets": ["prod"]},
                },
                {"name": "rest", "action": "notify"},
            ],
        },
        environ={},
    )
    assert config.policies[0].matches("llm-7b", {"team": "llm", "x": "y"}, "prod")
    assert not config.policies[0].matches("llm-7b", {"team": "vision"}, "prod")
    assert not config.policies[0].matches("llm-7b", {}, "prod")
    assert not config.policies[0].matches("llm-7b", {"team": "llm"}, "dev")
    assert not config.policies[0].matches("LLM-7b", {"team": "llm"}, "prod")

    def chosen(name: str, tags: dict[str, str], target: str) -> str | None:
        policy = config.policy_for(name, tags, target)
        return policy.name if policy else None

    assert chosen("llm-7b", {"team": "llm"}, "prod") == "llm"
    assert chosen("llm-7b", {"team": "llm"}, "dev") == "rest"


def test_no_policy_means_unmanaged() -> None:
    policy = {"name": "p", "action": "extend", "match": {"names": ["a*"]}}
    config = parse_config({"policies": [policy]}, environ={})
    assert config.policy_for("b", {}, "default") is None


def test_budgets_cover_all_policies_unless_listed() -> None:
    config = parse_config(
        {
            "policies": [
                {"name": "a", "action": "extend", "match": {"names": ["a*"]}},
                {"name": "b", "action": "extend"},
            ],
            "budgets": [
                {"name": "all", "limit": "10.00 USD"},
                {"name": "only-a", "limit": "5.00 USD", "policies": ["a"]},
            ],
        },
        environ={},
    )
    assert [b.name for b in config.budgets_for("a")] == ["all", "only-a"]
    assert [b.name for b in config.budgets_for("b")] == ["all"]
    assert config.budgets[0].covers("anything")


@pytest.mark.parametrize(
    ("window", "start"),
    [
        ("calendar-month", datetime(2026, 3, 1, tzinfo=UTC)),
        ("calendar-week", datetime(2026, 3, 16, tzinfo=UTC)),
        ("calendar-quarter", datetime(2026, 1, 1, tzinfo=UTC)),
        ("calendar-year", datetime(2026, 1, 1, tzinfo=UTC)),
        ("rolling-7d", datetime(2026, 3, 11, 15, tzinfo=UTC)),
    ],
)
def test_budget_windows(window: str, start: datetime) -> None:
    now = datetime(2026, 3, 18, 15, tzinfo=UTC)  # a Wednesday
    assert BudgetWindow(window).start(now) == start


def test_journal_kinds() -> None:
    sqlite = parse_config(minimal(), environ={}).state
    dynamo = parse_config(minimal(state={"journal": "dynamodb://pw-journal"}), environ={}).state
    assert (sqlite.sqlite_path, sqlite.dynamodb_table) == ("plan-watcher-journal.db", None)
    assert (dynamo.sqlite_path, dynamo.dynamodb_table) == (None, "pw-journal")
    assert list(errors_of(minimal(state={"journal": "dynamodb://"}))) == ["state.journal"]


def test_metric_labels_from_tags_are_sanitised_and_checked() -> None:
    config = parse_config(minimal(metrics={"plan_labels_from_tags": ["cost-center"]}), environ={})
    assert config.metrics.tag_labels == {"cost-center": "cost_center"}
    errors = errors_of(minimal(metrics={"plan_labels_from_tags": ["plan"]}))
    assert list(errors) == ["metrics.plan_labels_from_tags"]


def test_commented_out_sections_read_as_defaults() -> None:
    config = parse_config(minimal(notifications=None, metrics=None), environ={})
    assert config.metrics.port == 9108


def test_with_mode_returns_a_dry_run_copy() -> None:
    config = parse_config(minimal(), environ={})
    assert config.with_mode(Mode.DRY_RUN).dry_run and not config.dry_run


# --- files -------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "watcher.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def file_errors(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    return [tuple(issue) for issue in caught.value.issues]  # type: ignore[misc]


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "policies:\n  - name: p\n    action: [extend\n")
    [(where, message)] = file_errors(path)
    assert where.startswith(f"{path}:") and where.count(":") == 2
    assert "YAML" in message


def test_duplicate_yaml_keys_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "mode: enforce\npolicies: []\nmode: dry-run\n")
    [(where, message)] = file_errors(path)
    assert where == f"{path}:3:1" and "duplicate key 'mode'" in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("- a\n- b\n", "mapping"),
        ("42\n", "mapping"),
    ],
)
def test_empty_or_non_mapping_files(tmp_path: Path, text: str, message: str) -> None:
    [(where, got)] = file_errors(write(tmp_path, text))
    assert where == str(tmp_path / "watcher.yaml") and message in got


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert file_errors(tmp_path / "nope.yaml") == [(str(tmp_path / "nope.yaml"), "no such file")]
    [(where, _)] = file_errors(tmp_path)
    assert where == str(tmp_path)


def test_default_config_path() -> None:
    assert default_config_path({}) == Path("config/watcher.yaml")
    assert default_config_path({"PLAN_WATCHER_CONFIG": "/etc/pw.yaml"}) == Path("/etc/pw.yaml")


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_config_is_valid(path: Path) -> None:
    config = load_config(path, environ={})
    assert isinstance(config, Config)
    assert all(policy.action in Action for policy in config.policies)


def test_examples_cover_the_documented_cases() -> None:
    names = {path.name for path in (REPO / "config").glob("*.yaml")}
    assert {"watcher.yaml", "multi-account.yaml", "approval-only.yaml", "dry-run.yaml"} <= names
    assert load_config(REPO / "config/dry-run.yaml", environ={}).dry_run
    approval = load_config(REPO / "config/approval-only.yaml", environ={})
    assert {policy.action for policy in approval.policies} == {Action.PROPOSE}


def test_committed_schema_is_in_sync() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "config/schema.json is stale: run python -m watcher.config.schema"
    )


def test_schema_describes_durations_and_money_as_strings() -> None:
    schema = json.loads(render_schema())
    poll = schema["$defs"]["Poll"]["properties"]
    assert poll["interval"]["type"] == "string" and poll["interval"]["default"] == "5m"
    limit = schema["$defs"]["Budget"]["properties"]["limit"]
    assert limit["type"] == "string"
    assert schema["additionalProperties"] is False


# --- regressions found by tests/unit/test_config_fuzz.py ---------------------------------------


def test_a_file_that_is_not_text_is_one_issue_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"mode: enforce\n\x1f\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    [issue] = caught.value.issues
    assert issue.path == str(path)
    assert (
        issue.message == "not valid YAML: character #x001f at offset 14: special characters "
        "are not allowed"
    )


def test_a_set_tag_on_a_scalar_is_a_yaml_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("mode: !!set enforce\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert [issue.path for issue in caught.value.issues] == [f"{path}:1:7"]


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"poll": {"interval": "999999999d", "jitter": "999999999d"}}, "poll.interval"),
        ({"state": {"lease": {"duration": "600w"}}}, "state.lease.duration"),
        ({"safety": {"retry_backoff": "15d"}}, "safety.retry_backoff"),
    ],
)
def test_durations_too_long_to_add_to_a_date_are_refused(
    section: dict[str, Any], path: str
) -> None:
    assert path in errors_of(minimal(**section))


def test_the_longest_duration_still_works_with_dates() -> None:
    policy = {"name": "p", "action": "extend", "extend_before": "520w", "safety_margin": "519w"}
    config = parse_config({"policies": [policy]}, environ={})
    deadline = datetime(2026, 3, 4, tzinfo=UTC) - config.policies[0].effective_safety_margin
    assert deadline.year == 2016


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("region", "us-east-\u0661"),
        (
            "role_arn",
            "arn:aws:iam::\u0661\u0661\u0661\u0661\u0662\u0662\u0662\u0662\u0663\u0663\u0663\u0663:role/x",
        ),
        ("role_arn", "arn:aws:iam::111122223333:role/\u00e9quipe"),
    ],
)
def test_other_scripts_digits_and_letters_are_not_aws_names(key: str, value: str) -> None:
    errors = errors_of(minimal(targets=[{"name": "t", key: value}]))
    assert list(errors) == [f"targets[0].{key}"]


def test_a_port_in_other_digits_is_refused() -> None:
    assert list(errors_of(minimal(metrics={"listen": ":\u0669\u0661\u0660\u0668"}))) == [
        "metrics.listen"
    ]


@pytest.mark.parametrize("names", [[], [""], ["llm-*", ""]])
def test_a_policy_matching_no_name_is_refused(names: list[str]) -> None:
    policy = {"name": "p", "action": "extend", "match": {"names": names}}
    assert list(errors_of({"policies": [policy]})) == ["policies[0].match.names"]


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("1000000000000.00 USD", "too large"),
        ("0.0000001 USD", "more than 6 digits after"),
    ],
)
def test_money_beyond_exact_arithmetic_is_refused(limit: str, message: str) -> None:
    errors = errors_of(minimal(budgets=[{"name": "b", "limit": limit}]))
    assert message in errors["budgets[0].limit"]


def test_the_largest_money_is_accepted() -> None:
    config = parse_config(
        minimal(budgets=[{"name": "b", "limit": "999999999999.999999 USD"}]), environ={}
    )
    assert config.budgets[0].limit.amount == Decimal("999999999999.999999")


def test_a_tag_key_that_is_not_a_string_is_reported_at_its_entry() -> None:
    policy = {"name": "p", "action": "extend", "match": {"tags": {1: "llm"}}}
    errors = errors_of({"policies": [policy]})
    assert errors == {
        "policies[0].match.tags[1]": "keys must be strings, got a bare number (quote it)"
    }


def test_messages_never_span_lines() -> None:
    error = ConfigError([("a", "first\nsecond\u2028third")])
    assert [str(issue) for issue in error.issues] == ["a: first second third"]


def test_metrics_listen_takes_several_addresses() -> None:
    config = parse_config(
        {"metrics": {"listen": "127.0.0.1:9108, [::1]:9108,10.0.3.7:9109"}}, environ={}
    )
    assert config.metrics.addresses == [
        ("127.0.0.1", 9108),
        ("::1", 9108),
        ("10.0.3.7", 9109),
    ]
    assert (config.metrics.host, config.metrics.port) == ("127.0.0.1", 9108)
    for bad in ("127.0.0.1:9108,127.0.0.1:9108", "127.0.0.1:9108,nowhere", "a:1,b:2,c:3,d:4,e:5"):
        with pytest.raises(ConfigError) as caught:
            parse_config({"metrics": {"listen": bad}}, environ={})
        assert [issue.path for issue in caught.value.issues] == ["metrics.listen"]


@pytest.mark.parametrize("value", ["4m", "2d", "0s", "soon"])
def test_settle_after_is_refused_outside_5m_to_1d(value: str) -> None:
    errors = errors_of(minimal(safety={"settle_after": value}))
    assert list(errors) == ["safety.settle_after"]


def test_settle_after_defaults_to_30_minutes_and_takes_a_duration() -> None:
    assert parse_config({}, environ={}).safety.settle_after == timedelta(minutes=30)
    config = parse_config({"safety": {"settle_after": "2h"}}, environ={})
    assert config.safety.settle_after == timedelta(hours=2)
