"""The bench's simulated estate, generated (never committed as YAML): plans, jobs, clusters
spread over several regions, one region per plan-watcher target.

The shape follows what a platform team with a large reservation estate would have: most plans
far from their end, a few inside the extension window (some with running work, some idle),
some already over this month, and many more finished training jobs than running ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watcher.sandbox.simulator import Simulator

if TYPE_CHECKING:
    from watcher.config import Config

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1")
TERMINAL = ("Completed", "Completed", "Completed", "Failed", "Stopped")
EXTEND_BEFORE = timedelta(hours=72)


@dataclass(frozen=True)
class Sizes:
    """How big the estate is, in total across targets."""

    plans: int = 1000
    jobs: int = 10_000
    in_progress: int = 2000
    clusters: int = 50
    targets: int = 4
    due_share: float = 0.05  # plans inside the 72h window
    expired_share: float = 0.05  # plans that ended earlier this month

    def per_target(self, total: int, index: int) -> int:
        """An even split of `total`, the remainder going to the first targets."""
        base, extra = divmod(total, self.targets)
        return base + (1 if index < extra else 0)


@dataclass(frozen=True)
class Seeded:
    """What was put in each region: plan names by kind, for the bench's own accounting."""

    region: str
    plans: int
    due: list[str]
    far: list[str]
    expired: list[str]
    jobs: int
    in_progress: int
    clusters: int


def regions(sizes: Sizes) -> list[str]:
    if sizes.targets > len(REGIONS):
        raise ValueError(f"at most {len(REGIONS)} targets")
    return list(REGIONS[: sizes.targets])


def seed(sim: Simulator, sizes: Sizes, now: datetime, rng_seed: int = 7) -> list[Seeded]:
    """Fill `sim` with the estate; deterministic for a given seed and `now`."""
    rng = random.Random(rng_seed)
    return [
        _seed_region(sim, sizes, index, region, now, rng)
        for index, region in enumerate(regions(sizes))
    ]


def _seed_region(
    sim: Simulator, sizes: Sizes, index: int, region: str, now: datetime, rng: random.Random
) -> Seeded:
    n_plans = sizes.per_target(sizes.plans, index)
    n_due = max(1, round(n_plans * sizes.due_share))
    n_expired = round(n_plans * sizes.expired_share)
    due: list[str] = []
    far: list[str] = []
    expired: list[str] = []
    tag = region.replace("-", "")
    for i in range(n_plans):
        name = f"{tag}-plan-{i:04d}"
        if i < n_due:
            # Inside the window and well before the deadline (end - 2h), whatever the time of
            # day the bench starts: ends snap forward to 11:30 UTC.
            ends = now + timedelta(hours=rng.uniform(8, 40))
            due.append(name)
        elif i < n_due + n_expired:
            # At least a day ago, so the snap to 11:30 UTC cannot bring it back to life.
            ends = now - timedelta(days=rng.uniform(1, 20))
            expired.append(name)
        else:
            ends = now + EXTEND_BEFORE + timedelta(days=rng.uniform(2, 50))
            far.append(name)
        starts = ends - timedelta(days=rng.uniform(14, 60))
        sim.add_plan(
            name,
            ends_at=ends,
            starts_at=min(starts, now - timedelta(hours=1)),
            region=region,
            instance_count=rng.choice((4, 8, 16)),
        )

    n_jobs = sizes.per_target(sizes.jobs, index)
    n_running = sizes.per_target(sizes.in_progress, index)
    live = due + far
    for j in range(n_running):
        # A third of the due plans stay idle (no_demand); the rest carry most running work
        # that matters this cycle, the far plans the bulk.
        busy = due[: max(1, (2 * len(due)) // 3)]
        if j < 2 * len(busy):
            plan: str | None = busy[j % len(busy)]
            runtime = timedelta(days=rng.uniform(4, 20))
        else:
            plan = rng.choice(live) if rng.random() < 0.9 else None
            runtime = timedelta(days=rng.uniform(2, 28))
        started = now - min(runtime - timedelta(hours=6), timedelta(days=rng.uniform(0, 10)))
        sim.add_job(
            f"{tag}-run-{j:05d}",
            plan=plan,
            started_at=started,
            max_runtime=runtime,
            region=region,
        )
    for j in range(n_jobs - n_running):
        started = now - timedelta(days=rng.uniform(1, 120))
        sim.add_job(
            f"{tag}-done-{j:05d}",
            plan=rng.choice(live + expired) if rng.random() < 0.8 else None,
            started_at=started,
            max_runtime=timedelta(hours=rng.uniform(1, 72)),
            region=region,
            status=rng.choice(TERMINAL),
        )

    n_clusters = sizes.per_target(sizes.clusters, index)
    for c in range(n_clusters):
        plan = due[-1 - c % len(due)] if c % 5 == 0 else rng.choice(far or due)
        sim.add_cluster(
            f"{tag}-hp-{c:03d}",
            groups=[("controller", None, 1), ("workers", plan, rng.choice((2, 4, 8)))],
            created_at=now - timedelta(days=rng.uniform(1, 30)),
            region=region,
        )
    return Seeded(region, n_plans, due, far, expired, n_jobs, n_running, n_clusters)


def watcher_config(
    sizes: Sizes, journal: str, listen: str, interval: str = "10s", mode: str = "dry-run"
) -> dict[str, Any]:
    """The plan-watcher config the bench runs: one target per region, one policy for all.

    Dry-run, so that no purchase changes the estate between cycles: every steady-state cycle
    looks at the same due plans and does the full work for them (search included).
    """
    return {
        "mode": mode,
        "poll": {"interval": interval, "jitter": "0s"},
        "targets": [{"name": f"t{i}-{r}", "region": r} for i, r in enumerate(regions(sizes))],
        "policies": [
            {
                "name": "fleet",
                "match": {"names": ["*"]},
                "action": "extend",
                "extend_before": "72h",
                "safety_margin": "2h",
                "require_demand": True,
                "extension": {
                    "min_duration": "1d",
                    "max_duration": "14d",
                    "prefer": "cheapest",
                    "max_upfront_fee": "500000.00 USD",
                },
            }
        ],
        "budgets": [
            {"name": "fleet-monthly", "limit": "5000000.00 USD", "window": "calendar-month"}
        ],
        "state": {"journal": journal},
        "metrics": {"listen": listen},
        "logging": {"level": "warning", "format": "json"},
    }


def in_process_config(tmp: Path, interval: str) -> tuple[Config, Path]:
    """The bench's config written into `tmp` and loaded, with logging set up as it says: for
    the tools that build the daemon inside their own process (no server is scraped)."""
    import sys

    import yaml

    from watcher.config import load_config
    from watcher.observe.logs import configure

    path = tmp / "watcher.yaml"
    path.write_text(
        yaml.safe_dump(watcher_config(Sizes(), str(tmp / "j.db"), "127.0.0.1:9", interval))
    )
    config = load_config(path)
    configure(config.logging.level.value, config.logging.format.value, sys.stdout)
    return config, path
