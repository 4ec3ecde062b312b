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
    )
}

# Programs found missing during this run, in the order first asked for.
missing: dict[str, Program] = {}


def strict() -> bool:
    return os.environ.get(STRICT_VARIABLE, "") not in ("", "0")


def require_program(name: str) -> str:
    """The path of `name` on PATH; if absent, skip the test (or fail it, in strict mode)."""
    __tracebackhide__ = True  # report the skip at the test that asked, not here
    program = PROGRAMS[name]
    found = shutil.which(name)
    if found is not None:
        return found
    missing.setdefault(name, program)
    reason = f"{name} not found (Debian package {program.package})"
    if strict():
        pytest.fail(f"{reason}; {STRICT_VARIABLE} is set, so every program must be installed")
    pytest.skip(reason)


def summary_lines() -> list[str]:
    """One plain line per program found missing in this run."""
    return [
        f"{p.name} not on PATH: skipped {p.checks}; install Debian package {p.package}"
        for p in missing.values()
    ]
