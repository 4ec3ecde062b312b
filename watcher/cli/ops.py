"""Operator commands on the journal, with no AWS calls: proposals, approve, reject, pause,
resume. Each `cmd_*` takes the parsed arguments and the clock its decisions are stamped with,
and returns the exit code; watcher/cli/main.py registers them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime

from watcher.act import two_person
from watcher.act.valves import Valves
from watcher.app import open_journal
from watcher.cli.common import load_config_or_report, output_format
from watcher.clock import Clock
from watcher.config import Config
from watcher.decide.approval import fee_ceiling
from watcher.decide.text import iso, money
from watcher.exit_codes import ExitCode
from watcher.journal.records import LIVE_PROPOSAL_STATES, Journal, Proposal, ProposalState
from watcher.journal.table import JournalUnavailable
from watcher.observe.logs import configure, get_logger
from watcher.report import pause_fields, proposal_fields, proposal_lines


def operator() -> str:
    """Who is running the command, as recorded in `decided_by`: cli:<USER>."""
    return "cli:" + (os.environ.get("USER") or os.environ.get("USERNAME") or "unknown")


def _with_journal(
    args: argparse.Namespace, clock: Clock, work: Callable[[Config, Journal, datetime], int]
) -> int:
    config = load_config_or_report(args)
    if config is None:
        return ExitCode.BAD_CONFIG
    configure(config.logging.level.value, config.logging.format.value, sys.stderr)
    try:
        journal = open_journal(config)
        try:
            return work(config, journal, clock.now())
        finally:
            journal.close()
    except JournalUnavailable as exc:
        return _fail(f"the journal is unavailable: {exc}")


def _fail(message: str) -> int:
    print(f"plan-watcher: {message}", file=sys.stderr)
    return ExitCode.FAILED


# --- proposals ---------------------------------------------------------------------------


def cmd_proposals(args: argparse.Namespace, clock: Clock) -> int:
    def work(config: Config, journal: Journal, now: datetime) -> int:
        states = None if args.all else frozenset(LIVE_PROPOSAL_STATES)
        found = journal.proposals(states)
        valves = Valves(journal, config.safety)
        pause = valves.paused()
        if output_format(args) == "json":
            report = {
                "proposals": [_with_approvals(journal, p) for p in found],
                "purchases_paused": pause_fields(pause),
                "purchase_failures_in_a_row": valves.failures_in_a_row(),
            }
            print(json.dumps(report, indent=2))
            return ExitCode.OK
        lines = proposal_lines(found, now)[1:] or ["no proposals" + ("" if args.all else " open")]
        if pause is not None:
            lines.append(f"PAUSED: {pause.describe()}; `plan-watcher resume` ends it")
        print("\n".join(lines))
        return ExitCode.OK

    return _with_journal(args, clock, work)


def _with_approvals(journal: Journal, proposal: Proposal) -> dict[str, object]:
    """A proposal's JSON, with the approvals a two-person proposal has so far."""
    fields = proposal_fields(proposal)
    record = two_person.load(journal, proposal.proposal_id)
    fields["approvals_needed"] = record.needed if record is not None else 1
    fields["approvals"] = [{"by": by, "at": at} for by, at in record.given] if record else []
    return fields


# --- approve / reject --------------------------------------------------------------------


def _decidable(
    journal: Journal, proposal_id: str, allowed: frozenset[ProposalState]
) -> Proposal | str:
    proposal = journal.proposal(proposal_id)
    if proposal is None:
        return (
            f"no proposal {proposal_id!r} in the journal (list them with `plan-watcher proposals`)"
        )
    if proposal.state not in allowed:
        by = f" by {proposal.decided_by}" if proposal.decided_by else ""
        at = f" at {iso(proposal.decided_at)}" if proposal.decided_at else ""
        return f"proposal {proposal_id} is {proposal.state.value}{by}{at}, not pending"
    return proposal


def cmd_approve(args: argparse.Namespace, clock: Clock) -> int:
    def work(config: Config, journal: Journal, now: datetime) -> int:
        found = _decidable(journal, args.id, frozenset({ProposalState.PENDING}))
        if isinstance(found, str):
            return _fail(found)
        if now >= found.expires_at:
            return _fail(
                f"proposal {args.id} expired at {iso(found.expires_at)} (the plan's last safe "
                "purchase moment); the next cycle closes it"
            )
        by = operator()
        record = two_person.load(journal, args.id)
        if record is not None and record.needed > 1:
            try:
                done, how = two_person.approve_by_command(journal, found, record, by, now)
            except ValueError as exc:
                return _fail(str(exc))
            get_logger().info("proposal_approval_recorded", proposal_id=args.id, by=by, how=how)
            if done is None:
                print(how)
                return ExitCode.OK
        else:
            done = journal.transition_proposal(
                args.id,
                frozenset({ProposalState.PENDING}),
                ProposalState.APPROVED,
                by,
                "approved with plan-watcher approve",
                now,
            )
        if done is None:
            return _fail(f"proposal {args.id} changed meanwhile; see `plan-watcher proposals`")
        get_logger().info("proposal_approved", proposal_id=args.id, plan=done.plan_name, by=by)
        # The policy it was proposed under (matched on the plan's tags too, which this
        # command does not read): the one whose fee_tolerance the purchase is held to.
        policy = next((p for p in config.policies if p.name == done.policy), None)
        limit = "within the policy's fee_tolerance"
        if policy is not None:
            limit = f"at most {money(fee_ceiling(done.fee, policy.approval.fee_tolerance))}"
        print(
            f"approved {done.proposal_id}: {done.plan_name} +{done.duration_hours}h for "
            f"{money(done.fee)}; the next cycle buys it if a fresh offer of that length costs "
            f"{limit}, else it makes a new proposal"
        )
        return ExitCode.OK

    return _with_journal(args, clock, work)


def cmd_reject(args: argparse.Namespace, clock: Clock) -> int:
    def work(config: Config, journal: Journal, now: datetime) -> int:
        found = _decidable(journal, args.id, frozenset(LIVE_PROPOSAL_STATES))
        if isinstance(found, str):
            return _fail(found)
        by = operator()
        note = args.reason or "rejected with plan-watcher reject"
        done = journal.transition_proposal(
            args.id, frozenset(LIVE_PROPOSAL_STATES), ProposalState.REJECTED, by, note, now
        )
        if done is None:
            return _fail(f"proposal {args.id} changed meanwhile; see `plan-watcher proposals`")
        get_logger().info("proposal_rejected", proposal_id=args.id, plan=done.plan_name, by=by)
        print(
            f"rejected {done.proposal_id}: {done.plan_name} is not extended by plan-watcher "
            "until its end time changes"
        )
        return ExitCode.OK

    return _with_journal(args, clock, work)


# --- pause / resume ----------------------------------------------------------------------


def cmd_pause(args: argparse.Namespace, clock: Clock) -> int:
    def work(config: Config, journal: Journal, now: datetime) -> int:
        reason = args.reason or "paused with plan-watcher pause"
        pause = Valves(journal, config.safety).pause(reason, operator(), now)
        get_logger().info("purchases_paused", reason=reason, by=pause.by)
        print(f"{pause.describe()}; nothing is bought until `plan-watcher resume`")
        return ExitCode.OK

    return _with_journal(args, clock, work)


def cmd_resume(args: argparse.Namespace, clock: Clock) -> int:
    def work(config: Config, journal: Journal, now: datetime) -> int:
        valves = Valves(journal, config.safety)
        failures = valves.failures_in_a_row()
        was = valves.resume()
        if was is None and not failures:
            print("purchases were not paused")
            return ExitCode.OK
        get_logger().info(
            "purchases_resumed",
            by=operator(),
            was=was.describe() if was else None,
            failures_in_a_row=failures,
        )
        print("purchases resumed" + (f" (were: {was.describe()})" if was else ""))
        return ExitCode.OK

    return _with_journal(args, clock, work)
