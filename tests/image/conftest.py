"""The container image, built from the Dockerfile and run for real (`make image-test`).

The build machines have no Docker engine and cannot pull from an image registry, so:
mmdebstrap builds a Debian root filesystem with Debian's Python, `podman import` makes it the
stand-in for the Python base image, podman builds the Dockerfile on it (vfs storage, chroot
isolation, the host's network, the machine's pip configuration mounted), and `buildah run`
runs commands in containers made from the result (`podman run` needs cgroups these machines
lack). Everything lives in a scratch storage root removed at the end. Needs root.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.programs import require_programs, strict

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
# The stand-in for python:*-slim-bookworm: Debian's own Python, venv and pip, CA certificates.
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates")
BASE_NAME = "localhost/plan-watcher-base"
IMAGE = "localhost/plan-watcher:image-test"
STATE_DIR = "/var/lib/plan-watcher"
# What a run may change in the container's own filesystem (the state directory is mounted).
WRITABLE = ("tmp", STATE_DIR.lstrip("/"))
# Not part of the image's filesystem: kernel and runtime mounts.
NOT_IMAGE = ("proc", "sys", "dev")

# Lines for the end of the run (the image size).
summary: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in summary:
        terminalreporter.write_line(line)


def run(args: Sequence[str | Path], *, timeout: float = 1800, log: Path | None = None) -> str:
    """Run a command; its output goes to `log` if given. Fail with the output's tail."""
    argv = [str(a) for a in args]
    done = subprocess.run(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )
    if log is not None:
        with log.open("a") as out:
            out.write(f"$ {shlex.join(argv)}\n{done.stdout}\n")
    if done.returncode != 0:
        pytest.fail(f"{shlex.join(argv)}: exit {done.returncode}\n{done.stdout[-4000:]}")
    return done.stdout


def pip_settings() -> dict[str, dict[str, str]]:
    """What pip uses on this machine (its config files and PIP_* variables), by section."""
    listed = run([sys.executable, "-m", "pip", "config", "list"], timeout=60)
    settings: dict[str, dict[str, str]] = {}
    for line in listed.splitlines():
        name, _, quoted = line.partition("=")
        section, _, key = name.rpartition(".")
        if not key or not quoted:
            continue
        section = "global" if section in (":env:", "") else section
        settings.setdefault(section, {})[key] = shlex.split(quoted)[0] if quoted else ""
    return settings


def local_paths(settings: dict[str, dict[str, str]]) -> list[Path]:
    """Files and directories on this machine that the pip settings name (CA bundle, indexes).

    A local index (`file:` index URL) links to its files relative to itself, often beside it:
    its parent directory is taken.
    """
    found: list[Path] = []
    for values in settings.values():
        for key, value in values.items():
            for word in value.split():
                path = Path(urlparse(word).path if word.startswith("file:") else word)
                if word.startswith("file:") and key.endswith("index-url"):
                    path = path.parent
                if path.is_absolute() and path.exists() and path not in found:
                    found.append(path)
    return found


@dataclass
class Image:
    """The built image and its scratch storage; `container()` makes a fresh container."""

    work: Path
    reference: str
    base_reference: str
    user: str
    entrypoint: list[str]
    cmd: list[str]
    containers: list[str] = field(default_factory=list)

    @property
    def storage(self) -> list[str]:
        return [
            f"--root={self.work / 'storage'}",
            f"--runroot={self.work / 'runroot'}",
            "--storage-driver=vfs",
        ]

    def container(self) -> Container:
        name = f"plan-watcher-image-test-{len(self.containers)}"
        run(["buildah", *self.storage, "from", "--pull-never", "--name", name, self.reference])
        self.containers.append(name)
        root = Path(run(["buildah", *self.storage, "mount", name]).strip())
        return Container(self, name, root, snapshot(root))


@dataclass
class Container:
    image: Image
    name: str
    root: Path
    baseline: dict[str, tuple[int, ...]]

    def command(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        volumes: Sequence[tuple[Path, str]] = (),
    ) -> list[str]:
        """`buildah run` of argv as the image's user, on the host's network."""
        command = ["buildah", *self.image.storage, "run", "--isolation", "chroot"]
        command += ["--user", self.image.user, "--network", "host"]
        for name, value in (env or {}).items():
            command += ["--env", f"{name}={value}"]
        for source, target in volumes:
            command += ["--volume", f"{source}:{target}"]
        return [*command, self.name, "--", *argv]

    def changes(self) -> list[str]:
        """Paths created, changed or removed in the container's filesystem since it was made,
        outside the state directory and /tmp."""
        now = snapshot(self.root)
        changed = {p for p in now.keys() & self.baseline.keys() if now[p] != self.baseline[p]}
        return sorted(changed | (now.keys() ^ self.baseline.keys()))


def snapshot(root: Path) -> dict[str, tuple[int, ...]]:
    """(mode, owner, group, size, mtime) of everything under root but the writable places;
    directories by mode and owner only (their entries are listed themselves)."""
    seen: dict[str, tuple[int, ...]] = {}
    for directory, dirs, files in os.walk(root):
        relative = os.path.relpath(directory, root)
        if relative == ".":
            dirs[:] = [d for d in dirs if d not in NOT_IMAGE]
        dirs[:] = [d for d in dirs if os.path.normpath(os.path.join(relative, d)) not in WRITABLE]
        for name in dirs + files:
            path = os.path.normpath(os.path.join(relative, name))
            info = os.lstat(os.path.join(directory, name))
            if name in dirs:
                seen[path] = (info.st_mode, info.st_uid, info.st_gid)
            else:
                seen[path] = (
                    info.st_mode,
                    info.st_uid,
                    info.st_gid,
                    info.st_size,
                    info.st_mtime_ns,
                )
    return seen


def _need_root() -> None:
    if os.geteuid() == 0:
        return
    reason = "the image tests need root (mmdebstrap, podman and buildah as root)"
    if strict():
        pytest.fail(reason)
    pytest.skip(reason)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


@pytest.fixture(scope="session")
def image() -> Iterator[Image]:
    require_programs("mmdebstrap", "podman", "buildah")
    _need_root()
    work = Path(tempfile.mkdtemp(prefix="plan-watcher-image-", dir="/var/tmp"))
    storage = [f"--root={work / 'storage'}", f"--runroot={work / 'runroot'}"]
    storage.append("--storage-driver=vfs")
    log = work / "build.log"
    built: Image | None = None
    try:
        # The machine's pip settings, as one config file at pip's site-wide path, and the
        # local files they name, mounted at the same paths in every RUN of the build.
        settings = pip_settings()
        pip_conf = work / "pip.conf"
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_dict(settings)
        with pip_conf.open("w") as out:
            parser.write(out)
        mounts = [(pip_conf, Path("/etc/pip.conf"))] + [(p, p) for p in local_paths(settings)]

        # The stand-in base. Its mount points exist already, so the build's layers hold
        # nothing of them; pip may install into its Python as it may in python:*-slim.
        points = [
            f'mkdir -p "$1"{shlex.quote(str(target))}'
            if source.is_dir()
            else f'mkdir -p "$1"{shlex.quote(str(target.parent))}'
            f' && touch "$1"{shlex.quote(str(target))}'
            for source, target in mounts
        ]
        rootfs = work / "rootfs.tar"
        run(
            [
                "mmdebstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/locale/*",
                '--customize-hook=rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
                f"--customize-hook={' && '.join(points)}",
                SUITE,
                rootfs,
            ],
            log=log,
        )
        base_tag = f"{BASE_NAME}:{SUITE}"
        run(["podman", *storage, "import", rootfs, base_tag], log=log)
        rootfs.unlink()
        digest = run(["podman", *storage, "image", "inspect", "--format", "{{.Digest}}", base_tag])
        # Named the way the Dockerfile names its base: repository:tag@digest.
        base_reference = f"{base_tag}@{digest.strip()}"

        build = ["podman", *storage, "build", "--isolation", "chroot", "--network", "host"]
        build += ["--format", "docker", "--pull=never", "--layers=false"]
        for source, target in mounts:
            build += ["--volume", f"{source}:{target}:ro"]
        build += ["--build-arg", f"PYTHON_IMAGE={base_reference}", "--tag", IMAGE]
        run([*build, "--file", REPO / "Dockerfile", REPO], log=log)

        (inspected,) = json.loads(run(["podman", *storage, "image", "inspect", IMAGE]))
        (base,) = json.loads(run(["podman", *storage, "image", "inspect", base_reference]))
        config = inspected["Config"]
        summary.append(
            f"image size: {_megabytes(inspected['Size'])} (the stand-in base "
            f"{_megabytes(base['Size'])}, the Dockerfile's layers "
            f"{_megabytes(inspected['Size'] - base['Size'])}); built from {base_reference}"
        )
        built = Image(
            work=work,
            reference=IMAGE,
            base_reference=base_reference,
            user=config.get("User", ""),
            entrypoint=list(config.get("Entrypoint") or []),
            cmd=list(config.get("Cmd") or []),
        )
        yield built
    finally:
        if built is not None:
            for name in built.containers:
                subprocess.run(["buildah", *storage, "rm", name], capture_output=True)
        subprocess.run(["podman", *storage, "rmi", "--all", "--force"], capture_output=True)
        if os.environ.get("IMAGE_TEST_KEEP"):
            print(f"image test files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
