"""The one-shot commands behind the CLI: once, plan, history."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from decimal import Decimal
from typing import Any

from watcher.act.dynamodb_table import JournalUnavailable
from watcher.app import build_gateways, build_reconciler, open_journal
from watcher.aws.calls import CallCounter
from watcher.aws.errors import AwsError
from watcher.budgets import CoveredExtensions, earliest_window_start, spend
from watcher.clock import Clock, SystemClock
from watcher.config import Config
from watcher.observe.logs import configure, get_logger
from watcher.policy_rules import needs_tags
from watcher.report import cycle_json, render_table, wrapped

EXIT_OK, EXIT_FAILED = 0, 1


def _logs_to_stderr(config: Config) -> None:
    configure(config.logging.level.value, config.logging.format.value, sys.stderr)


def run_once(
    config: Config,
    output: str,
    *,
    dry_run: bool,
    clock: Clock | None = None,
    notify: bool = True,
) -> int:
    """One cycle (purchases suppressed when `dry_run`; no notices unless `notify`); result on
    stdout, logs on stderr."""
    _logs_to_stderr(config)
    try:
        reconciler = build_reconciler(config, clock, notify=notify)
        try:
            cycle = reconciler.run_cycle(dry_run=dry_run)
        finally:
            reconciler.journal.close()
    except JournalUnavailable as exc:
        # Nothing is bought without its intent written, so an unreachable journal ends here.
        get_logger().error("journal_unavailable", error=str(exc))
        print(f"plan-watcher: the journal is unavailable: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if output == "json":
        print(json.dumps(cycle_json(cycle), indent=2))
    else:
        print(render_table(cycle))
    return EXIT_FAILED if cycle.failed else EXIT_OK


def run_history(config: Config, output: str, clock: Clock | None = None) -> int:
    """Extension history and spend per plan, and spend per budget, read from AWS."""
    _logs_to_stderr(config)
    now = (clock or SystemClock()).now()
    journal = open_journal(config)
    plans: list[dict[str, Any]] = []
    covered: list[CoveredExtensions] = []
    errors: list[str] = []
    read_tags = needs_tags(config)
    for name, gateway in build_gateways(config, CallCounter()).items():
        try:
            found, _ = gateway.list_plans()
            for plan in sorted(found, key=lambda p: p.name):
                extensions, unreadable = gateway.extension_history(plan.arn)
                if unreadable:
                    errors.append(
                        f"{plan.name}: {len(unreadable)} unreadable extension history entries"
                    )
                tags = gateway.tags(plan.arn) if read_tags else {}
                policy = config.policy_for(plan.name, tags, name)
                covered.append(
                    CoveredExtensions(
                        plan.arn,
                        policy.name if policy else None,
                        extensions,
                        "unreadable extension history" if unreadable else None,
                    )
                )
                totals: dict[str, Decimal] = defaultdict(Decimal)
                for ext in extensions:
                    if ext.counts_for_spend and ext.upfront_fee is not None:
                        totals[ext.upfront_fee.currency] += ext.upfront_fee.amount
                plans.append(
                    {
                        "plan_arn": plan.arn,
                        "plan_name": plan.name,
                        "target": name,
                        "status": plan.status.value,
                        "end_time": plan.end_time.isoformat(),
                        "extensions": [
                            {
                                "offering_id": e.offering_id,
                                "extended_at": e.extended_at.isoformat() if e.extended_at else None,
                                "duration_hours": e.duration_hours,
                                "upfront_fee": str(e.upfront_fee.amount) if e.upfront_fee else None,
                                "currency": e.upfront_fee.currency if e.upfront_fee else None,
                                "status": e.status,
                                "payment_status": e.payment_status,
                            }
                            for e in extensions
                        ],
                        "spend": {cur: str(total) for cur, total in sorted(totals.items())},
                    }
                )
        except AwsError as exc:
            errors.append(f"target {name}: {exc}")
    intents = journal.intents_since(earliest_window_start(config.budgets, now))
    journal.close()
    budgets = [
        {
            "budget": s.budget.name,
            "window": s.budget.window.value,
            "limit": str(s.state.limit.amount),
            "spent": str(s.state.spent.amount),
            "currency": s.state.limit.currency,
            "problem": s.problem,
        }
        for s in (spend(b, now, covered, intents) for b in config.budgets)
    ]
    if output == "json":
        print(json.dumps({"plans": plans, "budgets": budgets, "errors": errors}, indent=2))
    else:
        print(_history_table(plans, budgets, errors))
    return EXIT_FAILED if errors else EXIT_OK


def _history_table(
    plans: list[dict[str, Any]], budgets: list[dict[str, Any]], errors: list[str]
) -> str:
    lines = [f"{'PLAN':<28} {'TARGET':<10} {'STATUS':<10} {'EXTENSIONS':>10} {'SPEND':>24}"]
    for plan in plans:
        spent = ", ".join(f"{amount} {cur}" for cur, amount in plan["spend"].items()) or "-"
        lines.append(
            f"{plan['plan_name'][:28]:<28} {plan['target'][:10]:<10} {plan['status']:<10} "
            f"{len(plan['extensions']):>10} {spent:>24}"
        )
        for ext in plan["extensions"]:
            text = (
                f"{ext['offering_id']} at {ext['extended_at']}: {ext['duration_hours']}h "
                f"for {ext['upfront_fee']} {ext['currency']} ({ext['status']}, "
                f"payment {ext['payment_status']})"
            )
            lines.extend(wrapped(text, " " * 4, " " * 8))
    if budgets:
        lines.append("")
        for b in budgets:
            note = f" ({b['problem']})" if b["problem"] else ""
            lines.extend(
                wrapped(
                    f"budget {b['budget']} ({b['window']}): {b['spent']} of {b['limit']} "
                    f"{b['currency']}{note}"
                )
            )
    for e in errors:
        lines.extend(wrapped(f"error: {e}"))
    return "\n".join(lines)
