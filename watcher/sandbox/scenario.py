"""Scenarios: YAML files that seed the simulator with plans, jobs, clusters, a market, faults.

Times are offsets from the scenario's start (`-2d` = two days before, `36h` = later on).
See docs/sandbox.md for the format; `scenarios/demo.yaml` is the worked example.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from watcher.clock import Clock
from watcher.sandbox.faults import Faults, faults_from_dict
from watcher.sandbox.market import Market, terms_from_dict
from watcher.sandbox.settings import SimSettings
from watcher.sandbox.simulator import DEFAULT_ACCOUNT, DEFAULT_REGION, Simulator

_OFFSET = re.compile(r"^(-?)(\d+)([smhdw])$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the entry."""


# Per kind of entry: (required keys, optional keys).
_ENTRY_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "plans": (
        {"name", "ends_in"},
        {
            "started",
            "account",
            "region",
            "instance_type",
            "instance_count",
            "target_resources",
            "tags",
            "market",
            "unlisted_in_use",
            "failed",
            "ultraserver_type",
            "ultraserver_count",
        },
    ),
    "jobs": (
        {"name", "max_runtime"},
        {"plan", "started", "account", "region", "instance_count", "waiting"},
    ),
    "clusters": ({"name", "groups"}, {"delete_in", "account", "region"}),
    "groups": ({"name"}, {"plan", "count"}),
}


def _check_entries(kind: str, items: Any, where: str | None = None) -> list[dict[str, Any]]:
    """Each entry is a mapping with its required keys and no unknown ones."""
    where = where or kind
    if items is None:
        return []
    if not isinstance(items, list):
        raise ScenarioError(f"{where}: expected a list")
    required, optional = _ENTRY_KEYS[kind]
    for index, item in enumerate(items):
        here = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{here}: expected a mapping, got {item!r}")
        missing = required - set(item)
        if missing:
            raise ScenarioError(f"{here}: missing keys {sorted(missing)}")
        unknown = set(item) - required - optional
        if unknown:
            raise ScenarioError(f"{here}: unknown keys {sorted(unknown)}")
        if kind == "clusters":
            _check_entries("groups", item["groups"], f"{here}.groups")
    return items


@contextmanager
def _entry(where: str) -> Iterator[None]:
    """Name the scenario entry in any error raised while seeding it."""
    try:
        yield
    except ScenarioError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: {exc}") from exc


def offset(text: Any, where: str) -> timedelta:
    match = _OFFSET.match(str(text).strip())
    if match is None:
        raise ScenarioError(f"{where}: expected a duration like 36h, 2d or -1d, got {text!r}")
    sign, number, unit = match.groups()
    delta = timedelta(**{_UNIT[unit]: int(number)})
    return -delta if sign else delta


@dataclass
class Scenario:
    name: str
    description: str = ""
    start: datetime | None = None
    settings: SimSettings = field(default_factory=SimSettings)
    market: Market = field(default_factory=Market)
    faults: Faults = field(default_factory=Faults)
    plans: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    clusters: list[dict[str, Any]] = field(default_factory=list)
    story: list[str] = field(default_factory=list)

    def seed(self, sim: Simulator) -> None:
        """Create the scenario's resources in `sim`, relative to the simulator's clock."""
        origin = sim.clock.now()
        for index, plan in enumerate(self.plans):
            where = f"plans[{index}]"
            with _entry(where):
                self._seed_plan(sim, origin, plan, where)
        for index, job in enumerate(self.jobs):
            where = f"jobs[{index}]"
            with _entry(where):
                self._seed_job(sim, origin, job, where)
        for index, cluster in enumerate(self.clusters):
            where = f"clusters[{index}]"
            with _entry(where):
                self._seed_cluster(sim, origin, cluster, where)

    def _seed_plan(
        self, sim: Simulator, origin: datetime, plan: dict[str, Any], where: str
    ) -> None:
        sim.add_plan(
            str(plan["name"]),
            ends_at=origin + offset(plan["ends_in"], f"{where}.ends_in"),
            starts_at=origin + offset(plan.get("started", "-7d"), f"{where}.started"),
            account=str(plan.get("account", DEFAULT_ACCOUNT)),
            region=plan.get("region", DEFAULT_REGION),
            instance_type=plan.get("instance_type", "ml.p5.48xlarge"),
            instance_count=int(plan.get("instance_count", 4)),
            target_resources=plan.get("target_resources", ["training-job"]),
            tags={str(k): str(v) for k, v in (plan.get("tags") or {}).items()},
            market=(
                terms_from_dict(plan["market"], self.market.default) if "market" in plan else None
            ),
            unlisted_in_use=int(plan.get("unlisted_in_use", 0)),
            failed=bool(plan.get("failed", False)),
            ultraserver_type=plan.get("ultraserver_type"),
            ultraserver_count=int(plan.get("ultraserver_count", 0)),
        )

    def _seed_job(self, sim: Simulator, origin: datetime, job: dict[str, Any], where: str) -> None:
        sim.add_job(
            str(job["name"]),
            plan=job.get("plan"),
            started_at=origin + offset(job.get("started", "0h"), f"{where}.started"),
            max_runtime=offset(job["max_runtime"], f"{where}.max_runtime"),
            account=str(job.get("account", DEFAULT_ACCOUNT)),
            region=job.get("region", DEFAULT_REGION),
            instance_count=int(job.get("instance_count", 1)),
            waiting=bool(job.get("waiting", False)),
        )

    def _seed_cluster(
        self, sim: Simulator, origin: datetime, cluster: dict[str, Any], where: str
    ) -> None:
        sim.add_cluster(
            str(cluster["name"]),
            groups=[(g["name"], g.get("plan"), int(g.get("count", 1))) for g in cluster["groups"]],
            delete_at=(
                origin + offset(cluster["delete_in"], f"{where}.delete_in")
                if "delete_in" in cluster
                else None
            ),
            account=str(cluster.get("account", DEFAULT_ACCOUNT)),
            region=cluster.get("region", DEFAULT_REGION),
        )

    def simulator(self, clock: Clock) -> Simulator:
        return Simulator(clock, self.settings, self.market, self.faults)


_SETTINGS_DURATIONS = {f.name for f in fields(SimSettings) if f.type == "timedelta"}


def _settings(data: dict[str, Any]) -> SimSettings:
    known = {f.name for f in fields(SimSettings)}
    unknown = set(data) - known
    if unknown:
        raise ScenarioError(f"settings: unknown keys {sorted(unknown)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SETTINGS_DURATIONS:
            values[key] = offset(value, f"settings.{key}")
        elif key == "jobs_filters_after_limit":
            values[key] = tuple(value)
        else:
            values[key] = value
    return SimSettings(**values)


def parse_scenario(data: Any, name: str = "scenario") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{name}: a scenario is a mapping")
    allowed = {
        "name",
        "description",
        "start",
        "settings",
        "market",
        "faults",
        "plans",
        "jobs",
        "clusters",
        "story",
    }
    unknown = set(data) - allowed
    if unknown:
        raise ScenarioError(f"{name}: unknown keys {sorted(unknown)}")
    try:
        market_data = dict(data.get("market") or {})
        market = Market(
            default=terms_from_dict(market_data.pop("default", {}) or {}),
            seed=int(market_data.pop("seed", 0)),
        )
        if market_data:
            raise ScenarioError(f"market: unknown keys {sorted(market_data)}")
        start = data.get("start")
        return Scenario(
            name=str(data.get("name", name)),
            description=str(data.get("description", "")),
            start=(
                datetime.fromisoformat(str(start).replace("Z", "+00:00")).astimezone(UTC)
                if start
                else None
            ),
            settings=_settings(data.get("settings") or {}),
            market=market,
            faults=faults_from_dict(data.get("faults") or {}),
            plans=_check_entries("plans", data.get("plans")),
            jobs=_check_entries("jobs", data.get("jobs")),
            clusters=_check_entries("clusters", data.get("clusters")),
            story=[str(line) for line in data.get("story") or []],
        )
    except (TypeError, ValueError, KeyError) as exc:
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(f"{name}: {exc}") from exc


def builtin_names() -> list[str]:
    folder = resources.files("watcher.sandbox") / "scenarios"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(ref: str) -> Scenario:
    """Load a built-in scenario by name (`demo`) or a YAML file by path."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") and path.exists():
        text = path.read_text()
    elif ref in builtin_names():
        text = (resources.files("watcher.sandbox") / "scenarios" / f"{ref}.yaml").read_text()
    else:
        raise ScenarioError(f"no scenario {ref!r}: built-in ones are {builtin_names()}")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{ref}: not valid YAML: {exc}") from exc
    return parse_scenario(data, ref)
