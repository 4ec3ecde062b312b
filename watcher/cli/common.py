"""What every command shares: where the config is, loading it (exit 2 on a bad one), and the
output format."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from watcher.config import Config, ConfigError, Mode, default_config_path, load_config


def config_path(args: argparse.Namespace) -> Path:
    """--config, else $PLAN_WATCHER_CONFIG, else config/watcher.yaml."""
    given: Path | None = args.config
    return given if given is not None else default_config_path()


def load_config_or_report(args: argparse.Namespace) -> Config | None:
    """The config named by the arguments, with --dry-run applied; None after printing
    every problem to stderr (the caller then exits 2)."""
    try:
        config = load_config(config_path(args))
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return None
    if getattr(args, "dry_run", False):
        config = config.with_mode(Mode.DRY_RUN)
    return config


def output_format(args: argparse.Namespace) -> str:
    """--output if given, else a table on a terminal and JSON when piped."""
    chosen: str | None = getattr(args, "output", None)
    if chosen is not None:
        return chosen
    return "table" if sys.stdout.isatty() else "json"
