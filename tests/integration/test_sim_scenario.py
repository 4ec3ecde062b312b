"""Scenarios: the shipped demo seeds what it promises, and a malformed file is refused with
an error that names the offending entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from watcher.clock import ManualClock
from watcher.sandbox import moto_hook, sandboxed
from watcher.sandbox.scenario import ScenarioError, builtin_names, load_scenario, parse_scenario


@pytest.fixture
def demo(boto_session: boto3.Session) -> Any:
    scenario = load_scenario("demo")
    assert scenario.start is not None
    clock = ManualClock(scenario.start)
    sim = scenario.simulator(clock)
    with sandboxed(clock):
        moto_hook.install(sim)  # the scenario's simulator, with its settings, market, faults
        boto3.DEFAULT_SESSION = boto_session
        scenario.seed(sim)
        yield scenario, sim, clock


def test_demo_is_a_builtin_scenario() -> None:
    assert "demo" in builtin_names()


def test_demo_seeds_four_plans_and_three_jobs(demo: Any) -> None:
    scenario, sim, clock = demo
    sm = boto3.client("sagemaker", region_name="us-east-1")
    plans = sm.list_training_plans(SortBy="TrainingPlanName")["TrainingPlanSummaries"]
    assert [p["TrainingPlanName"] for p in plans] == [
        "idle-reserve",
        "llm-pretrain",
        "speech-train",
        "vision-finetune",
    ]
    assert {p["Status"] for p in plans} == {"Active"}
    # Every plan ends 40h after the start, snapped to 11:30 UTC.
    assert {p["EndTime"] for p in plans} == {datetime(2026, 11, 4, 11, 30, tzinfo=UTC)}
    jobs = sm.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"]
    assert len(jobs) == 3
    by_job = {j["TrainingJobName"]: j["TrainingPlanArn"].rsplit("/", 1)[1] for j in jobs}
    assert by_job == {
        "llm-pretrain-run-42": "llm-pretrain",
        "vision-finetune-sweep-7": "vision-finetune",
        "speech-train-v3": "speech-train",
    }
    llm = sm.describe_training_plan(TrainingPlanName="llm-pretrain")
    assert llm["TotalInstanceCount"] == 8 and llm["InUseInstanceCount"] == 8
    tags = sm.list_tags(ResourceArn=llm["TrainingPlanArn"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "llm", "cost-center": "research"}
    assert len(scenario.story) == 4


def test_demo_market_and_settings_apply(demo: Any) -> None:
    scenario, sim, clock = demo
    assert scenario.settings.payment_delay == timedelta(minutes=20)
    sm = boto3.client("sagemaker", region_name="us-east-1")

    def exact_fee(plan: str) -> str:
        arn = sm.describe_training_plan(TrainingPlanName=plan)["TrainingPlanArn"]
        offers = sm.search_training_plan_offerings(TrainingPlanArn=arn, DurationHours=24)[
            "TrainingPlanExtensionOfferings"
        ]
        return str(offers[0]["UpfrontFee"])

    entries = {p["name"]: p for p in scenario.plans}
    default_price = scenario.market.default.price_per_instance_hour
    own_price = Decimal(entries["vision-finetune"]["market"]["price_per_instance_hour"])
    assert own_price != default_price
    assert Decimal(exact_fee("llm-pretrain")) == default_price * 8 * 24
    assert Decimal(exact_fee("vision-finetune")) == own_price * 4 * 24


def test_demo_scripted_fault_hits_speech_train_once(demo: Any) -> None:
    from botocore.config import Config
    from botocore.exceptions import ClientError

    sm = boto3.client(
        "sagemaker", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1})
    )
    arn = sm.describe_training_plan(TrainingPlanName="speech-train")["TrainingPlanArn"]
    offers = sm.search_training_plan_offerings(TrainingPlanArn=arn, DurationHours=24)[
        "TrainingPlanExtensionOfferings"
    ]
    with pytest.raises(ClientError) as err:
        sm.extend_training_plan(
            TrainingPlanExtensionOfferingId=offers[0]["TrainingPlanExtensionOfferingId"]
        )
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offers[0]["TrainingPlanExtensionOfferingId"]
    )


def test_demo_jobs_run_out_on_their_plans(demo: Any) -> None:
    scenario, sim, clock = demo
    clock.advance(days=3)
    sm = boto3.client("sagemaker", region_name="us-east-1")
    failed = sm.list_training_jobs(StatusEquals="Failed")["TrainingJobSummaries"]
    assert len(failed) == 3
    assert {i.consumer for i in sim.record.interruptions} == {
        "llm-pretrain-run-42",
        "vision-finetune-sweep-7",
        "speech-train-v3",
    }


def _minimal() -> dict[str, Any]:
    return {
        "name": "tiny",
        "plans": [{"name": "p", "ends_in": "2d"}],
        "jobs": [{"name": "j", "plan": "p", "max_runtime": "3d"}],
        "clusters": [{"name": "c", "groups": [{"name": "w", "plan": "p", "count": 2}]}],
    }


SEEDED_AT = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _seed(data: dict[str, Any]) -> Any:
    from watcher.sandbox.simulator import Simulator

    scenario = parse_scenario(data, "tiny.yaml")
    sim = Simulator(ManualClock(SEEDED_AT))
    scenario.seed(sim)
    return sim


def test_minimal_scenario_seeds() -> None:
    sim = _seed(_minimal())
    plan = sim.plan("p")
    assert sim.plan_end("p") == datetime(2026, 1, 7, 11, 30, tzinfo=UTC)  # 2d on, at 11:30 UTC
    [job] = sim.world.jobs.values()
    assert (job.name, job.plan_arn, job.max_runtime) == ("j", plan.arn, timedelta(days=3))
    [cluster] = sim.world.clusters.values()
    [group] = cluster.groups
    assert (cluster.name, group.name, group.plan_arn, group.target_count) == ("c", "w", plan.arn, 2)


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("plans", 0, "ends_in"), "soon", "plans[0].ends_in"),
        (("plans", 0, "tagz"), {"team": "x"}, "plans[0]: unknown keys ['tagz']"),
        (("jobs", 0, "plan"), "no-such-plan", "jobs[0]"),
        (("jobs", 0, "max_runtime"), "forever", "jobs[0].max_runtime"),
        (("clusters", 0, "groups"), [{"plan": "p"}], "clusters[0].groups[0]: missing keys"),
        (("plans", 0, "market"), {"price": "1"}, "plans[0]"),
        (("settings",), {"payment_delay": "later"}, "settings.payment_delay"),
        (("settings",), {"paymnet_delay": "5m"}, "settings: unknown keys"),
        (("faults",), {"sede": 1}, "unknown fault keys"),
        (("market",), {"default": {"variants": ["cheapest"]}}, "unknown market variants"),
        (("colour",), "blue", "unknown keys ['colour']"),
    ],
)
def test_malformed_scenario_names_the_entry(path: tuple[Any, ...], value: Any, named: str) -> None:
    data = _minimal()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ScenarioError) as err:
        _seed(data)
    assert named in str(err.value)


def test_entry_missing_a_required_key(tmp_path: Path) -> None:
    data = _minimal()
    data["plans"].append({"name": "no-end"})
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as err:
        load_scenario(str(path))
    assert "plans[1]: missing keys ['ends_in']" in str(err.value)


def test_scenario_from_a_file_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(_minimal()))
    assert load_scenario(str(path)).name == "tiny"


def test_unknown_scenario_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no scenario"):
        load_scenario("no-such-scenario")
    path = tmp_path / "bad.yaml"
    path.write_text("plans: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(str(path))


def test_price_change_applies_at_its_hour(tmp_path: Path, boto_session: boto3.Session) -> None:
    # Unquoted, YAML reads the time as a datetime; quoted, as text with a Z. Both must work.
    path = tmp_path / "prices.yaml"
    path.write_text(
        "start: '2026-03-02T09:00:00Z'\n"
        "market:\n"
        "  default:\n"
        "    variants: [exact]\n"
        "    price_changes:\n"
        "      - {after: 2026-03-02T12:00:00+00:00, price: '100.00'}\n"
        "      - {after: '2026-03-02T15:00:00Z', price: '200.00'}\n"
        "plans:\n"
        "  - {name: p, ends_in: 3d, instance_count: 1}\n"
    )
    scenario = load_scenario(str(path))
    assert scenario.start is not None
    clock = ManualClock(scenario.start)
    sim = scenario.simulator(clock)
    with sandboxed(clock):
        moto_hook.install(sim)
        boto3.DEFAULT_SESSION = boto_session
        scenario.seed(sim)
        sm = boto3.client("sagemaker", region_name="us-east-1")
        arn = sm.describe_training_plan(TrainingPlanName="p")["TrainingPlanArn"]

        def fee() -> str:
            offers = sm.search_training_plan_offerings(TrainingPlanArn=arn, DurationHours=24)
            return str(offers["TrainingPlanExtensionOfferings"][0]["UpfrontFee"])

        fees = []
        for hour in (11, 12, 14, 15):
            clock.set(datetime(2026, 3, 2, hour, tzinfo=UTC))
            fees.append(fee())
    assert fees == ["2359.68", "2400.00", "2400.00", "4800.00"]  # 98.32, 100, 100, 200 x 24 h


def test_a_scenario_sets_the_undocumented_timings_and_the_bad_answers() -> None:
    scenario = parse_scenario(
        {
            "settings": {"extension_ids": "own", "history_delay": "45m"},
            "faults": {
                "scripted": [
                    {"operation": "ExtendTrainingPlan", "fault": "lost", "ambiguous_mode": "empty"}
                ]
            },
        }
    )
    assert scenario.settings.extension_ids == "own"
    assert scenario.settings.history_delay == timedelta(minutes=45)
    [fault] = scenario.faults.scripted
    assert (fault.fault, fault.ambiguous_mode) == ("lost", "empty")
    with pytest.raises(ScenarioError, match="ambiguous_mode"):
        parse_scenario(
            {
                "faults": {
                    "scripted": [{"operation": "X", "fault": "lost", "ambiguous_mode": "maybe"}]
                }
            }
        )


def test_a_scenario_seeds_failed_ultraserver_and_busy_plans(clock: ManualClock) -> None:
    scenario = parse_scenario(
        {
            "settings": {"summary_plan_arn": "never", "pending_counts_toward_runtime": True},
            "plans": [
                {"name": "broken", "ends_in": "2d", "failed": True},
                {"name": "busy", "ends_in": "2d", "unlisted_in_use": 2},
                {
                    "name": "gb200",
                    "ends_in": "2d",
                    "instance_count": 18,
                    "ultraserver_type": "ml.u-p6e-gb200x72",
                    "ultraserver_count": 1,
                },
            ],
        }
    )
    assert scenario.settings.summary_plan_arn == "never"
    sim = scenario.simulator(clock)
    scenario.seed(sim)
    assert sim.plan("broken").failed
    assert sim.plan("busy").unlisted_in_use == 2
    assert (sim.plan("gb200").ultraserver_type, sim.plan("gb200").ultraserver_count) == (
        "ml.u-p6e-gb200x72",
        1,
    )
