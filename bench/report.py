"""The bench's figures as text, each beside its target."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

CALLS_TARGET = 1.05  # steady calls / lower bound
CYCLE_TARGET = 1.2  # steady cycle / critical path
PEAK_TARGET_MB = 80.0  # the daemon's peak RSS at the bench's scale
FLAT_TARGET = 0.05  # RSS from cycle 100 on stays within this share of RSS at cycle 100


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def render(r: dict[str, Any]) -> str:
    sizes, once, daemon, bound = r["sizes"], r["once"], r["daemon"], r["lower_bound"]
    peer, full = r["peer"], r["peer_full"]
    lb = sum(bound.values())
    calls = statistics.median(daemon["steady_calls"])
    wall = statistics.median(daemon["steady_wall_s"])
    cp = r["critical_path_s"]
    long = r.get("long")
    peak = max([daemon["peak_rss_mb"]] + ([long["peak_mb"]] if long else []))
    load = r.get("load") or {}
    lines = [
        f"estate: {sizes['plans']} plans, {sizes['jobs']} jobs ({sizes['in_progress']} "
        f"InProgress), {sizes['clusters']} clusters, {sizes['targets']} targets; "
        f"+{r['latency_ms']:.0f} ms per call",
        "facts per target: "
        + "; ".join(f"{f['name']} due {f['due']} searched {f['searched']}" for f in r["facts"]),
        "round trips on an idle server (median ms): "
        + ", ".join(f"{k} {v * 1000:.0f}" for k, v in r["round_trips_s"].items()),
        "load average (1 min): "
        + ", ".join(f"{k} {v:.2f}" for k, v in load.items())
        + (f", long run mean {long['load'][0]:.2f} max {long['load'][1]:.2f}" if long else ""),
        "",
        "steady state (daemon, cycles after the first):",
        f"  AWS calls per cycle   {calls:.0f} (each: {_ints(daemon['steady_calls'])}); lower "
        f"bound {lb} = plans {bound['list_plans']} + jobs {bound['list_jobs']} + clusters "
        f"{bound['list_clusters']} + history {bound['history']} + search {bound['search']}",
        "    last cycle by operation: " + _by_operation(daemon["steady_by_operation"]),
        f"    ratio {calls / lb:.2f} (target <= {CALLS_TARGET}: "
        f"{_verdict(calls <= CALLS_TARGET * lb)})",
        f"  cycle wall time       {wall:.2f} s (each: {_secs(daemon['steady_wall_s'])}); "
        f"critical path {cp:.2f} s ({r['critical_path_chain']})",
        f"    ratio {wall / cp:.2f} (target <= {CYCLE_TARGET}: "
        f"{_verdict(wall <= CYCLE_TARGET * cp)})",
        f"  peak RSS              {daemon['peak_rss_mb']:.1f} MB",
        "",
        *_long_lines(long),
        f"peak RSS of the daemon  {peak:.1f} MB (target <= {PEAK_TARGET_MB:.0f}: "
        f"{_verdict(peak <= PEAK_TARGET_MB)})",
        "",
        "first cycle:",
        f"  daemon start -> /readyz 200   {daemon['first_cycle_s']:.2f} s "
        f"({daemon['first_cycle_calls']:.0f} calls)",
        f"  plan-watcher once             {once['wall_s']:.2f} s, {once['calls']} calls, "
        f"peak RSS {once['peak_rss_mb']:.1f} MB, exit {once['exit']}",
        "    by operation: " + _by_operation(once["by_operation"]),
        "",
        "peer (bench/peer.sh, AWS CLI):",
        f"  listing only      {peer['listing']['wall_s']:.1f} s, {peer['listing']['calls']} calls",
        f"  sample            {peer['sample']['wall_s']:.1f} s, {peer['sample']['calls']} calls",
        f"  every plan (est.) {full['wall_s']:.0f} s, {full['calls']:.0f} calls "
        f"({full.get('per_plan_wall_s', 0):.2f} s and {full.get('per_plan_calls', 0):.1f} calls "
        "per plan)",
        f"  vs once:   wall x{full['wall_s'] / once['wall_s']:.0f}, calls "
        f"x{full['calls'] / max(1, once['calls']):.0f} "
        f"(target >= 10x faster: {_verdict(full['wall_s'] >= 10 * once['wall_s'])})",
        f"  vs steady: wall x{full['wall_s'] / wall:.0f}, calls x{full['calls'] / calls:.0f}",
    ]
    return "\n".join(lines)


def _long_lines(long: dict[str, Any] | None) -> list[str]:
    if not long:
        return ["long run: not run (--long-cycles 0)", ""]
    at = {int(k): v for k, v in long["rss_mb_at"].items()}
    marks = ", ".join(f"cycle {k:,}: {v:.1f} MB" for k, v in sorted(at.items()))
    warm = at.get(100)
    low, high = long["min_after_warm_mb"], long["max_after_warm_mb"]
    spread = max(high - warm, warm - low) / warm if warm else float("nan")
    return [
        f"long run ({long['cycles']:.0f} cycles at poll.interval {long['interval']}, "
        f"{long['seconds'] / 60:.1f} min):",
        f"  RSS                   {marks}",
        f"  slope from cycle 100  {long['slope_mb_per_1000_cycles']:+.2f} MB per 1,000 cycles",
        f"  after cycle 100       {low:.1f} to {high:.1f} MB, within {spread:.1%} of cycle 100 "
        f"(target <= {FLAT_TARGET:.0%}: {_verdict(spread <= FLAT_TARGET)})",
        f"  threads               {long['most_threads']} at most, {long['threads_seen']} seen "
        f"over the run; glibc malloc arenas {long['malloc_arenas']} besides the main heap",
        f"  peak RSS              {long['peak_mb']:.1f} MB",
        "",
    ]


def _by_operation(calls: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in sorted(calls.items()))


def _ints(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def _secs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


START, END = "<!-- bench:latest-run:start -->", "<!-- bench:latest-run:end -->"


def write_latest(path: Path, text: str) -> None:
    """Replace the block between the markers in `path` with this run's figures."""
    doc = path.read_text()
    if START not in doc or END not in doc:
        raise SystemExit(f"{path}: no {START} ... {END} block to write the figures into")
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    block = f"{START}\n```text\n{text}\n```\n{END}"
    path.write_text(head + block + tail)
