"""`python -m watcher.sandbox serve --scenario demo --port 5055`"""

from __future__ import annotations

import argparse

from watcher.sandbox.scenario import ScenarioError
from watcher.sandbox.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m watcher.sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("serve", help="serve the simulator over HTTP")
    cmd.add_argument("--scenario", default="demo", help="built-in name or YAML path")
    cmd.add_argument("--host", default="127.0.0.1")
    cmd.add_argument("--port", type=int, default=5055)
    cmd.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    cmd.add_argument("--start", default=None, help="simulated start time (ISO 8601)")
    args = parser.parse_args(argv)
    try:
        return serve(args.scenario, args.host, args.port, args.speed, args.start)
    except ScenarioError as exc:
        parser.exit(2, f"error: {exc}\n")


if __name__ == "__main__":
    raise SystemExit(main())
