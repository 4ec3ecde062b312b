"""The exit codes of every command (SPEC section 2)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    #: The cycle, command or AWS read failed (or a plan was not found).
    FAILED = 1
    #: The config is invalid, or the command line is (a usage error, an ambiguous name).
    BAD_CONFIG = 2
