"""Where the daemon's memory goes over cycles, in process: Python objects, then the rest.

    .venv/bin/python -m bench.trace_memory [--cycles 300] [--warm 50] [--traced 20] [--built]

Starts `bench.serve` at the bench's scale, builds the daemon from the bench's config in this
process and runs its cycles back to back (each followed by a /metrics render, as a scrape
would), without the scheduler. It prints, at cycle `--warm` and at the end: RSS, live threads,
glibc malloc arenas, the bytes Python's allocator holds, and the count of live objects by
type (the types whose count grew are listed). Over the last `--traced` cycles, tracemalloc
(which slows a cycle about tenfold) records where the Python memory that grew was allocated.
Growth in RSS that neither the object counts nor tracemalloc show lies outside Python objects:
allocator arenas, thread stacks, C buffers. With `--built`, it first prints what building the
daemon allocated (by file; botocore's models and data show as json's decoder) and the peak of
one /metrics render after the first cycle.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any


def _types() -> Counter[str]:
    gc.collect()
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def _state(label: str) -> str:
    from bench.longrun import malloc_arenas, status_mb

    pid = os.getpid()
    blocks = sys.getallocatedblocks()
    return (
        f"{label}: RSS {status_mb(pid, 'VmRSS'):.1f} MB (peak {status_mb(pid, 'VmHWM'):.1f}), "
        f"threads alive {threading.active_count()}, malloc arenas {malloc_arenas(pid)}, "
        f"Python allocated blocks {blocks}"
    )


def _built(daemon: Any, before: tracemalloc.Snapshot, top: int) -> None:
    from prometheus_client import generate_latest

    try:  # the daemon's own rendering, where it has one
        from watcher.observe.http import exposition
    except ImportError:
        exposition = None
    stats = tracemalloc.take_snapshot().compare_to(before, "filename")
    print(f"building the daemon: {sum(s.size_diff for s in stats) / 2**20:.1f} MiB traced")
    for stat in stats[:top]:
        print(f"  {stat.size_diff / 2**20:6.2f} MiB  {stat.traceback[0].filename}")
    daemon.run_cycle()
    settled = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    if exposition is None:
        generate_latest(daemon.registry)
    else:
        for _ in exposition(daemon.registry):
            pass
    grown = (tracemalloc.get_traced_memory()[1] - settled) / 2**20
    print(f"one /metrics render after the first cycle: {grown:.1f} MiB at its peak")
    tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.trace_memory")
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--warm", type=int, default=50)
    parser.add_argument("--traced", type=int, default=20, help="0: no tracemalloc")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--built", action="store_true", help="what building the daemon took")
    args = parser.parse_args(argv)

    from prometheus_client import generate_latest

    from bench.scale import ENV, start_server, stop
    from bench.world import in_process_config
    from watcher.daemon import Daemon

    server = start_server(args)
    os.environ.update({k: v for k, v in ENV.items() if k.startswith("AWS_")})
    os.environ["AWS_ENDPOINT_URL"] = server.endpoint
    try:
        with tempfile.TemporaryDirectory(prefix="plan-watcher-trace-") as tmp:
            config, path = in_process_config(Path(tmp), "1s")
            if args.built:
                tracemalloc.start(1)
                before = tracemalloc.take_snapshot()
            daemon = Daemon(config, path)
            if args.built:
                _built(daemon, before, args.top)
            first_types: Counter[str] = Counter()
            snapshot = None
            trace_from = args.cycles - args.traced if args.traced else None
            for n in range(1, args.cycles + 1):
                if trace_from is not None and n == max(1, trace_from - 3):
                    # Objects allocated before tracing starts are invisible to it: start a few
                    # cycles early, so that what each cycle replaces shows in both snapshots.
                    tracemalloc.start(args.frames)
                daemon.run_cycle()
                generate_latest(daemon.registry)
                if n == args.warm:
                    print(_state(f"cycle {n}"), flush=True)
                    first_types = _types()
                if n == trace_from:
                    gc.collect()
                    snapshot = tracemalloc.take_snapshot()
                if n % 50 == 0:
                    print(_state(f"cycle {n}"), flush=True)
            print(_state(f"cycle {args.cycles}"), flush=True)
            grew = _types() - first_types
            print(f"live objects by type, cycle {args.warm} -> {args.cycles} (growth only):")
            for name, count in grew.most_common(args.top):
                print(f"  +{count:7d} {name}")
            if snapshot is not None:
                gc.collect()
                stats = tracemalloc.take_snapshot().compare_to(snapshot, "traceback")
                total = sum(s.size_diff for s in stats)
                print(f"traced Python memory, last {args.traced} cycles: {total / 1024:+.1f} KiB")
                for stat in stats[: args.top]:
                    print(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
                    for line in stat.traceback.format()[-2 * args.frames :]:
                        print("      " + line)
            daemon.journal.close()
    finally:
        stop(server.process)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
