"""The soak's figures: one table, printed and written into docs/reliability.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from bench.soak.harness import Run
from bench.soak.invariants import INVARIANTS, KNOWN_DEFECTS, Findings
from watcher.sandbox import Simulator

TABLE_START = "<!-- soak table: written by `make soak` (bench/soak), do not edit by hand -->"
TABLE_END = "<!-- end of soak table -->"


@dataclass(frozen=True)
class Summary:
    rows: tuple[tuple[str, str], ...]
    violations: dict[str, list[str]]
    known: dict[str, list[str]]
    unknown: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(self.unknown.values())

    def table(self) -> str:
        lines = ["| figure | value |", "| --- | --- |"]
        lines += [f"| {name} | {value} |" for name, value in self.rows]
        return "\n".join(lines)


def summarize(sim: Simulator, run: Run, findings: Findings) -> Summary:
    world = run.world
    record = sim.record
    paid = [p for p in record.purchases if _paid(sim, p.plan_arn, p.offering_id)]
    spend = sum((p.fee for p in paid), Decimal(0))
    plans_by = run.sink.plans_by_decision
    faults = record.faults
    restarts = sum(run.restarts.values())
    by_point = ", ".join(f"{k} {v}" for k, v in sorted(run.restarts.items()))
    inter = findings.interruptions
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
    return Summary(tuple(rows), findings.violations, findings.known, findings.unknown())


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
        f"Violations found in this run:\n\n{details(summary)}\n\n"
    )
    doc.write_text(text[:start] + block + text[end:])
