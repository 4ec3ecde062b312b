"""The `explain` command: gather (watcher/explain.py), then print JSON or a terminal page.

Exit codes: 0 explained, 1 no such plan (or AWS could not be read), 2 bad config or a plan
name found in several targets without --target.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from watcher.clock import Clock
from watcher.config import Config
from watcher.exit_codes import ExitCode
from watcher.explain import NotFound, explain, explain_json
from watcher.journal.table import JournalUnavailable
from watcher.observe.logs import configure
from watcher.report import wrapped


def run_explain(
    config: Config, ref: str, target: str | None, output: str, clock: Clock | None = None
) -> int:
    configure(config.logging.level.value, config.logging.format.value, sys.stderr)
    try:
        found = explain(config, ref, target, clock)
    except NotFound as exc:
        print(f"plan-watcher: {exc}", file=sys.stderr)
        return ExitCode.BAD_CONFIG if exc.ambiguous else ExitCode.FAILED
    except JournalUnavailable as exc:
        print(f"plan-watcher: the journal is unavailable: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    try:
        data = explain_json(found, config)
    finally:
        found.journal.close()
    if output == "json":
        print(json.dumps(data, indent=2))
    else:
        print(render(data))
    return ExitCode.OK


def _section(title: str, lines: list[str]) -> list[str]:
    return ["", title, *lines] if lines else ["", title, "    (none)"]


def _items(texts: list[str]) -> list[str]:
    out: list[str] = []
    for text in texts:
        out.extend(wrapped(text, "    ", "        "))
    return out


def render(data: dict[str, Any]) -> str:
    """The explanation for a 100-column terminal, one section per part."""
    plan, decision, policy = data["plan"], data["decision"], data["policy"]
    lines = [f"plan {plan['name']} in target {plan['target']} at {data['explained_at']}"]
    lines += [f"  ({data['mode']})", *_items(_plan_facts(plan))]
    skipped = [f"before it, {p['policy']}: {'; '.join(p['why_not'])}" for p in policy["skipped"]]
    lines += _section(f"policy: {policy['name'] or 'none'}", _items(policy["why"] + skipped))
    when = f"deadline {decision['deadline']}, next action {data['next_action']}"
    lines += _section(f"decision: {decision['decision']}", _items([decision["reason"], when]))
    unknown = [
        f"job {j['name']}: could not be described ({j['error']}); may run on this plan"
        for j in data["unknown_jobs"]
    ]
    lines += _section("consumers", _items([_consumer(c) for c in data["consumers"]] + unknown))
    need = data["need"]
    if need is not None:
        hours = f"{need['hours']}h" if need["hours"] is not None else "nothing"
        lines += _section(f"need: {hours}", _items([need["reason"]]))
    lines += _section("offerings", _items([_offering(o) for o in data["offerings"]]))
    money = [_budget(b) for b in data["budgets"]] + [_limit(item) for item in data["limits"]]
    lines += _section("budgets and limits", _items(money))
    windows = data["purchase_windows"]
    if windows is not None:
        state = "open now" if windows["open_now"] else f"next opens {windows['next_opening']}"
        text = f"{windows['windows']}: {state}; last safe cycle {windows['last_safe_cycle']}"
        lines += _section("purchase windows", _items([text]))
    history = [_extension(e) for e in data["history"]]
    if data["history_problem"]:
        history.append(f"problem: {data['history_problem']}")
    lines += _section("extension history (AWS)", _items(history))
    journal = data["journal"]
    entries = [_intent(i) for i in journal["intents"]]
    entries += [_proposal(p) for p in journal["proposals"]]
    lines += _section("journal", _items(entries))
    later = data["next_action"] or "none: plan-watcher will not act on this plan on its own"
    lines += _section("next action", _items([later]))
    lines += _items([f"error: {error}" for error in data["errors"]])
    return "\n".join(lines)


def _plan_facts(plan: dict[str, Any]) -> list[str]:
    facts = [f"arn {plan['arn']}"]
    if "status" not in plan:
        return facts
    fee = plan["upfront_fee"]
    paid = f", bought for {fee['amount']} {fee['currency']}" if fee else ""
    inst = plan["instances"]
    zones = ", ".join(plan["availability_zones"]) or "?"
    tags = ", ".join(f"{k}={v}" for k, v in plan["tags"].items()) or "none"
    return facts + [
        f"status {plan['status']}, {plan['start_time']} to {plan['end_time']}{paid}",
        f"{inst['total']} x {plan['instance_type']} ({inst['in_use']} in use, "
        f"{inst['available']} available) in {zones}",
        f"tags: {tags}",
    ]


def _consumer(c: dict[str, Any]) -> str:
    text = f"{c['kind']} {c['name']} ({c['status']}): runs until {c['demand_end'] or 'no end'}"
    if c["demand_end"]:
        text += f", needs the plan until {c['needs_the_plan_until']}"
    return text


def _offering(o: dict[str, Any]) -> str:
    text = (
        f"{o['verdict'].upper()} {o['offering_id']}: {o['duration_hours']}h for "
        f"{o['upfront_fee']} {o['currency']}, {o['start']} to {o['end']} in "
        f"{o['availability_zone']}"
    )
    return text + (f"; {'; '.join(o['reasons'])}" if o["reasons"] else "")


def _budget(b: dict[str, Any]) -> str:
    text = f"budget {b['budget']} ({b['window']}): {b['spent']} of {b['limit']} {b['currency']}"
    return text + (f" ({b['problem']})" if b["problem"] else "")


def _limit(item: dict[str, Any]) -> str:
    unit = f" {item['currency']}" if item["currency"] else " purchase(s)"
    text = f"{item['limit']}: {item['used']} of {item['max']}{unit} used"
    return text + (f" (unknown: {item['unknown']})" if item["unknown"] else "")


def _extension(e: dict[str, Any]) -> str:
    return (
        f"{e['offering_id']} bought {e['extended_at']}: {e['duration_hours']}h for "
        f"{e['upfront_fee']} {e['currency']} ({e['status']}, payment {e['payment_status']})"
    )


def _intent(i: dict[str, Any]) -> str:
    text = (
        f"intent {i['offering_id']} ({i['duration_hours']}h, {i['fee']} {i['currency']}) at "
        f"{i['created_at']}: {i['state']}"
    )
    settles = i["next_cycle_settles_as"]
    return text + (f"; the next cycle settles it as {settles['state']}" if settles else "")


def _proposal(p: dict[str, Any]) -> str:
    text = (
        f"proposal {p['proposal_id']} {p['state']}: {p['duration_hours']}h for "
        f"{p['upfront_fee']} {p['currency']}, expires {p['expires_at']}"
    )
    if p["decided_by"]:
        text += f", decided by {p['decided_by']}"
    if "approvals" in p:
        text += f", approvals {len(p['approvals'])} of {p['approvals_needed']}"
    return text
