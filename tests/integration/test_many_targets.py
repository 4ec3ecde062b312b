"""Several targets (one account each, reached through its own role) in one cycle: a target
whose role cannot be assumed is reported and marked down while the others are reconciled,
budgets span targets, and each target assumes its role once while the credentials last."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
import structlog
import yaml
from botocore.exceptions import ClientError
from prometheus_client import generate_latest

from tests.integration.test_engine_support import (
    DAY_FEE_4,
    REGION,
    by_name,
    config_dict,
    kinds,
    make_config,
    policy,
)
from tests.integration.test_notify_support import due_with_job
from watcher import app
from watcher.aws.calls import CallCounter
from watcher.aws.sagemaker import SageMakerGateway
from watcher.aws.session import TargetSpec, target_session
from watcher.cli import main
from watcher.clock import Clock, ManualClock, SystemClock
from watcher.config import Config
from watcher.journal.sqlite import SqliteJournal
from watcher.observe.metrics import build_registry
from watcher.reconcile import Reconciler
from watcher.sandbox import sandboxed

ACCOUNTS = {"prod": "111111111111", "research": "222222222222", "broken": "333333333333"}
FEE = Decimal(DAY_FEE_4)


def _role(target: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[target]}:role/plan-watcher"


def _targets(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "region": REGION, "role_arn": _role(n)} for n in names]


class Sts:
    """A base session whose AssumeRole calls are counted per role, and refused for the roles
    in `denied` with AccessDenied, as STS answers when the trust policy does not allow it."""

    def __init__(self, denied: set[str]) -> None:
        self.denied = denied
        self.calls: Counter[str] = Counter()
        self.session = boto3.Session(region_name=REGION)
        self.session.events.register("before-parameter-build.sts.AssumeRole", self._assume)

    def _assume(self, params: dict[str, Any], **_: Any) -> None:
        role = str(params["RoleArn"])
        self.calls[role] += 1
        if role in self.denied:
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDenied",
                        "Message": f"User is not authorized to perform: sts:AssumeRole on {role}",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                },
                "AssumeRole",
            )

    def factory(self, spec: TargetSpec, counter: CallCounter) -> SageMakerGateway:
        return SageMakerGateway(spec, target_session(spec, self.session), counter, read_attempts=1)


def _due(sim: Any, name: str, target: str, ends_at: datetime, now: datetime) -> str:
    return due_with_job(sim, name, ends_at, now, ACCOUNTS[target])


def _three_targets(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> tuple[Sts, Reconciler]:
    """A due plan under a job in each account; the broken target's role is refused."""
    for target in ACCOUNTS:
        _due(sim, f"{target}-llm", target, t0 + timedelta(hours=40), t0)
    sts = Sts(denied={_role("broken")})
    config = make_config(tmp_path / "j.db", targets=_targets("prod", "research", "broken"))
    return sts, _reconciler(config, clock, sts, tmp_path / "j.db")


def _reconciler(config: Config, clock: Clock, sts: Sts, journal: Path) -> Reconciler:
    return app.build_reconciler(
        config, clock, SqliteJournal(journal), CallCounter(), factory=sts.factory
    )


def _target_up(cycle: Any) -> dict[str, float]:
    registry, _, snapshot = build_registry(CallCounter(), {})
    snapshot.update(cycle)
    found: dict[str, float] = {}
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("plan_watcher_target_up{"):
            labels, value = line.split(" ")
            found[labels.split('"')[1]] = float(value)
    return found


def test_a_role_that_cannot_be_assumed_downs_only_its_target(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sts, reconciler = _three_targets(sim, clock, t0, tmp_path)

    cycle = reconciler.run_cycle()

    assert kinds(cycle) == {"prod-llm": "extended", "research-llm": "extended"}
    assert {r.target for r in cycle.results} == {"prod", "research"}
    bought = {p.plan_arn.split(":")[4] for p in sim.record.purchases}
    assert bought == {ACCOUNTS["prod"], ACCOUNTS["research"]}
    [error] = cycle.errors
    assert error.startswith("target broken: denied:")
    assert f"cannot assume {_role('broken')} for target broken" in error
    assert cycle.target_up == {"prod": True, "research": True, "broken": False}
    assert cycle.failed
    assert _target_up(cycle) == {"broken": 0.0, "prod": 1.0, "research": 1.0}


def test_roles_are_assumed_once_per_target_and_a_fixed_role_recovers(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    sts, reconciler = _three_targets(sim, clock, t0, tmp_path)

    for _ in range(3):
        reconciler.run_cycle()
        clock.advance(minutes=5)
    # Credentials are kept per target and reused while valid; a refused role is asked again
    # every cycle, so fixing its trust policy needs no restart.
    assert sts.calls == {_role("prod"): 1, _role("research"): 1, _role("broken"): 3}

    sts.denied.clear()
    cycle = reconciler.run_cycle()

    assert cycle.errors == [] and cycle.target_up["broken"] is True
    assert by_name(cycle)["broken-llm"].decision.kind.value == "extended"
    assert sts.calls[_role("broken")] == 4 and sts.calls[_role("prod")] == 1


def test_a_budget_spanning_two_targets_refuses_the_purchase_that_would_break_it(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path
) -> None:
    _due(sim, "prod-llm", "prod", t0 + timedelta(hours=40), t0)  # the earlier deadline
    _due(sim, "research-llm", "research", t0 + timedelta(hours=64), t0)
    sts = Sts(denied=set())
    budgets = [{"name": "shared", "limit": f"{FEE + FEE / 2} USD", "window": "calendar-month"}]
    config = make_config(
        tmp_path / "j.db",
        targets=_targets("prod", "research"),
        budgets=budgets,
        policies=[policy(extend_before="96h")],
    )
    reconciler = _reconciler(config, clock, sts, tmp_path / "j.db")

    cycle = reconciler.run_cycle()

    assert kinds(cycle) == {"prod-llm": "extended", "research-llm": "over_budget"}
    refused = by_name(cycle)["research-llm"].decision.reason
    assert "budget shared" in refused
    assert [p.plan_arn.split(":")[4] for p in sim.record.purchases] == [ACCOUNTS["prod"]]
    # The next cycle counts prod's purchase (from AWS's record in prod's account) against
    # research's plan too.
    clock.advance(minutes=15)
    again = reconciler.run_cycle()
    [spent] = again.budgets
    assert spent.state.spent.amount == FEE
    assert kinds(again)["research-llm"] == "over_budget"
    assert len(sim.record.purchases) == 1


@pytest.fixture
def _restore_logging() -> Any:
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("_restore_logging")
def test_once_exits_1_and_prints_the_reachable_targets_decisions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sts = Sts(denied={_role("broken")})

    # The CLI builds its sessions itself; give them the refusing STS as their base.
    def session(spec: TargetSpec, counter: CallCounter | None = None) -> Any:
        return target_session(spec, sts.session, counter)

    monkeypatch.setattr(app, "target_session", session)
    path = tmp_path / "watcher.yaml"
    data = config_dict(tmp_path / "journal.db", targets=_targets("prod", "research", "broken"))
    path.write_text(yaml.safe_dump(data))
    with sandboxed(SystemClock()) as sim:
        now = datetime.now(UTC)
        for target in ACCOUNTS:
            _due(sim, f"{target}-llm", target, now + timedelta(hours=40), now)
        code = main(["once", "--config", str(path), "--output", "json"])
        purchases = len(sim.record.purchases)
    out = capsys.readouterr().out

    assert code == 1
    report = json.loads(out)
    decisions = {d["plan_name"]: (d["target"], d["decision"]) for d in report["decisions"]}
    assert decisions == {
        "prod-llm": ("prod", "extended"),
        "research-llm": ("research", "extended"),
    }
    assert purchases == 2
    [error] = report["errors"]
    assert "target broken" in error and "AccessDenied" in error
