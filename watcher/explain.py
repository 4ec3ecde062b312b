"""`plan-watcher explain PLAN`: everything behind one plan's current decision, in one place.

It runs the cycle `plan` runs (every purchase suppressed), through a journal that is only
read (watcher/journal/read_only.py), so it writes nothing to the journal or to AWS, then gathers
around the plan's result what the decision rests on: the plan as read, the policy matched
and why, the consumers and their demand ends, the need and its rounding, every offering with
why it was accepted or rejected, the budgets and limits with what is used, the extension
history and any open intent or proposal, and `next_action`. `explain_json` is the JSON form;
watcher/explain_text.py renders it for a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from watcher.act import two_person
from watcher.app import GatewayFactory, build_reconciler, default_gateway, open_journal
from watcher.aws.errors import AwsError
from watcher.clock import Clock
from watcher.config import Config, Policy, format_duration
from watcher.config.core_rules import rules_for
from watcher.decide import assess_demand, deadline_of, expected_currency, offering_problems
from watcher.decide.demand import STOP_BEFORE_END
from watcher.decide.purchase_windows import describe, is_open, last_safe_cycle, next_opening
from watcher.decide.rules import PolicyRules
from watcher.inventory import Inventory, TargetCache
from watcher.journal.read_only import ReadOnlyJournal
from watcher.journal.records import Journal
from watcher.journal.sqlite import SqliteJournal
from watcher.model import Consumer, Decision, Extension, ExtensionOffering, Plan, UnknownJob
from watcher.observe.logs import QuietLogger
from watcher.report import decision_fields, json_time, limit_fields, proposal_fields
from watcher.results import CycleResult, PlanResult

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class NotFound(LookupError):
    """No plan, or more than one, answers to the name given."""

    def __init__(self, message: str, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous


@dataclass
class Explanation:
    """What `explain` found, before rendering."""

    cycle: CycleResult
    result: PlanResult
    policy: Policy | None
    rules: PolicyRules | None
    consumers: list[Consumer]
    history: list[Extension]
    history_problem: str | None
    journal: ReadOnlyJournal
    #: Running jobs that could not be described and may run on the plan.
    unknown_jobs: tuple[UnknownJob, ...] = ()


def read_only_journal(config: Config) -> ReadOnlyJournal:
    """The configured journal, only read; a SQLite file that does not exist yet is not
    created (an empty journal stands in for it)."""
    path = config.state.sqlite_path
    if path is not None and not Path(path).exists():
        return ReadOnlyJournal(SqliteJournal(":memory:"))
    return ReadOnlyJournal(open_journal(config))


def explain(
    config: Config,
    ref: str,
    target: str | None = None,
    clock: Clock | None = None,
    journal: Journal | None = None,
    factory: GatewayFactory = default_gateway,
) -> Explanation:
    """Run a suppressed, read-only cycle and gather what plan `ref` (name or ARN) rests on;
    raise `NotFound` if no plan, or several, answer to `ref`."""
    reader = ReadOnlyJournal(journal) if journal is not None else read_only_journal(config)
    # The cycle writes nothing, so it logs nothing either: its lines would claim settlements
    # and decisions (what the next cycle would settle is in the journal section instead).
    reconciler = build_reconciler(config, clock, reader, factory=factory, log=QuietLogger())
    try:
        cycle = reconciler.run_cycle(dry_run=True)
    finally:
        reconciler.close()
    found = [
        r
        for r in cycle.results
        if ref in (r.plan_name, r.plan_arn) and (target is None or r.target == target)
    ]
    if not found:
        where = f"target {target}" if target else "any target"
        down = [name for name, up in cycle.target_up.items() if not up]
        unread = f" (targets not read: {', '.join(down)})" if down else ""
        raise NotFound(f"no training plan {ref!r} in {where}{unread}")
    if len(found) > 1:
        targets = ", ".join(sorted(r.target for r in found))
        raise NotFound(f"plan {ref!r} is in several targets ({targets}): pass --target", True)
    [result] = found
    plan = result.plan
    gateway = reconciler.gateways[result.target]
    policy = None
    rules = None
    consumers = list(result.consumers)
    unknown = result.unknown_jobs
    history: list[Extension] = []
    problem = None
    if plan is not None:
        tags = dict(result.tags) or gateway.tags(plan.arn)
        policy = config.policy_for(plan.name, tags, plan.target)
        poll = config.poll.interval + config.poll.jitter
        rules = rules_for(policy, poll, config.safety.retry_backoff)
        try:
            history, unreadable = gateway.extension_history(plan.arn)
            if unreadable:
                problem = f"{len(unreadable)} entries AWS returned could not be read"
            if not consumers and not unknown and plan.status.value in ("Active", "Scheduled"):
                inventory = Inventory(gateway, TargetCache(), cycle.started_at)
                consumers, unknown = inventory.demand(plan)
        except AwsError as exc:
            problem = str(exc)
        # The decision's consumer counts are of the consumers shown (also those read here).
        result = replace(result, tags=tags, consumers=tuple(consumers), unknown_jobs=unknown)
    return Explanation(cycle, result, policy, rules, consumers, history, problem, reader, unknown)


# --- the JSON form --------------------------------------------------------------------------


def _money(amount: Any) -> dict[str, str] | None:
    return None if amount is None else {"amount": f"{amount.amount:f}", "currency": amount.currency}


def explain_json(found: Explanation, config: Config) -> dict[str, Any]:
    """The whole explanation as one JSON object."""
    result, plan, decision = found.result, found.result.plan, found.result.decision
    return {
        "explained_at": json_time(found.cycle.started_at),
        "mode": "explain: the cycle `plan` runs; nothing is bought or written",
        "plan": _plan(result, plan),
        "policy": _policy(found, config),
        "decision": decision_fields(result),
        "consumers": [_consumer(c) for c in found.consumers],
        "unknown_jobs": [
            {"name": j.name, "arn": j.arn, "error": j.error, "names_this_plan": j.on_plan}
            for j in found.unknown_jobs
        ],
        "need": _need(found, plan),
        "offerings": _offerings(found, plan, decision),
        "budgets": _budgets(found, config),
        "limits": [limit_fields(s) for s in found.cycle.limits],
        "purchase_windows": _windows(found, plan),
        "history": [_extension(e) for e in found.history],
        "history_problem": found.history_problem,
        "journal": _journal(found),
        "next_action": json_time(decision.next_action),
        "errors": list(found.cycle.errors),
    }


def _plan(result: PlanResult, plan: Plan | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": result.plan_name, "arn": result.plan_arn}
    fields["target"] = result.target
    if plan is None:
        return fields
    return fields | {
        "status": plan.status.value,
        "start_time": json_time(plan.start_time),
        "end_time": json_time(plan.end_time),
        "upfront_fee": _money(plan.upfront_fee),
        "instance_type": plan.instance_type,
        "instances": {
            "total": plan.total_instances,
            "in_use": plan.in_use_instances,
            "available": plan.available_instances,
        },
        "availability_zones": list(plan.availability_zones),
        "target_resources": list(plan.target_resources),
        "tags": dict(sorted(result.tags.items())),
    }


def match_reasons(policy: Policy, name: str, tags: dict[str, str], target: str) -> list[str]:
    """Why `policy` matches the plan or not, one line per criterion; a line starting with
    "no:" is one that fails."""
    match = policy.match
    globs = ", ".join(repr(p) for p in match.names)
    hits = [p for p in match.names if fnmatchcase(name, p)]
    if hits:
        lines = [f"name {name!r} matches {hits[0]!r}"]
    else:
        lines = [f"no: name {name!r} matches none of {globs}"]
    for key, want in sorted(match.tags.items()):
        have = tags.get(key)
        if have == want:
            lines.append(f"tag {key}={want}")
        elif have is None:
            lines.append(f"no: tag {key} is missing (wanted {want!r})")
        else:
            lines.append(f"no: tag {key} is {have!r}, not {want!r}")
    if not match.targets:
        lines.append("any target")
    elif target in match.targets:
        lines.append(f"target {target} is listed")
    else:
        lines.append(f"no: target {target} is not among {', '.join(match.targets)}")
    return lines


def _policy(found: Explanation, config: Config) -> dict[str, Any]:
    result = found.result
    tags = dict(result.tags)
    skipped = []
    for policy in config.policies:
        if policy is found.policy:
            break
        reasons = match_reasons(policy, result.plan_name, tags, result.target)
        skipped.append({"policy": policy.name, "why_not": [r for r in reasons if r[:3] == "no:"]})
    matched = found.policy
    if matched is None:
        why = ["no policy matches: the plan is unmanaged"]
        return {"name": None, "why": why, "skipped": skipped}
    return {
        "name": matched.name,
        "action": matched.action.value,
        "why": match_reasons(matched, result.plan_name, tags, result.target),
        "skipped": skipped,
        "extend_before": format_duration(matched.extend_before),
        "safety_margin": format_duration(matched.effective_safety_margin),
        "require_demand": matched.require_demand,
    }


def _consumer(consumer: Consumer) -> dict[str, Any]:
    needed = None
    if consumer.demand_end is not None:
        needed = json_time(consumer.demand_end + STOP_BEFORE_END[consumer.kind])
    return {
        "kind": consumer.kind.value,
        "name": consumer.name,
        "status": consumer.status,
        "demand_end": json_time(consumer.demand_end),
        "needs_the_plan_until": needed,
    }


def _need(found: Explanation, plan: Plan | None) -> dict[str, Any] | None:
    """The need as the pure core sizes it now (also for a plan not due yet)."""
    if plan is None or found.rules is None:
        return None
    now = found.cycle.started_at
    need = assess_demand(plan, found.rules, found.consumers, now, found.unknown_jobs)
    if isinstance(need, Decision):
        return {"hours": None, "demand_end": json_time(need.demand_end), "reason": need.reason}
    return {
        "hours": need.duration_hours,
        "demand_end": json_time(need.demand_end),
        "reason": need.reason,
    }


def _offerings(found: Explanation, plan: Plan | None, decision: Decision) -> list[dict[str, Any]]:
    offers = found.result.offerings
    if plan is None or found.rules is None:
        return []
    currency, why = expected_currency(plan, found.rules)
    refused = {r.offering.offering_id: r.reason for r in decision.rejected}
    chosen = decision.chosen.offering_id if decision.chosen is not None else None
    rows = []
    for offer in sorted(offers, key=lambda o: o.offering_id):
        problems = offering_problems(offer, plan, found.rules, currency, why)
        if offer.offering_id == chosen:
            verdict, reasons = "chosen", []
        elif problems:
            verdict, reasons = "rejected", problems
        elif offer.offering_id in refused:
            verdict, reasons = "refused", [refused[offer.offering_id]]
        else:
            verdict, reasons = (
                "acceptable",
                [f"ranked below the chosen one (prefer {found.rules.prefer})"],
            )
        rows.append(_offering(offer) | {"verdict": verdict, "reasons": reasons})
    return rows


def _offering(offer: ExtensionOffering) -> dict[str, Any]:
    return {
        "offering_id": offer.offering_id,
        "duration_hours": offer.duration_hours,
        "upfront_fee": f"{offer.upfront_fee.amount:f}",
        "currency": offer.upfront_fee.currency,
        "start": json_time(offer.start),
        "end": json_time(offer.end),
        "availability_zone": offer.availability_zone,
    }


def _budgets(found: Explanation, config: Config) -> list[dict[str, Any]]:
    if found.policy is None:
        return []
    covering = {b.name for b in config.budgets_for(found.policy.name)}
    return [
        {
            "budget": item.budget.name,
            "window": item.budget.window.value,
            "limit": f"{item.state.limit.amount:f}",
            "spent": f"{item.state.spent.amount:f}",
            "currency": item.state.limit.currency,
            "problem": item.problem,
        }
        for item in found.cycle.budgets
        if item.budget.name in covering
    ]


def _windows(found: Explanation, plan: Plan | None) -> dict[str, Any] | None:
    rules = found.rules
    if plan is None or rules is None or not rules.purchase_windows:
        return None
    now = found.cycle.started_at
    windows = rules.purchase_windows
    deadline = deadline_of(plan, rules)
    return {
        "windows": describe(windows),
        "open_now": is_open(windows, now),
        "next_opening": json_time(next_opening(windows, now)),
        "last_safe_cycle": json_time(last_safe_cycle(deadline, rules.poll, rules.retry_backoff)),
        "poll": format_duration(rules.poll),
    }


def _extension(ext: Extension) -> dict[str, Any]:
    return {
        "offering_id": ext.offering_id,
        "extended_at": json_time(ext.extended_at),
        "start": json_time(ext.start),
        "end": json_time(ext.end),
        "duration_hours": ext.duration_hours,
        "upfront_fee": f"{ext.upfront_fee.amount:f}" if ext.upfront_fee else None,
        "currency": ext.upfront_fee.currency if ext.upfront_fee else None,
        "status": ext.status,
        "payment_status": ext.payment_status,
    }


def _journal(found: Explanation) -> dict[str, Any]:
    arn = found.result.plan_arn
    reader = found.journal
    intents = [i for i in reader.journal.intents_since(EPOCH) if i.plan_arn == arn]
    settles = {i.offering_id: (state, note) for i, state, note in reader.would_settle}
    proposals = [p for p in reader.proposals() if p.plan_arn == arn]
    shown = []
    for proposal in proposals:
        fields = proposal_fields(proposal)
        record = two_person.load(reader, proposal.proposal_id)
        if record is not None:
            fields["approvals_needed"] = record.needed
            fields["approvals"] = [{"by": by, "at": at} for by, at in record.given]
        shown.append(fields)
    return {
        "intents": [
            {
                "offering_id": i.offering_id,
                "plan_end": json_time(i.plan_end),
                "fee": f"{i.fee.amount:f}",
                "currency": i.fee.currency,
                "duration_hours": i.duration_hours,
                "created_at": json_time(i.created_at),
                "state": i.state.value,
                "note": i.note or None,
                "next_cycle_settles_as": (
                    {"state": settles[i.offering_id][0].value, "note": settles[i.offering_id][1]}
                    if i.offering_id in settles
                    else None
                ),
            }
            for i in intents
        ],
        "open_intent": any(i.state.value == "open" for i in intents),
        "proposals": shown,
    }
