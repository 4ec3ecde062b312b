"""The simulator server with the bench's estate and added latency, for other processes.

    python -m bench.serve --latency-ms 30 [--plans 1000 --jobs 10000 ...]

prints `sagemaker <url>` and `calls <url>` on its first lines, then serves until SIGTERM.
`GET <calls url>` returns the simulator's own count of calls by operation (JSON), which is how
the bench counts the calls of processes it cannot instrument (the AWS CLI peer).
"""

from __future__ import annotations

import argparse
import calendar
import functools
import json
import logging
import sys
import threading
import time
from datetime import datetime
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


#: Answers of an operation compared with moto's own before the fast path is trusted for it.
CHECKED_ANSWERS = 5


def _plain(value: Any) -> Any:
    """A simulator answer as AWS's JSON writes it: timestamps in epoch seconds (to the
    millisecond), nothing for absent (None) values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        seconds = calendar.timegm(value.utctimetuple())
        return seconds + value.microsecond // 1000 / 1000 if value.microsecond else seconds
    return value


def fast_answers() -> dict[str, int]:
    """Make this server cheap per answer, without changing any answer.

    moto finds the backend for every request by listing its own package directory (under a
    lock), and serializes every answer by walking botocore's model field by field: about
    4 ms of CPU per answer and 20 ms per page of 100 plans. With one process answering four
    regions' calls side by side, that CPU (0.4 s per steady cycle, on the cores the daemon
    uses too) queued the calls behind each other, which no AWS region does. Here the module
    list is read once, and the simulator's answers are written with json.dumps: for each
    operation the first CHECKED_ANSWERS answers are also serialized by moto and compared as
    JSON documents; an operation whose answers differ is left to moto for good. Returns the
    count of answers checked per operation, and -1 for operations left to moto."""
    from moto import backends
    from moto.core.responses import BaseResponse

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = functools.cache(lambda: modules)  # type: ignore[assignment]
    moto_serialized = BaseResponse.serialized
    checked: dict[str, int] = {}
    lock = threading.Lock()

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        action = self._get_action()
        if not isinstance(result, dict) or checked.get(action, 0) < 0:
            return moto_serialized(self, action_result)
        body = json.dumps(_plain(result))
        if checked.get(action, 0) < CHECKED_ANSWERS:
            status, headers, theirs = moto_serialized(self, action_result)
            with lock:
                same = json.loads(theirs) == json.loads(body)
                checked[action] = checked.get(action, 0) + 1 if same else -1
            return status, headers, theirs
        headers = {"Content-Type": "application/x-amz-json-1.1", **self.response_headers}
        return 200, headers, body

    BaseResponse.serialized = serialized  # type: ignore[method-assign]
    return checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--plans", type=int, default=Sizes.plans)
    parser.add_argument("--jobs", type=int, default=Sizes.jobs)
    parser.add_argument("--in-progress", type=int, default=Sizes.in_progress)
    parser.add_argument("--clusters", type=int, default=Sizes.clusters)
    parser.add_argument("--targets", type=int, default=Sizes.targets)
    parser.add_argument(
        "--moto-answers", action="store_true", help="serialize every answer through moto"
    )
    args = parser.parse_args(argv)
    checked = {} if args.moto_answers else fast_answers()
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
    left = sorted(op for op, n in checked.items() if n < 0)
    print(f"answers written by moto (they differed): {left or 'none'}", file=sys.stderr)
    calls.shutdown()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
