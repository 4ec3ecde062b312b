"""`plan-watcher sandbox`: the daemon against the embedded simulator, narrated for a newcomer.

The simulator runs in-process with the `demo` scenario on a simulated clock (`ManualClock`)
that moves one poll interval per cycle (so the story is the same on a slow machine as on a fast
one); the real daemon (scheduler, journal, metrics endpoint) reconciles against it through real
boto3 calls.
After each cycle a line per change is printed: what each plan is doing, what was bought, and
the spend. It stops by itself once the story's simulated hours have passed.
"""

from __future__ import annotations

import socket
import sys
import tempfile
from datetime import datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import TextIO

import boto3
import yaml

from watcher.aws.calls import CallCounter
from watcher.aws.sagemaker import SageMakerGateway
from watcher.aws.session import TargetSpec
from watcher.clock import ManualClock, SystemClock
from watcher.config import parse_config
from watcher.daemon import Daemon
from watcher.exit_codes import ExitCode
from watcher.model import DecisionKind
from watcher.observe.logs import configure
from watcher.results import CycleResult


def _sandbox_gateway(spec: TargetSpec, counter: CallCounter) -> SageMakerGateway:
    session = boto3.Session(
        region_name=spec.region, aws_access_key_id="sandbox", aws_secret_access_key="sandbox"
    )
    return SageMakerGateway(spec, session, counter)


def _free(host: str, port: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _left(now: datetime, when: datetime) -> str:
    hours = (when - now).total_seconds() / 3600
    return f"{hours:5.1f}h"


class Narrator:
    """Prints what changed after each cycle, in simulated time."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.last: dict[str, str] = {}
        self.bought = 0

    def __call__(self, cycle: CycleResult) -> None:
        now = cycle.started_at
        stamp = now.strftime("%a %d %b %H:%M UTC")
        for result in cycle.results:
            decision = result.decision
            key = f"{decision.kind.value}"
            if self.last.get(result.plan_name) == key and result.purchase is None:
                continue
            self.last[result.plan_name] = key
            left = _left(now, result.plan.end_time) if result.plan else "    -"
            self._say(f"[{stamp}] {result.plan_name:<16} ends in {left}  {decision.kind.value}")
            self._say(f"    {decision.reason}")
            if result.purchase is not None:
                if decision.kind is DecisionKind.EXTENDED:
                    self.bought += 1
                self._say(f"    purchase: {result.purchase.result.value}")
        for budget in cycle.budgets:
            if any(r.purchase is not None for r in cycle.results):
                self._say(
                    f"    budget {budget.state.name}: {budget.state.spent} spent "
                    f"of {budget.state.limit} in its {budget.budget.window} window"
                )

    def _say(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def run_sandbox(
    speed: float = 7200.0,
    hours: float = 60.0,
    port: int = 9108,
    out: TextIO | None = None,
) -> ExitCode:
    """Tell the demo story; return `ExitCode.OK` when it has been told."""
    from watcher.sandbox import sandboxed
    from watcher.sandbox.scenario import load_scenario

    out = out or sys.stdout
    scenario = load_scenario("demo")
    raw = yaml.safe_load((resources.files("watcher.sandbox") / "configs" / "demo.yaml").read_text())
    with tempfile.TemporaryDirectory(prefix="plan-watcher-sandbox-") as tmp:
        raw["state"]["journal"] = str(Path(tmp) / "journal.db")
        config = parse_config(raw)
        configure(config.logging.level.value, config.logging.format.value, out)
        start = scenario.start or SystemClock().now()
        clock = ManualClock(start)
        step = config.poll.interval
        host = config.metrics.host
        listen = (host, _free(host, port))
        with sandboxed(clock, scenario.settings, scenario.market, scenario.faults) as sim:
            scenario.seed(sim)
            print("plan-watcher sandbox: the daemon against a simulated AWS account", file=out)
            print(
                f"  simulated clock starts {start:%a %d %b %H:%M UTC}, running {speed:g}x; "
                f"story length {hours:g} simulated hours",
                file=out,
            )
            print(f"  metrics: http://{listen[0]}:{listen[1]}/metrics  (also /status)", file=out)
            for line in scenario.story:
                print(f"  - {line}", file=out)
            print("", file=out, flush=True)
            narrator = Narrator(out)
            end = start + timedelta(hours=hours)

            def after_cycle(cycle: CycleResult) -> None:
                narrator(cycle)
                if clock.advance(step) >= end:
                    daemon.request_stop()

            daemon = Daemon(
                config,
                clock=clock,
                interval_seconds=step.total_seconds() / speed,
                jitter_seconds=0,
                factory=_sandbox_gateway,
                on_cycle=after_cycle,
                listen=listen,
            )
            daemon.run()
            record = sim.record
            print("", file=out)
            print("The story, from the simulator's own record:", file=out)
            for purchase in record.purchases:
                plan = purchase.plan_arn.rsplit("/", 1)[-1]
                note = " (the caller saw an error)" if purchase.ambiguous else ""
                print(
                    f"  bought {purchase.duration_hours}h for {plan} at "
                    f"{purchase.at:%a %H:%M} for {purchase.fee} {purchase.currency}{note}",
                    file=out,
                )
            for cut in record.interruptions:
                plan = cut.plan_arn.rsplit("/", 1)[-1]
                print(
                    f"  {cut.kind} {cut.consumer} lost its capacity on {plan} at {cut.at:%a %H:%M}",
                    file=out,
                )
            if not record.interruptions:
                print("  no job lost its capacity", file=out)
            total = sum((p.fee for p in record.purchases), Decimal(0))
            print(f"  spent {total} USD on {len(record.purchases)} extension(s)", file=out)
            print(f"  cycles run: {daemon.cycles}", file=out, flush=True)
    return ExitCode.OK
