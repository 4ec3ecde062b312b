"""Stage 2: no_demand, demand_covered, and the Need in hours AWS sells."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from watcher.decide import (
    Action,
    Facts,
    Need,
    PolicyRules,
    UnattributedUse,
    acting_rules,
    assess,
    assess_demand,
    choose,
)
from watcher.decide.assess import Due
from watcher.decide.demand import pushed_by_pauses
from watcher.model import (
    Capacity,
    Consumer,
    ConsumerKind,
    Decision,
    DecisionKind,
    ExtensionOffering,
    Money,
    Plan,
    PlanStatus,
    UnknownJob,
)

END = datetime(2025, 10, 1, 11, 30, tzinfo=UTC)
NOW = END - timedelta(hours=48)
PLAN = Plan(
    arn="arn:aws:sagemaker:us-east-1:111122223333:training-plan/llm-a",
    name="llm-a",
    target="prod",
    status=PlanStatus.ACTIVE,
    start_time=END - timedelta(days=14),
    end_time=END,
    upfront_fee=Money.parse("40000.00 USD"),
)
RULES = PolicyRules(name="llm", min_duration=timedelta(days=1), max_duration=timedelta(days=14))


def job(name: str, end: datetime) -> Consumer:
    return Consumer(ConsumerKind.JOB, name, f"arn:job/{name}", PLAN.arn, "InProgress", end)


def cluster(name: str) -> Consumer:
    return Consumer(ConsumerKind.CLUSTER, name, f"arn:cluster/{name}", PLAN.arn, "InService", None)


def need(result: Decision | Need) -> Need:
    assert isinstance(result, Need), result
    return result


def test_nothing_uses_the_plan_is_no_demand() -> None:
    result = assess_demand(PLAN, RULES, [], NOW)
    assert isinstance(result, Decision) and result.kind is DecisionKind.NO_DEMAND
    assert result.next_action == NOW and result.deadline == END - timedelta(hours=2)


def test_jobs_ending_before_the_plan_is_demand_covered() -> None:
    last = END - timedelta(minutes=30)  # SageMaker stops jobs 30 minutes before the end
    jobs = [job("a", END - timedelta(hours=5)), job("b", last)]
    result = assess_demand(PLAN, RULES, jobs, NOW)
    assert isinstance(result, Decision) and result.kind is DecisionKind.DEMAND_COVERED
    assert result.demand_end == last and "job b" in result.reason


def test_a_job_sized_to_the_plan_end_needs_an_extension() -> None:
    """SageMaker stops a job 30 minutes before its plan ends: a job whose MaxRuntime reaches
    the end (or its last half hour) would be killed without an extension."""
    result = need(assess_demand(PLAN, RULES, [job("a", END - timedelta(minutes=10))], NOW))
    assert result.duration_hours == 24
    assert "30m" in result.reason


def test_a_cluster_needs_the_plan_an_hour_past_its_own_end() -> None:
    ending = Consumer(
        ConsumerKind.CLUSTER,
        "c",
        "arn:cluster/c",
        PLAN.arn,
        "InService",
        END - timedelta(minutes=45),
    )
    assert isinstance(need(assess_demand(PLAN, RULES, [ending], NOW)), Need)
    early = Consumer(
        ConsumerKind.CLUSTER, "c", "arn:cluster/c", PLAN.arn, "InService", END - timedelta(hours=1)
    )
    covered = assess_demand(PLAN, RULES, [early], NOW)
    assert isinstance(covered, Decision) and covered.kind is DecisionKind.DEMAND_COVERED


def test_a_job_running_past_the_end_needs_whole_days_rounded_up() -> None:
    result = need(assess_demand(PLAN, RULES, [job("a", END + timedelta(days=2, hours=1))], NOW))
    assert result.duration_hours == 72
    assert result.demand_end == END + timedelta(days=2, hours=1)
    assert "job a" in result.reason and "need 50h" in result.reason  # 49h + the 30m cutoff


def test_a_short_overrun_is_raised_to_min_duration() -> None:
    rules = PolicyRules(name="llm", min_duration=timedelta(days=3))
    result = need(assess_demand(PLAN, rules, [job("a", END + timedelta(minutes=1))], NOW))
    assert result.duration_hours == 72


def test_over_two_weeks_rounds_up_to_whole_weeks() -> None:
    rules = PolicyRules(name="llm", max_duration=timedelta(days=182))
    result = need(assess_demand(PLAN, rules, [job("a", END + timedelta(days=15))], NOW))
    assert result.duration_hours == 21 * 24


def test_rounding_past_max_duration_asks_for_the_largest_sellable_and_says_partial() -> None:
    rules = PolicyRules(name="llm", max_duration=timedelta(days=20))
    result = need(assess_demand(PLAN, rules, [job("a", END + timedelta(days=15))], NOW))
    assert result.duration_hours == 14 * 24
    assert "partly covered" in result.reason


def test_demand_beyond_max_duration_is_capped_and_partial() -> None:
    result = need(assess_demand(PLAN, RULES, [job("a", END + timedelta(days=40))], NOW))
    assert result.duration_hours == 14 * 24 and "partly covered" in result.reason


def test_a_cluster_is_unbounded_demand_so_max_duration() -> None:
    consumers = [job("a", END + timedelta(days=1)), cluster("hp")]
    result = need(assess_demand(PLAN, RULES, consumers, NOW))
    assert result.duration_hours == 14 * 24 and result.demand_end is None
    assert "cluster hp" in result.reason


def test_without_require_demand_the_plan_is_kept_alive_for_max_duration() -> None:
    rules = PolicyRules(name="keep", require_demand=False, max_duration=timedelta(days=7))
    assert need(assess_demand(PLAN, rules, [], NOW)).duration_hours == 168
    covered = [job("a", END - timedelta(days=1))]
    result = need(assess_demand(PLAN, rules, covered, NOW))
    assert result.duration_hours == 168 and result.demand_end == END - timedelta(days=1)


def test_max_duration_below_one_day_can_buy_nothing() -> None:
    rules = PolicyRules(name="tiny", min_duration=timedelta(0), max_duration=timedelta(hours=12))
    result = assess_demand(PLAN, rules, [job("a", END + timedelta(hours=3))], NOW)
    assert isinstance(result, Decision) and result.kind is DecisionKind.NO_OFFERING
    assert "shortest extension AWS sells" in result.reason


def test_odd_max_duration_is_respected() -> None:
    rules = PolicyRules(name="odd", max_duration=timedelta(days=10, hours=5))
    result = need(assess_demand(PLAN, rules, [cluster("hp")], NOW))
    assert result.duration_hours == 240


def test_instances_in_use_with_no_consumer_found_need_min_duration() -> None:
    busy = replace(PLAN, in_use_instances=3)
    result = need(assess_demand(busy, replace(RULES, min_duration=timedelta(days=2)), [], NOW))
    assert (result.duration_hours, result.unattributed, result.demand_end) == (48, 3, None)
    assert result.reason.startswith("3 instances in use, no consumer found")


def test_instances_in_use_the_consumers_found_account_for_are_their_demand() -> None:
    busy = replace(PLAN, in_use_instances=3)
    early = replace(job("a", END - timedelta(hours=5)), instances=3)
    result = assess_demand(busy, RULES, [early], NOW)
    assert isinstance(result, Decision) and result.kind is DecisionKind.DEMAND_COVERED
    assert result.unattributed == 0


def test_instances_in_use_beyond_the_consumers_found_keep_the_plan() -> None:
    busy = replace(PLAN, in_use_instances=8)
    early = replace(job("a", END - timedelta(hours=5)), instances=2)
    other = replace(job("b", END - timedelta(hours=9)), instances=2)
    result = need(assess_demand(busy, RULES, [early, other], NOW))
    assert (result.duration_hours, result.unattributed, result.assumed) == (24, 4, True)
    assert result.demand_end is None
    assert result.reason.startswith(
        "8 instances in use, 4 of them by the consumers found (job a: 2, job b: 2): 4 in use by "
        "no consumer found; the plan is kept for min_duration (the consumers found alone: "
        "every consumer finishes before the plan ends"
    )


def test_a_job_waiting_for_capacity_accounts_for_no_instance() -> None:
    # AWS does not say whether InUseInstanceCount counts a job that waits: counting it could
    # hide another consumer behind it, so it is never counted.
    busy = replace(PLAN, in_use_instances=4)
    waiting = replace(job("a", END - timedelta(hours=5)), instances=4, waiting=True)
    result = need(assess_demand(busy, RULES, [waiting], NOW))
    assert (result.unattributed, result.assumed) == (4, True)
    assert "not counting job a waiting for capacity" in result.reason


def test_use_beside_a_consumer_that_needs_more_is_reported_not_acted_on() -> None:
    busy = replace(PLAN, in_use_instances=6)
    late = replace(job("a", END + timedelta(hours=30)), instances=2)
    result = need(assess_demand(busy, RULES, [late], NOW))
    assert (result.duration_hours, result.unattributed, result.assumed) == (48, 4, False)
    assert result.reason.endswith(
        "; also 6 instances in use, 2 of them by the consumers found "
        "(job a: 2): 4 in use by no consumer found"
    )
    rules = replace(RULES, on_unattributed_use=UnattributedUse.NOTIFY)
    assert acting_rules(rules, result).action == "extend"


def test_a_cluster_makes_instances_uncountable_and_the_need_unbounded() -> None:
    busy = replace(PLAN, in_use_instances=8)
    result = need(assess_demand(busy, RULES, [cluster("hp")], NOW))
    assert (result.duration_hours, result.unattributed) == (336, 0)


UNKNOWN = UnknownJob("mystery", "arn:job/mystery", "AccessDeniedException: not allowed")


@pytest.mark.parametrize(
    "consumers",
    [[], [job("a", END - timedelta(hours=5))]],
    ids=["otherwise no_demand", "otherwise demand_covered"],
)
def test_a_job_that_could_not_be_described_keeps_the_plan(consumers: list[Consumer]) -> None:
    result = need(assess_demand(PLAN, RULES, consumers, NOW, [UNKNOWN]))
    assert (result.duration_hours, result.unknown_jobs, result.assumed) == (24, 1, True)
    assert result.reason.startswith(
        "1 running job(s) could not be described (mystery: AccessDeniedException: not allowed) "
        "and may run on this plan; the plan is kept for min_duration"
    )


def test_a_job_that_could_not_be_described_never_stops_an_extension() -> None:
    late = job("a", END + timedelta(hours=30))
    alone = need(assess_demand(PLAN, RULES, [late], NOW))
    result = need(assess_demand(PLAN, RULES, [late], NOW, [UNKNOWN]))
    assert (result.duration_hours, result.unknown_jobs, result.assumed) == (48, 1, False)
    assert result.reason.startswith(alone.reason + "; also 1 running job(s) could not be")
    assert need(assess_demand(PLAN, replace(RULES, require_demand=False), [], NOW, [UNKNOWN]))


def test_assess_acts_on_a_job_that_could_not_be_described_as_on_unattributed_use_says() -> None:
    # The facts a cycle gathers for a due plan carry the jobs it could not describe.
    rules = replace(RULES, on_unattributed_use=UnattributedUse.PROPOSE)
    facts = Facts(PLAN, rules, NOW, consumers=(), unknown=(UNKNOWN,))
    verdict = assess(facts)
    assert isinstance(verdict, Due), verdict
    assert (verdict.need.duration_hours, verdict.need.unknown_jobs) == (24, 1)
    assert verdict.rules.action == "propose"
    alone = assess(replace(facts, unknown=()))
    assert isinstance(alone, Decision) and alone.kind is DecisionKind.NO_DEMAND


OFFER = ExtensionOffering(
    "tpeo-a", PLAN.arn, "us-east-1a", END, END + timedelta(days=1), 24, Money.parse("900 USD")
)
#: The plan's deadline is 09:30 (end less the 2h margin); less three polls of 5m 30s and the
#: 15m retry_backoff, its last safe cycle is 08:58:30.
LAST_SAFE = datetime(2025, 10, 1, 8, 58, 30, tzinfo=UTC)


def _chosen(
    now: datetime, rules: PolicyRules = RULES, in_use: int = 0, late: bool = False
) -> Decision:
    """A due plan decided through assess and choose with one job that could not be described
    (and, if `late`, a job found that needs a day more)."""
    plan = replace(PLAN, in_use_instances=in_use, availability_zones=("us-east-1a",))
    found = (job("late", END + timedelta(hours=20)),) if late else ()
    verdict = assess(Facts(plan, rules, now, consumers=found, unknown=(UNKNOWN,)))
    assert isinstance(verdict, Due), verdict
    return choose(plan, verdict.rules, verdict.need, [OFFER], [], now, "enforce")


def test_a_purchase_resting_only_on_undescribed_jobs_waits_for_the_last_safe_cycle() -> None:
    waiting = _chosen(NOW)
    assert waiting.kind is DecisionKind.NOT_DUE and waiting.window_hold, waiting.reason
    assert waiting.next_action == LAST_SAFE and waiting.chosen == OFFER
    assert (
        "the purchase waits for the 1 running job(s) that could not be described to be "
        "described (each cycle tries again), or until the last safe cycle 2025-10-01T08:58:30Z"
    ) in waiting.reason
    assert _chosen(LAST_SAFE - timedelta(seconds=1)).kind is DecisionKind.NOT_DUE
    bought = _chosen(LAST_SAFE)
    assert bought.kind is DecisionKind.EXTENDED and bought.chosen == OFFER, bought.reason
    # It holds no purchase that other demand makes: instances in use by nothing found (that
    # use is real) are bought for at once, as before.
    assert _chosen(NOW, in_use=3).kind is DecisionKind.EXTENDED
    # A job found needs the extension anyway.
    assert _chosen(NOW, late=True).kind is DecisionKind.EXTENDED
    # A proposal costs nothing: made at once; a report likewise.
    proposing = replace(RULES, on_unattributed_use=UnattributedUse.PROPOSE)
    assert _chosen(NOW, proposing).kind is DecisionKind.PROPOSED
    notifying = replace(RULES, on_unattributed_use=UnattributedUse.NOTIFY)
    assert _chosen(NOW, notifying).kind is DecisionKind.WOULD_EXTEND


@pytest.mark.parametrize(
    ("action", "on_unattributed", "acted"),
    [
        ("extend", "extend", "extend"),
        ("extend", "propose", "propose"),
        ("extend", "notify", "notify"),
        ("propose", "extend", "propose"),
        ("notify", "propose", "notify"),
        ("propose", "notify", "notify"),
    ],
)
def test_unattributed_demand_is_acted_on_with_the_more_cautious_action(
    action: Action, on_unattributed: UnattributedUse, acted: str
) -> None:
    rules = replace(RULES, action=action, on_unattributed_use=on_unattributed)
    unattributed = Need(
        24, None, "3 instances in use, no consumer found", unattributed=3, assumed=True
    )
    assert acting_rules(rules, unattributed).action == acted
    assert acting_rules(rules, replace(unattributed, assumed=False)).action == action


def _capacities(*spans: tuple[datetime, datetime, str]) -> Plan:
    return replace(PLAN, capacities=tuple(Capacity(a, b, z) for a, b, z in spans))


START = END - timedelta(days=14)


def test_a_job_counts_the_wait_between_two_capacities() -> None:
    plan = _capacities((START, END - timedelta(days=3), "a"), (END - timedelta(days=2), END, "a"))
    running = replace(job("a", END - timedelta(days=2, hours=6)), started=START)
    pushed = pushed_by_pauses(plan, running)
    # Stopped 30 minutes before the first capacity ends, back when the second starts.
    assert pushed.demand_end == END - timedelta(days=2, hours=6) + timedelta(days=1, minutes=30)


def test_a_job_waits_where_the_plan_moves_to_another_zone_but_not_where_it_carries_on() -> None:
    moved = _capacities((START, END - timedelta(days=1), "a"), (END - timedelta(days=1), END, "b"))
    kept = _capacities((START, END - timedelta(days=1), "a"), (END - timedelta(days=1), END, "a"))
    running = replace(job("a", END - timedelta(hours=6)), started=START)
    assert pushed_by_pauses(moved, running).demand_end == END - timedelta(hours=5, minutes=30)
    assert pushed_by_pauses(kept, running) == running


def test_pauses_before_a_job_started_or_after_it_ends_do_not_count() -> None:
    plan = _capacities((START, END - timedelta(days=3), "a"), (END - timedelta(days=2), END, "a"))
    late = replace(job("late", END - timedelta(hours=6)), started=END - timedelta(days=2))
    early = replace(job("early", END - timedelta(days=4)), started=START)
    assert pushed_by_pauses(plan, late) == late
    assert pushed_by_pauses(plan, early) == early
    assert pushed_by_pauses(plan, cluster("c")) == cluster("c")


def test_the_need_counts_the_wait_and_says_so() -> None:
    plan = _capacities((START, END - timedelta(days=3), "a"), (END - timedelta(days=2), END, "a"))
    running = replace(job("a", END - timedelta(hours=2)), started=START)
    result = need(assess_demand(plan, RULES, [running], NOW))
    assert result.duration_hours == 24
    assert "counting 1d 30m back in Pending between reserved capacities" in result.reason
