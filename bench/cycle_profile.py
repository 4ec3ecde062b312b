"""Where a steady cycle's time goes: the daemon's cycles in process against the bench's server.

    .venv/bin/python -m bench.cycle_profile [--cycles 6] [--workers N]

Starts `bench.serve` at the bench's scale, builds the daemon from the bench's config in this
process and runs its cycles back to back. For each cycle it prints the wall time, the CPU
time this process spent (the daemon's) and the CPU time the server process spent; for the last
cycle, per target, when each plan page arrived and when the consumers, histories and searches
were read (seconds from the cycle's start).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Event = tuple[str, str, float, float]  # target, what, start, end (seconds into the cycle)
READS = ("jobs_changed_since", "clusters", "extension_history", "search_extension_offerings")


def _server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _record(events: list[Event], began: list[float]) -> None:
    """Wrap the gateway's reads so each one is noted with its start and end."""
    from watcher.aws.sagemaker import SageMakerGateway

    def timed(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: SageMakerGateway, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter() - began[0]
            try:
                return method(self, *args, **kwargs)
            finally:
                events.append((self.target.name, name, start, time.perf_counter() - began[0]))

        return call

    pages = SageMakerGateway.plan_pages

    def plan_pages(self: SageMakerGateway) -> Iterator[Any]:
        start = time.perf_counter() - began[0]
        for page in pages(self):
            events.append((self.target.name, "page", start, time.perf_counter() - began[0]))
            yield page

    for name in READS:
        setattr(SageMakerGateway, name, timed(name, getattr(SageMakerGateway, name)))
    SageMakerGateway.plan_pages = plan_pages  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cycle_profile")
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument(
        "--workers", type=int, help="worker threads per target (default: the code's)"
    )
    args = parser.parse_args(argv)
    if args.workers:
        import watcher.survey

        watcher.survey.TARGET_WORKERS = args.workers

    from bench.scale import ENV, start_server, stop
    from bench.world import in_process_config
    from watcher.daemon import Daemon

    server = start_server(args)
    os.environ.update({k: v for k, v in ENV.items() if k.startswith("AWS_")})
    os.environ["AWS_ENDPOINT_URL"] = server.endpoint
    events: list[Event] = []
    began = [0.0]
    _record(events, began)
    try:
        with tempfile.TemporaryDirectory(prefix="plan-watcher-profile-") as tmp:
            config, path = in_process_config(Path(tmp), "10s")
            daemon = Daemon(config, path)
            print(f"load average (1 min) {os.getloadavg()[0]:.2f}")
            for n in range(args.cycles):
                events.clear()
                cpu, served = _own_cpu(), _server_cpu(server.process.pid)
                began[0] = time.perf_counter()
                daemon.run_cycle()
                wall = time.perf_counter() - began[0]
                cpu, served = _own_cpu() - cpu, _server_cpu(server.process.pid) - served
                print(f"cycle {n}: {wall:.3f} s, daemon CPU {cpu:.3f} s, server CPU {served:.3f} s")
            daemon.reconciler.close()
            daemon.journal.close()
    finally:
        stop(server.process)
    print("last cycle, per target (s from its start):")
    for target in sorted({e[0] for e in events}):
        mine = [e for e in events if e[0] == target]
        pages = ", ".join(f"{end:.3f}" for _, what, _, end in mine if what == "page")
        line = [f"  {target}: pages in at {pages}"]
        for name in READS:
            found = [e for e in mine if e[1] == name]
            if found:
                first, last = min(e[2] for e in found), max(e[3] for e in found)
                line.append(f"{name} {len(found)} x {first:.3f}..{last:.3f}")
        print("; ".join(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
