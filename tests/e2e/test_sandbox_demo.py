"""`make sandbox`, in a shortened form: the story is told and it exits 0."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_sandbox_tells_the_story() -> None:
    result = subprocess.run(
        ["make", "-s", "sandbox", "SANDBOX_ARGS=--speed 40000 --port 0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    assert "metrics: http://127.0.0.1:" in out and ":0/" not in out
    # Each plan's part of the story, as the daemon reported it.
    assert "llm-pretrain" in out and "purchase: bought" in out
    assert "idle-reserve" in out and "no_demand" in out
    assert "vision-finetune" in out and "no_offering" in out and "exceeds max_upfront_fee" in out
    assert "speech-train" in out and "purchase: ambiguous" in out
    # The simulator's own record: two extensions bought, none twice.
    record = [line for line in out.splitlines() if line.startswith("  bought ")]
    assert len(record) == 2, record
    assert "bought 48h for llm-pretrain" in out
    assert "bought 24h for speech-train" in out
