"""Extensions through real boto3 clients: the market a search sees, the purchase and its
payment, the extension history, and every way a search or a purchase is refused."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from watcher.clock import ManualClock
from watcher.sandbox.market import Market, MarketTerms
from watcher.sandbox.settings import SimSettings

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
# The default settings' payment delay, and a little more.
AFTER_PAYMENT = timedelta(minutes=11)


def _client() -> Any:
    return boto3.client("sagemaker", region_name="us-east-1", config=NO_RETRY)


def _offers(sm: Any, arn: str, **kwargs: Any) -> list[dict[str, Any]]:
    found = sm.search_training_plan_offerings(TrainingPlanArn=arn, **kwargs)
    assert found["TrainingPlanOfferings"] == []
    return list(found.get("TrainingPlanExtensionOfferings", []))


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


@pytest.fixture
def plan(sim: Any, t0: datetime) -> str:
    """An Active plan of 4 instances in us-east-1a, ending in two days at 11:30 UTC."""
    return str(sim.add_plan("ext", ends_at=t0 + timedelta(days=2), instance_count=4))


# --- searching -----------------------------------------------------------------------------


def test_search_offers_several_variants(sim: Any, sm_no_retry: Any, plan: str) -> None:
    end = sim.plan_end(plan)
    offers = _offers(sm_no_retry, plan, DurationHours=48)
    assert len(offers) == 3
    ids = {o["TrainingPlanExtensionOfferingId"] for o in offers}
    assert len(ids) == 3 and all(i.startswith("tpeo-") for i in ids)
    for offer in offers:
        assert offer["DurationHours"] == 48
        assert offer["EndDate"] - offer["StartDate"] == timedelta(hours=48)
        assert offer["CurrencyCode"] == "USD"
    by_shape = {(o["StartDate"] == end, o["AvailabilityZone"]): o for o in offers}
    exact = by_shape[(True, "us-east-1a")]
    later = by_shape[(False, "us-east-1a")]
    other_az = by_shape[(True, "us-east-1b")]
    assert later["StartDate"] == end + timedelta(days=1)
    # Default market: 98.32 per instance-hour, 4 instances, 48 hours; variants are cheaper.
    assert Decimal(exact["UpfrontFee"]) == Decimal("98.32") * 4 * 48
    assert Decimal(later["UpfrontFee"]) < Decimal(exact["UpfrontFee"])
    assert Decimal(other_az["UpfrontFee"]) < Decimal(exact["UpfrontFee"])


def test_search_without_duration_offers_the_market_durations(sm_no_retry: Any, plan: str) -> None:
    offers = _offers(sm_no_retry, plan)
    assert sorted({o["DurationHours"] for o in offers}) == [24, 48, 72, 168, 336]


@pytest.mark.parametrize(
    ("requested", "sold"),
    [(1, 24), (24, 24), (30, 48), (14 * 24, 336), (14 * 24 + 5, None), (21 * 24, 504)],
)
def test_search_rounds_duration_up_to_whole_days(
    sm_no_retry: Any, plan: str, requested: int, sold: int | None
) -> None:
    if sold is None:
        # 14 days and 5 hours rounds up to 15 days, which is not sold (whole weeks only).
        with pytest.raises(ClientError) as err:
            _offers(sm_no_retry, plan, DurationHours=requested)
        assert _code(err) == "ValidationException"
        return
    assert {o["DurationHours"] for o in _offers(sm_no_retry, plan, DurationHours=requested)} == {
        sold
    }


def test_search_refuses_15_days_and_more_than_182(sm_no_retry: Any, plan: str) -> None:
    for hours in (15 * 24, 183 * 24, 182 * 24 + 1):
        with pytest.raises(ClientError) as err:
            _offers(sm_no_retry, plan, DurationHours=hours)
        assert _code(err) == "ValidationException", hours
    assert {o["DurationHours"] for o in _offers(sm_no_retry, plan, DurationHours=182 * 24)} == {
        4368
    }


def test_search_in_an_empty_market_returns_nothing(sim: Any, sm_no_retry: Any, plan: str) -> None:
    sim.market.set_terms("ext", available=False)
    assert _offers(sm_no_retry, plan, DurationHours=48) == []


def test_market_caps_duration_and_sets_price_currency_variants(
    sim: Any, sm_no_retry: Any, plan: str
) -> None:
    sim.market.set_terms(
        "ext",
        price_per_instance_hour=Decimal("10.005"),
        currency="EUR",
        max_duration_hours=72,
        variants=("exact",),
    )
    [offer] = _offers(sm_no_retry, plan, DurationHours=48)
    assert offer["CurrencyCode"] == "EUR"
    assert offer["UpfrontFee"] == "1920.96"  # 10.005 * 4 * 48, to the cent
    assert _offers(sm_no_retry, plan, DurationHours=96) == []


def test_market_price_changes_over_time(
    sim: Any, sm_no_retry: Any, plan: str, clock: ManualClock, t0: datetime
) -> None:
    later = (t0 + timedelta(hours=1)).isoformat()
    sim.market.set_terms("ext", variants=("exact",), price_changes=((later, Decimal("200")),))
    [before] = _offers(sm_no_retry, plan, DurationHours=24)
    clock.advance(hours=1)
    [after] = _offers(sm_no_retry, plan, DurationHours=24)
    assert Decimal(before["UpfrontFee"]) == Decimal("98.32") * 4 * 24
    assert Decimal(after["UpfrontFee"]) == Decimal("200") * 4 * 24


def test_market_availability_is_deterministic_under_a_seed(make_sim: Any, t0: datetime) -> None:
    outcomes = []
    for _ in range(2):
        sim = make_sim(market=Market(default=MarketTerms(availability=0.5), seed=42))
        arn = sim.add_plan("coin", ends_at=t0 + timedelta(days=2))
        sm = _client()
        outcomes.append([bool(_offers(sm, arn, DurationHours=24)) for _ in range(16)])
    assert outcomes[0] == outcomes[1]
    assert True in outcomes[0] and False in outcomes[0]


# --- buying --------------------------------------------------------------------------------


def test_extend_happy_path(sim: Any, sm_no_retry: Any, plan: str, clock: ManualClock) -> None:
    old_end = sim.plan_end(plan)
    offer = next(
        o for o in _offers(sm_no_retry, plan, DurationHours=48) if o["StartDate"] == old_end
    )
    bought = sm_no_retry.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    [extension] = bought["TrainingPlanExtensions"]
    assert extension["TrainingPlanExtensionOfferingId"] == offer["TrainingPlanExtensionOfferingId"]
    assert (extension["Status"], extension["PaymentStatus"]) == ("Pending", "Pending")
    assert extension["ExtendedAt"] == clock.now()
    assert extension["StartDate"] == offer["StartDate"]
    assert extension["EndDate"] == offer["EndDate"]
    assert extension["UpfrontFee"] == offer["UpfrontFee"]
    assert extension["DurationHours"] == 48
    assert extension["AvailabilityZone"] == "us-east-1a"
    assert extension["AvailabilityZoneId"] == "use1-az1"

    # Default: the end date moves as soon as the extension is bought.
    described = sm_no_retry.describe_training_plan(TrainingPlanName=plan)
    assert described["EndTime"] == old_end + timedelta(hours=48)
    assert described["EndTime"].astimezone(UTC).time() == time(11, 30)
    # Adjacent capacity merges into one reserved-capacity segment.
    assert len(described["ReservedCapacitySummaries"]) == 1

    clock.advance(AFTER_PAYMENT)
    [done] = sm_no_retry.describe_training_plan_extension_history(TrainingPlanArn=plan)[
        "TrainingPlanExtensions"
    ]
    # The extension starts at the old end, two days out: it is Scheduled, its payment done.
    assert (done["Status"], done["PaymentStatus"]) == ("Scheduled", "Completed")
    clock.set(old_end)
    [active] = sm_no_retry.describe_training_plan_extension_history(TrainingPlanArn=plan)[
        "TrainingPlanExtensions"
    ]
    assert active["Status"] == "Active"
    assert sm_no_retry.describe_training_plan(TrainingPlanName=plan)["Status"] == "Active"
    clock.set(old_end + timedelta(hours=48))
    [over] = sm_no_retry.describe_training_plan_extension_history(TrainingPlanArn=plan)[
        "TrainingPlanExtensions"
    ]
    assert over["Status"] == "Expired"
    assert sm_no_retry.describe_training_plan(TrainingPlanName=plan)["Status"] == "Expired"

    [purchase] = sim.record.purchases
    assert purchase.offering_id == offer["TrainingPlanExtensionOfferingId"]
    assert purchase.fee == Decimal(offer["UpfrontFee"]) and not purchase.ambiguous


def test_extension_is_active_at_once_when_it_starts_before_payment_completes(
    make_sim: Any, clock: ManualClock, t0: datetime
) -> None:
    sim = make_sim(settings=SimSettings(payment_delay=timedelta(hours=3)))
    arn = sim.add_plan("soon", ends_at=t0 + timedelta(hours=1))  # ends today at 11:30
    sm = _client()
    offer = _offers(sm, arn, DurationHours=24)[0]
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    clock.advance(hours=3)
    [ext] = sm.describe_training_plan_extension_history(TrainingPlanArn=arn)[
        "TrainingPlanExtensions"
    ]
    assert (ext["Status"], ext["PaymentStatus"]) == ("Active", "Completed")


def test_end_time_moves_only_on_payment_when_so_configured(
    make_sim: Any, clock: ManualClock, t0: datetime
) -> None:
    sim = make_sim(settings=SimSettings(end_time_moves="on_payment"))
    arn = sim.add_plan("slow", ends_at=t0 + timedelta(days=2))
    old_end = sim.plan_end(arn)
    sm = _client()
    offer = next(o for o in _offers(sm, arn, DurationHours=72) if o["StartDate"] == old_end)
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    assert sm.describe_training_plan(TrainingPlanName=arn)["EndTime"] == old_end
    clock.advance(minutes=9)
    assert sm.describe_training_plan(TrainingPlanName=arn)["EndTime"] == old_end
    clock.advance(minutes=2)
    assert sm.describe_training_plan(TrainingPlanName=arn)["EndTime"] == old_end + timedelta(
        hours=72
    )


def test_failed_payment_reverts_the_end_time(
    sim: Any, sm_no_retry: Any, plan: str, clock: ManualClock
) -> None:
    sim.market.set_terms("ext", payment_failure_rate=1.0)
    old_end = sim.plan_end(plan)
    offer = next(
        o for o in _offers(sm_no_retry, plan, DurationHours=24) if o["StartDate"] == old_end
    )
    sm_no_retry.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )
    assert sm_no_retry.describe_training_plan(TrainingPlanName=plan)["EndTime"] == old_end + (
        timedelta(hours=24)
    )
    clock.advance(AFTER_PAYMENT)
    [ext] = sm_no_retry.describe_training_plan_extension_history(TrainingPlanArn=plan)[
        "TrainingPlanExtensions"
    ]
    assert (ext["Status"], ext["PaymentStatus"]) == ("Failed", "Failed")
    assert sm_no_retry.describe_training_plan(TrainingPlanName=plan)["EndTime"] == old_end
    # A failed payment no longer blocks a new purchase.
    again = next(
        o for o in _offers(sm_no_retry, plan, DurationHours=24) if o["StartDate"] == old_end
    )
    sim.market.set_terms("ext", payment_failure_rate=0.0)
    sm_no_retry.extend_training_plan(
        TrainingPlanExtensionOfferingId=again["TrainingPlanExtensionOfferingId"]
    )


def test_later_start_offering_leaves_a_gap(
    sim: Any, sm_no_retry: Any, plan: str, clock: ManualClock
) -> None:
    old_end = sim.plan_end(plan)
    later = next(
        o
        for o in _offers(sm_no_retry, plan, DurationHours=24)
        if o["StartDate"] == old_end + timedelta(days=1)
    )
    sm_no_retry.extend_training_plan(
        TrainingPlanExtensionOfferingId=later["TrainingPlanExtensionOfferingId"]
    )
    described = sm_no_retry.describe_training_plan(TrainingPlanName=plan)
    assert described["EndTime"] == later["EndDate"]
    assert [c["StartTime"] for c in described["ReservedCapacitySummaries"]][1] == later["StartDate"]
    assert len(described["ReservedCapacitySummaries"]) == 2
    clock.set(old_end + timedelta(hours=2))  # in the gap
    assert sm_no_retry.describe_training_plan(TrainingPlanName=plan)["Status"] == "Scheduled"
    clock.set(later["StartDate"])
    assert sm_no_retry.describe_training_plan(TrainingPlanName=plan)["Status"] == "Active"


def test_a_scheduled_plan_can_be_extended(sim: Any, sm_no_retry: Any, t0: datetime) -> None:
    arn = sim.add_plan("future", starts_at=t0 + timedelta(days=1), ends_at=t0 + timedelta(days=3))
    assert sm_no_retry.describe_training_plan(TrainingPlanName=arn)["Status"] == "Scheduled"
    offer = _offers(sm_no_retry, arn, DurationHours=24)[0]
    sm_no_retry.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )


# --- refusals ------------------------------------------------------------------------------


def test_stale_offering_is_resource_not_found(
    sm_no_retry: Any, plan: str, clock: ManualClock
) -> None:
    offer = _offers(sm_no_retry, plan, DurationHours=24)[0]
    clock.advance(minutes=31)  # offering_ttl is 30 minutes
    with pytest.raises(sm_no_retry.exceptions.ResourceNotFound):
        sm_no_retry.extend_training_plan(
            TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
        )
    assert (
        sm_no_retry.describe_training_plan_extension_history(TrainingPlanArn=plan)[
            "TrainingPlanExtensions"
        ]
        == []
    )


def test_offering_is_usable_until_its_ttl(make_sim: Any, clock: ManualClock, t0: datetime) -> None:
    sim = make_sim(settings=SimSettings(offering_ttl=timedelta(hours=2)))
    arn = sim.add_plan("ttl", ends_at=t0 + timedelta(days=2))
    sm = _client()
    offer = _offers(sm, arn, DurationHours=24)[0]
    clock.advance(minutes=119)
    sm.extend_training_plan(
        TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
    )


def test_reused_offering_is_resource_not_found(
    sm_no_retry: Any, plan: str, clock: ManualClock
) -> None:
    offer = _offers(sm_no_retry, plan, DurationHours=24)[0]
    offering_id = offer["TrainingPlanExtensionOfferingId"]
    sm_no_retry.extend_training_plan(TrainingPlanExtensionOfferingId=offering_id)
    clock.advance(AFTER_PAYMENT)  # not blocked by the pending payment: refused for reuse
    with pytest.raises(sm_no_retry.exceptions.ResourceNotFound):
        sm_no_retry.extend_training_plan(TrainingPlanExtensionOfferingId=offering_id)
    assert (
        len(
            sm_no_retry.describe_training_plan_extension_history(TrainingPlanArn=plan)[
                "TrainingPlanExtensions"
            ]
        )
        == 1
    )


def test_unknown_offering_is_resource_not_found(sim: Any, sm_no_retry: Any) -> None:
    with pytest.raises(sm_no_retry.exceptions.ResourceNotFound):
        sm_no_retry.extend_training_plan(TrainingPlanExtensionOfferingId="tpeo-000000000bad")


def test_second_purchase_while_payment_pending_is_refused(
    sim: Any, sm_no_retry: Any, plan: str
) -> None:
    first, second, _ = _offers(sm_no_retry, plan, DurationHours=24)
    sm_no_retry.extend_training_plan(
        TrainingPlanExtensionOfferingId=first["TrainingPlanExtensionOfferingId"]
    )
    with pytest.raises(ClientError) as err:
        sm_no_retry.extend_training_plan(
            TrainingPlanExtensionOfferingId=second["TrainingPlanExtensionOfferingId"]
        )
    assert _code(err) == "ValidationException"
    assert "pending" in err.value.response["Error"]["Message"]
    assert len(sim.record.purchases) == 1


def test_search_more_than_56_days_before_the_end_is_refused(
    sim: Any, sm_no_retry: Any, t0: datetime, clock: ManualClock
) -> None:
    arn = sim.add_plan("far", ends_at=t0 + timedelta(days=58))
    with pytest.raises(ClientError) as err:
        _offers(sm_no_retry, arn, DurationHours=24)
    assert _code(err) == "ValidationException"
    assert "56 days" in err.value.response["Error"]["Message"]
    clock.set(sim.plan_end(arn) - timedelta(days=56))
    assert _offers(sm_no_retry, arn, DurationHours=24)


def test_purchase_more_than_56_days_before_the_end_is_refused(
    sim: Any, sm_no_retry: Any, t0: datetime, clock: ManualClock
) -> None:
    arn = sim.add_plan("edge", ends_at=t0 + timedelta(days=50))
    end = sim.plan_end(arn)
    offers = {o["DurationHours"]: o for o in _offers(sm_no_retry, arn) if o["StartDate"] == end}
    # A two-week extension pushes the end past 56 days away...
    sm_no_retry.extend_training_plan(
        TrainingPlanExtensionOfferingId=offers[336]["TrainingPlanExtensionOfferingId"]
    )
    clock.advance(AFTER_PAYMENT)
    # ...so the other offering from the same search is now outside the window.
    with pytest.raises(ClientError) as err:
        sm_no_retry.extend_training_plan(
            TrainingPlanExtensionOfferingId=offers[24]["TrainingPlanExtensionOfferingId"]
        )
    assert _code(err) == "ValidationException"
    assert "56 days" in err.value.response["Error"]["Message"]


def test_purchase_in_the_last_hour_is_refused(
    sim: Any, sm_no_retry: Any, plan: str, clock: ManualClock
) -> None:
    end = sim.plan_end(plan)
    clock.set(end - timedelta(minutes=61))
    offer = _offers(sm_no_retry, plan, DurationHours=24)[0]
    clock.advance(minutes=2)
    with pytest.raises(ClientError) as err:
        sm_no_retry.extend_training_plan(
            TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
        )
    assert _code(err) == "ValidationException"
    with pytest.raises(ClientError) as err:
        _offers(sm_no_retry, plan, DurationHours=24)
    assert _code(err) == "ValidationException"
    assert sim.record.purchases == []


def test_expired_plan_cannot_be_extended(make_sim: Any, clock: ManualClock, t0: datetime) -> None:
    sim = make_sim(settings=SimSettings(offering_ttl=timedelta(hours=6)))
    arn = sim.add_plan("gone", ends_at=t0 + timedelta(hours=1))
    sm = _client()
    offer = _offers(sm, arn, DurationHours=24)[0]
    clock.advance(hours=3)
    assert sm.describe_training_plan(TrainingPlanName=arn)["Status"] == "Expired"
    for call in (
        lambda: _offers(sm, arn, DurationHours=24),
        lambda: sm.extend_training_plan(
            TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
        ),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert _code(err) == "ValidationException"
        assert "Expired" in err.value.response["Error"]["Message"]


def test_pending_plan_cannot_be_extended(sim: Any, sm_no_retry: Any) -> None:
    found = sm_no_retry.search_training_plan_offerings(
        InstanceType="ml.p5.48xlarge",
        InstanceCount=1,
        DurationHours=24,
        TargetResources=["training-job"],
    )
    arn = sm_no_retry.create_training_plan(
        TrainingPlanName="unpaid",
        TrainingPlanOfferingId=found["TrainingPlanOfferings"][0]["TrainingPlanOfferingId"],
    )["TrainingPlanArn"]
    with pytest.raises(ClientError) as err:
        _offers(sm_no_retry, arn, DurationHours=24)
    assert _code(err) == "ValidationException"
    assert "Pending" in err.value.response["Error"]["Message"]


def test_unknown_plan_is_resource_not_found(sim: Any, sm_no_retry: Any) -> None:
    ghost = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/ghost"
    with pytest.raises(sm_no_retry.exceptions.ResourceNotFound):
        _offers(sm_no_retry, ghost, DurationHours=24)
    with pytest.raises(sm_no_retry.exceptions.ResourceNotFound):
        sm_no_retry.describe_training_plan_extension_history(TrainingPlanArn=ghost)


# --- history -------------------------------------------------------------------------------


def test_history_paginates(sim: Any, sm_no_retry: Any, plan: str, clock: ManualClock) -> None:
    bought = []
    for _ in range(5):
        end = sim.plan_end(plan)
        offer = next(
            o for o in _offers(sm_no_retry, plan, DurationHours=24) if o["StartDate"] == end
        )
        sm_no_retry.extend_training_plan(
            TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
        )
        bought.append(offer["TrainingPlanExtensionOfferingId"])
        clock.advance(AFTER_PAYMENT)

    seen: list[str] = []
    kwargs: dict[str, Any] = {"TrainingPlanArn": plan, "MaxResults": 2}
    pages = 0
    while True:
        page = sm_no_retry.describe_training_plan_extension_history(**kwargs)
        pages += 1
        seen += [e["TrainingPlanExtensionOfferingId"] for e in page["TrainingPlanExtensions"]]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert pages == 3
    assert seen == bought  # oldest first

    paginator = sm_no_retry.get_paginator("describe_training_plan_extension_history")
    paged = [
        e["TrainingPlanExtensionOfferingId"]
        for page in paginator.paginate(TrainingPlanArn=plan, PaginationConfig={"PageSize": 1})
        for e in page["TrainingPlanExtensions"]
    ]
    assert paged == bought
    # The whole list also comes back from ExtendTrainingPlan itself.
    assert sim.plan_end(plan) - timedelta(days=5) == sim.plan("ext").base_end


def test_extend_returns_the_whole_extension_list(
    sim: Any, sm_no_retry: Any, plan: str, clock: ManualClock
) -> None:
    ids = []
    for _ in range(2):
        end = sim.plan_end(plan)
        offer = next(
            o for o in _offers(sm_no_retry, plan, DurationHours=24) if o["StartDate"] == end
        )
        response = sm_no_retry.extend_training_plan(
            TrainingPlanExtensionOfferingId=offer["TrainingPlanExtensionOfferingId"]
        )
        ids.append(offer["TrainingPlanExtensionOfferingId"])
        clock.advance(AFTER_PAYMENT)
    listed = [e["TrainingPlanExtensionOfferingId"] for e in response["TrainingPlanExtensions"]]
    assert listed == ids


def test_history_takes_an_arn_not_a_name(sim: Any, sm_no_retry: Any, t0: datetime) -> None:
    # A name long enough to pass botocore's client-side length check (50), so the server decides.
    name = "n" * 55
    arn = sim.add_plan(name, ends_at=t0 + timedelta(days=2))
    with pytest.raises(ClientError) as err:
        sm_no_retry.describe_training_plan_extension_history(TrainingPlanArn=name)
    assert _code(err) == "ValidationException"
    assert (
        sm_no_retry.describe_training_plan_extension_history(TrainingPlanArn=arn)[
            "TrainingPlanExtensions"
        ]
        == []
    )
