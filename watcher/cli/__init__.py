"""The command line: parse arguments, load the config, call into the app. Nothing else.

`main.py` registers the commands and parses; `ops.py` holds the operator commands on the
journal, `one_shot.py` once, plan and history, `explain.py` explain; `common.py` what they
share; `exit_codes.py` the one set of exit codes. `main` takes the clock every command reads
the time from (the system clock unless a caller injects another).
"""

from watcher.cli.main import main

__all__ = ["main"]
