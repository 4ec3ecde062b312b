"""Rendering a cycle: the SPEC's DECISION objects (JSON) and a table for a 100-column terminal."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from watcher.act.valves import Pause
from watcher.decide.limits import LimitState
from watcher.journal.records import Proposal
from watcher.model import DecisionKind
from watcher.results import CycleResult, PlanResult


def json_time(when: datetime | None) -> str | None:
    """How every JSON output writes a time (cycle JSON and /status, notices, history,
    explain): ISO 8601 in UTC with a Z."""
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
        "end_time": json_time(plan.end_time) if plan else None,
        "deadline": json_time(decision.deadline),
        "demand_end": json_time(decision.demand_end),
        "decision": decision.kind.value,
        "reason": decision.reason,
        "offering_id": chosen.offering_id if chosen else None,
        "duration_hours": chosen.duration_hours if chosen else None,
        "upfront_fee": str(chosen.upfront_fee.amount) if chosen else None,
        "currency": chosen.upfront_fee.currency if chosen else None,
        "policy": decision.policy,
        "next_action": json_time(decision.next_action),
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
        "proposal_id": result.proposal.proposal_id if result.proposal else None,
    }
    return fields


def proposal_fields(proposal: Proposal) -> dict[str, Any]:
    """One proposal as JSON (`proposals` in cycle JSON and `plan-watcher proposals`)."""
    return {
        "proposal_id": proposal.proposal_id,
        "state": proposal.state.value,
        "plan_arn": proposal.plan_arn,
        "plan_name": proposal.plan_name,
        "target": proposal.target,
        "plan_end": json_time(proposal.plan_end),
        "offering_id": proposal.offering_id,
        "duration_hours": proposal.duration_hours,
        "upfront_fee": str(proposal.fee.amount),
        "currency": proposal.fee.currency,
        "reason": proposal.reason,
        "created_at": json_time(proposal.created_at),
        "expires_at": json_time(proposal.expires_at),
        "decided_by": proposal.decided_by or None,
        "decided_at": json_time(proposal.decided_at),
        "note": proposal.note or None,
    }


def pause_fields(pause: Pause | None) -> dict[str, Any] | None:
    if pause is None:
        return None
    return {"reason": pause.reason, "by": pause.by, "at": json_time(pause.at)}


def cycle_json(cycle: CycleResult) -> dict[str, Any]:
    return {
        "started_at": json_time(cycle.started_at),
        "mode": cycle.mode.value,
        "decisions": [decision_fields(r) for r in cycle.results],
        "errors": list(cycle.errors),
        "proposals": [proposal_fields(p) for p in cycle.proposals],
        "purchases_paused": pause_fields(cycle.paused),
        "limits": [limit_fields(state) for state in cycle.limits],
        "clock_skew_seconds": {target: round(s) for target, s in cycle.clock_skew.items()},
    }


def limit_fields(state: LimitState) -> dict[str, Any]:
    """One blast-radius limit as JSON: amounts as decimal strings, counts as integers."""
    number: Callable[[Decimal], Any] = int if state.currency is None else (lambda d: f"{d:f}")
    return {
        "limit": state.name,
        "max": number(state.limit),
        "used": number(state.used),
        "currency": state.currency,
        "unknown": state.unknown,
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
    lines = [f"plan-watcher ({cycle.mode.value}) at {json_time(now)}", header, "-" * len(header)]
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
    lines.extend(proposal_lines(cycle.proposals, now))
    if cycle.limits:
        lines.append("")
        for state in cycle.limits:
            lines.extend(wrapped(f"limit {state.describe()}"))
    if cycle.paused is not None:
        lines.extend(wrapped(f"PAUSED: {cycle.paused.describe()}; `plan-watcher resume` ends it"))
    for error in cycle.errors:
        lines.extend(wrapped(f"error: {error}"))
    return "\n".join(lines)


def proposal_lines(proposals: list[Proposal], now: datetime) -> list[str]:
    """A table of proposals: id, state, plan, price, time to expiry, who decided."""
    if not proposals:
        return []
    header = f"{'PROPOSAL':<11} {'STATE':<10} {'PLAN':<26} {'PRICE':>24} {'EXPIRES':>8} BY"
    lines = ["", header, "-" * len(header)]
    for p in proposals:
        price = f"{p.fee} / {p.duration_hours}h"
        lines.append(
            f"{p.proposal_id:<11} {p.state.value:<10} {p.plan_name[:26]:<26} {price[:24]:>24} "
            f"{_left(now, p.expires_at):>8} {p.decided_by or '-'}"
        )
    return lines
