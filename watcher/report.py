"""Rendering a cycle: the SPEC's DECISION objects (JSON) and a table for a 100-column terminal."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

from watcher.model import DecisionKind
from watcher.results import CycleResult, PlanResult


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def decision_fields(result: PlanResult) -> dict[str, Any]:
    """One DECISION object (SPEC section 2): times ISO 8601 UTC, fees as decimal strings."""
    decision = result.decision
    plan = result.plan
    chosen = decision.chosen
    fields: dict[str, Any] = {
        "plan_arn": result.plan_arn,
        "plan_name": result.plan_name,
        "target": result.target,
        "status": plan.status.value if plan else None,
        "end_time": _iso(plan.end_time) if plan else None,
        "deadline": _iso(decision.deadline),
        "demand_end": _iso(decision.demand_end),
        "decision": decision.kind.value,
        "reason": decision.reason,
        "offering_id": chosen.offering_id if chosen else None,
        "duration_hours": chosen.duration_hours if chosen else None,
        "upfront_fee": str(chosen.upfront_fee.amount) if chosen else None,
        "currency": chosen.upfront_fee.currency if chosen else None,
        "policy": decision.policy,
        "next_action": _iso(decision.next_action),
        "need_hours": decision.need_hours,
        "consumers": {
            "job": sum(1 for c in result.consumers if c.kind.value == "job"),
            "cluster": sum(1 for c in result.consumers if c.kind.value == "cluster"),
        },
        "rejected_offerings": [
            {
                "offering_id": r.offering.offering_id,
                "duration_hours": r.offering.duration_hours,
                "upfront_fee": str(r.offering.upfront_fee.amount),
                "currency": r.offering.upfront_fee.currency,
                "reason": r.reason,
            }
            for r in decision.rejected
        ],
        "purchase": result.purchase.result.value if result.purchase else None,
    }
    return fields


def cycle_json(cycle: CycleResult) -> dict[str, Any]:
    return {
        "started_at": _iso(cycle.started_at),
        "mode": cycle.mode.value,
        "decisions": [decision_fields(r) for r in cycle.results],
        "errors": list(cycle.errors),
    }


WIDTH = 100


def wrapped(text: str, first: str = "", rest: str = "    ") -> list[str]:
    """`text` as lines of at most WIDTH columns, continuation lines indented by `rest`."""
    lines = textwrap.wrap(
        text, WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    )
    return lines or [first]


def _left(now: datetime, when: datetime | None) -> str:
    if when is None:
        return "-"
    delta = when - now
    sign = "-" if delta < timedelta(0) else ""
    seconds = abs(int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{sign}{days}d{hours:02d}h"
    return f"{sign}{hours}h{rest // 60:02d}m"


def render_table(cycle: CycleResult) -> str:
    """One line per plan (time left, demand, decision, price), reasons below; 100 columns."""
    now = cycle.started_at
    header = f"{'PLAN':<26} {'TARGET':<10} {'LEFT':>8} {'DEMAND':>8} {'DECISION':<15} {'PRICE':>22}"
    lines = [f"plan-watcher ({cycle.mode.value}) at {_iso(now)}", header, "-" * len(header)]
    for r in cycle.results:
        end = r.plan.end_time if r.plan else None
        chosen = r.decision.chosen
        price = f"{chosen.upfront_fee} / {chosen.duration_hours}h" if chosen else "-"
        lines.append(
            f"{r.plan_name[:26]:<26} {r.target[:10]:<10} {_left(now, end):>8} "
            f"{_left(now, r.decision.demand_end):>8} {r.decision.kind.value:<15} {price[:22]:>22}"
        )
    lines.append("")
    for r in cycle.results:
        lines.extend(wrapped(f"{r.plan_name}: {r.decision.reason}"))
        if r.decision.kind in (DecisionKind.NO_OFFERING, DecisionKind.OVER_BUDGET):
            for rejected in r.decision.rejected:
                text = f"rejected {rejected.offering.offering_id}: {rejected.reason}"
                lines.extend(wrapped(text, " " * 4, " " * 8))
    for error in cycle.errors:
        lines.extend(wrapped(f"error: {error}"))
    return "\n".join(lines)
