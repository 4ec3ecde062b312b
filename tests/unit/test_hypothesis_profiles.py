"""The Hypothesis profile the test suite runs under: replayable in CI, exploring locally."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

_SHOW = (
    "import tests.conftest\n"
    "import json\n"
    "from hypothesis import HealthCheck, settings\n"
    "s = settings()\n"
    "print(json.dumps([s.derandomize, s.deadline is None, s.database is None,\n"
    "                  HealthCheck.too_slow in s.suppress_health_check]))\n"
)


def _profile(**env: str) -> list[bool]:
    clean = {k: v for k, v in os.environ.items() if k not in {"CI", "HYPOTHESIS_PROFILE"}}
    done = subprocess.run(
        [sys.executable, "-c", _SHOW],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    shown: list[bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return shown


@pytest.mark.parametrize("env", [{"CI": "true"}, {"HYPOTHESIS_PROFILE": "ci"}])
def test_ci_draws_the_same_examples_every_run_without_deadlines(env: dict[str, str]) -> None:
    derandomized, no_deadline, no_database, not_too_slow = _profile(**env)
    assert derandomized and no_database
    assert no_deadline and not_too_slow


def test_local_runs_draw_new_examples_without_deadlines() -> None:
    derandomized, no_deadline, no_database, not_too_slow = _profile()
    assert not derandomized and not no_database
    assert no_deadline and not_too_slow
