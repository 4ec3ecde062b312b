"""The config schema (SPEC section 3) as frozen pydantic models.

Field-level rules live here; rules that relate several keys (references between sections,
min <= max, currencies) live in `checks.py`, which `parse_config` (loader.py) runs once the
structure is valid.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from watcher.config.enums import BudgetWindow, LogFormat, LogLevel
from watcher.config.operations import Approval, Lease, Notifications, Safety
from watcher.config.values import (
    NAME_PATTERN,
    ROLE_ARN_PATTERN,
    Duration,
    MoneyAmount,
)
from watcher.config.windows import PurchaseWindowConfig
from watcher.decide.durations import MAX_EXTENSION_HOURS
from watcher.decide.rules import Action, Mode, Prefer, UnattributedUse
from watcher.decide.windows import effective_margin

DAY = timedelta(days=1)
DEFAULT_REGION = "us-east-1"
DEFAULT_JOURNAL = "plan-watcher-journal.db"

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
_DYNAMODB = re.compile(r"^dynamodb://([A-Za-z0-9_.-]{3,255})$")
_LISTEN = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*):(?P<port>[0-9]{1,5})$")
MAX_LISTEN_ADDRESSES = 4
_RESERVED_LABELS = frozenset({"plan", "target", "status", "decision", "state", "kind", "le"})

Name = StrictStr


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=False)


def ambient_region(environ: Mapping[str, str]) -> str:
    """The ambient region: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1."""
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


class Poll(_Section):
    interval: Duration = Field(default=timedelta(minutes=5), description="time between cycles")
    jitter: Duration = Field(
        default=timedelta(seconds=30), description="random delay added to each cycle"
    )

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return value


class Target(_Section):
    """One account/region to watch, optionally through an assumed role."""

    name: Name = Field(pattern=NAME_PATTERN)
    region: StrictStr = Field(
        default=None,
        validate_default=True,
        description="default: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1",
        json_schema_extra={"default": None},
    )
    role_arn: StrictStr | None = Field(default=None, pattern=ROLE_ARN_PATTERN)
    external_id: StrictStr | None = Field(default=None, min_length=2, max_length=1224)

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, value: object, info: ValidationInfo) -> object:
        if value is None:
            context = info.context if isinstance(info.context, Mapping) else {}
            environ = context.get("environ", os.environ)
            value = ambient_region(environ)
        if isinstance(value, str) and not _REGION.match(value):
            raise ValueError(f"{value!r} is not an AWS region name (like us-east-1)")
        return value


class Match(_Section):
    """Which plans a policy applies to. Every given criterion must hold."""

    names: tuple[StrictStr, ...] = Field(
        default=("*",), description="globs on the plan name (fnmatch, case-sensitive)"
    )
    tags: dict[StrictStr, StrictStr] = Field(
        default_factory=dict, description="tags the plan must carry, with these exact values"
    )
    targets: tuple[Name, ...] = Field(default=(), description="target names; empty means all")

    @field_validator("names")
    @classmethod
    def _some_name(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("an empty list matches no plan; omit the key to match every plan")
        if any(not pattern for pattern in value):
            raise ValueError("an empty pattern matches no plan")
        return value

    def may_match(self, target: str, plan_name: str | None = None) -> bool:
        """Whether a plan of `target` named `plan_name` (any name if None) could match,
        whatever its tags: what is known of a plan whose tags or listing could not be read."""
        if self.targets and target not in self.targets:
            return False
        return plan_name is None or any(fnmatchcase(plan_name, p) for p in self.names)

    def matches(self, plan_name: str, tags: Mapping[str, str], target: str) -> bool:
        if any(tags.get(key) != value for key, value in self.tags.items()):
            return False
        return self.may_match(target, plan_name)


class ExtensionRules(_Section):
    """What a policy may buy."""

    min_duration: Duration = Field(default=DAY, description="at least 1d")
    max_duration: Duration = Field(default=timedelta(days=14), description="at most 182d")
    prefer: Prefer = Prefer.CHEAPEST
    max_upfront_fee: MoneyAmount | None = Field(default=None, description="cap per extension")
    max_fee_per_hour: MoneyAmount | None = Field(
        default=None, description="cap on upfront fee / duration hours"
    )
    same_availability_zone: StrictBool = True

    @field_validator("min_duration", "max_duration")
    @classmethod
    def _sellable(cls, value: timedelta) -> timedelta:
        if value % DAY:
            raise ValueError("must be a whole number of days (AWS sells extensions in days)")
        if value < DAY:
            raise ValueError("must be at least 1d (the shortest extension AWS sells)")
        if value > timedelta(hours=MAX_EXTENSION_HOURS):
            raise ValueError("must be at most 182d (the longest extension AWS sells)")
        return value

    @property
    def currency(self) -> str | None:
        """The currency of the fee caps (checks.py ensures they agree), or None if uncapped."""
        caps = [cap for cap in (self.max_upfront_fee, self.max_fee_per_hour) if cap is not None]
        return caps[0].currency if caps else None


class Policy(_Section):
    name: Name = Field(pattern=NAME_PATTERN)
    match: Match = Field(default_factory=Match)
    action: Action = Field(description="required: what to do with a plan that is due")
    extend_before: Duration = Field(
        default=timedelta(hours=72), description="act when less than this is left"
    )
    safety_margin: Duration = Field(
        default=timedelta(hours=2), description="deadline = end_time - max(1h, safety_margin)"
    )
    require_demand: StrictBool = True
    on_unattributed_use: UnattributedUse = Field(
        default=UnattributedUse.EXTEND,
        description="a plan with instances in use and no consumer found is never no_demand: "
        "extend (for min_duration, as `action` says), propose or notify",
    )
    extension: ExtensionRules = Field(default_factory=ExtensionRules)
    max_extensions: StrictInt = Field(default=10, ge=1, description="lifetime cap for one plan")
    approval: Approval = Field(
        default_factory=Approval, description="used when action is propose (docs/operations.md)"
    )
    purchase_windows: tuple[PurchaseWindowConfig, ...] = Field(
        default=(),
        description="days and hours (in a time zone) in which purchases are made; a due "
        "plan's purchase waits for one unless waiting would pass its last safe cycle; "
        "empty = any time",
    )

    @property
    def effective_safety_margin(self) -> timedelta:
        """AWS refuses extensions in a plan's last hour, so the margin is never under 1h."""
        return effective_margin(self.safety_margin)

    def matches(self, plan_name: str, tags: Mapping[str, str], target: str) -> bool:
        """True when this policy applies to the plan (names glob, all tags, target list)."""
        return self.match.matches(plan_name, tags, target)


class Budget(_Section):
    name: Name = Field(pattern=NAME_PATTERN)
    limit: MoneyAmount
    window: BudgetWindow = BudgetWindow.CALENDAR_MONTH
    policies: tuple[Name, ...] | None = Field(
        default=None, description="policy names; omit to cover every policy"
    )

    @field_validator("policies")
    @classmethod
    def _some_policy(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("an empty list covers nothing; omit the key to cover every policy")
        return value

    def covers(self, policy_name: str) -> bool:
        return self.policies is None or policy_name in self.policies


class State(_Section):
    journal: StrictStr = Field(
        default=DEFAULT_JOURNAL,
        min_length=1,
        description="SQLite file path (relative to the working directory) or dynamodb://TABLE",
    )
    lease: Lease = Field(default_factory=Lease, description="leader election (DynamoDB only)")

    @field_validator("journal")
    @classmethod
    def _journal(cls, value: str) -> str:
        if value.startswith("dynamodb:") and not _DYNAMODB.match(value):
            raise ValueError("expected dynamodb://TABLE with a valid DynamoDB table name")
        return value

    @property
    def dynamodb_table(self) -> str | None:
        """The table name when the journal is `dynamodb://TABLE`, else None."""
        match = _DYNAMODB.match(self.journal)
        return match.group(1) if match else None

    @property
    def sqlite_path(self) -> str | None:
        return None if self.dynamodb_table else self.journal


def tag_label(tag: str) -> str:
    """The Prometheus label name a plan tag becomes (`cost-center` -> `cost_center`)."""
    label = re.sub(r"[^A-Za-z0-9_]", "_", tag)
    return f"_{label}" if label[:1].isdigit() else label


class Metrics(_Section):
    listen: StrictStr = Field(
        default="0.0.0.0:9108",
        description="host:port; ':9108' = all; several comma-separated "
        "(127.0.0.1:9108,10.0.3.7:9108 binds loopback plus one interface)",
    )
    plan_labels_from_tags: tuple[StrictStr, ...] = ()

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parts = [part.strip() for part in value.split(",")]
        if len(parts) > MAX_LISTEN_ADDRESSES:
            raise ValueError(f"at most {MAX_LISTEN_ADDRESSES} addresses, got {len(parts)}")
        for part in parts:
            match = _LISTEN.match(part)
            if match is None or not 1 <= int(match.group("port")) <= 65535:
                raise ValueError(f"expected host:port (like 0.0.0.0:9108), got {part!r}")
        if len(set(parts)) != len(parts):
            raise ValueError("names the same address twice")
        return value

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Every (host, port) to bind, in the order given."""
        found = []
        for part in self.listen.split(","):
            host, _, port = part.strip().rpartition(":")
            found.append((host.strip("[]") or "0.0.0.0", int(port)))
        return found

    @field_validator("plan_labels_from_tags")
    @classmethod
    def _labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: dict[str, str] = {}
        for tag in value:
            label = tag_label(tag)
            if not tag or label.startswith("__") or label in _RESERVED_LABELS:
                raise ValueError(f"tag {tag!r} cannot become a metric label")
            if label in seen:
                raise ValueError(f"tags {seen[label]!r} and {tag!r} map to the same label")
            seen[label] = tag
        return value

    @property
    def host(self) -> str:
        """The first address's host."""
        return self.addresses[0][0]

    @property
    def port(self) -> int:
        """The first address's port."""
        return self.addresses[0][1]

    @property
    def tag_labels(self) -> dict[str, str]:
        """Plan tag -> Prometheus label name, in configured order."""
        return {tag: tag_label(tag) for tag in self.plan_labels_from_tags}


class Logging(_Section):
    level: LogLevel = LogLevel.INFO
    format: LogFormat = LogFormat.JSON

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


_SECTIONS = frozenset(
    {
        "poll",
        "targets",
        "policies",
        "budgets",
        "state",
        "metrics",
        "logging",
        "notifications",
        "safety",
    }
)


class Config(_Section):
    """The whole config file. Build it with `parse_config`/`load_config`."""

    mode: Mode = Mode.ENFORCE
    poll: Poll = Field(default_factory=Poll)
    targets: tuple[Target, ...] = Field(
        default=None,
        validate_default=True,
        description="default: one target named 'default' from the ambient credentials",
        json_schema_extra={"default": [{"name": "default"}]},
    )
    policies: tuple[Policy, ...] = Field(default=(), description="first match wins")
    budgets: tuple[Budget, ...] = ()
    state: State = Field(default_factory=State)
    metrics: Metrics = Field(default_factory=Metrics)
    logging: Logging = Field(default_factory=Logging)
    notifications: Notifications = Field(default_factory=Notifications)
    safety: Safety = Field(default_factory=Safety)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        # `notifications:` with every line beneath commented out is YAML null: read as defaults.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (v is None and k in _SECTIONS)}
        return data

    @field_validator("targets", mode="before")
    @classmethod
    def _default_target(cls, value: object) -> object:
        return [{"name": "default"}] if value is None else value

    @field_validator("targets")
    @classmethod
    def _some_target(cls, value: tuple[Target, ...]) -> tuple[Target, ...]:
        if not value:
            raise ValueError("needs at least one target (omit the key for the ambient account)")
        return value

    def policy_for(self, plan_name: str, tags: Mapping[str, str], target: str) -> Policy | None:
        """The first policy that matches the plan, or None (the plan is unmanaged)."""
        for policy in self.policies:
            if policy.matches(plan_name, tags, target):
                return policy
        return None

    def budgets_for(self, policy_name: str) -> tuple[Budget, ...]:
        """Every budget a purchase under `policy_name` must fit in."""
        return tuple(budget for budget in self.budgets if budget.covers(policy_name))

    @property
    def dry_run(self) -> bool:
        return self.mode is Mode.DRY_RUN

    def with_mode(self, mode: Mode) -> Config:
        """A copy in another mode (`--dry-run` on the command line)."""
        return self.model_copy(update={"mode": mode})
