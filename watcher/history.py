"""`plan-watcher history`: extension history and spend, from AWS's record, for people and for
finance.

Per plan (table, and `plans` in JSON) and per budget as before; and one row per extension
(`extensions` in JSON, the rows of `--output csv`): plan, target, account, region, dates,
hours, fee, currency, status, payment status, whether plan-watcher bought it (its journal
holds the purchase) or it was bought outside plan-watcher, who or what approved it, the
policy and the decision's reason (from the purchase's note in the journal), and the plan's
tags named in `metrics.plan_labels_from_tags`. Purchases the journal holds with an unknown
outcome that AWS does not show yet are rows too. `--since`/`--until` keep what was bought in
that range (by `ExtendedAt`).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from watcher.act.purchase_notes import load_note
from watcher.aws.errors import AwsError
from watcher.aws.sagemaker import SageMakerGateway
from watcher.budget_spend import CoveredExtensions, journal_since, spend
from watcher.config import Config
from watcher.config.core_rules import needs_tags
from watcher.journal.records import Intent, IntentState, Journal, owners_of
from watcher.model import Extension, Plan
from watcher.report import json_time

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BY_PLAN_WATCHER = "plan-watcher"
BY_OTHERS = "outside plan-watcher"
#: The CSV's columns, in order; the plan's tag columns (`tag:KEY`) follow.
COLUMNS = (
    "extended_at",
    "plan_name",
    "plan_arn",
    "target",
    "account",
    "region",
    "offering_id",
    "start",
    "end",
    "duration_hours",
    "upfront_fee",
    "currency",
    "status",
    "payment_status",
    "bought_by",
    "approved_by",
    "policy",
    "decision_reason",
)


@dataclass(frozen=True)
class Period:
    """[since, until): None is open-ended."""

    since: datetime | None = None
    until: datetime | None = None

    def holds(self, when: datetime | None) -> bool:
        """An extension AWS gives no date for is always listed: its money is real."""
        if when is None:
            return True
        return (self.since is None or when >= self.since) and (
            self.until is None or when < self.until
        )


@dataclass
class History:
    plans: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    budgets: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def arn_parts(arn: str) -> tuple[str, str]:
    """(account, region) of an ARN like arn:aws:sagemaker:us-east-1:111122223333:..."""
    parts = arn.split(":")
    return (parts[4], parts[3]) if len(parts) > 5 else ("", "")


def gather(
    config: Config,
    now: datetime,
    gateways: Mapping[str, SageMakerGateway],
    journal: Journal,
    period: Period,
) -> History:
    """Read every target's plans and extension history, and the journal's purchases."""
    history = History()
    covered: list[CoveredExtensions] = []
    intents = journal.intents_since(EPOCH)
    labels = config.metrics.plan_labels_from_tags
    for name, gateway in gateways.items():
        try:
            found, _ = gateway.list_plans()
            for plan in sorted(found, key=lambda p: p.name):
                extensions, unreadable = gateway.extension_history(plan.arn)
                if unreadable:
                    history.errors.append(
                        f"{plan.name}: {len(unreadable)} unreadable extension history entries"
                    )
                tags = gateway.tags(plan.arn) if needs_tags(config) else {}
                policy = config.policy_for(plan.name, tags, name)
                covered.append(
                    CoveredExtensions(
                        plan.arn,
                        policy.name if policy else None,
                        extensions,
                        "unreadable extension history" if unreadable else None,
                    )
                )
                kept = [e for e in extensions if period.holds(e.extended_at)]
                history.plans.append(_plan(plan, name, kept))
                history.rows += rows_for(
                    plan, name, extensions, intents, journal, period, tags, labels
                )
        except AwsError as exc:
            history.errors.append(f"target {name}: {exc}")
    settle = config.safety.settle_after
    since = journal_since(config.budgets, now, settle)
    budget_intents = [i for i in intents if i.created_at >= since]
    history.budgets = [
        {
            "budget": s.budget.name,
            "window": s.budget.window.value,
            "limit": str(s.state.limit.amount),
            "spent": str(s.state.spent.amount),
            "currency": s.state.limit.currency,
            "problem": s.problem,
        }
        for s in (spend(b, now, covered, budget_intents, settle) for b in config.budgets)
    ]
    history.rows.sort(key=lambda r: (r["extended_at"] or "", r["plan_name"], r["offering_id"]))
    return history


def _plan(plan: Plan, target: str, extensions: Sequence[Extension]) -> dict[str, Any]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for ext in extensions:
        if ext.counts_for_spend and ext.upfront_fee is not None:
            totals[ext.upfront_fee.currency] += ext.upfront_fee.amount
    return {
        "plan_arn": plan.arn,
        "plan_name": plan.name,
        "target": target,
        "status": plan.status.value,
        "end_time": json_time(plan.end_time),
        "extensions": [
            {
                "offering_id": e.offering_id,
                "extended_at": json_time(e.extended_at),
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


def rows_for(
    plan: Plan,
    target: str,
    extensions: Sequence[Extension],
    intents: Sequence[Intent],
    journal: Journal,
    period: Period,
    tags: Mapping[str, str],
    labels: Sequence[str],
) -> list[dict[str, Any]]:
    """One row per extension of `plan` AWS records in `period`, and one per purchase the
    journal holds with an unknown outcome that AWS does not show yet."""
    account, region = arn_parts(plan.arn)
    mine = [i for i in intents if i.plan_arn == plan.arn]
    owners = owners_of(extensions, mine)
    base: dict[str, Any] = {"plan_name": plan.name, "plan_arn": plan.arn, "target": target}
    base |= {"account": account, "region": region}
    chosen_tags = {key: tags.get(key, "") for key in labels}
    rows = []
    for index, ext in enumerate(extensions):
        if not period.holds(ext.extended_at):
            continue
        fee = ext.upfront_fee
        row = base | {
            "extended_at": json_time(ext.extended_at),
            "offering_id": ext.offering_id,
            "start": json_time(ext.start),
            "end": json_time(ext.end),
            "duration_hours": ext.duration_hours,
            "upfront_fee": f"{fee.amount:f}" if fee is not None else None,
            "currency": fee.currency if fee is not None else None,
            "status": ext.status,
            "payment_status": ext.payment_status,
        }
        owner = owners.get(index)
        noted = owner.offering_id if owner is not None else ext.offering_id
        rows.append(row | _who(journal, noted, owner is not None) | {"tags": chosen_tags})
    shown = {id(intent) for intent in owners.values()}
    for intent in mine:
        if id(intent) in shown or intent.state is not IntentState.OPEN:
            continue
        if not period.holds(intent.created_at):
            continue
        row = base | {
            "extended_at": json_time(intent.created_at),
            "offering_id": intent.offering_id,
            "start": json_time(intent.plan_end),
            "end": None,
            "duration_hours": intent.duration_hours,
            "upfront_fee": f"{intent.fee.amount:f}",
            "currency": intent.fee.currency,
            "status": "Unknown (purchase outcome not known yet; not in AWS's history)",
            "payment_status": "Unknown",
        }
        rows.append(row | _who(journal, intent.offering_id, True) | {"tags": chosen_tags})
    return rows


def _who(journal: Journal, offering_id: str, ours: bool) -> dict[str, Any]:
    """Who bought an extension, on whose approval and why (from the purchase's note). A
    purchase whose intent a later one from the same plan end replaced (its payment failed)
    is still known by its note."""
    note = load_note(journal, offering_id)
    if not ours and note is None:
        return _by(BY_OTHERS, None, None, None)
    if note is None:
        return _by(BY_PLAN_WATCHER, "not recorded", None, "not recorded")
    return _by(BY_PLAN_WATCHER, note.approved_by, note.policy, note.reason)


def _by(
    bought: str, approved: str | None, policy: str | None, reason: str | None
) -> dict[str, Any]:
    return {
        "bought_by": bought,
        "approved_by": approved,
        "policy": policy,
        "decision_reason": reason,
    }


def to_csv(rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    """The rows as CSV (RFC 4180, a header line, empty cells for nothing)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*COLUMNS, *(f"tag:{key}" for key in labels)])
    for row in rows:
        cells = [row[column] for column in COLUMNS] + [row["tags"].get(key, "") for key in labels]
        writer.writerow(["" if cell is None else cell for cell in cells])
    return out.getvalue()
