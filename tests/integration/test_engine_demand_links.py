"""Demand that is there even when ListTrainingJobs does not say so: jobs linked to their plan
through DescribeTrainingJob (job-level plan, InstancePreferences), and a plan whose instances
are in use by nothing plan-watcher can find."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.integration.test_engine_support import Engine, by_name, kinds, make_config, policy
from watcher.clock import ManualClock
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


def test_a_running_job_that_cannot_be_described_makes_due_plans_errors_not_idle(
    make_sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    faults = Faults(scripted=[ScriptedFault("DescribeTrainingJob", "denied")])
    sim = make_sim(settings=SimSettings(summary_plan_arn="never"), faults=faults)
    arn = _plan(sim, t0)
    _job(sim, t0, arn, plan="llm-a")
    engine = _engine(tmp_path, clock, require_demand=True)

    first, calls = engine.cycle()

    decision = by_name(first)["llm-a"].decision
    assert decision.kind.value == "error"
    assert "cannot tell which plan 1 running job(s) use" in decision.reason
    assert calls["ExtendTrainingPlan"] == 0
    clock.advance(minutes=5)
    second, _ = engine.cycle()  # the job is described again, and the plan bought for
    assert kinds(second)["llm-a"] == "extended"


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
