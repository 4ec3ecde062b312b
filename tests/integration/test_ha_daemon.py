"""Two daemons in one process sharing a DynamoDB journal and the simulator (moto in-process).

Only the lease holder reconciles and buys; a follower skips its cycles and reports leader 0;
a replica whose lease was taken over while it believed itself leader is fenced out of the
purchase; a journal table that cannot be written fails the cycle without buying anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from structlog.testing import capture_logs

from tests.integration.dynamodb_support import REGION, TABLE
from tests.integration.test_engine_support import client, config_dict, make_config
from watcher.clock import ManualClock
from watcher.config import load_config
from watcher.daemon import Daemon
from watcher.ha.leader import LeaseKeeper
from watcher.ha.lease import Lease
from watcher.journal.dynamodb import DynamoJournal
from watcher.journal.table import create_table
from watcher.observe.logs import get_logger

LEASE = timedelta(seconds=60)
RENEW = timedelta(seconds=15)


@pytest.fixture
def world(sim: Any, clock: ManualClock) -> Iterator[tuple[Any, str]]:
    """The simulator with one plan that needs an extension; the journal table created."""
    end = clock.now() + timedelta(hours=40)
    sim.add_plan("llm-a", ends_at=end, starts_at=clock.now() - timedelta(days=3))
    sim.add_job("run", plan="llm-a", max_runtime=timedelta(days=6))
    create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    [plan] = client().list_training_plans()["TrainingPlanSummaries"]
    yield sim, plan["TrainingPlanArn"]


def daemon(clock: ManualClock, lease_clock: ManualClock, owner: str, tmp_path: Path) -> Daemon:
    config = make_config(tmp_path / "unused.db", state={"journal": f"dynamodb://{TABLE}"})
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    journal = DynamoJournal(TABLE, dynamodb, lease_clock)
    built = Daemon(config, clock=clock, journal=journal, listen=("127.0.0.1", 0))
    lease = Lease(dynamodb, TABLE, owner, LEASE, lease_clock)
    built.leadership = LeaseKeeper(lease, RENEW, lease_clock, get_logger(), built._leader_changed)
    built.reconciler = built._reconciler(config)
    return built


def extensions(arn: str) -> list[dict[str, Any]]:
    history = client().describe_training_plan_extension_history(TrainingPlanArn=arn)
    return list(history["TrainingPlanExtensions"])


def leader_gauge(d: Daemon) -> float | None:
    return d.registry.get_sample_value("plan_watcher_leader")


def test_only_the_lease_holder_reconciles(
    world: tuple[Any, str], clock: ManualClock, tmp_path: Path
) -> None:
    _, arn = world
    lease_clock = ManualClock(clock.now())
    a = daemon(clock, lease_clock, "a", tmp_path)
    b = daemon(clock, lease_clock, "b", tmp_path)
    with capture_logs() as logs:
        a.leadership.start()
        b.leadership.start()
        skipped = b.run_cycle()
        cycle = a.run_cycle()
        a.leadership.stop()
        b.leadership.stop()

    assert skipped is None and b.cycles == 0
    assert cycle is not None
    assert [r.decision.kind.value for r in cycle.results] == ["extended"]
    assert len(extensions(arn)) == 1
    events = [(line["event"], line.get("fence")) for line in logs]
    assert ("leader_acquired", 1) in events and ("not_leader", None) in events
    assert b.ready()[0] and b.healthy()[0]  # a follower stands by, healthy and ready


def test_the_leader_gauge_follows_the_lease(
    world: tuple[Any, str], clock: ManualClock, tmp_path: Path
) -> None:
    lease_clock = ManualClock(clock.now())
    a = daemon(clock, lease_clock, "a", tmp_path)
    b = daemon(clock, lease_clock, "b", tmp_path)
    with capture_logs():
        a.leadership.start()
        b.leadership.start()
        assert (leader_gauge(a), leader_gauge(b)) == (1.0, 0.0)
        lease_clock.advance(LEASE)  # a stalls past its lease
        assert isinstance(b.leadership, LeaseKeeper) and isinstance(a.leadership, LeaseKeeper)
        b.leadership.beat()
        a.leadership.beat()
        a.leadership.stop()
        b.leadership.stop()
    assert (leader_gauge(a), leader_gauge(b)) == (0.0, 0.0)  # b released it on stop


def test_a_leader_that_lost_its_lease_mid_cycle_is_fenced_out(
    world: tuple[Any, str], clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, arn = world
    lease_clock = ManualClock(clock.now())
    a = daemon(clock, lease_clock, "a", tmp_path)
    b = daemon(clock, lease_clock, "b", tmp_path)
    assert isinstance(a.leadership, LeaseKeeper) and isinstance(b.leadership, LeaseKeeper)
    with capture_logs() as logs:
        a.leadership.beat()
        lease_clock.advance(LEASE)
        b.leadership.beat()  # b takes over while a is stalled
        # a's cycle began while it still led (its check passed just before the stall).
        monkeypatch.setattr(a.leadership, "is_leader", lambda: True)
        stale = a.run_cycle()
        assert extensions(arn) == []
        fresh = b.run_cycle()

    assert stale is not None and fresh is not None
    [held] = stale.results
    assert held.decision.kind.value == "in_flight"
    assert "not the leader any more" in held.decision.reason
    assert [r.decision.kind.value for r in fresh.results] == ["extended"]
    assert len(extensions(arn)) == 1
    assert "purchase_fenced" in [line["event"] for line in logs]


def test_an_unwritable_journal_fails_the_cycle_and_buys_nothing(
    world: tuple[Any, str], clock: ManualClock, tmp_path: Path
) -> None:
    _, arn = world
    lease_clock = ManualClock(clock.now())
    a = daemon(clock, lease_clock, "a", tmp_path)
    with capture_logs() as logs:
        a.leadership.beat()  # type: ignore[attr-defined]
        boto3.client("dynamodb", region_name=REGION).delete_table(TableName=TABLE)
        assert a.run_cycle() is None
        assert a.run_cycle() is None  # the daemon goes on; the cycle fails again

    assert extensions(arn) == []
    crashes = [line for line in logs if line["event"] == "cycle_crashed"]
    assert len(crashes) == 2
    assert "DynamoDB journal" in crashes[0]["error"]


def test_a_reload_keeps_the_journal_and_lease_it_started_with(tmp_path: Path) -> None:
    path = tmp_path / "watcher.yaml"
    data = config_dict(tmp_path / "journal.db")
    path.write_text(yaml.safe_dump(data))
    started = Daemon(load_config(path), path, listen=("127.0.0.1", 0))
    data["state"] = {"journal": f"dynamodb://{TABLE}", "lease": {"duration": "30s"}}
    data["poll"] = {"interval": "7m"}
    path.write_text(yaml.safe_dump(data))

    with capture_logs() as logs:
        started._reload_config()
        started._apply_pending_config()

    assert started.config.poll.interval == timedelta(minutes=7)  # the rest applies
    assert started.config.state.sqlite_path == str(tmp_path / "journal.db")
    assert started.config.state.lease.duration == timedelta(seconds=60)
    assert "config_reload_partial" in [line["event"] for line in logs]
    started.journal.close()
