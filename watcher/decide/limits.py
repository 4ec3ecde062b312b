"""Blast-radius limits: how many extensions and how much money may be committed per cycle and
per rolling 24 hours, across every target, whatever policies and budgets allow.

What counts is what was committed: every extension in AWS's history bought in the last 24
hours (unless it failed), whoever bought it, plus every purchase in the journal (bought, or
with an unknown outcome) that AWS does not show yet. A restart or another replica therefore
sees the same count. The shell gathers those records; this module only adds them up and says
whether one more fee fits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from watcher.decide.text import iso, money
from watcher.model import Extension, Money

#: The rolling period of the `*_per_24h` limits.
DAY = timedelta(hours=24)
LIMIT_PREFIX = "safety.limits."


@dataclass(frozen=True)
class LimitRules:
    """The configured limits; None means no limit of that kind."""

    purchases_per_cycle: int | None = None
    spend_per_cycle: Money | None = None
    purchases_per_24h: int | None = None
    spend_per_24h: Money | None = None

    @property
    def any(self) -> bool:
        return any(
            value is not None
            for value in (
                self.purchases_per_cycle,
                self.spend_per_cycle,
                self.purchases_per_24h,
                self.spend_per_24h,
            )
        )

    @property
    def daily(self) -> bool:
        """True when a 24-hour limit is set (AWS's recent history must then be read)."""
        return self.purchases_per_24h is not None or self.spend_per_24h is not None


@dataclass(frozen=True)
class Commitment:
    """One purchase that counts: from AWS's history (`source` "aws") or the journal."""

    offering_id: str
    plan_arn: str
    at: datetime | None  # None: AWS gave no date (counted, to be safe)
    fee: Money | None  # None: AWS gave no readable fee (the spend is then unknown)
    source: str  # "aws" or "journal"
    by_plan_watcher: bool = True


@dataclass(frozen=True)
class LimitState:
    """One limit and what is used of it. Counts and amounts are both Decimals; `currency` is
    None for a count of purchases. `unknown` says why the use could not be counted exactly:
    such a limit admits nothing."""

    key: str  # the config key under safety.limits, e.g. "purchases_per_24h"
    limit: Decimal
    used: Decimal
    currency: str | None = None
    unknown: str | None = None
    #: How the use breaks down, for people (explain, metrics help): e.g. "2 by plan-watcher".
    detail: str = ""

    @property
    def name(self) -> str:
        return LIMIT_PREFIX + self.key

    @property
    def per_cycle(self) -> bool:
        return self.key.endswith("_per_cycle")

    def describe(self) -> str:
        """`safety.limits.spend_per_24h: 120000.00 of 150000.00 USD used`."""
        if self.currency is None:
            text = f"{self.name}: {self.used:f} of {self.limit:f} purchase(s) used"
        else:
            text = f"{self.name}: {self.used:f} of {self.limit:f} {self.currency} used"
        if self.unknown:
            text += f" (use unknown: {self.unknown}; nothing fits)"
        elif self.detail:
            text += f" ({self.detail})"
        return text


def committed_since(
    extensions: Iterable[Extension],
    journalled: Iterable[Commitment],
    since: datetime,
    settle_after: timedelta,
) -> list[Commitment]:
    """Every purchase committed at or after `since`: AWS's history (not Failed), and the
    journal's purchases AWS does not show yet. An extension AWS gives no date for counts
    unless the journal dates it before `since`. A journalled purchase AWS does not list yet
    counts if it was journalled at or after `settle_after` before `since`: AWS stamps
    `ExtendedAt` some time after the request (how long, it does not say)."""
    journal = {c.offering_id: c for c in journalled}
    listed = {ext.offering_id for ext in extensions}
    found: dict[str, Commitment] = {}
    for ext in extensions:
        if not ext.counts_for_spend or ext.offering_id in found:
            continue
        mine = journal.get(ext.offering_id)
        at = ext.extended_at or (mine.at if mine is not None else None)
        if at is not None and at < since:
            continue
        found[ext.offering_id] = Commitment(
            ext.offering_id, ext.plan_arn, at, ext.upfront_fee, "aws", mine is not None
        )
    for item in journal.values():
        if item.offering_id in listed or item.at is None or item.at < since - settle_after:
            continue
        found[item.offering_id] = item
    return sorted(found.values(), key=lambda c: (c.at is None, c.at or since, c.offering_id))


def limit_states(
    rules: LimitRules,
    last_day: Sequence[Commitment],
    this_cycle: Sequence[Commitment],
) -> list[LimitState]:
    """One state per configured limit, in the order of the config keys."""
    states: list[LimitState] = []
    periods = (("cycle", this_cycle), ("24h", last_day))
    for period, items in periods:
        count_limit = getattr(rules, f"purchases_per_{period}")
        spend_limit = getattr(rules, f"spend_per_{period}")
        detail = _breakdown(items) if period == "24h" else ""
        if count_limit is not None:
            states.append(
                LimitState(
                    f"purchases_per_{period}",
                    Decimal(count_limit),
                    Decimal(len(items)),
                    None,
                    None,
                    detail,
                )
            )
        if spend_limit is not None:
            states.append(_spend_state(f"spend_per_{period}", spend_limit, items, detail))
    return states


def _spend_state(key: str, limit: Money, items: Sequence[Commitment], detail: str) -> LimitState:
    total = Decimal(0)
    unknown: str | None = None
    for item in items:
        if item.fee is None:
            unknown = f"extension {item.offering_id} of {item.plan_arn} has no readable fee"
        elif item.fee.currency != limit.currency:
            unknown = f"extension {item.offering_id} was paid in {item.fee.currency}"
        else:
            total += item.fee.amount
    used = limit.amount if unknown is not None else total
    return LimitState(key, limit.amount, used, limit.currency, unknown, detail)


def _breakdown(items: Sequence[Commitment]) -> str:
    if not items:
        return ""
    ours = sum(1 for c in items if c.by_plan_watcher)
    parts = [f"{ours} in plan-watcher's journal"]
    if len(items) > ours:
        parts.append(f"{len(items) - ours} not (bought outside plan-watcher, or not journalled)")
    return ", ".join(parts)


def limit_problems(fee: Money, states: Sequence[LimitState]) -> list[str]:
    """Every limit one more purchase of `fee` would pass, with its figures; empty when it
    fits them all. A spend limit in another currency cannot take the fee."""
    problems: list[str] = []
    for state in states:
        if state.unknown is not None:
            problems.append(f"{state.name}: use unknown ({state.unknown}), so nothing fits")
            continue
        if state.currency is None:
            if state.used + 1 > state.limit:
                problems.append(
                    f"{state.name}: {state.used:f} purchase(s) {_when(state)} already, "
                    f"the limit is {state.limit:f}"
                )
            continue
        if fee.currency != state.currency:
            problems.append(
                f"{state.name} is kept in {state.currency} and cannot take a fee in {fee.currency}"
            )
            continue
        total = state.used + fee.amount
        if total > state.limit:
            limit = Money(state.limit, state.currency)
            problems.append(
                f"{state.name}: {money(Money(state.used, state.currency))} committed "
                f"{_when(state)} + {money(fee)} = {money(Money(total, state.currency))} would "
                f"pass the limit {money(limit)}"
            )
    return problems


def _when(state: LimitState) -> str:
    return "this cycle" if state.per_cycle else "in the last 24 hours"


def window_start(now: datetime) -> datetime:
    """The start of the rolling 24 hours that end at `now`."""
    return now - DAY


def describe_commitment(item: Commitment) -> str:
    """One line about a counted purchase, for `explain`."""
    when = iso(item.at) if item.at is not None else "an unknown time"
    fee = money(item.fee) if item.fee is not None else "an unreadable fee"
    who = "in the journal" if item.by_plan_watcher else "not in the journal"
    return f"{item.offering_id} on {item.plan_arn} at {when} for {fee} ({who}, from {item.source})"
