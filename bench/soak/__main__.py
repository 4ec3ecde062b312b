"""`make soak`: 90 simulated days of plan-watcher against the simulator, with faults.

    .venv/bin/python -m bench.soak [--days 90] [--plans 200] [--seed 7] [--write PATH]

Prints the table (and the violations); with --write, puts the table into that document
between its markers. Exits 1 if any invariant is violated by something other than a known
defect (one with a strict-xfail regression test, listed in bench/soak/invariants.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.soak.harness import Run, run_soak
from bench.soak.invariants import check
from bench.soak.summary import Summary, details, summarize, write_into
from bench.soak.worldgen import generate
from watcher.sandbox import Simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--plans", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--poll-minutes", type=int, default=60)
    parser.add_argument("--crash-every", type=int, default=0, help="cycles between crashes")
    parser.add_argument("--write", type=Path, default=None, help="document to put the table in")
    args = parser.parse_args(argv)

    world = generate(args.days, args.plans, args.seed, args.poll_minutes)
    cycles = args.days * 24 * 60 // args.poll_minutes
    crash_every = args.crash_every or max(4, cycles // 45)
    began = time.monotonic()

    def judge(sim: Simulator, run: Run) -> Summary:
        return summarize(sim, run, check(sim, run))

    with tempfile.TemporaryDirectory(prefix="plan-watcher-soak-") as tmp:
        _, result = run_soak(world, Path(tmp), crash_every=crash_every, check=judge)
    summary: Any = result
    print(summary.table())
    print(f"\nViolations:\n{details(summary)}")
    print(f"\n(wall clock: {time.monotonic() - began:.0f} s on this machine)")
    if args.write is not None:
        command = (
            f"python -m bench.soak --days {args.days} --plans {args.plans} --seed {args.seed} "
            f"--poll-minutes {args.poll_minutes}"
        )
        write_into(args.write, summary, command)
        print(f"table written into {args.write}")
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
