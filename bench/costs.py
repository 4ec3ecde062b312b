"""The yardsticks: the fewest AWS calls that observe a steady-state cycle's facts, the longest
chain of calls that must follow each other, and the peer's cost scaled from its sample.

Pure functions of counts; docs/performance.md derives each formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

PAGE = 100  # the largest MaxResults every List operation accepts


@dataclass(frozen=True)
class TargetFacts:
    """What one target holds and what its cycle had to look at."""

    name: str
    plans: int  # every plan ListTrainingPlans returns, any status
    clusters: int
    due: int  # plans inside their window whose extension history must be read
    searched: int  # due plans whose decision needed a search for offerings
    #: Pages of the plan listing up to the one with the last due plan (0: all of them).
    due_pages: int = 0


@dataclass(frozen=True)
class LowerBound:
    list_plans: int
    list_jobs: int
    list_clusters: int
    history: int
    search: int

    @property
    def total(self) -> int:
        return self.list_plans + self.list_jobs + self.list_clusters + self.history + self.search


def pages(items: int) -> int:
    """Full pages needed to see `items` (an empty list still takes one call)."""
    return max(1, math.ceil(items / PAGE))


def lower_bound(targets: list[TargetFacts]) -> LowerBound:
    """Steady state: plans listed in full; consumers only where a plan is due (one page of
    jobs changed since the last cycle, the clusters); one history and one search per plan
    that needs them. Job descriptions and far plans' histories are cached: zero."""
    consumers = [t for t in targets if t.due]
    return LowerBound(
        list_plans=sum(pages(t.plans) for t in targets),
        list_jobs=len(consumers),
        list_clusters=sum(pages(t.clusters) for t in consumers),
        history=sum(t.due for t in targets),
        search=sum(t.searched for t in targets),
    )


def critical_path(targets: list[TargetFacts], rt: dict[str, float]) -> tuple[float, str]:
    """Seconds of the longest chain, with each call costing its measured round trip.

    Per target: the plan pages one after the other (each needs the previous NextToken). A due
    plan's search needs the plan's page (its end time) and the consumers (its demand): the
    changed-jobs page and the cluster pages, which need nothing from the listing when the
    last cycle had a due plan, as in a steady state. Its fresh history runs beside its search.
    So the chain is the whole listing, or the pages up to the last due plan's followed by the
    longer of search and history. Targets run side by side.
    """
    best, chain = 0.0, ""
    for t in targets:
        listing = pages(t.plans) * rt["ListTrainingPlans"]
        found = min(t.due_pages or pages(t.plans), pages(t.plans))
        candidates = {f"{pages(t.plans)} x ListTrainingPlans": listing}
        if t.due:
            tails = {
                "DescribeTrainingPlanExtensionHistory": rt["DescribeTrainingPlanExtensionHistory"]
            }
            if t.searched:
                tails["SearchTrainingPlanOfferings"] = rt["SearchTrainingPlanOfferings"]
            tail, tail_s = max(tails.items(), key=lambda kv: kv[1])
            heads = {
                f"{found} x ListTrainingPlans": found * rt["ListTrainingPlans"],
                "ListTrainingJobs": rt["ListTrainingJobs"],
                f"{pages(t.clusters)} x ListClusters": pages(t.clusters) * rt["ListClusters"],
            }
            head, head_s = max(heads.items(), key=lambda kv: kv[1])
            candidates[f"{head} -> {tail}"] = head_s + tail_s
        name, seconds = max(candidates.items(), key=lambda kv: kv[1])
        if seconds > best:
            best, chain = seconds, f"{t.name}: {name}"
    return best, chain


def peer_estimate(peer: dict[str, Any], sampled: int, plans: int) -> dict[str, float]:
    """The peer on every plan, from a run on `sampled` plans and a run that only lists:
    each plan costs the same three commands, so cost grows linearly with plans."""
    listing, sample = peer["listing"], peer["sample"]
    if sampled <= 0:
        return {"wall_s": listing["wall_s"], "calls": listing["calls"]}
    per_wall = (sample["wall_s"] - listing["wall_s"]) / sampled
    per_calls = (sample["calls"] - listing["calls"]) / sampled
    return {
        "wall_s": listing["wall_s"] + per_wall * plans,
        "calls": listing["calls"] + per_calls * plans,
        "per_plan_wall_s": per_wall,
        "per_plan_calls": per_calls,
    }
