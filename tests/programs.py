"""Programs from outside Python that some tests drive, and what happens when one is missing.

`make test` must pass with Python and make alone, so a test that needs one of these programs
calls `require_program(name)`: it returns the program's path, or skips the test when the
program is not on PATH. The run then ends with one line per missing program (what it would
have checked, and the Debian package that provides it), printed by tests/conftest.py.

CI sets TESTS_REQUIRE_PROGRAMS=1 (.ci/run): a missing program then fails the test instead, so
CI always runs every check.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import pytest

STRICT_VARIABLE = "TESTS_REQUIRE_PROGRAMS"


@dataclass(frozen=True)
class Program:
    name: str
    package: str  # the Debian package that provides it
    checks: str  # what the tests that need it check


PROGRAMS = {
    p.name: p
    for p in (
        Program("promtool", "prometheus", "the alert rules (promtool check rules, test rules)"),
        Program("prometheus", "prometheus", "a real Prometheus scraping the daemon"),
        Program("kubectl", "kubernetes-client", "the Kubernetes manifests (kubectl kustomize)"),
        Program("mmdebstrap", "mmdebstrap", "the container image's stand-in base (image-test)"),
        Program("podman", "podman", "the container image's build (make image-test)"),
        Program("buildah", "buildah", "the built container image's checks (make image-test)"),
    )
}

# Programs found missing during this run, in the order first asked for.
missing: dict[str, Program] = {}


def strict() -> bool:
    return os.environ.get(STRICT_VARIABLE, "") not in ("", "0")


def require_program(name: str) -> str:
    """The path of `name` on PATH; if absent, skip the test (or fail it, in strict mode)."""
    __tracebackhide__ = True  # report the skip at the test that asked, not here
    return require_programs(name)[name]


def require_programs(*names: str) -> dict[str, str]:
    """Paths by name; if any is absent, skip (or fail) naming every absent one."""
    __tracebackhide__ = True
    found = {name: shutil.which(name) for name in names}
    absent = [PROGRAMS[name] for name, path in found.items() if path is None]
    if not absent:
        return {name: path for name, path in found.items() if path is not None}
    for program in absent:
        missing.setdefault(program.name, program)
    reason = ", ".join(f"{p.name} not found (Debian package {p.package})" for p in absent)
    if strict():
        pytest.fail(f"{reason}; {STRICT_VARIABLE} is set, so every program must be installed")
    pytest.skip(reason)


def summary_lines() -> list[str]:
    """One plain line per program found missing in this run."""
    return [
        f"{p.name} not on PATH: skipped {p.checks}; install Debian package {p.package}"
        for p in missing.values()
    ]
