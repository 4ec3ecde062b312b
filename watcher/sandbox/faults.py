"""Fault injection, deterministic under a seed: throttling, 5xx, latency, ambiguous purchases.

A fault is chosen before an operation runs (nothing happens server-side: `throttle`, `5xx`,
and, scripted only, the refusals `refuse`, `not_found`, `denied`, `limit`, the client-side
failures `unreachable`, `connect_timeout`, `no_credentials`, and `lost`: a request lost on
its way, answered by `ambiguous_mode`), or, for `ExtendTrainingPlan`, after it took effect
(`ambiguous`: the purchase is applied and the caller is answered by `ambiguous_mode`; the
modes are in `answers.py`). Latency is `latency_ms` on every call plus `slow_ms` on a
`slow_rate` share of calls; it is slept in real time, or handed to `wait` (the soak advances
its simulated clock there instead).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from watcher.sandbox.answers import AMBIGUOUS_MODES, AmbiguousMode

__all__ = ["AmbiguousMode", "FaultKind", "Faults", "OperationFaults", "ScriptedFault"]

#: Kinds only a scripted fault injects: definite refusals ("refuse" as AWS gives for an
#: offering that is gone), failures before the request is sent, and "lost".
FaultKind = Literal[
    "throttle",
    "5xx",
    "ambiguous",
    "refuse",
    "not_found",
    "denied",
    "limit",
    "unreachable",
    "connect_timeout",
    "no_credentials",
    "lost",
]
#: Every kind but "ambiguous" is picked before the operation runs.
_BEFORE = set(get_args(FaultKind)) - {"ambiguous"}


@dataclass(frozen=True)
class OperationFaults:
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    latency_ms: float = 0.0
    ambiguous_rate: float = 0.0
    ambiguous_mode: AmbiguousMode = "500"
    # A share of calls that are slow, and by how much (on top of latency_ms).
    slow_rate: float = 0.0
    slow_ms: float = 0.0


@dataclass
class ScriptedFault:
    """Inject `fault` on the next `times` calls of `operation` (for `plan`, if given: a plan's
    name, or for DescribeTrainingJob a job's)."""

    operation: str
    fault: FaultKind
    plan: str | None = None
    times: int = 1
    ambiguous_mode: AmbiguousMode = "500"

    def __post_init__(self) -> None:
        if self.fault not in get_args(FaultKind):
            raise ValueError(f"unknown fault {self.fault!r}")
        if self.ambiguous_mode not in AMBIGUOUS_MODES:
            raise ValueError(f"unknown ambiguous_mode {self.ambiguous_mode!r}")


@dataclass
class Faults:
    default: OperationFaults = field(default_factory=OperationFaults)
    per_operation: dict[str, OperationFaults] = field(default_factory=dict)
    scripted: list[ScriptedFault] = field(default_factory=list)
    seed: int = 0
    # Real seconds slept for latency; off, latency is only counted (or handed to `wait`).
    sleep: bool = True
    # Called with the latency in seconds instead of sleeping (e.g. to move a simulated clock).
    wait: Callable[[float], None] | None = field(default=None, repr=False, compare=False)
    # One random stream per (operation, caller's account and region) instead of one shared
    # stream: faults then do not depend on how concurrent callers interleave.
    per_caller: bool = False

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._streams: dict[str, random.Random] = {}
        self._lock = threading.Lock()
        # Calls that were delayed, and the total delay added (milliseconds).
        self.delayed_calls = 0
        self.delay_ms = 0.0

    def for_operation(self, operation: str) -> OperationFaults:
        return self.per_operation.get(operation, self.default)

    def _take_scripted(self, operation: str, plan: str | None, kinds: set[str]) -> ScriptedFault:
        for item in self.scripted:
            if item.operation != operation or item.fault not in kinds or item.times <= 0:
                continue
            if item.plan is not None and item.plan != plan:
                continue
            item.times -= 1
            return item
        raise LookupError

    def _stream(self, operation: str, caller: str | None) -> random.Random:
        if not self.per_caller or caller is None:
            return self._rng
        key = f"{self.seed}/{operation}/{caller}"
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = random.Random(key)
        return stream

    def before(
        self, operation: str, plan: str | None = None, caller: str | None = None
    ) -> FaultKind | None:
        """Sleep the configured latency and maybe pick a fault that prevents the call.

        `caller` names who calls (account and region), for `per_caller` streams."""
        picked = self.before_call(operation, plan, caller)
        return None if picked is None else picked[0]

    def before_call(
        self, operation: str, plan: str | None = None, caller: str | None = None
    ) -> tuple[FaultKind, AmbiguousMode] | None:
        """`before`, with the answer mode of a `lost` request."""
        rules = self.for_operation(operation)
        rng = self._stream(operation, caller)
        self._delay(rules, rng)
        with self._lock:
            try:
                item = self._take_scripted(operation, plan, _BEFORE)
                return item.fault, item.ambiguous_mode
            except LookupError:
                pass
            roll = rng.random()
            if roll < rules.throttle_rate:
                return "throttle", rules.ambiguous_mode
            if roll < rules.throttle_rate + rules.error_rate:
                return "5xx", rules.ambiguous_mode
            return None

    def _delay(self, rules: OperationFaults, rng: random.Random) -> None:
        with self._lock:
            ms = rules.latency_ms
            if rules.slow_rate and rng.random() < rules.slow_rate:
                ms += rules.slow_ms
            if ms:
                self.delayed_calls += 1
                self.delay_ms += ms
        if not ms:
            return
        if self.wait is not None:
            self.wait(ms / 1000.0)
        elif self.sleep:
            time.sleep(ms / 1000.0)

    def ambiguous(
        self, operation: str, plan: str | None = None, caller: str | None = None
    ) -> AmbiguousMode | None:
        """After a purchase took effect: should the caller see it fail anyway?"""
        rules = self.for_operation(operation)
        rng = self._stream(operation, caller)
        with self._lock:
            try:
                return self._take_scripted(operation, plan, {"ambiguous"}).ambiguous_mode
            except LookupError:
                pass
            if rules.ambiguous_rate and rng.random() < rules.ambiguous_rate:
                return rules.ambiguous_mode
            return None


def faults_from_dict(data: dict[str, Any]) -> Faults:
    """Build from a scenario's `faults:` mapping (see docs/sandbox.md)."""
    allowed = {"seed", "default", "operations", "scripted"}
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"unknown fault keys: {sorted(unknown)}")
    return Faults(
        default=OperationFaults(**data.get("default", {})),
        per_operation={op: OperationFaults(**v) for op, v in data.get("operations", {}).items()},
        scripted=[ScriptedFault(**item) for item in data.get("scripted", [])],
        seed=int(data.get("seed", 0)),
    )
