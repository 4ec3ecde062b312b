"""The JSON Schema of the config file, generated from the models.

Regenerate the committed copy with `python -m watcher.config.schema` (or check it with
`--check`); editors use it for completion and linting of YAML configs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from watcher.config.models import Config
from watcher.config.values import format_duration
from watcher.model import Money

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema.json"
SCHEMA_ID = "https://plan-watcher/config/schema.json"


class _ConfigSchema(GenerateJsonSchema):
    """Spells defaults the way the YAML does (`5m`, not ISO 8601 `PT5M`)."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        if isinstance(dft, Money):
            return str(dft)
        return super().encode_default(dft)


def config_schema() -> dict[str, Any]:
    """The JSON Schema of a config document (durations and money are strings)."""
    schema = Config.model_json_schema(mode="validation", schema_generator=_ConfigSchema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "plan-watcher configuration",
    }


def render_schema() -> str:
    return json.dumps(config_schema(), indent=2, sort_keys=True) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Write the schema to `path` (default: config/schema.json in the source tree)."""
    path.write_text(render_schema(), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m watcher.config.schema")
    parser.add_argument("path", nargs="?", type=Path, default=SCHEMA_PATH)
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != render_schema():
            print(
                f"{args.path} is out of date: run python -m watcher.config.schema", file=sys.stderr
            )
            return 1
        return 0
    print(write_schema(args.path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
