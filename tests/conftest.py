"""Shared fixtures: a controllable clock, the in-process simulator, boto3 clients, the server.

Dummy AWS credentials are set at import time, before any test module creates a client, so
no test can reach a real AWS account even by accident.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, settings

from tests import programs
from watcher.clock import ManualClock

_DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
os.environ.update(_DUMMY_AWS_ENV)
# A developer's profile or endpoint must not leak into the tests.
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER"):
    os.environ.pop(_name, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE, else "ci" where CI is set, else "dev".
# "ci" draws the same examples on every run of a commit (derandomize): a red CI run is a
# property that fails on that commit, replayed by `HYPOTHESIS_PROFILE=ci make test`, never a
# new draw that happened to be unlucky. "dev" draws new examples on every run, so local runs
# keep exploring, and replays failures it found from .hypothesis/. Neither has a per-example
# deadline or the too_slow health check: on a shared, loaded machine they measure the machine.
# Loaded here, before any test module builds its @settings, which copy the profile's values.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    print_blob=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

REPO_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
# A Monday morning, well before the 11:30 UTC plan ends the simulator snaps to.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# Clients that never retry: a retry would hide throttling, 5xx and ambiguous purchases.
# Careful: in botocore's Config, retries={"max_attempts": 1} means ONE RETRY (two attempts);
# only total_max_attempts counts the first call (test_sim_faults.py shows the difference).
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def pytest_unconfigure(config: pytest.Config) -> None:
    """End the run with one plain line per outside program whose tests were skipped."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    for line in programs.summary_lines():
        reporter.write_line(line)


@pytest.fixture(autouse=True)
def _dummy_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-assert the dummy credentials for every test, in case a test changed them."""
    for name, value in _DUMMY_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def t0() -> datetime:
    """The start of simulated time for in-process tests."""
    return T0


@pytest.fixture
def clock(t0: datetime) -> ManualClock:
    return ManualClock(t0)


@pytest.fixture(scope="session")
def boto_session() -> boto3.Session:
    """One boto3 session for the whole run, so botocore parses its service models once.

    moto must be imported first: it hooks into every botocore session created after it.
    """
    import moto.core.models  # noqa: F401

    return boto3.Session(region_name=REGION)


@pytest.fixture
def sim(clock: ManualClock, boto_session: boto3.Session) -> Iterator[Any]:
    """A fresh simulator behind moto's in-process mock, sharing `clock` with the test.

    Inside it, `boto3.client("sagemaker", ...)` reaches the simulator.
    """
    from watcher.sandbox import sandboxed

    with sandboxed(clock) as simulator:
        # moto clears boto3's default session for the mock; reuse the parsed models.
        boto3.DEFAULT_SESSION = boto_session
        yield simulator


@pytest.fixture
def make_sim(clock: ManualClock, boto_session: boto3.Session) -> Iterator[Callable[..., Any]]:
    """Like `sim`, but with settings, market or faults: `make_sim(settings=...)`.

    Each call starts a fresh simulator on the same clock; the last one started answers.
    """
    from contextlib import ExitStack

    from watcher.sandbox import sandboxed

    with ExitStack() as stack:

        def build(**kwargs: Any) -> Any:
            simulator = stack.enter_context(sandboxed(clock, **kwargs))
            boto3.DEFAULT_SESSION = boto_session
            return simulator

        yield build


@pytest.fixture
def sm(sim: Any) -> Any:
    """A SageMaker client answered by the in-process simulator (default retries)."""
    return boto3.client("sagemaker", region_name=REGION)


@pytest.fixture
def sm_no_retry(sim: Any) -> Any:
    """A SageMaker client with retries switched off, for the calls a retry would hide."""
    return boto3.client("sagemaker", region_name=REGION, config=NO_RETRY)


# --- the simulator as a separate process -----------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SandboxProcess:
    endpoint: str
    process: subprocess.Popen[str]
    first_line: str

    def client(self, service: str = "sagemaker", config: Config | None = None) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )

    def reset(self) -> None:
        """Clear the server's state (moto and the simulator) through /moto-api/reset."""
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


def start_sandbox(
    scenario: str = "demo", speed: float = 1.0, extra: list[str] | None = None
) -> SandboxProcess:
    """Start `python -m watcher.sandbox serve` on a free port; wait for its endpoint line."""
    port = free_port()
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "watcher.sandbox",
            "serve",
            "--scenario",
            scenario,
            "--port",
            str(port),
            "--speed",
            str(speed),
            *(extra or []),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()
    if not first_line:
        process.kill()
        _, err = process.communicate(timeout=10)
        raise RuntimeError(f"sandbox server did not start: {err}")
    endpoint = next(word for word in first_line.split() if word.startswith("http://"))
    return SandboxProcess(endpoint=endpoint, process=process, first_line=first_line)


def stop_sandbox(server: SandboxProcess) -> int:
    """SIGTERM the server and return its exit code (killing it if it hangs)."""
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.communicate()
        raise
    return server.process.returncode


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxProcess]:
    """The demo scenario served over HTTP for the whole session; stopped with SIGTERM."""
    server = start_sandbox("demo")
    try:
        yield server
    finally:
        code = stop_sandbox(server)
    assert code == 0, f"sandbox server exited with {code} on SIGTERM"
