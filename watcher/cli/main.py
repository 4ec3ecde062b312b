"""The commands: each is one `cmd_*` function taking the parsed arguments and the clock and
returning its exit code; `COMMANDS` registers them and `main` runs the one asked for."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from watcher import __version__
from watcher.cli.common import config_path, load_config_or_report, output_format
from watcher.clock import Clock, SystemClock
from watcher.config import Config, format_duration
from watcher.exit_codes import ExitCode

Handler = Callable[[argparse.Namespace, Clock], int]


def cmd_validate(args: argparse.Namespace, clock: Clock) -> int:
    config = load_config_or_report(args)
    if config is None:
        return ExitCode.BAD_CONFIG
    print(describe_config(config_path(args), config))
    return ExitCode.OK


def describe_config(path: Path, config: Config) -> str:
    """A few lines that say what a valid config will do."""
    poll = config.poll
    lines = [
        f"{path}: valid",
        f"  mode: {config.mode}; poll every {format_duration(poll.interval)}"
        f" (+ up to {format_duration(poll.jitter)} jitter)",
        "  targets: " + ", ".join(f"{t.name} ({t.region})" for t in config.targets),
        "  policies: "
        + (", ".join(f"{p.name} ({p.action})" for p in config.policies) or "none (all unmanaged)"),
    ]
    if config.budgets:
        lines.append(
            "  budgets: " + ", ".join(f"{b.name} {b.limit} per {b.window}" for b in config.budgets)
        )
    for policy in config.policies:
        if policy.purchase_windows:
            spelled = "; ".join(w.window().label for w in policy.purchase_windows)
            lines.append(f"  purchase windows of {policy.name}: {spelled}")
    limits = config.safety.limits
    caps = [
        f"{value} {what}"
        for value, what in (
            (limits.purchases_per_cycle, "purchase(s) per cycle"),
            (limits.spend_per_cycle, "per cycle"),
            (limits.purchases_per_24h, "purchase(s) per 24 hours"),
            (limits.spend_per_24h, "per 24 hours"),
        )
        if value is not None
    ]
    if caps:
        lines.append("  safety limits: at most " + ", ".join(caps))
    lines.append(f"  journal: {config.state.journal}; metrics on {config.metrics.listen}")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace, clock: Clock) -> int:
    from watcher.daemon import Daemon
    from watcher.observe.logs import configure

    config = load_config_or_report(args)
    if config is None:
        return ExitCode.BAD_CONFIG
    configure(config.logging.level.value, config.logging.format.value, sys.stdout)
    return Daemon(config, config_path(args), clock=clock).run()


def cmd_once(args: argparse.Namespace, clock: Clock) -> int:
    from watcher.cli.one_shot import run_once

    config = load_config_or_report(args)
    if config is None:
        return ExitCode.BAD_CONFIG
    return run_once(config, output_format(args), dry_run=config.dry_run, clock=clock)


def cmd_plan(args: argparse.Namespace, clock: Clock) -> int:
    from watcher.cli.one_shot import run_once

    config = load_config_or_report(args)
    if config is None:
        return ExitCode.BAD_CONFIG
    return run_once(config, output_format(args), dry_run=True, clock=clock, notify=False)


def cmd_history(args: argparse.Namespace, clock: Clock) -> int:
    from watcher.cli.one_shot import run_history
    from watcher.history import Period

    config = load_config_or_report(args)
    if config is None:
        return ExitCode.BAD_CONFIG
    if args.since is not None and args.until is not None and args.until <= args.since:
        print("plan-watcher: --until must be later than --since", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    return run_history(config, output_format(args), clock, Period(args.since, args.until))


def moment(text: str) -> datetime:
    """A --since/--until value: a date (midnight UTC) or an ISO 8601 time (UTC if no zone)."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (2026-03-01) or a time (2026-03-01T09:00:00Z)"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _period_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--since", type=moment, metavar="WHEN", help="bought at or after (UTC)")
    sub.add_argument("--until", type=moment, metavar="WHEN", help="bought before (UTC)")


def cmd_explain(args: argparse.Namespace, clock: Clock) -> int:
    from watcher.cli.explain import run_explain

    config = load_config_or_report(args)
    if config is None:
        return ExitCode.BAD_CONFIG
    return run_explain(config, args.plan, args.target, output_format(args), clock)


def _plan_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("plan", metavar="PLAN", help="the training plan's name or ARN")
    sub.add_argument("--target", metavar="NAME", help="the target, if the name is in several")


def _ops(name: str) -> Handler:
    """A handler from watcher/cli/ops.py, imported when the command runs."""

    def handler(args: argparse.Namespace, clock: Clock) -> int:
        from watcher.cli import ops

        run: Handler = getattr(ops, name)
        return run(args, clock)

    return handler


def _id_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("id", metavar="ID", help="the proposal id that `proposals` lists")


def _all_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--all", action="store_true", help="closed proposals too")


def _reason_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--reason", metavar="TEXT", help="why; recorded in the journal")


def cmd_sandbox(args: argparse.Namespace, clock: Clock) -> int:
    from watcher.demo import run_sandbox

    return run_sandbox(speed=args.speed, hours=args.hours, port=args.port)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    handler: Handler
    output: bool = False  # takes --output table|json
    dry_run: bool = False  # takes --dry-run
    arguments: tuple[Callable[[argparse.ArgumentParser], None], ...] = ()
    formats: tuple[str, ...] = ("table", "json")  # what --output accepts


COMMANDS: tuple[Command, ...] = (
    Command("run", "the daemon: reconcile on a schedule until stopped", cmd_run, dry_run=True),
    Command("once", "one reconcile cycle, acting as configured", cmd_once, True, True),
    Command("plan", "one cycle with every purchase suppressed", cmd_plan, output=True),
    Command("validate", "check the config offline (no AWS calls)", cmd_validate),
    Command(
        "history",
        "extension history and spend per plan; one row per extension for finance (csv)",
        cmd_history,
        output=True,
        formats=("table", "json", "csv"),
        arguments=(_period_arguments,),
    ),
    Command(
        "explain",
        "everything behind one plan's decision; buys and writes nothing",
        cmd_explain,
        output=True,
        arguments=(_plan_arguments,),
    ),
    Command("sandbox", "run against the embedded simulator, no AWS needed", cmd_sandbox),
    Command(
        "proposals",
        "list proposals waiting for approval, and the pause flag",
        _ops("cmd_proposals"),
        output=True,
        arguments=(_all_argument,),
    ),
    Command(
        "approve",
        "approve a pending proposal (or tag the plan plan-watcher/approve=ID)",
        _ops("cmd_approve"),
        arguments=(_id_argument,),
    ),
    Command(
        "reject",
        "reject a proposal (or tag the plan plan-watcher/reject=ID)",
        _ops("cmd_reject"),
        arguments=(_id_argument, _reason_argument),
    ),
    Command(
        "pause",
        "stop every purchase until resume",
        _ops("cmd_pause"),
        arguments=(_reason_argument,),
    ),
    Command("resume", "allow purchases again (and reset the circuit breaker)", _ops("cmd_resume")),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plan-watcher",
        description="Keeps SageMaker training plans from expiring under running work.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        sub.add_argument(
            "--config",
            type=Path,
            metavar="PATH",
            help="config file (default: $PLAN_WATCHER_CONFIG, then config/watcher.yaml)",
        )
        if command.output:
            sub.add_argument(
                "--output",
                choices=command.formats,
                help="result format (default: table on a terminal, json otherwise)",
            )
        if command.dry_run:
            sub.add_argument("--dry-run", action="store_true", help="search and decide, never buy")
        for add in command.arguments:
            add(sub)
        if command.name == "sandbox":
            sub.add_argument("--speed", type=float, default=7200.0, help="simulated s per s")
            sub.add_argument("--hours", type=float, default=60.0, help="simulated story length")
            sub.add_argument("--port", type=int, default=9108, help="metrics port (or a free one)")
        sub.set_defaults(handler=command.handler)
    return parser


def main(argv: list[str] | None = None, clock: Clock | None = None) -> int:
    """Run the command line on `clock` (the system clock unless given); return the exit code
    (usage errors are 2, like a bad config)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else ExitCode.BAD_CONFIG
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return ExitCode.BAD_CONFIG
    return handler(args, clock or SystemClock())
