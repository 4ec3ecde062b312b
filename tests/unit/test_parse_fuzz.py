"""watcher.aws.parse under generated AWS items: any value in any field either parses into a
domain value or raises Malformed naming the item; nothing else ever escapes, because one
exception from a parser would fail the whole target (every plan in it), not one plan."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.aws.parse import (
    JobFacts,
    Malformed,
    money,
    parse_cluster_summary,
    parse_extension,
    parse_job,
    parse_job_summary,
    parse_offering,
    parse_plan,
)

ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/llm-a"
WHEN = datetime(2026, 3, 4, 11, 30, tzinfo=UTC)

values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=10),
        st.sampled_from(["12,000.00", "NaN", "", "1e3", "-5", "Active", "Pending", "USD", ARN]),
        st.datetimes(),
        st.datetimes(timezones=st.just(UTC)),
        st.decimals(),
        st.binary(max_size=4),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)

PLAN = {
    "TrainingPlanArn": ARN,
    "TrainingPlanName": "llm-a",
    "Status": "Active",
    "StartTime": WHEN,
    "EndTime": WHEN,
    "UpfrontFee": "100.00",
    "CurrencyCode": "USD",
    "TotalInstanceCount": 4,
    "InUseInstanceCount": 2,
    "AvailableInstanceCount": 2,
    "TargetResources": ["training-job"],
    "ReservedCapacitySummaries": [
        {"InstanceType": "ml.p5.48xlarge", "AvailabilityZone": "us-east-1a", "Status": "Active"}
    ],
}
OFFERING = {
    "TrainingPlanExtensionOfferingId": "tpeo-1",
    "AvailabilityZone": "us-east-1a",
    "StartDate": WHEN,
    "EndDate": WHEN,
    "DurationHours": 24,
    "UpfrontFee": "9438.72",
    "CurrencyCode": "USD",
}
EXTENSION = {
    **OFFERING,
    "ExtendedAt": WHEN,
    "Status": "Pending",
    "PaymentStatus": "Pending",
    "AvailabilityZoneId": "use1-az1",
}
JOB = {
    "TrainingJobName": "run",
    "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/run",
    "TrainingJobStatus": "InProgress",
    "CreationTime": WHEN,
    "TrainingStartTime": WHEN,
    "TrainingPlanArn": ARN,
    "ResourceConfig": {"TrainingPlanArn": ARN},
    "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
}
CLUSTER = {
    "ClusterName": "c",
    "ClusterArn": "arn:aws:sagemaker:us-east-1:123456789012:cluster/c",
    "ClusterStatus": "InService",
    "TrainingPlanArns": [ARN],
}

PARSERS: dict[str, tuple[Mapping[str, Any], Callable[[Mapping[str, Any]], object]]] = {
    "plan": (PLAN, lambda item: parse_plan(item, "default")),
    "offering": (OFFERING, lambda item: parse_offering(item, ARN)),
    "extension": (EXTENSION, lambda item: parse_extension(item, ARN)),
    "job summary": (JOB, parse_job_summary),
    "job": (JOB, parse_job),
    "cluster": (CLUSTER, parse_cluster_summary),
}


@st.composite
def damaged(draw: st.DrawFn, base: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with some fields replaced by junk, some dropped and maybe some added."""
    item = dict(base)
    for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=4, unique=True)):
        if draw(st.booleans()):
            item[key] = draw(values)
        else:
            del item[key]
    item.update(draw(st.dictionaries(st.text(max_size=6), values, max_size=2)))
    return item


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_the_undamaged_items_parse(kind: str) -> None:
    base, parse = PARSERS[kind]
    assert parse(base) is not None


@pytest.mark.parametrize(
    ("parse", "damage"),
    [
        (parse_job_summary, {"CreationTime": None}),
        (parse_job, {"TrainingStartTime": None, "CreationTime": None}),
        (parse_job, {"StoppingCondition": {"MaxRuntimeInSeconds": 10**12}}),
    ],
)
def test_a_damaged_job_with_an_empty_name_is_named_by_its_arn(
    parse: Callable[[Mapping[str, Any]], object], damage: dict[str, Any]
) -> None:
    with pytest.raises(Malformed) as caught:
        parse({**JOB, "TrainingJobName": "", **damage})
    assert caught.value.ref == JOB["TrainingJobArn"]


@pytest.mark.parametrize("kind", sorted(PARSERS))
@settings(max_examples=100, derandomize=True, database=None, deadline=None)
@given(data=st.data())
def test_a_damaged_item_parses_or_is_malformed(kind: str, data: st.DataObject) -> None:
    base, parse = PARSERS[kind]
    item = data.draw(damaged(base))
    try:
        parsed = parse(item)
    except Malformed as exc:
        assert exc.ref and exc.reason
        return
    usable(parsed)


def usable(value: object) -> None:
    """What parses can be reasoned with: every time is UTC and survives the longest duration
    a config allows (520 weeks) either way, and a job's demand end can be computed."""
    longest = timedelta(weeks=520)
    for name in ("start_time", "end_time", "start", "end", "extended_at", "created_at"):
        moment = getattr(value, name, None)
        if moment is not None:
            assert moment.tzinfo is UTC
            assert moment - longest < moment + longest
    if isinstance(value, JobFacts) and value.max_runtime is not None:
        assert value.start + value.max_runtime > value.start


@pytest.mark.parametrize(
    "fee",
    ["12,000.00", "NaN", "", "1e3", "1E+3", "-5.00", "Infinity", "1_000", "١٠٠", " ", None, 5],
)
def test_only_plain_decimal_fees_are_money(fee: object) -> None:
    with pytest.raises(ValueError, match="UpfrontFee"):
        money({"UpfrontFee": fee, "CurrencyCode": "USD"})


@pytest.mark.parametrize("currency", ["", "US", "US Dollar", "U$D", None, 840])
def test_only_three_letter_currencies_are_money(currency: object) -> None:
    with pytest.raises(ValueError, match="CurrencyCode"):
        money({"UpfrontFee": "1.00", "CurrencyCode": currency})


def test_plain_fees_are_exact() -> None:
    parsed = money({"UpfrontFee": " 0012000.50 ", "CurrencyCode": "usd"})
    assert (parsed.amount, parsed.currency) == (Decimal("12000.50"), "USD")


@pytest.mark.parametrize(
    ("status", "payment", "in_flight"),
    [
        ("PENDING", "Completed", True),
        (" pending ", "Completed", True),
        ("Active", "Payment Pending", True),
        ("Active", "payment_pending", True),
        ("Active", "PaymentCompleted", False),
        ("Active", None, False),
        (None, None, True),  # no status at all is not known to be settled
    ],
)
def test_extension_statuses_are_read_in_any_spelling(
    status: object, payment: object, in_flight: bool
) -> None:
    extension = parse_extension({**EXTENSION, "Status": status, "PaymentStatus": payment}, ARN)
    assert extension.in_flight is in_flight


def test_a_history_entry_keeps_its_identity_when_its_other_fields_are_junk() -> None:
    junk = {"ExtendedAt": "yesterday", "StartDate": 0, "DurationHours": -24, "UpfrontFee": "x"}
    extension = parse_extension({**EXTENSION, **junk}, ARN)
    assert extension.offering_id == "tpeo-1" and extension.in_flight
    assert (extension.extended_at, extension.start, extension.duration_hours) == (None, None, None)
    assert extension.upfront_fee is None


# Found by the test above, kept as fixed examples (each once crashed with a TypeError or
# OverflowError instead of parsing or raising Malformed).
FOUND: list[tuple[str, dict[str, Any]]] = [
    ("plan", {"TargetResources": 1}),
    ("plan", {"ReservedCapacitySummaries": True}),
    ("plan", {"EndTime": datetime(1, 1, 1, tzinfo=UTC)}),
    ("plan", {"EndTime": datetime(9999, 12, 31)}),  # noqa: DTZ001 - naive on purpose
    ("offering", {"StartDate": datetime.max.replace(tzinfo=UTC)}),
    ("offering", {"AvailabilityZone": ["us-east-1a"]}),
    ("cluster", {"TrainingPlanArns": 5}),
    ("cluster", {"ClusterName": None, "ClusterArn": ""}),
    ("job", {"StoppingCondition": {"MaxRuntimeInSeconds": 10**15}}),
]


@pytest.mark.parametrize(("kind", "fields"), FOUND, ids=[f"{k}-{sorted(f)[0]}" for k, f in FOUND])
def test_found_damage_parses_or_is_malformed(kind: str, fields: dict[str, Any]) -> None:
    base, parse = PARSERS[kind]
    try:
        parsed = parse({**base, **fields})
    except Malformed as exc:
        assert exc.ref and exc.reason
        return
    usable(parsed)
    if kind == "offering":
        assert getattr(parsed, "availability_zone", None) is None


@pytest.mark.parametrize("kind", sorted(PARSERS))
@pytest.mark.parametrize("item", ["llm-a", None, ["TrainingPlanArn"], 7])
def test_an_item_that_is_not_a_structure_is_malformed(kind: str, item: Any) -> None:
    _, parse = PARSERS[kind]
    with pytest.raises(Malformed, match="is not a structure"):
        parse(item)
