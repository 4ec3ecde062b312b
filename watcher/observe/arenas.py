"""How many malloc arenas the daemon's threads may spread over.

glibc gives a thread that allocates while another holds the main arena an arena of its own,
up to eight per core, and memory freed in one arena serves only that arena: with one worker
pool per target, a long-running daemon kept a dozen or more arenas, each with its own free
memory, and its resident size settled several megabytes higher (docs/performance.md, memory
over months). Two arenas keep the threads' contention low (they spend most of their time
waiting on AWS) and the free memory in one place.

The daemon sets this itself, before its threads start, so it holds however plan-watcher is
run; MALLOC_ARENA_MAX in the environment, read by glibc at start, takes precedence. Where
the C library is not glibc (mallopt missing), nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Mapping

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_arenas(environ: Mapping[str, str], arenas: int = ARENAS) -> int | None:
    """Limit glibc to `arenas` malloc arenas; return the limit set, or None when the
    environment sets its own or the C library has no mallopt."""
    if "MALLOC_ARENA_MAX" in environ:
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return arenas if mallopt(_M_ARENA_MAX, arenas) == 1 else None
