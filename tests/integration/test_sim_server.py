"""The simulator as a server process, reached over HTTP by real boto3 clients: the demo
scenario, search and extend, the ListTrainingJobs quirk, faults, reset, and a clean stop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from tests.conftest import SandboxProcess, start_sandbox, stop_sandbox

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
STANDARD_RETRIES = Config(retries={"mode": "standard"})  # 3 attempts in all
DEMO_PLANS = {"llm-pretrain", "idle-reserve", "vision-finetune", "speech-train"}


def _plan_arn(sm: Any, name: str) -> str:
    return str(sm.describe_training_plan(TrainingPlanName=name)["TrainingPlanArn"])


# --- the demo server (one per test session) ---------------------------------------------------


def test_server_prints_its_endpoint_first(sandbox_server: SandboxProcess) -> None:
    assert sandbox_server.endpoint.startswith("http://127.0.0.1:")
    assert sandbox_server.endpoint in sandbox_server.first_line
    assert sandbox_server.process.poll() is None


def test_list_and_describe_plans_over_http(sandbox_server: SandboxProcess) -> None:
    sm = sandbox_server.client(config=NO_RETRY)
    names = {
        p["TrainingPlanName"]
        for page in sm.get_paginator("list_training_plans").paginate(
            PaginationConfig={"PageSize": 1}
        )
        for p in page["TrainingPlanSummaries"]
    }
    assert names >= DEMO_PLANS
    active = sm.list_training_plans(Filters=[{"Name": "Status", "Value": "Active"}])
    assert {p["TrainingPlanName"] for p in active["TrainingPlanSummaries"]} >= DEMO_PLANS
    arn = _plan_arn(sm, "llm-pretrain")
    by_arn = sm.describe_training_plan(TrainingPlanName=arn)
    assert by_arn["TrainingPlanName"] == "llm-pretrain"
    assert by_arn["EndTime"].minute == 30 and by_arn["ReservedCapacitySummaries"]
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.describe_training_plan(TrainingPlanName="no-such-plan")


def test_search_and_extend_over_http(sandbox_server: SandboxProcess) -> None:
    sm = sandbox_server.client(config=NO_RETRY)
    arn = _plan_arn(sm, "idle-reserve")
    end = sm.describe_training_plan(TrainingPlanName=arn)["EndTime"]
    offers = sm.search_training_plan_offerings(TrainingPlanArn=arn, DurationHours=30)[
        "TrainingPlanExtensionOfferings"
    ]
    assert {o["DurationHours"] for o in offers} == {48}
    exact = next(o for o in offers if o["StartDate"] == end)
    bought = sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=exact["TrainingPlanExtensionOfferingId"]
    )
    assert bought["TrainingPlanExtensions"][-1]["Status"] == "Pending"
    history = sm.describe_training_plan_extension_history(TrainingPlanArn=arn)
    assert [e["TrainingPlanExtensionOfferingId"] for e in history["TrainingPlanExtensions"]] == [
        exact["TrainingPlanExtensionOfferingId"]
    ]
    assert sm.describe_training_plan(TrainingPlanName=arn)["EndTime"] == exact["EndDate"]
    # A second purchase while the first one's payment is pending is refused.
    other = next(o for o in offers if o is not exact)
    with pytest.raises(ClientError) as err:
        sm.extend_training_plan(
            TrainingPlanExtensionOfferingId=other["TrainingPlanExtensionOfferingId"]
        )
    assert err.value.response["Error"]["Code"] == "ValidationException"
    # The bought offering cannot be bought again.
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.extend_training_plan(
            TrainingPlanExtensionOfferingId=exact["TrainingPlanExtensionOfferingId"]
        )


def test_list_training_jobs_quirk_over_http(sandbox_server: SandboxProcess) -> None:
    sm = sandbox_server.client(config=NO_RETRY)
    arn = _plan_arn(sm, "llm-pretrain")
    # The demo's llm job is the oldest; newest first, it comes last.
    kwargs: dict[str, Any] = {
        "StatusEquals": "InProgress",
        "TrainingPlanArnEquals": arn,
        "MaxResults": 1,
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
    }
    pages = []
    while True:
        page = sm.list_training_jobs(**kwargs)
        pages.append([j["TrainingJobName"] for j in page["TrainingJobSummaries"]])
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert pages[0] == []  # empty, with a NextToken
    assert ["llm-pretrain-run-42"] in pages
    found = [
        j["TrainingJobName"]
        for page in sm.get_paginator("list_training_jobs").paginate(
            StatusEquals="InProgress", PaginationConfig={"PageSize": 1}
        )
        for j in page["TrainingJobSummaries"]
    ]
    assert "llm-pretrain-run-42" in found


def test_plan_tags_over_http(sandbox_server: SandboxProcess) -> None:
    sm = sandbox_server.client(config=NO_RETRY)
    arn = _plan_arn(sm, "vision-finetune")
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags["team"] == "vision"


# --- a server with faults ----------------------------------------------------------------------


FAULTS_SCENARIO = {
    "name": "faulty",
    "plans": [
        {"name": "p-5xx", "ends_in": "2d"},
        {"name": "p-500", "ends_in": "2d"},
        {"name": "p-drop", "ends_in": "2d"},
    ],
    "faults": {
        "seed": 1,
        "operations": {"DescribeTrainingJob": {"latency_ms": 100}},
        "scripted": [
            {"operation": "ListTrainingPlans", "fault": "throttle", "times": 1},
            {"operation": "ListClusters", "fault": "throttle", "times": 2},
            {"operation": "ExtendTrainingPlan", "plan": "p-5xx", "fault": "5xx"},
            {"operation": "ExtendTrainingPlan", "plan": "p-500", "fault": "ambiguous"},
            {
                "operation": "ExtendTrainingPlan",
                "plan": "p-drop",
                "fault": "ambiguous",
                "ambiguous_mode": "drop",
            },
        ],
    },
}


@pytest.fixture(scope="module")
def faulty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    path = tmp_path_factory.mktemp("scenarios") / "faulty.yaml"
    path.write_text(yaml.safe_dump(FAULTS_SCENARIO))
    server = start_sandbox(str(path))
    try:
        yield server
    finally:
        code = stop_sandbox(server)
    assert code == 0


def _first_offer(sm: Any, plan: str) -> tuple[str, str]:
    arn = _plan_arn(sm, plan)
    offers = sm.search_training_plan_offerings(TrainingPlanArn=arn, DurationHours=24)
    return arn, str(offers["TrainingPlanExtensionOfferings"][0]["TrainingPlanExtensionOfferingId"])


def test_throttling_over_http(faulty_server: SandboxProcess) -> None:
    with pytest.raises(ClientError) as err:
        faulty_server.client(config=NO_RETRY).list_training_plans()
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    retried = faulty_server.client(config=STANDARD_RETRIES).list_clusters()
    assert retried["ResponseMetadata"]["RetryAttempts"] == 2


def test_5xx_over_http_buys_nothing(faulty_server: SandboxProcess) -> None:
    sm = faulty_server.client(config=NO_RETRY)
    arn, offering_id = _first_offer(sm, "p-5xx")
    with pytest.raises(ClientError) as err:
        sm.extend_training_plan(TrainingPlanExtensionOfferingId=offering_id)
    assert err.value.response["Error"]["Code"] == "InternalFailure"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    history = sm.describe_training_plan_extension_history(TrainingPlanArn=arn)
    assert history["TrainingPlanExtensions"] == []


def test_ambiguous_purchase_500_over_http(faulty_server: SandboxProcess) -> None:
    sm = faulty_server.client(config=NO_RETRY)
    arn, offering_id = _first_offer(sm, "p-500")
    with pytest.raises(ClientError) as err:
        sm.extend_training_plan(TrainingPlanExtensionOfferingId=offering_id)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    history = sm.describe_training_plan_extension_history(TrainingPlanArn=arn)
    assert [e["TrainingPlanExtensionOfferingId"] for e in history["TrainingPlanExtensions"]] == [
        offering_id
    ]


def test_ambiguous_purchase_drop_over_http(faulty_server: SandboxProcess) -> None:
    sm = faulty_server.client(config=NO_RETRY)
    arn, offering_id = _first_offer(sm, "p-drop")
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        sm.extend_training_plan(TrainingPlanExtensionOfferingId=offering_id)
    history = sm.describe_training_plan_extension_history(TrainingPlanArn=arn)
    assert [e["TrainingPlanExtensionOfferingId"] for e in history["TrainingPlanExtensions"]] == [
        offering_id
    ]
    # The server survives a dropped connection.
    assert sm.list_training_plans()["TrainingPlanSummaries"]


def test_latency_over_http(faulty_server: SandboxProcess) -> None:
    sm = faulty_server.client(config=NO_RETRY)
    started = time.monotonic()
    with pytest.raises(ClientError):
        sm.describe_training_job(TrainingJobName="nobody")
    assert time.monotonic() - started >= 0.095


# --- lifecycle: reset, accelerated time, SIGTERM ------------------------------------------------


def test_reset_clears_the_simulator_and_sigterm_stops_cleanly() -> None:
    server = start_sandbox("demo")
    try:
        sm = server.client(config=NO_RETRY)
        assert len(sm.list_training_plans()["TrainingPlanSummaries"]) == 4
        sm.create_model(
            ModelName="plain-moto",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
            PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"},
        )
        server.reset()
        assert sm.list_training_plans()["TrainingPlanSummaries"] == []
        assert sm.list_training_jobs()["TrainingJobSummaries"] == []
        assert sm.list_models()["Models"] == []
    finally:
        code = stop_sandbox(server)
    assert code == 0
    assert server.process.stdout is not None


def test_accelerated_server_time_moves_plans_to_expired(tmp_path: Path) -> None:
    # A hundred simulated hours per real second: the demo plans (40h left) expire at once.
    server = start_sandbox("demo", speed=360000)
    try:
        sm = server.client(config=NO_RETRY)
        deadline = time.monotonic() + 60
        status = "Active"
        while time.monotonic() < deadline:
            status = sm.describe_training_plan(TrainingPlanName="idle-reserve")["Status"]
            if status == "Expired":
                break
            time.sleep(0.2)
        assert status == "Expired"
        failed = sm.list_training_jobs(StatusEquals="Failed")["TrainingJobSummaries"]
        assert {j["TrainingJobName"] for j in failed} >= {"llm-pretrain-run-42"}
    finally:
        assert stop_sandbox(server) == 0


def test_bad_scenario_exits_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"plans": [{"name": "x"}]}))
    done = subprocess.run(
        [sys.executable, "-m", "watcher.sandbox", "serve", "--scenario", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "plans[0]" in done.stderr
