"""The bench's figures as text, each beside its target."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def render(r: dict[str, Any]) -> str:
    sizes, once, daemon, bound = r["sizes"], r["once"], r["daemon"], r["lower_bound"]
    peer, full = r["peer"], r["peer_full"]
    lb = sum(bound.values())
    calls = statistics.median(daemon["steady_calls"])
    wall = statistics.median(daemon["steady_wall_s"])
    cp = r["critical_path_s"]
    lines = [
        f"estate: {sizes['plans']} plans, {sizes['jobs']} jobs ({sizes['in_progress']} "
        f"InProgress), {sizes['clusters']} clusters, {sizes['targets']} targets; "
        f"+{r['latency_ms']:.0f} ms per call",
        "facts per target: "
        + "; ".join(f"{f['name']} due {f['due']} searched {f['searched']}" for f in r["facts"]),
        "round trips on an idle server (median ms): "
        + ", ".join(f"{k} {v * 1000:.0f}" for k, v in r["round_trips_s"].items()),
        "",
        "steady state (daemon, cycles after the first):",
        f"  AWS calls per cycle   {calls:.0f} (each: {_ints(daemon['steady_calls'])}); lower "
        f"bound {lb} = plans {bound['list_plans']} + jobs {bound['list_jobs']} + clusters "
        f"{bound['list_clusters']} + history {bound['history']} + search {bound['search']}",
        "    last cycle by operation: "
        + ", ".join(f"{k} {v}" for k, v in sorted(daemon["steady_by_operation"].items())),
        f"    ratio {calls / lb:.2f} (target <= 1.10: {_verdict(calls <= 1.1 * lb)})",
        f"  cycle wall time       {wall:.2f} s (each: {_secs(daemon['steady_wall_s'])}); "
        f"critical path {cp:.2f} s ({r['critical_path_chain']})",
        f"    ratio {wall / cp:.2f} (target <= 2.0: {_verdict(wall <= 2 * cp)})",
        f"  peak RSS              {daemon['peak_rss_mb']:.1f} MB "
        f"(target < 100: {_verdict(daemon['peak_rss_mb'] < 100)})",
        "",
        "first cycle:",
        f"  daemon start -> /readyz 200   {daemon['first_cycle_s']:.2f} s "
        f"({daemon['first_cycle_calls']:.0f} calls)",
        f"  plan-watcher once             {once['wall_s']:.2f} s, {once['calls']} calls, "
        f"peak RSS {once['peak_rss_mb']:.1f} MB, exit {once['exit']}",
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
