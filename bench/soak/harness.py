"""The soak run: plan-watcher's Reconciler against the in-process simulator, on a ManualClock.

One step per poll interval: resources whose time has come are seeded into the simulator, a
crash point may be armed, one cycle runs, and the clock moves on. A crash (or any exception,
which is itself a violation) abandons the Reconciler: its journal is closed and a new one is
built on the same journal file with new gateways and caches, as a restarted process would.
Latency and botocore's retry back-off pass in simulated time, so nothing sleeps.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.retries import standard

from bench.soak.crash import POINTS, THREADED, CrashSwitch, GatewayFactory, SoakCrash
from bench.soak.logsink import EventSink
from bench.soak.worldgen import PlanSpec, SoakWorld
from watcher.app import build_gateways
from watcher.aws.calls import CallCounter
from watcher.clock import ManualClock
from watcher.config import Config, parse_config
from watcher.journal.sqlite import SqliteJournal
from watcher.reconcile import Reconciler
from watcher.sandbox import Simulator, sandboxed
from watcher.sandbox.answers import AmbiguousMode
from watcher.sandbox.faults import FaultKind, Faults, OperationFaults, ScriptedFault
from watcher.sandbox.market import Market
from watcher.sandbox.settings import SimSettings

# The fault mix: 10% throttling, 2% 5xx, 1% ambiguous purchases, added latency.
READ_FAULTS = OperationFaults(
    throttle_rate=0.10, error_rate=0.02, latency_ms=150, slow_rate=0.02, slow_ms=20_000
)
PURCHASE_FAULTS = OperationFaults(
    throttle_rate=0.10,
    error_rate=0.02,
    latency_ms=400,
    slow_rate=0.02,
    slow_ms=20_000,
    ambiguous_rate=0.01,
    ambiguous_mode="drop",
)


JOB_TYPE = "ml.p5.48xlarge"
# Purchases answered badly for certain, armed at these shares of the run, each firing on the
# next purchase that reaches AWS: a 200 whose body is not JSON after the extension was made, a
# connection reset after the write, and a 200 with an empty body for a request that was lost.
SCRIPTED_AMBIGUITY: tuple[tuple[float, FaultKind, AmbiguousMode], ...] = (
    (0.2, "ambiguous", "not_json"),
    (0.5, "ambiguous", "drop"),
    (0.75, "lost", "empty"),
)
# What AWS does not document, switched to the answers plan-watcher must not rely on: the
# extension listed under an ID of its own, and the history showing it only after 5 minutes.
SOAK_SETTINGS = SimSettings(extension_ids="own", history_delay=timedelta(minutes=5))


@dataclass
class Run:
    """What the harness saw, besides the simulator's record."""

    world: SoakWorld
    journal_path: Path
    cycle_starts: list[datetime] = field(default_factory=list)
    restarts: dict[str, int] = field(default_factory=dict)
    crashes: list[str] = field(default_factory=list)  # unexpected exceptions: violations
    cycle_errors: int = 0
    sink: EventSink = field(default_factory=EventSink)
    counter: CallCounter = field(default_factory=CallCounter)


class SimulatedWaits:
    """Latency and back-off as simulated time, the same whatever the threads do.

    Waits in the main thread (phase 2: purchases, resolving intents) move the clock at once.
    Waits in the survey's per-target threads are added up and moved after the cycle: moving
    the shared clock from several threads would make what each call sees depend on how the
    threads interleave.
    """

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._owed = timedelta(0)

    def wait(self, seconds: float) -> None:
        step = timedelta(seconds=seconds)
        if threading.current_thread() is threading.main_thread():
            self.clock.advance(step)
            return
        with self._lock:
            self._owed += step

    def settle(self) -> None:
        with self._lock:
            owed, self._owed = self._owed, timedelta(0)
        self.clock.advance(owed)


def soak_faults(seed: int, waits: SimulatedWaits) -> Faults:
    return Faults(
        default=READ_FAULTS,
        per_operation={"ExtendTrainingPlan": PURCHASE_FAULTS},
        seed=seed,
        sleep=False,
        wait=waits.wait,
        per_caller=True,
    )


@contextmanager
def backoff_in_simulated_time(waits: SimulatedWaits) -> Iterator[None]:
    """botocore's retry back-off passes in simulated time, without its random jitter (the
    jitter draws from the unseeded global random module)."""
    original = standard.ExponentialBackoff.delay_amount

    def delay(self: Any, context: Any) -> float:
        waits.wait(0.5 * min(20.0, 2.0 ** (context.attempt_number - 1)))
        return 0.0

    standard.ExponentialBackoff.delay_amount = delay  # type: ignore[method-assign]
    try:
        yield
    finally:
        standard.ExponentialBackoff.delay_amount = original  # type: ignore[method-assign]


class Seeder:
    """Puts the world's plans, jobs and clusters into the simulator when their time comes."""

    def __init__(self, world: SoakWorld, sim: Simulator) -> None:
        self.sim = sim
        self.world = world
        events: list[tuple[datetime, int, Callable[[], None]]] = []
        for n, plan in enumerate(world.plans):
            events.append((plan.announce_at, n, self._plan_adder(plan.name)))
        for n, job in enumerate(world.jobs):
            at = max(job.start, world.plan(job.plan).announce_at)
            events.append((at, n, self._job_adder(job.name)))
        for n, cluster in enumerate(world.clusters):
            at = max(cluster.start, world.plan(cluster.plan).announce_at)
            events.append((at, n, self._cluster_adder(cluster.name)))
        # Plans first at equal times, so consumers always find theirs.
        events.sort(key=lambda e: (e[0], e[2].__name__ != "add_plan", e[1]))
        self._events = events
        self._next = 0

    def until(self, now: datetime) -> None:
        while self._next < len(self._events) and self._events[self._next][0] <= now:
            self._events[self._next][2]()
            self._next += 1

    def _plan_adder(self, name: str) -> Callable[[], None]:
        plan = self.world.plan(name)

        def add_plan() -> None:
            self.sim.add_plan(
                plan.name,
                ends_at=plan.end,
                starts_at=plan.start,
                account=plan.target.account,
                region=plan.target.region,
                instance_count=plan.instances,
                market=plan.market,
                failed=plan.failed,
                unlisted_in_use=plan.unlisted_in_use,
                **ultraserver(plan),
            )

        return add_plan

    def _job_adder(self, name: str) -> Callable[[], None]:
        job = next(j for j in self.world.jobs if j.name == name)
        plan = self.world.plan(job.plan)

        def add_job() -> None:
            placed = {"preferences": [(JOB_TYPE, plan.arn)]} if job.by_preference else {}
            self.sim.add_job(
                job.name,
                plan=None if job.by_preference else plan.arn,
                **placed,
                started_at=job.start,
                max_runtime=job.max_runtime,
                account=plan.target.account,
                region=plan.target.region,
                instance_count=job.instances,
            )

        return add_job

    def _cluster_adder(self, name: str) -> Callable[[], None]:
        cluster = next(c for c in self.world.clusters if c.name == name)
        plan = self.world.plan(cluster.plan)

        def add_cluster() -> None:
            self.sim.add_cluster(
                cluster.name,
                groups=[("controller", None, 1), ("workers", plan.arn, cluster.instances)],
                created_at=cluster.start,
                delete_at=cluster.delete_at,
                account=plan.target.account,
                region=plan.target.region,
            )

        return add_cluster


def ultraserver(plan: PlanSpec) -> dict[str, Any]:
    if not plan.ultraserver:
        return {}
    return {
        "instance_type": "ml.p6e-gb200.36xlarge",
        "ultraserver_type": "ml.u-p6e-gb200x72",
        "ultraserver_count": 1,
    }


def load_config(world: SoakWorld, journal: Path) -> Config:
    return parse_config(world.config(str(journal)), environ={"AWS_REGION": "us-east-1"})


def run_soak(
    world: SoakWorld,
    workdir: Path,
    *,
    crash_every: int = 100,
    check: Callable[[Simulator, Run], Any] | None = None,
) -> tuple[Run, Any]:
    """Run the world to its end; `check(sim, run)` is called before the simulator goes away."""
    clock = ManualClock(world.start)
    run = Run(world, workdir / "journal.db")
    config = load_config(world, run.journal_path)
    switch = CrashSwitch()
    factory = GatewayFactory(switch)
    waits = SimulatedWaits(clock)
    faults = soak_faults(world.seed, waits)
    market = Market(seed=world.seed)
    scripted = {int(share * world.cycles): (kind, mode) for share, kind, mode in SCRIPTED_AMBIGUITY}
    with sandboxed(clock, SOAK_SETTINGS, market, faults) as sim, backoff_in_simulated_time(waits):
        seeder = Seeder(world, sim)

        def start() -> Reconciler:
            gateways = build_gateways(config, run.counter, factory)
            journal = SqliteJournal(run.journal_path)
            return Reconciler(config, clock, journal, gateways, log=run.sink.bound())

        reconciler = start()
        step = world.start
        cycle = 0
        armed_at = 0
        point = 0
        while step < world.end:
            if clock.now() < step:
                clock.set(step)
            seeder.until(clock.now())
            # A point in the survey threads that was not reached soon gives way to the next;
            # a purchase point waits for the next purchase.
            due = bool(crash_every) and cycle % crash_every == crash_every // 2
            stale = switch.armed is not None and switch.armed[0] in THREADED
            stale = stale and cycle - armed_at >= 3 * crash_every
            if due and (switch.armed is None or stale):
                name = POINTS[point % len(POINTS)]
                target = world.targets[point // len(POINTS) % len(world.targets)].name
                switch.arm(name, target if name in THREADED else None)
                point += 1
                armed_at = cycle
            if cycle in scripted:
                kind, mode = scripted[cycle]
                faults.scripted.append(ScriptedFault("ExtendTrainingPlan", kind, None, 1, mode))
            run.cycle_starts.append(clock.now())
            try:
                result = reconciler.run_cycle()
                run.cycle_errors += int(result.failed)
            except SoakCrash as crash:
                run.restarts[str(crash)] = run.restarts.get(str(crash), 0) + 1
                reconciler.close()
                reconciler.journal.close()
                reconciler = start()
            except Exception:  # a crash nobody injected: the invariant "no crash"
                run.crashes.append(traceback.format_exc())
                reconciler.close()
                reconciler.journal.close()
                reconciler = start()
            waits.settle()
            cycle += 1
            step += world.poll
        # Epilogue: faults stop, the last open intents get time to settle, a final start
        # resolves them (so every purchase can be matched with its journal entry).
        switch.disarm()
        faults.default = OperationFaults()
        faults.per_operation = {}
        faults.scripted = []
        reconciler.close()
        reconciler.journal.close()
        clock.advance(config.safety.settle_after + SOAK_SETTINGS.history_delay + world.poll)
        reconciler = start()
        reconciler.resolve_open_intents()
        reconciler.close()
        reconciler.journal.close()
        checked = check(sim, run) if check is not None else None
    return run, checked
