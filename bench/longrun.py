"""The daemon over many cycles: its resident memory, sampled from /proc, against its cycle count.

    .venv/bin/python -m bench.longrun [--cycles 1000] [--interval 1s]

runs on its own (starting `bench.serve` at the bench's scale) and prints the figures; `make
bench` runs the same measurement (`run_long`) after its other figures.

While `plan-watcher run` cycles, this process reads the daemon's `VmRSS` and its live thread
IDs from `/proc/PID` every `SAMPLE_EVERY` seconds (reading /proc costs the daemon nothing), and
scrapes `/metrics` every `SCRAPE_EVERY` seconds, as Prometheus would, for the number of
completed cycles. A sample's cycle number is interpolated between the scrapes around it (the
scheduler starts cycles at a steady interval), and RSS at cycle N is the sample nearest that
cycle. The slope is a least-squares fit of RSS over every sample from cycle 100 on.
"""

from __future__ import annotations

import argparse
import bisect
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLE_EVERY = 0.25
SCRAPE_EVERY = 5.0
WARM = 100  # cycles after which memory should stop growing
MARKS = (WARM, 500, 1000)


@dataclass
class Trace:
    """What was seen of one daemon process."""

    samples: list[tuple[float, float]] = field(default_factory=list)  # (monotonic s, RSS MB)
    scrapes: list[tuple[float, float]] = field(default_factory=list)  # (monotonic s, cycles)
    threads: set[int] = field(default_factory=set)  # every thread ID seen alive
    most_threads: int = 0
    peak_mb: float = 0.0  # VmHWM at the end
    arenas: int = 0  # glibc malloc arenas besides the main heap, at the end
    load: list[float] = field(default_factory=list)  # 1-minute load average at each scrape


def status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def malloc_arenas(pid: int) -> int:
    """Secondary glibc arenas: each reserves a 64 MiB-aligned region, mapped as a read-write
    part followed by an inaccessible rest, together exactly 64 MiB (HEAP_MAX_SIZE)."""
    size = 64 * 1024 * 1024
    regions = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) > 5:  # a file or a named region ([heap], [stack]...)
            continue
        start, end = (int(x, 16) for x in parts[0].split("-"))
        regions.append((start, end, parts[1]))
    count = 0
    for i, (start, end, perms) in enumerate(regions):
        if start % size or not perms.startswith("rw"):
            continue
        if (
            end - start == size
            or i + 1 < len(regions)
            and regions[i + 1][0] == end
            and regions[i + 1][1] - start == size
        ):
            count += 1
    return count


def sample(pid: int, trace: Trace) -> None:
    trace.samples.append((time.monotonic(), status_mb(pid, "VmRSS")))
    tids = {int(t) for t in os.listdir(f"/proc/{pid}/task")}
    trace.threads |= tids
    trace.most_threads = max(trace.most_threads, len(tids))


def run_long(server: Any, sizes: Any, tmp: Path, cycles: int, interval: str) -> dict[str, Any]:
    """`plan-watcher run` at the bench's scale with poll.interval `interval`, until `cycles`
    cycles are done; the summary of what was seen."""
    import socket

    import yaml

    from bench.scale import BIN, ENV, _scrape
    from bench.world import watcher_config

    tmp.mkdir(parents=True, exist_ok=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = watcher_config(sizes, str(tmp / "journal.db"), f"127.0.0.1:{port}", interval)
    path = tmp / "watcher.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**ENV, "AWS_ENDPOINT_URL": server.endpoint}
    command = [str(BIN / "plan-watcher"), "run", "--config", str(path)]
    trace = watch(command, env, f"http://127.0.0.1:{port}", cycles, _scrape)
    return {**summarise(trace), "interval": interval}


def watch(command: list[str], env: dict[str, str], base: str, cycles: int, scrape: Any) -> Trace:
    """Run `command` (the daemon, serving /metrics at `base`) until `cycles` cycles are done.
    `scrape(url)` returns (completed cycles, ...) from /metrics."""
    from bench.scale import _get, stop

    trace = Trace()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while _get(base + "/readyz")[0] != 200:
            if process.poll() is not None:
                raise RuntimeError(f"plan-watcher run exited with {process.returncode}")
            time.sleep(0.05)
        next_scrape = 0.0
        done = 0.0
        while done < cycles:
            if process.poll() is not None:
                raise RuntimeError(f"plan-watcher run exited with {process.returncode}")
            sample(process.pid, trace)
            now = time.monotonic()
            if now >= next_scrape:
                done = scrape(base + "/metrics")[0]
                trace.scrapes.append((time.monotonic(), done))
                trace.load.append(os.getloadavg()[0])
                next_scrape = now + SCRAPE_EVERY
                print(f"  cycle {done:.0f}: RSS {trace.samples[-1][1]:.1f} MB", file=sys.stderr)
            time.sleep(SAMPLE_EVERY)
        trace.peak_mb = status_mb(process.pid, "VmHWM")
        trace.arenas = malloc_arenas(process.pid)
    finally:
        stop(process)
    return trace


def cycle_at(trace: Trace, when: float) -> float:
    """The cycle count at `when`, interpolated between the scrapes around it."""
    times = [t for t, _ in trace.scrapes]
    i = bisect.bisect_left(times, when)
    if i == 0:
        return trace.scrapes[0][1]
    if i == len(times):
        return trace.scrapes[-1][1]
    (t0, c0), (t1, c1) = trace.scrapes[i - 1], trace.scrapes[i]
    return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c1


def summarise(trace: Trace) -> dict[str, Any]:
    points = [(cycle_at(trace, t), mb) for t, mb in trace.samples]
    at = {}
    for mark in MARKS:
        near = min(points, key=lambda p: abs(p[0] - mark))
        if abs(near[0] - mark) <= 10:
            at[mark] = near[1]
    late = [(c, mb) for c, mb in points if c >= WARM]
    slope = _slope(late) * 1000 if len(late) > 2 else float("nan")
    elapsed = trace.scrapes[-1][0] - trace.scrapes[0][0] if trace.scrapes else 0.0
    after = [mb for c, mb in late]
    return {
        "cycles": trace.scrapes[-1][1] if trace.scrapes else 0,
        "seconds": elapsed,
        "load": (sum(trace.load) / len(trace.load), max(trace.load)) if trace.load else None,
        "rss_mb_at": at,
        "slope_mb_per_1000_cycles": slope,
        "min_after_warm_mb": min(after) if after else float("nan"),
        "max_after_warm_mb": max(after) if after else float("nan"),
        "peak_mb": trace.peak_mb,
        "threads_seen": len(trace.threads),
        "most_threads": trace.most_threads,
        "malloc_arenas": trace.arenas,
    }


def _slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    mx = sum(c for c, _ in points) / n
    my = sum(m for _, m in points) / n
    num = sum((c - mx) * (m - my) for c, m in points)
    den = sum((c - mx) ** 2 for c, _ in points)
    return num / den if den else 0.0


def main(argv: list[str] | None = None) -> int:
    import json

    from bench.scale import start_server, stop
    from bench.world import Sizes

    parser = argparse.ArgumentParser(prog="python -m bench.longrun")
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--interval", default="1s")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    server = start_server(args)
    try:
        with tempfile.TemporaryDirectory(prefix="plan-watcher-long-") as tmp:
            result = run_long(server, Sizes(), Path(tmp), args.cycles, args.interval)
    finally:
        stop(server.process)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
