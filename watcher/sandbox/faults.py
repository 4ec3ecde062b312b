"""Fault injection, deterministic under a seed: throttling, 5xx, latency, ambiguous purchases.

A fault is chosen before an operation runs (`throttle`, `5xx`: nothing happens server-side),
or, for `ExtendTrainingPlan`, after it took effect (`ambiguous`: the purchase is applied and
the caller sees a 500 or a dropped connection). Latency is `latency_ms` on every call plus
`slow_ms` on a `slow_rate` share of calls; it is slept in real time, or handed to `wait`
(the soak advances its simulated clock there instead).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["throttle", "5xx", "ambiguous"]
AmbiguousMode = Literal["500", "drop"]


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
    """Inject `fault` on the next `times` calls of `operation` (for `plan`, if given)."""

    operation: str
    fault: FaultKind
    plan: str | None = None
    times: int = 1
    ambiguous_mode: AmbiguousMode = "500"


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

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
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

    def before(self, operation: str, plan: str | None = None) -> FaultKind | None:
        """Sleep the configured latency and maybe pick a fault that prevents the call."""
        rules = self.for_operation(operation)
        self._delay(rules)
        with self._lock:
            try:
                return self._take_scripted(operation, plan, {"throttle", "5xx"}).fault
            except LookupError:
                pass
            roll = self._rng.random()
            if roll < rules.throttle_rate:
                return "throttle"
            if roll < rules.throttle_rate + rules.error_rate:
                return "5xx"
            return None

    def _delay(self, rules: OperationFaults) -> None:
        with self._lock:
            ms = rules.latency_ms
            if rules.slow_rate and self._rng.random() < rules.slow_rate:
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

    def ambiguous(self, operation: str, plan: str | None = None) -> AmbiguousMode | None:
        """After a purchase took effect: should the caller see it fail anyway?"""
        rules = self.for_operation(operation)
        with self._lock:
            try:
                return self._take_scripted(operation, plan, {"ambiguous"}).ambiguous_mode
            except LookupError:
                pass
            if rules.ambiguous_rate and self._rng.random() < rules.ambiguous_rate:
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
