"""The simulator as an HTTP server, for other processes (the daemon, the AWS CLI, benches)."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, datetime
from types import FrameType

from watcher.clock import AcceleratedClock, SystemClock
from watcher.sandbox import moto_hook
from watcher.sandbox.scenario import load_scenario
from watcher.sandbox.simulator import Simulator


class SandboxServer:
    """moto's threaded server with the simulator installed; `stop()` is clean."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 5055) -> None:
        from moto.server import ThreadedMotoServer

        self.sim = sim
        moto_hook.install(sim)
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()
        moto_hook.uninstall()


def wait_for_stop_signal() -> None:
    """Block until SIGTERM or SIGINT (from the main thread)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()


def serve(scenario: str, host: str, port: int, speed: float, start: str | None) -> int:
    """Run until SIGTERM/SIGINT; print the endpoint on the first line of stdout."""
    loaded = load_scenario(scenario)
    # Other processes read the real clock, so the server starts at the real now unless told;
    # the scenario's own `start` is for in-process runs that share a controllable clock.
    origin = (
        datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(UTC)
        if start
        else SystemClock().now()
    )
    sim = loaded.simulator(AcceleratedClock(origin, speed))
    loaded.seed(sim)
    server = SandboxServer(sim, host, port)
    endpoint = server.start()
    print(f"plan-watcher sandbox serving scenario {loaded.name!r} at {endpoint}", flush=True)
    print(f"  export AWS_ENDPOINT_URL={endpoint}", flush=True)
    wait_for_stop_signal()
    server.stop()
    print("plan-watcher sandbox stopped", flush=True)
    sys.stdout.flush()
    return 0
