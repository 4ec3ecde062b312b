"""The soak's world: targets, policies, budgets, plans, jobs, clusters and a market, from a seed.

Everything is generated up front as plain frozen values, so a run is repeatable and the
invariant checks can read the same policies the config was written from. Plan names carry
their family, and each family is matched by one policy (or none, for `scratch`):

- `llm`: training jobs, some running past the plan's end (extension needed), some not, some
  sized to end exactly when the plan ends; demand required, capped fee per hour;
- `hp`: HyperPod clusters (demand with no end), some deleted after a while;
- `batch`: kept alive whatever runs on it (`require_demand: false`), two extensions at most;
- `eval`: short jobs that mostly finish in time, or nothing at all;
- `scratch`: matched by no policy; its jobs are interrupted and that is nobody's fault.

Beside them, the simulator's richer cases: some `llm` jobs are placed through
`InstancePreferences` (no plan at job level), some idle `eval` plans have instances in use by
nothing the simulator lists, some `hp` plans are UltraServer plans, a few plans are `Failed`.

The market is the simulator's: a per-plan price, a market-wide price spike that breaks most
caps for a few days, per-plan capacity outages, and a few payments that fail.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from watcher.sandbox.market import MarketTerms
from watcher.sandbox.wire import snap_to_plan_end

BASE_PRICE = Decimal("98.32")
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
MAX_RUNTIME = timedelta(days=28)
# Share of extensions whose payment fails after the purchase (AWS then lists them `Failed`).
PAYMENT_FAILURE_RATE = 0.05
# One ml.u-p6e-gb200x72 UltraServer: 18 ml.p6e-gb200.36xlarge instances.
ULTRASERVER_INSTANCES = 18


@dataclass(frozen=True)
class TargetDef:
    name: str
    region: str
    account: str
    role_arn: str | None = None


TARGETS = (
    TargetDef("prod", "us-east-1", "123456789012"),
    TargetDef("research", "us-west-2", "123456789012"),
    TargetDef(
        "partner",
        "us-east-1",
        "111122223333",
        "arn:aws:iam::111122223333:role/plan-watcher",
    ),
)


@dataclass(frozen=True)
class SoakPolicy:
    """One policy, as written into the config and as the invariants read it."""

    name: str
    match: str
    extend_before: timedelta
    safety_margin: timedelta
    require_demand: bool
    min_duration: timedelta
    max_duration: timedelta
    prefer: str
    max_extensions: int
    same_availability_zone: bool = True
    max_upfront_fee: Decimal | None = None
    max_fee_per_hour: Decimal | None = None

    def as_config(self) -> dict[str, Any]:
        extension: dict[str, Any] = {
            "min_duration": _duration(self.min_duration),
            "max_duration": _duration(self.max_duration),
            "prefer": self.prefer,
            "same_availability_zone": self.same_availability_zone,
        }
        if self.max_upfront_fee is not None:
            extension["max_upfront_fee"] = f"{self.max_upfront_fee} USD"
        if self.max_fee_per_hour is not None:
            extension["max_fee_per_hour"] = f"{self.max_fee_per_hour} USD"
        return {
            "name": self.name,
            "match": {"names": [self.match]},
            "action": "extend",
            "extend_before": _duration(self.extend_before),
            "safety_margin": _duration(self.safety_margin),
            "require_demand": self.require_demand,
            "extension": extension,
            "max_extensions": self.max_extensions,
        }


@dataclass(frozen=True)
class SoakBudget:
    name: str
    limit: Decimal
    window: str  # "calendar-month" | "rolling-30d"
    policies: tuple[str, ...]

    def as_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "limit": f"{self.limit} USD",
            "window": self.window,
            "policies": list(self.policies),
        }


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


POLICIES = (
    SoakPolicy(
        "llm",
        "llm-*",
        extend_before=timedelta(hours=72),
        safety_margin=timedelta(hours=2),
        require_demand=True,
        min_duration=timedelta(days=1),
        max_duration=timedelta(days=7),
        prefer="cheapest",
        max_extensions=4,
        max_fee_per_hour=Decimal("1700.00"),
    ),
    SoakPolicy(
        "hyperpod",
        "hp-*",
        extend_before=timedelta(hours=96),
        safety_margin=timedelta(hours=3),
        require_demand=True,
        min_duration=timedelta(days=2),
        max_duration=timedelta(days=7),
        prefer="longest_within_caps",
        max_extensions=6,
        max_upfront_fee=Decimal("150000.00"),
    ),
    SoakPolicy(
        "batch",
        "batch-*",
        extend_before=timedelta(hours=48),
        safety_margin=timedelta(hours=2),
        require_demand=False,
        min_duration=timedelta(days=1),
        max_duration=timedelta(days=3),
        prefer="shortest_covering",
        max_extensions=2,
        same_availability_zone=False,
        max_upfront_fee=Decimal("60000.00"),
    ),
    SoakPolicy(
        "eval",
        "eval-*",
        extend_before=timedelta(hours=24),
        safety_margin=timedelta(hours=1),
        require_demand=True,
        min_duration=timedelta(days=1),
        max_duration=timedelta(days=2),
        prefer="cheapest",
        max_extensions=3,
        max_upfront_fee=Decimal("20000.00"),
    ),
)
POLICY_BY_FAMILY = {"llm": "llm", "hp": "hyperpod", "batch": "batch", "eval": "eval"}


@dataclass(frozen=True)
class PlanSpec:
    name: str
    family: str
    target: TargetDef
    announce_at: datetime  # when it appears in the account (bought)
    start: datetime
    end: datetime  # already at 11:30 UTC
    instances: int
    market: MarketTerms
    # The simulator's richer cases (see the module docstring).
    failed: bool = False
    ultraserver: bool = False
    unlisted_in_use: int = 0

    @property
    def policy(self) -> str | None:
        return POLICY_BY_FAMILY.get(self.family)

    @property
    def arn(self) -> str:
        t = self.target
        return f"arn:aws:sagemaker:{t.region}:{t.account}:training-plan/{self.name}"


@dataclass(frozen=True)
class JobSpec:
    name: str
    plan: str
    start: datetime
    max_runtime: timedelta
    instances: int
    # Placed through InstancePreferences: the summary names no plan.
    by_preference: bool = False


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    plan: str
    start: datetime
    delete_at: datetime | None
    instances: int


@dataclass(frozen=True)
class SoakWorld:
    seed: int
    start: datetime
    end: datetime
    poll: timedelta
    plans: tuple[PlanSpec, ...]
    jobs: tuple[JobSpec, ...]
    clusters: tuple[ClusterSpec, ...]
    policies: tuple[SoakPolicy, ...]
    budgets: tuple[SoakBudget, ...]
    targets: tuple[TargetDef, ...] = TARGETS

    def plan(self, name: str) -> PlanSpec:
        return self._by_name[name]

    @property
    def cycles(self) -> int:
        return int((self.end - self.start) / self.poll)

    @cached_property
    def _by_name(self) -> dict[str, PlanSpec]:
        return {p.name: p for p in self.plans}

    def policy(self, name: str | None) -> SoakPolicy | None:
        return next((p for p in self.policies if p.name == name), None)

    def config(self, journal: str) -> dict[str, Any]:
        return {
            "mode": "enforce",
            "poll": {"interval": _duration(self.poll), "jitter": "0s"},
            "targets": [
                {"name": t.name, "region": t.region}
                | ({"role_arn": t.role_arn} if t.role_arn else {})
                for t in self.targets
            ],
            "policies": [p.as_config() for p in self.policies],
            "budgets": [b.as_config() for b in self.budgets],
            "state": {"journal": journal},
        }


# Families and their share of the plans.
FAMILIES = (("llm", 35), ("hp", 15), ("batch", 15), ("eval", 22), ("scratch", 13))
PLAN_DAYS = (4, 7, 10, 14, 21, 30)
INSTANCES = {"llm": (4, 8, 8, 16), "hp": (4, 8), "batch": (2, 4), "eval": (2, 4), "scratch": (4,)}
PRICE_FACTORS = (Decimal("0.85"), Decimal("1.00"), Decimal("1.00"), Decimal("1.15"))


def generate(days: int = 90, plans: int = 200, seed: int = 7, poll_minutes: int = 30) -> SoakWorld:
    """A world of `plans` plans over `days` simulated days, the same for the same arguments."""
    rng = random.Random(seed)
    end = START + timedelta(days=days)
    spike_at = START + timedelta(days=rng.uniform(0.3, 0.7) * days)
    spike = (spike_at, spike_at + timedelta(days=3))
    families = [f for f, weight in FAMILIES for _ in range(weight)]
    rng.shuffle(families)
    plan_specs: list[PlanSpec] = []
    jobs: list[JobSpec] = []
    clusters: list[ClusterSpec] = []
    for index in range(plans):
        family = families[index % len(families)]
        plan = _plan(rng, index, family, spike, days)
        plan_jobs = _jobs(rng, plan)
        plan = _richer(rng, plan, bool(plan_jobs))
        plan_specs.append(plan)
        jobs.extend(j for j in plan_jobs if not plan.failed)
        clusters.extend(_clusters(rng, plan, end))
    # Budgets sized to the plans live per month, so that they bind: in a busy month some
    # purchases are refused, in a quiet one none are.
    per_month = Decimal(plans) * 30 / Decimal(days)
    budgets = (
        SoakBudget(
            "ml-monthly",
            (per_month * 22000).quantize(Decimal("1")),
            "calendar-month",
            ("llm", "hyperpod"),
        ),
        SoakBudget(
            "batch-30d", (per_month * 900).quantize(Decimal("1")), "rolling-30d", ("batch",)
        ),
    )
    return SoakWorld(
        seed=seed,
        start=START,
        end=end,
        poll=timedelta(minutes=poll_minutes),
        plans=tuple(plan_specs),
        jobs=tuple(jobs),
        clusters=tuple(clusters),
        policies=POLICIES,
        budgets=budgets,
    )


def _plan(
    rng: random.Random, index: int, family: str, spike: tuple[datetime, datetime], days: int
) -> PlanSpec:
    length = timedelta(days=rng.choice(PLAN_DAYS))
    start = START + timedelta(
        days=rng.uniform(-length.days + 1, days - 3), hours=rng.randint(0, 23)
    )
    plan_end = snap_to_plan_end(start + length)
    price = (BASE_PRICE * rng.choice(PRICE_FACTORS)).quantize(Decimal("0.01"))
    outages: tuple[tuple[datetime, datetime], ...] = ()
    if rng.random() < 0.3:
        # Somewhere around the plan's end, where it hurts.
        at = plan_end + timedelta(hours=rng.uniform(-120, 48))
        outages = ((at, at + timedelta(hours=rng.choice((6, 24, 72)))),)
    spiked = (price * Decimal("1.8")).quantize(Decimal("0.01"))
    market = MarketTerms(
        price_per_instance_hour=price,
        price_changes=((spike[0].isoformat(), spiked), (spike[1].isoformat(), price)),
        outages=outages,
        payment_failure_rate=PAYMENT_FAILURE_RATE,
    )
    announce = max(START, start - timedelta(days=rng.uniform(0, 14)))
    return PlanSpec(
        name=f"{family}-{index:03d}",
        family=family,
        target=TARGETS[index % len(TARGETS)],
        announce_at=announce,
        start=start,
        end=plan_end,
        instances=rng.choice(INSTANCES[family]),
        market=market,
    )


def _richer(rng: random.Random, plan: PlanSpec, busy: bool) -> PlanSpec:
    """Some plans become the simulator's rarer kinds: a few Failed, a tenth of the HyperPod
    plans UltraServers, half of the idle eval plans in use by something unlisted."""
    roll = rng.random()
    if plan.family in ("eval", "scratch") and roll < 0.05:
        return replace(plan, failed=True)
    if plan.family == "hp" and roll < 0.1:
        return replace(plan, ultraserver=True, instances=ULTRASERVER_INSTANCES)
    if plan.family == "eval" and not busy and roll < 0.5:
        return replace(plan, unlisted_in_use=2)
    return plan


def _jobs(rng: random.Random, plan: PlanSpec) -> list[JobSpec]:
    if plan.family == "hp":
        return []
    if plan.family == "eval" and rng.random() < 0.4:
        return []  # idle plans: nothing uses them
    count = {"llm": rng.randint(1, 3), "batch": 1, "eval": rng.randint(1, 2), "scratch": 1}
    found: list[JobSpec] = []
    for n in range(count[plan.family]):
        latest = plan.end - timedelta(hours=12)
        start = plan.start + (latest - plan.start) * rng.random()
        roll = rng.random()
        past = {"llm": 0.55, "batch": 0.5, "eval": 0.2, "scratch": 1.0}[plan.family]
        if roll < 0.08 and plan.family in ("llm", "eval"):
            runtime_end = plan.end  # sized to end exactly when the plan does
        elif roll < past:
            runtime_end = plan.end + timedelta(hours=rng.uniform(2, 240))
        else:
            runtime_end = start + (plan.end - timedelta(hours=1) - start) * rng.random()
        runtime = min(MAX_RUNTIME, max(timedelta(hours=1), runtime_end - start))
        instances = max(1, plan.instances // (n + 1))
        preference = plan.family == "llm" and rng.random() < 0.25
        name = f"{plan.name}-job{n}"
        found.append(JobSpec(name, plan.name, start, runtime, instances, preference))
    return found


def _clusters(rng: random.Random, plan: PlanSpec, horizon: datetime) -> list[ClusterSpec]:
    if plan.family != "hp":
        return []
    start = plan.start + timedelta(hours=rng.uniform(0, 12))
    delete_at: datetime | None = None
    if rng.random() < 0.5:
        delete_at = plan.end + timedelta(hours=rng.uniform(-48, 24 * 20))
    count = max(1, plan.instances // 2)
    return [ClusterSpec(f"{plan.name}-hp", plan.name, start, delete_at, count)]
