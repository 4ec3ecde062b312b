"""The daemon limits glibc's malloc arenas itself (watcher/observe/arenas.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from watcher.observe.arenas import limit_arenas

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import json, os, sys, threading
from bench.longrun import malloc_arenas
from watcher.observe.arenas import limit_arenas
limited = limit_arenas(os.environ) if sys.argv[1] == "limit" else None
ready = threading.Barrier(21)
def work():
    data = [bytearray(4096) for _ in range(64)]  # allocated in this thread's arena
    ready.wait()
    ready.wait()
threads = [threading.Thread(target=work) for _ in range(20)]
for t in threads:
    t.start()
ready.wait()
arenas = malloc_arenas(os.getpid())
ready.wait()
print(json.dumps({"limited": limited, "arenas": arenas}))
"""


def _arenas(mode: str) -> dict[str, int | None]:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, int | None] = json.loads(out.stdout)
    return result


def test_twenty_threads_share_two_arenas_once_limited() -> None:
    limited = _arenas("limit")
    if limited["limited"] is None:
        pytest.skip("the C library is not glibc (no mallopt)")
    assert limited["arenas"] is not None and limited["arenas"] <= 1  # besides the main heap
    assert (_arenas("free")["arenas"] or 0) > 1  # what glibc does unlimited


def test_the_environment_decides_when_it_sets_malloc_arena_max() -> None:
    assert limit_arenas({"MALLOC_ARENA_MAX": "4"}) is None
