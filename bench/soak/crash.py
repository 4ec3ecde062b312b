"""Tearing the daemon down mid-cycle, from outside the engine.

The harness builds plan-watcher's gateways through a factory that returns `CrashingGateway`,
a `SageMakerGateway` whose calls first ask the shared `CrashSwitch` whether to die there. A
crash is `SoakCrash`, a BaseException: nothing in the engine catches it (it handles
`Exception`s), so it unwinds the cycle the way a killed process would leave it, journal and
all. The points:

- `survey`: listing a target's plans (phase 1, other targets' threads still running);
- `history`: reading a plan's extension history (mid-survey);
- `search`: searching offerings for a due plan (mid-survey);
- `before_extend`: the intent is in the journal, ExtendTrainingPlan not sent;
- `after_extend`: AWS accepted the purchase, plan-watcher has not recorded it.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import boto3

from watcher.aws.calls import CallCounter
from watcher.aws.sagemaker import SageMakerGateway
from watcher.aws.session import TargetSpec, target_session
from watcher.model import Extension

POINTS = ("before_extend", "survey", "after_extend", "history", "before_extend", "search")
# Points reached in the survey's per-target threads.
THREADED = frozenset({"survey", "history", "search"})


class SoakCrash(BaseException):
    """The process dies here (injected by the soak)."""


class CrashSwitch:
    """Arms one crash point at a time; the next call that reaches it dies.

    A point reached in the survey's per-target threads is armed for one target, so which
    thread dies never depends on how the threads interleave.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.armed: tuple[str, str | None] | None = None
        self.fired: Counter[str] = Counter()

    def arm(self, point: str, target: str | None = None) -> None:
        with self._lock:
            self.armed = (point, target)

    def disarm(self) -> None:
        with self._lock:
            self.armed = None

    def reached(self, point: str, target: str) -> None:
        with self._lock:
            if self.armed is None or self.armed[0] != point:
                return
            if self.armed[1] not in (None, target):
                return
            self.armed = None
            self.fired[point] += 1
        raise SoakCrash(point)


class CrashingGateway(SageMakerGateway):
    """A real gateway with crash points; otherwise exactly plan-watcher's own."""

    def __init__(self, switch: CrashSwitch, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.switch = switch

    def plan_pages(self) -> Any:
        self.switch.reached("survey", self.target.name)
        return super().plan_pages()

    def extension_history(self, plan_arn: str) -> Any:
        self.switch.reached("history", self.target.name)
        return super().extension_history(plan_arn)

    def search_extension_offerings(self, plan_arn: str, duration_hours: int | None) -> Any:
        self.switch.reached("search", self.target.name)
        return super().search_extension_offerings(plan_arn, duration_hours)

    def extend(self, offering_id: str, plan_arn: str) -> list[Extension]:
        self.switch.reached("before_extend", self.target.name)
        result = super().extend(offering_id, plan_arn)
        self.switch.reached("after_extend", self.target.name)
        return result


class GatewayFactory:
    """`app.build_gateways`' factory: fresh gateways on long-lived sessions (one per target).

    A session stands for the process's credentials and parsed service models; keeping them
    across restarts only saves time, every client and cache is new.
    """

    def __init__(self, switch: CrashSwitch, read_attempts: int = 5) -> None:
        self.switch = switch
        self.read_attempts = read_attempts
        self._sessions: dict[TargetSpec, boto3.Session] = {}

    def __call__(self, spec: TargetSpec, counter: CallCounter) -> SageMakerGateway:
        session = self._sessions.get(spec)
        if session is None:
            session = self._sessions[spec] = target_session(spec)
        return CrashingGateway(
            self.switch, spec, session, counter, read_attempts=self.read_attempts
        )
