"""The config file (SPEC section 3): schema, loading and validation.

Use `load_config(path)` or `parse_config(data)`; both raise `ConfigError`, whose `issues`
name every problem by key path (`policies[1].extension.max_upfront_fee`).
"""

from watcher.config.enums import BudgetWindow, LogFormat, LogLevel
from watcher.config.errors import ConfigError, ConfigIssue
from watcher.config.loader import (
    CONFIG_PATH_VARIABLE,
    DEFAULT_CONFIG_PATH,
    ENV_OVERRIDES,
    default_config_path,
    load_config,
    parse_config,
)
from watcher.config.models import (
    Budget,
    Config,
    ExtensionRules,
    Logging,
    Match,
    Metrics,
    Policy,
    Poll,
    State,
    Target,
    ambient_region,
)
from watcher.config.operations import Approval, Lease, Notifications, Safety, Webhook
from watcher.config.values import format_duration, parse_duration, parse_money
from watcher.decide.rules import Action, Mode, Prefer

__all__ = [
    "CONFIG_PATH_VARIABLE",
    "DEFAULT_CONFIG_PATH",
    "ENV_OVERRIDES",
    "Action",
    "Approval",
    "Budget",
    "BudgetWindow",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "ExtensionRules",
    "Lease",
    "LogFormat",
    "LogLevel",
    "Logging",
    "Match",
    "Metrics",
    "Mode",
    "Notifications",
    "Policy",
    "Poll",
    "Prefer",
    "Safety",
    "State",
    "Target",
    "Webhook",
    "ambient_region",
    "default_config_path",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_money",
]
