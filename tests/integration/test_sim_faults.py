"""Fault injection through real boto3 clients: throttling, 5xx, latency and the ambiguous
purchase, all deterministic under a seed. Clients here retry only where a test says so."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from watcher.sandbox.faults import AmbiguousMode, Faults, OperationFaults, ScriptedFault

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
STANDARD_RETRIES = Config(retries={"mode": "standard"})  # 3 attempts in all


def _client(config: Config = NO_RETRY) -> Any:
    return boto3.client("sagemaker", region_name="us-east-1", config=config)


def _outcome(call: Any) -> str:
    try:
        call()
    except ClientError as err:
        return str(err.response["Error"]["Code"])
    return "ok"


def _sequence(make_sim: Any, seed: int, t0: datetime) -> list[str]:
    faults = Faults(
        per_operation={"DescribeTrainingPlan": OperationFaults(throttle_rate=0.3, error_rate=0.3)},
        seed=seed,
    )
    sim = make_sim(faults=faults)
    sim.add_plan("dice", ends_at=t0 + timedelta(days=2))
    sm = _client()
    return [_outcome(lambda: sm.describe_training_plan(TrainingPlanName="dice")) for _ in range(30)]


def test_faults_are_deterministic_under_a_seed(make_sim: Any, t0: datetime) -> None:
    first = _sequence(make_sim, 5, t0)
    again = _sequence(make_sim, 5, t0)
    other = _sequence(make_sim, 6, t0)
    assert first == again
    assert first != other
    assert {"ok", "ThrottlingException", "InternalFailure"} <= set(first)


def test_faults_only_hit_the_configured_operation(make_sim: Any, t0: datetime) -> None:
    sim = make_sim(
        faults=Faults(per_operation={"ListTrainingPlans": OperationFaults(throttle_rate=1.0)})
    )
    sim.add_plan("calm", ends_at=t0 + timedelta(days=2))
    sm = _client()
    assert _outcome(lambda: sm.list_training_plans()) == "ThrottlingException"
    assert _outcome(lambda: sm.describe_training_plan(TrainingPlanName="calm")) == "ok"
    assert sim.record.faults == {"throttle": 1}


def test_throttling_is_visible_without_retries(make_sim: Any) -> None:
    make_sim(faults=Faults(scripted=[ScriptedFault("ListTrainingPlans", "throttle", times=1)]))
    sm = _client()
    with pytest.raises(ClientError) as err:
        sm.list_training_plans()
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert err.value.response["Error"]["Message"] == "Rate exceeded"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sm.list_training_plans()["TrainingPlanSummaries"] == []


def test_throttling_is_retried_away_by_standard_retries(make_sim: Any) -> None:
    sim = make_sim(
        faults=Faults(scripted=[ScriptedFault("ListTrainingPlans", "throttle", times=2)])
    )
    response = _client(STANDARD_RETRIES).list_training_plans()
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert sim.record.faults == {"throttle": 2}
    assert sim.record.calls["ListTrainingPlans"] == 3


def test_max_attempts_1_in_botocore_config_still_retries_once(make_sim: Any) -> None:
    """A trap for purchase code: `max_attempts` counts retries, `total_max_attempts` calls."""
    sim = make_sim(
        faults=Faults(scripted=[ScriptedFault("ListTrainingPlans", "throttle", times=1)])
    )
    one_retry = _client(Config(retries={"max_attempts": 1, "mode": "standard"}))
    assert one_retry.list_training_plans()["ResponseMetadata"]["RetryAttempts"] == 1
    assert sim.record.calls["ListTrainingPlans"] == 2


def test_5xx_is_an_internal_failure_with_status_500(make_sim: Any, t0: datetime) -> None:
    make_sim(faults=Faults(per_operation={"DescribeTrainingPlan": OperationFaults(error_rate=1.0)}))
    sm = _client()
    with pytest.raises(ClientError) as err:
        sm.describe_training_plan(TrainingPlanName="anything")
    assert err.value.response["Error"]["Code"] == "InternalFailure"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_5xx_on_extend_buys_nothing(make_sim: Any, t0: datetime) -> None:
    sim = make_sim(faults=Faults(scripted=[ScriptedFault("ExtendTrainingPlan", "5xx", plan="p")]))
    arn = sim.add_plan("p", ends_at=t0 + timedelta(days=2))
    sm = _client()
    offers = sm.search_training_plan_offerings(TrainingPlanArn=arn, DurationHours=24)[
        "TrainingPlanExtensionOfferings"
    ]
    with pytest.raises(ClientError) as err:
        sm.extend_training_plan(
            TrainingPlanExtensionOfferingId=offers[0]["TrainingPlanExtensionOfferingId"]
        )
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    history = sm.describe_training_plan_extension_history(TrainingPlanArn=arn)
    assert history["TrainingPlanExtensions"] == []
    assert sim.record.purchases == []
    # The offering was not used up: the same purchase can be made again.
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offers[0]["TrainingPlanExtensionOfferingId"]
    )


def test_scripted_faults_only_hit_their_plan(make_sim: Any, t0: datetime) -> None:
    sim = make_sim(
        faults=Faults(scripted=[ScriptedFault("DescribeTrainingPlan", "5xx", plan="a", times=2)])
    )
    sim.add_plan("a", ends_at=t0 + timedelta(days=2))
    sim.add_plan("b", ends_at=t0 + timedelta(days=2))
    sm = _client()

    def describe(name: str) -> str:
        return _outcome(lambda: sm.describe_training_plan(TrainingPlanName=name))

    outcomes = [describe(name) for name in ("b", "a", "b", "a", "a")]
    assert outcomes == ["ok", "InternalFailure", "ok", "InternalFailure", "ok"]


def test_latency_is_added(make_sim: Any, t0: datetime) -> None:
    delay_ms = 150
    sim = make_sim(
        faults=Faults(per_operation={"DescribeTrainingPlan": OperationFaults(latency_ms=delay_ms)})
    )
    sim.add_plan("slow", ends_at=t0 + timedelta(days=2))
    sm = _client()
    started = time.monotonic()
    sm.describe_training_plan(TrainingPlanName="slow")
    assert time.monotonic() - started >= delay_ms / 1000 * 0.95


def _ambiguous_setup(make_sim: Any, t0: datetime, mode: AmbiguousMode) -> tuple[Any, str, str]:
    """A plan, an offering for it, and the next purchase scripted to look failed."""
    scripted = ScriptedFault("ExtendTrainingPlan", "ambiguous", ambiguous_mode=mode)
    sim = make_sim(faults=Faults(scripted=[scripted]))
    arn = sim.add_plan("amb", ends_at=t0 + timedelta(days=2))
    offer = _client().search_training_plan_offerings(TrainingPlanArn=arn, DurationHours=24)[
        "TrainingPlanExtensionOfferings"
    ][0]
    return sim, arn, str(offer["TrainingPlanExtensionOfferingId"])


def _assert_bought_anyway(sim: Any, arn: str, offering_id: str) -> None:
    history = _client().describe_training_plan_extension_history(TrainingPlanArn=arn)
    [extension] = history["TrainingPlanExtensions"]
    assert extension["TrainingPlanExtensionOfferingId"] == offering_id
    assert extension["PaymentStatus"] == "Pending"
    [purchase] = sim.record.purchases
    assert purchase.offering_id == offering_id and purchase.ambiguous
    assert sim.record.faults == {"ambiguous": 1}


def test_ambiguous_purchase_500(make_sim: Any, t0: datetime) -> None:
    sim, arn, offering_id = _ambiguous_setup(make_sim, t0, "500")
    with pytest.raises(ClientError) as err:
        _client().extend_training_plan(TrainingPlanExtensionOfferingId=offering_id)
    assert err.value.response["Error"]["Code"] == "InternalFailure"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    _assert_bought_anyway(sim, arn, offering_id)


def test_ambiguous_purchase_drop(make_sim: Any, t0: datetime) -> None:
    sim, arn, offering_id = _ambiguous_setup(make_sim, t0, "drop")
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        _client().extend_training_plan(TrainingPlanExtensionOfferingId=offering_id)
    _assert_bought_anyway(sim, arn, offering_id)


def test_a_retried_ambiguous_purchase_hides_the_purchase(make_sim: Any, t0: datetime) -> None:
    """Why purchases must not be retried: the retry is refused, though the first call bought."""
    sim, arn, offering_id = _ambiguous_setup(make_sim, t0, "500")
    with pytest.raises(ClientError) as err:
        _client(STANDARD_RETRIES).extend_training_plan(TrainingPlanExtensionOfferingId=offering_id)
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    _assert_bought_anyway(sim, arn, offering_id)
