"""The soak's figures: one table, printed and written into docs/reliability.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from bench.soak.harness import Run
from bench.soak.invariants import INVARIANTS, KNOWN_DEFECTS, Findings
from watcher.journal.sqlite import SqliteJournal
from watcher.sandbox import Simulator

TABLE_START = "<!-- soak table: written by `make soak` (bench/soak), do not edit by hand -->"
TABLE_END = "<!-- end of soak table -->"


@dataclass(frozen=True)
class Summary:
    rows: tuple[tuple[str, str], ...]
    violations: dict[str, list[str]]
    known: dict[str, list[str]]
    unknown: dict[str, list[str]] = field(default_factory=dict)
    #: Every purchase answered badly, and how plan-watcher settled it (`unanswered`).
    ambiguous: tuple[tuple[str, ...], ...] = ()

    @property
    def failed(self) -> bool:
        return any(self.unknown.values())

    def table(self) -> str:
        lines = ["| figure | value |", "| --- | --- |"]
        lines += [f"| {name} | {value} |" for name, value in self.rows]
        return "\n".join(lines)

    def ambiguous_table(self) -> str:
        lines = [
            "| answered at | plan | answer | AWS acted | settled as | from AWS's record | "
            "purchases from that end |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.ambiguous]
        return "\n".join(lines)


def summarize(sim: Simulator, run: Run, findings: Findings) -> Summary:
    world = run.world
    record = sim.record
    paid = [p for p in record.purchases if _paid(sim, p.plan_arn, p.offering_id)]
    unpaid = {(p.plan_arn, p.plan_end_before) for p in record.purchases if p not in paid}
    rebought = sum(1 for p in paid if (p.plan_arn, p.plan_end_before) in unpaid)
    spend = sum((p.fee for p in paid), Decimal(0))
    plans_by = run.sink.plans_by_decision
    faults = record.faults
    restarts = sum(run.restarts.values())
    by_point = ", ".join(f"{k} {v}" for k, v in sorted(run.restarts.items()))
    inter = findings.interruptions
    settled: dict[str, int] = {}
    for event in run.sink.purchases:
        if event.get("event") == "purchase_resolved":
            outcome = str(event.get("outcome"))
            settled[outcome] = settled.get(outcome, 0) + 1
    rows: list[tuple[str, str]] = [
        ("seed", str(world.seed)),
        ("simulated days", str((world.end - world.start).days)),
        ("poll interval (simulated)", f"{int(world.poll.total_seconds() // 60)} min"),
        ("cycles", str(len(run.cycle_starts))),
        ("targets", str(len(world.targets))),
        ("plans", str(len(world.plans))),
        ("training jobs / HyperPod clusters", f"{len(world.jobs)} / {len(world.clusters)}"),
        ("purchases (AWS's record)", str(len(record.purchases))),
        ("plans extended", str(len({p.plan_arn for p in record.purchases}))),
        ("spend", f"{spend:.2f} USD"),
        ("plans refused by a budget at least once", str(len(plans_by.get("over_budget", ())))),
        (
            "plans with no acceptable offering at least once",
            str(len(plans_by.get("no_offering", ()))),
        ),
        ("AWS calls", str(sum(record.calls.values()))),
        ("faults: throttled", str(faults.get("throttle", 0))),
        ("faults: 5xx", str(faults.get("5xx", 0))),
        ("faults: ambiguous purchases", str(faults.get("ambiguous", 0))),
        ("faults: calls with added latency", str(sim.faults.delayed_calls)),
        (
            "purchases plan-watcher saw end with an unknown outcome",
            str(run.sink.counts["purchase_ambiguous"]),
        ),
        ("circuit breaker opened", str(run.sink.counts["circuit_breaker_open"])),
        ("restarts (crash points)", f"{restarts} ({by_point})"),
        (
            "plans Failed / UltraServer / with instances in use by nothing listed",
            f"{sum(p.failed for p in world.plans)} / {sum(p.ultraserver for p in world.plans)} "
            f"/ {sum(p.unlisted_in_use > 0 for p in world.plans)}",
        ),
        ("jobs placed through InstancePreferences", str(sum(j.by_preference for j in world.jobs))),
        ("jobs sent back to Pending between reserved capacities", str(len(record.pauses))),
        (
            "decisions on instances in use with no consumer found",
            str(run.sink.counts["unattributed_use"]),
        ),
        (
            "purchases answered badly: AWS acted / did not",
            f"{sum(u.acted for u in record.unanswered)} / "
            f"{sum(not u.acted for u in record.unanswered)}",
        ),
        (
            "settled from AWS's record: bought / not bought",
            f"{settled.get('bought', 0)} / {settled.get('not_bought', 0)}",
        ),
        (
            "payments failed (AWS's record) / recorded as failed / bought again from that end",
            f"{len(record.purchases) - len(paid)} / {run.sink.counts['extension_failed']} / "
            f"{rebought}",
        ),
        (
            "interruptions: total / unmanaged plan / not preventable",
            f"{sum(inter.values())} / {inter.get('unmanaged', 0)} / "
            f"{inter.get('not preventable', 0)}",
        ),
    ]
    for name in INVARIANTS:
        count = len(findings.violations[name])
        note = ""
        known = {
            k: len([d for d in v if d in findings.violations[name]])
            for k, v in findings.known.items()
        }
        explained = sum(known.values())
        if explained:
            note = f" ({explained} from a known defect, see below)"
        rows.append((f"violations: {name}", f"{count}{note}"))
    table = tuple(_ambiguous_rows(sim, run))
    return Summary(tuple(rows), findings.violations, findings.known, findings.unknown(), table)


def _ambiguous_rows(sim: Simulator, run: Run) -> list[tuple[str, ...]]:
    """One row per purchase answered badly: what AWS did, and what plan-watcher's journal says
    it settled (its closing event) and why."""
    journal = SqliteJournal(run.journal_path)
    try:
        events = journal.events()
    finally:
        journal.close()
    closing = {
        detail.split(":", 1)[0]: (event, detail.split(":", 1)[1].strip())
        for _, _, event, detail in events
        if event in ("bought", "failed")
    }
    rows: list[tuple[str, ...]] = []
    for item in sim.record.unanswered:
        if item.operation != "ExtendTrainingPlan" or item.plan_arn is None:
            continue
        plan = sim.world.plans[item.plan_arn]
        end = _end_from(sim, item.plan_arn, item.offering_id, item.at)
        bought = [p for p in sim.record.purchases if p.plan_arn == item.plan_arn]
        state, note = closing.get(item.offering_id, ("still open", ""))
        rows.append(
            (
                item.at.strftime("%Y-%m-%d %H:%M"),
                plan.name,
                item.mode,
                "yes" if item.acted else "no",
                state,
                note,
                str(sum(1 for p in bought if p.plan_end_before == end)),
            )
        )
    return rows


def _end_from(sim: Simulator, plan_arn: str, offering_id: str, when: datetime) -> datetime | None:
    """The end the purchase was made from: its own record's, or for one never made, the
    plan's end at `when`."""
    made = [p for p in sim.record.purchases if p.offering_id == offering_id]
    if made:
        return made[0].plan_end_before
    before = [p for p in sim.record.purchases if p.plan_arn == plan_arn and p.at < when]
    plan = sim.world.plans[plan_arn]
    ends = [p.end for p in before if _paid(sim, plan_arn, p.offering_id)]
    return max([plan.base_end, *ends])


def _paid(sim: Simulator, plan_arn: str, offering_id: str) -> bool:
    ext = sim.world.extension(plan_arn, offering_id)
    return ext is None or not ext.will_fail


def details(summary: Summary, limit: int = 10) -> str:
    """The violations, a few per invariant, for the console and the doc."""
    lines: list[str] = []
    for name, found in summary.violations.items():
        for detail in found[:limit]:
            lines.append(f"- `{name}`: {detail}")
        if len(found) > limit:
            lines.append(f"- `{name}`: ... and {len(found) - limit} more")
    for key, found in summary.known.items():
        if found:
            lines.append(f"- known defect `{key}` ({len(found)}): {KNOWN_DEFECTS[key]}")
    return "\n".join(lines) if lines else "- none"


def write_into(doc: Path, summary: Summary, command: str) -> None:
    """Replace the table between the markers in `doc` with this run's."""
    text = doc.read_text()
    start, end = text.index(TABLE_START), text.index(TABLE_END)
    block = (
        f"{TABLE_START}\n\nFrom `{command}`:\n\n{summary.table()}\n\n"
        f"Purchases answered badly, and how each was settled:\n\n{summary.ambiguous_table()}\n\n"
        f"Violations found in this run:\n\n{details(summary)}\n\n"
    )
    doc.write_text(text[:start] + block + text[end:])
