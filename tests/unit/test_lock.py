"""requirements.lock: the image's runtime dependencies, pinned with hashes by `make lock`.

It must match pyproject.toml: exactly the project's runtime dependencies come from it, each
pinned at a version its specifier allows, every pin with hashes, nothing of the extras.
Change a dependency in pyproject.toml without `make lock` and this fails.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"
FROM_PYPROJECT = "sagemaker-plan-watcher (pyproject.toml)"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*;\s*(.+?))?\s*\\?$")


@dataclass
class Pin:
    version: Version
    marker: str | None
    hashes: list[str] = field(default_factory=list)
    via: set[str] = field(default_factory=set)


def parse_lock(text: str) -> dict[str, Pin]:
    """The pins of a `uv pip compile --generate-hashes` file, with their hashes and `via`s."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in text.splitlines():
        pin = _PIN.match(line)
        if pin:
            current = Pin(Version(pin.group(2)), pin.group(3))
            pins[canonicalize_name(pin.group(1))] = current
            continue
        stripped = line.strip().rstrip("\\").strip()
        if current is None or not line.startswith(" "):
            continue
        if stripped.startswith("--hash=sha256:"):
            current.hashes.append(stripped.removeprefix("--hash=sha256:"))
        elif stripped.startswith("# via"):
            current.via.add(stripped.removeprefix("# via").strip())
        elif stripped.startswith("#   "):
            current.via.add(stripped.removeprefix("#").strip())
    for entry in pins.values():
        entry.via.discard("")
    return pins


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


def test_the_lock_pins_exactly_the_runtime_dependencies_within_their_specifiers() -> None:
    pins = parse_lock(LOCK.read_text())
    wanted = {canonicalize_name(r.name): r for r in runtime_requirements()}
    direct = {name for name, pin in pins.items() if FROM_PYPROJECT in pin.via}
    assert direct == set(wanted), "requirements.lock is out of date: run `make lock`"
    for name, requirement in wanted.items():
        assert requirement.specifier.contains(pins[name].version, prereleases=True), (
            f"{name}=={pins[name].version} breaks {requirement}: run `make lock`"
        )


def test_every_pin_has_hashes_and_a_reason() -> None:
    pins = parse_lock(LOCK.read_text())
    assert pins
    for name, pin in pins.items():
        assert pin.hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in pin.hashes), name
        assert pin.via, f"{name} is pinned but nothing requires it"


def test_nothing_of_the_extras_is_locked() -> None:
    pins = parse_lock(LOCK.read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = {
        canonicalize_name(Requirement(text).name)
        for group in project["optional-dependencies"].values()
        for text in group
    }
    assert not extras & set(pins), extras & set(pins)


def test_the_lock_is_refreshed_by_make_lock() -> None:
    assert "#    make lock" in LOCK.read_text().splitlines()[1]
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^lock: ", makefile, re.MULTILINE)
    assert "--generate-hashes" in makefile and "--output-file requirements.lock" in makefile


def test_the_parser_reads_markers_and_multi_line_vias() -> None:
    pins = parse_lock(
        "# header\n"
        "a-b==1.0 ; sys_platform == 'win32' \\\n"
        "    --hash=sha256:" + "0" * 64 + "\n"
        "    # via\n"
        "    #   c\n"
        "    #   sagemaker-plan-watcher (pyproject.toml)\n"
        "d==2.0 \\\n"
        "    --hash=sha256:" + "1" * 64 + "\n"
        "    # via c\n"
    )
    assert pins["a-b"].marker == "sys_platform == 'win32'"
    assert pins["a-b"].via == {"c", FROM_PYPROJECT}
    assert pins["d"].version == Version("2.0") and pins["d"].via == {"c"}
