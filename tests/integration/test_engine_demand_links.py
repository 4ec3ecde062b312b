"""Demand that is there even when ListTrainingJobs does not say so: jobs linked to their plan
through DescribeTrainingJob (job-level plan, InstancePreferences), and a plan whose instances
are in use by nothing plan-watcher can find."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_engine_support import (
    Engine,
    by_name,
    kinds,
    make_config,
    no_retry_backoff,
    policy,
)
from watcher.clock import ManualClock
from watcher.decide.purchase_windows import last_safe_cycle
from watcher.notify.dedupe import Deduper
from watcher.notify.notice import NoticeKind, notices_for
from watcher.observe.metrics import build_registry
from watcher.sandbox.faults import Faults, ScriptedFault
from watcher.sandbox.settings import SimSettings

P5 = "ml.p5.48xlarge"
P4 = "ml.p4d.24xlarge"


def _plan(sim: Any, t0: datetime, name: str = "llm-a", **extra: Any) -> str:
    """A plan ending 50.5 h after t0: due under the 72 h window."""
    return str(sim.add_plan(name, ends_at=t0 + timedelta(hours=40), instance_count=4, **extra))


def _job(sim: Any, t0: datetime, arn: str, **placement: Any) -> None:
    """A job that runs 20 h past the plan's end (it needs one day)."""
    started = t0 - timedelta(days=1)
    runtime = sim.plan_end(arn) - started + timedelta(hours=20)
    sim.add_job("run", started_at=started, max_runtime=runtime, **placement)


def _engine(tmp_path: Path, clock: ManualClock, **rules: Any) -> Engine:
    config = make_config(tmp_path / "j.db", policies=[policy(**rules)])
    return Engine(config, clock, tmp_path / "j.db")


def test_a_job_placed_through_instance_preferences_is_demand_for_its_plan(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = _plan(sim, t0)
    _plan(sim, t0, "llm-b")
    _job(sim, t0, arn, plan=None, preferences=[(P5, "llm-a"), (P4, "llm-b")])
    engine = _engine(tmp_path, clock, require_demand=True)

    first, calls = engine.cycle()

    result = by_name(first)["llm-a"]
    assert result.decision.kind.value == "extended"
    assert [c.name for c in result.consumers] == ["run"]
    # It was placed on its first preference: the other plan it listed stays idle.
    assert kinds(first)["llm-b"] == "no_demand"
    assert calls["DescribeTrainingJob"] == 1
    clock.advance(minutes=5)
    _, calls = engine.cycle()
    assert calls["DescribeTrainingJob"] == 0  # cached: a steady cycle describes nothing


def test_a_job_not_placed_yet_is_demand_for_every_plan_it_lists(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    arn = _plan(sim, t0)
    _plan(sim, t0, "llm-b")
    prefs = [(P5, "llm-a"), (P4, "llm-b")]
    _job(sim, t0, arn, plan=None, preferences=prefs, nothing_selected=True)
    engine = _engine(tmp_path, clock, require_demand=True)

    first, _ = engine.cycle()

    assert kinds(first) == {"llm-a": "extended", "llm-b": "extended"}


def test_a_job_whose_summary_names_no_plan_is_linked_by_describing_it(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim = make_sim(settings=SimSettings(summary_plan_arn="never"))
    arn = _plan(sim, t0)
    _job(sim, t0, arn, plan="llm-a")
    sim.add_job("elsewhere", plan=None, max_runtime=timedelta(days=9))  # on no plan at all
    engine = _engine(tmp_path, clock, require_demand=True)

    first, calls = engine.cycle()

    assert kinds(first)["llm-a"] == "extended"
    assert calls["DescribeTrainingJob"] == 2
    clock.advance(minutes=5)
    _, calls = engine.cycle()
    assert calls["DescribeTrainingJob"] == 0


def _denied(job: str) -> Faults:
    """DescribeTrainingJob refused for `job` for good (AccessDenied: an IAM condition, say)."""
    return Faults(scripted=[ScriptedFault("DescribeTrainingJob", "denied", plan=job, times=99)])


def test_a_job_that_cannot_be_described_is_demand_for_every_plan_and_stops_none(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim = make_sim(settings=SimSettings(summary_plan_arn="never"), faults=_denied("mystery"))
    arn = _plan(sim, t0)
    _job(sim, t0, arn, plan="llm-a")
    _plan(sim, t0, "llm-idle")
    sim.add_job("mystery", plan="llm-a", max_runtime=timedelta(days=9))
    engine = _engine(tmp_path, clock, require_demand=True, on_unattributed_use="notify")

    cycles = [engine.cycle()[0]]
    for _ in range(2):
        clock.advance(minutes=5)
        cycles.append(engine.cycle()[0])

    # llm-a's own job needs a day more: bought, whatever the unknown job is.
    assert by_name(cycles[0])["llm-a"].decision.kind.value == "extended"
    for cycle in cycles:
        # The refusal is permanent: every cycle decides from what is known. Nothing found runs
        # on llm-idle, but the unknown job may: never no_demand.
        idle = by_name(cycle)["llm-idle"].decision
        assert idle.kind.value == "would_extend", idle.reason
        assert "policy action is notify" in idle.reason
        assert idle.unknown_jobs == 1
        assert idle.reason.startswith(
            "1 running job(s) could not be described (mystery: AccessDeniedException"
        )
    assert [p.duration_hours for p in sim.record.purchases] == [24]  # llm-a's, once
    [told, *_] = engine.events("job_undescribed")
    assert told["job"] == "mystery" and "AccessDenied" in told["error"]
    assert len(engine.events("job_undescribed")) == 3  # once per cycle, not once per plan
    told = {n.plan_name: n.summary for n in notices_for(cycles[0])}
    assert "1 running training job(s) that could not be described" in told["llm-idle"]
    registry, _, snapshot = build_registry(engine.counter, {})
    snapshot.update(cycle)
    labels = {"plan": "llm-idle", "target": "default"}
    assert registry.get_sample_value("plan_watcher_plan_unknown_jobs", labels) == 1.0


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (_denied("mystery"), "AccessDenied"),
        (  # a 200 whose body is not JSON: botocore reads an empty description
            Faults(
                scripted=[
                    ScriptedFault(
                        "DescribeTrainingJob",
                        "lost",
                        plan="mystery",
                        times=99,
                        ambiguous_mode="not_json",
                    )
                ]
            ),
            "Malformed",
        ),
    ],
    ids=["denied", "malformed"],
)
def test_a_job_naming_its_plan_that_cannot_be_described_is_demand_for_that_plan_only(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, fault: Faults, error: str
) -> None:
    sim = make_sim(faults=fault)
    _plan(sim, t0)
    _plan(sim, t0, "llm-idle")
    sim.add_job("mystery", plan="llm-a", max_runtime=timedelta(days=9))
    engine = _engine(tmp_path, clock, require_demand=True)

    first, _ = engine.cycle()

    assert kinds(first) == {"llm-a": "extended", "llm-idle": "no_demand"}
    decision = by_name(first)["llm-a"].decision
    assert decision.need_hours == 24  # min_duration: how long it runs is not known
    assert decision.unknown_jobs == 1
    # Its instances show in llm-a's InUseInstanceCount: use nothing found accounts for, which
    # is bought at once (the guess alone waits: below).
    assert decision.unattributed > 0
    assert f"; 1 running job(s) could not be described (mystery: {error}" in decision.reason


def _throttled(job: str, attempts: int) -> Faults:
    """DescribeTrainingJob throttled for `job` through `attempts` attempts: one cycle's worth
    of botocore's retries, then it answers again."""
    return Faults(
        scripted=[ScriptedFault("DescribeTrainingJob", "throttle", plan=job, times=attempts)]
    )


def _idle_beside_an_undescribed_job(
    make_sim: Any, t0: datetime, tmp_path: Path, clock: ManualClock, fault: Faults
) -> tuple[Any, Engine]:
    """An idle due plan, llm-idle, and a job running on a plan far from due whose summary
    names no plan, so while it cannot be described it may run on llm-idle."""
    sim = make_sim(settings=SimSettings(summary_plan_arn="never"), faults=fault)
    _plan(sim, t0, "llm-idle")
    sim.add_plan("llm-far", ends_at=t0 + timedelta(days=30), instance_count=4)
    sim.add_job("mystery", plan="llm-far", max_runtime=timedelta(days=9))
    engine = Engine(
        make_config(tmp_path / "j.db", policies=[policy(require_demand=True)]),
        clock,
        tmp_path / "j.db",
        read_attempts=3,
    )
    return sim, engine


def test_one_cycle_a_job_cannot_be_described_buys_nothing_for_an_idle_plan(
    make_sim: Any,
    clock: ManualClock,
    t0: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    no_retry_backoff(monkeypatch)
    fault = _throttled("mystery", 3)
    sim, engine = _idle_beside_an_undescribed_job(make_sim, t0, tmp_path, clock, fault)

    first, calls = engine.cycle()

    assert calls["DescribeTrainingJob"] == 3  # throttled through botocore's retries
    held = by_name(first)["llm-idle"].decision
    assert held.kind.value == "not_due" and held.window_hold, held.reason
    assert held.unknown_jobs == 1 and held.need_hours == 24
    assert held.deadline is not None and held.next_action is not None
    poll = engine.config.poll.interval + engine.config.poll.jitter
    last = last_safe_cycle(held.deadline, poll, engine.config.safety.retry_backoff)
    assert held.next_action == last and last - clock.now() > timedelta(hours=30)
    assert "running job(s) that could not be described to be described" in held.reason
    assert f"or until the last safe cycle {last.strftime('%Y-%m-%dT%H:%M:%SZ')}" in held.reason
    assert calls["ExtendTrainingPlan"] == 0
    clock.advance(minutes=5)
    second, calls = engine.cycle()

    # Described: it runs on llm-far, so nothing uses llm-idle and nothing was bought.
    assert calls["DescribeTrainingJob"] == 1
    assert kinds(second)["llm-idle"] == "no_demand"
    assert by_name(second)["llm-idle"].decision.unknown_jobs == 0
    assert sim.record.purchases == []


def test_a_job_that_stays_undescribed_buys_at_the_last_safe_cycle(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sim, engine = _idle_beside_an_undescribed_job(make_sim, t0, tmp_path, clock, _denied("mystery"))

    first, _ = engine.cycle()
    held = by_name(first)["llm-idle"].decision
    assert held.kind.value == "not_due" and held.next_action is not None, held.reason
    clock.set(held.next_action - timedelta(minutes=1))
    before, _ = engine.cycle()
    assert kinds(before)["llm-idle"] == "not_due"
    assert sim.record.purchases == []
    clock.set(held.next_action)

    last, calls = engine.cycle()

    bought = by_name(last)["llm-idle"].decision
    assert bought.kind.value == "extended", bought.reason
    assert bought.deadline is not None and clock.now() < bought.deadline
    assert calls["ExtendTrainingPlan"] == 1
    assert [p.duration_hours for p in sim.record.purchases] == [24]


def _unattributed(
    sim: Any, t0: datetime, tmp_path: Path, clock: ManualClock, **rules: Any
) -> Engine:
    """A due plan with 3 instances in use by nothing the simulator lists."""
    _plan(sim, t0, unlisted_in_use=3)
    return _engine(tmp_path, clock, require_demand=True, **rules)


def test_instances_in_use_with_no_consumer_found_are_never_no_demand(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    engine = _unattributed(sim, t0, tmp_path, clock)

    first, _ = engine.cycle()

    result = by_name(first)["llm-a"]
    assert result.decision.kind.value == "extended"
    assert "3 instances in use, no consumer found" in result.decision.reason
    assert result.decision.need_hours == 24  # min_duration
    assert result.decision.unattributed == 3
    [event] = engine.events("unattributed_use")
    assert (event["in_use"], event["action"]) == (3, "extend")
    [purchase] = sim.record.purchases
    assert purchase.duration_hours == 24
    # A notice, told once per plan end, and a per-plan gauge.
    deduper = Deduper()
    told = [n.kind for n in deduper.admit(first, notices_for(first))]
    assert NoticeKind.UNATTRIBUTED_USE in told
    registry, _, snapshot = build_registry(engine.counter, {})
    snapshot.update(first)
    labels = {"plan": "llm-a", "target": "default"}
    assert registry.get_sample_value("plan_watcher_plan_unattributed_instances", labels) == 3.0


def test_on_unattributed_use_notify_only_reports(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    engine = _unattributed(sim, t0, tmp_path, clock, on_unattributed_use="notify")

    first, calls = engine.cycle()

    decision = by_name(first)["llm-a"].decision
    assert decision.kind.value == "would_extend"
    assert "policy action is notify" in decision.reason
    assert calls["ExtendTrainingPlan"] == 0
    clock.advance(minutes=5)
    second, _ = engine.cycle()
    deduper = Deduper()
    assert NoticeKind.UNATTRIBUTED_USE in [n.kind for n in deduper.admit(first, notices_for(first))]
    assert NoticeKind.UNATTRIBUTED_USE not in [
        n.kind for n in deduper.admit(second, notices_for(second))
    ]


def test_on_unattributed_use_propose_waits_for_approval_under_an_extend_policy(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    engine = _unattributed(sim, t0, tmp_path, clock, on_unattributed_use="propose")

    first, calls = engine.cycle()

    result = by_name(first)["llm-a"]
    assert result.decision.kind.value == "proposed"
    assert result.proposal is not None and result.proposal_created
    assert calls["ExtendTrainingPlan"] == 0
    assert [p.plan_name for p in engine.reconciler.journal.proposals()] == ["llm-a"]


def _short_job(sim: Any, t0: datetime, instances: int, **extra: Any) -> None:
    """A job on llm-a that ends 10 h before the plan: alone, it needs no extension."""
    started = t0 - timedelta(days=1)
    runtime = sim.plan_end("llm-a") - started - timedelta(hours=10)
    sim.add_job(
        "short",
        plan="llm-a",
        started_at=started,
        max_runtime=runtime,
        instance_count=instances,
        **extra,
    )


def test_instances_in_use_beyond_the_jobs_found_keep_the_plan(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _plan(sim, t0, unlisted_in_use=2)
    _short_job(sim, t0, instances=2)
    engine = _engine(tmp_path, clock, require_demand=True)

    first, _ = engine.cycle()

    result = by_name(first)["llm-a"]
    assert [c.name for c in result.consumers] == ["short"]
    assert result.decision.kind.value == "extended", result.decision.reason
    assert result.decision.need_hours == 24  # min_duration
    assert result.decision.unattributed == 2
    assert (
        "4 instances in use, 2 of them by the consumers found (job short: 2): 2 in use by no "
        "consumer found; the plan is kept for min_duration (the consumers found alone: every "
        "consumer finishes before the plan ends"
    ) in result.decision.reason
    [event] = engine.events("unattributed_use")
    assert (event["in_use"], event["unattributed"], event["assumed"]) == (4, 2, True)
    assert [p.duration_hours for p in sim.record.purchases] == [24]
    told = [n.kind for n in Deduper().admit(first, notices_for(first))]
    assert NoticeKind.UNATTRIBUTED_USE in told


def test_instances_in_use_all_held_by_the_jobs_found_are_their_demand_only(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _plan(sim, t0)
    _short_job(sim, t0, instances=3)
    engine = _engine(tmp_path, clock, require_demand=True)

    first, calls = engine.cycle()

    result = by_name(first)["llm-a"]
    assert result.plan is not None and result.plan.in_use_instances == 3
    assert result.decision.kind.value == "demand_covered", result.decision.reason
    assert result.decision.unattributed == 0
    assert calls["ExtendTrainingPlan"] == 0
    assert engine.events("unattributed_use") == []


def test_a_waiting_job_counted_in_use_by_aws_never_hides_use(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    # AWS does not say whether InUseInstanceCount counts a job waiting for capacity. Where it
    # does, the waiting job's instances are in use by no consumer plan-watcher counts them for.
    sim = make_sim(settings=SimSettings(in_use_counts_pending=True))
    _plan(sim, t0)
    _short_job(sim, t0, instances=2, waiting=True)
    engine = _engine(tmp_path, clock, require_demand=True, on_unattributed_use="propose")

    first, calls = engine.cycle()

    result = by_name(first)["llm-a"]
    assert result.decision.kind.value == "proposed", result.decision.reason
    assert "not counting job short waiting for capacity: 2 in use by no consumer found" in (
        result.decision.reason
    )
    assert calls["ExtendTrainingPlan"] == 0
