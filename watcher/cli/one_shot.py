"""The one-shot commands behind the CLI: once, plan, history."""

from __future__ import annotations

import json
import sys
from typing import Any

from watcher.app import build_gateways, build_reconciler, open_journal
from watcher.aws.calls import CallCounter
from watcher.clock import Clock, SystemClock
from watcher.config import Config
from watcher.exit_codes import ExitCode
from watcher.history import Period, gather, to_csv
from watcher.journal.table import JournalUnavailable
from watcher.notify import build_notifier
from watcher.observe.logs import configure, get_logger
from watcher.report import cycle_json, render_table, wrapped


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
        # Queued notices are sent before the process exits (the notifier flushes at exit).
        notifier = build_notifier(config) if notify else None
        reconciler = build_reconciler(config, clock, notifier=notifier)
        try:
            cycle = reconciler.run_cycle(dry_run=dry_run)
        finally:
            reconciler.close()
            reconciler.journal.close()
    except JournalUnavailable as exc:
        # Nothing is bought without its intent written, so an unreachable journal ends here.
        get_logger().error("journal_unavailable", error=str(exc))
        print(f"plan-watcher: the journal is unavailable: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    if output == "json":
        print(json.dumps(cycle_json(cycle), indent=2))
    else:
        print(render_table(cycle))
    return ExitCode.FAILED if cycle.failed else ExitCode.OK


def run_history(
    config: Config, output: str, clock: Clock | None = None, period: Period | None = None
) -> int:
    """Extension history and spend per plan and per budget, and one row per extension for
    finance (`csv`, or `extensions` in JSON), read from AWS and the journal."""
    _logs_to_stderr(config)
    now = (clock or SystemClock()).now()
    try:
        journal = open_journal(config)
        try:
            gateways = build_gateways(config, CallCounter())
            found = gather(config, now, gateways, journal, period or Period())
        finally:
            journal.close()
    except JournalUnavailable as exc:
        print(f"plan-watcher: the journal is unavailable: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    if output == "csv":
        sys.stdout.write(to_csv(found.rows, config.metrics.plan_labels_from_tags))
    elif output == "json":
        report = {
            "plans": found.plans,
            "budgets": found.budgets,
            "extensions": found.rows,
            "errors": found.errors,
        }
        print(json.dumps(report, indent=2))
    else:
        print(_history_table(found.plans, found.budgets, found.errors))
    for error in found.errors if output == "csv" else ():
        print(f"plan-watcher: {error}", file=sys.stderr)
    return ExitCode.FAILED if found.errors else ExitCode.OK


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
