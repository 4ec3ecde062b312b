"""The simulator server with the bench's estate and added latency, for other processes.

    python -m bench.serve --latency-ms 30 [--plans 1000 --jobs 10000 ...]

prints `sagemaker <url>` and `calls <url>` on its first lines, then serves until SIGTERM.
`GET <calls url>` returns the simulator's own count of calls by operation (JSON), which is how
the bench counts the calls of processes it cannot instrument (the AWS CLI peer).
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.world import Sizes, seed
from watcher.clock import SystemClock
from watcher.sandbox.faults import Faults, OperationFaults
from watcher.sandbox.server import SandboxServer, wait_for_stop_signal
from watcher.sandbox.simulator import Simulator


def _calls_server(sim: Simulator) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            with sim.world.lock:
                body = json.dumps(dict(sim.record.calls)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--plans", type=int, default=Sizes.plans)
    parser.add_argument("--jobs", type=int, default=Sizes.jobs)
    parser.add_argument("--in-progress", type=int, default=Sizes.in_progress)
    parser.add_argument("--clusters", type=int, default=Sizes.clusters)
    parser.add_argument("--targets", type=int, default=Sizes.targets)
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    sizes = Sizes(args.plans, args.jobs, args.in_progress, args.clusters, args.targets)

    clock = SystemClock()
    faults = Faults(default=OperationFaults(latency_ms=args.latency_ms))
    sim = Simulator(clock, faults=faults)
    started = time.monotonic()
    seeded = seed(sim, sizes, clock.now())
    seeding = time.monotonic() - started

    server = SandboxServer(sim, port=0)
    endpoint = server.start()
    calls = _calls_server(sim)
    threading.Thread(target=calls.serve_forever, daemon=True).start()
    print(f"sagemaker {endpoint}", flush=True)
    print(f"calls http://127.0.0.1:{calls.server_address[1]}/calls", flush=True)
    print(f"seeded {json.dumps([s.__dict__ for s in seeded])}", flush=True)
    print(f"seeding_seconds {seeding:.2f}", flush=True)

    wait_for_stop_signal()
    calls.shutdown()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
