"""plan-watcher's log events, captured per run through structlog without global set-up.

The soak hands the Reconciler `structlog.wrap_logger(EventSink())`. Every event is counted by
name (and decisions by their value); purchase events are kept whole, for the check that every
purchase AWS saw has a log event.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import structlog

PURCHASE_EVENTS = frozenset(
    {
        "purchase_intent",
        "purchase_succeeded",
        "purchase_failed",
        "purchase_ambiguous",
        "purchase_skipped",
        "purchase_resolved",
        "purchase_unresolved",
        "purchase_unresolvable",
        "purchase_resolution_failed",
        "extension_failed",
    }
)


class EventSink:
    """A structlog logger: any method name is a level, each call one event dict."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.decisions: Counter[str] = Counter()
        # Decision -> plans that got it at least once.
        self.plans_by_decision: dict[str, set[str]] = {}
        self.purchases: list[dict[str, Any]] = []

    def _record(self, level: str, event: dict[str, Any]) -> None:
        name = str(event.get("event", ""))
        with self._lock:
            self.counts[name] += 1
            if name == "decision":
                decision = str(event.get("decision"))
                self.decisions[decision] += 1
                plans = self.plans_by_decision.setdefault(decision, set())
                plans.add(str(event.get("plan_name")))
            elif name in PURCHASE_EVENTS:
                self.purchases.append(dict(event, level=level))

    def __getattr__(self, level: str) -> Any:
        if level.startswith("_"):
            raise AttributeError(level)

        def log(*args: Any, **event: Any) -> None:
            self._record(level, event)

        return log

    def bound(self) -> Any:
        """A structlog bound logger writing here, whatever structlog is configured to do."""
        return structlog.wrap_logger(self, processors=[], wrapper_class=structlog.BoundLogger)

    def by_offering(self) -> dict[str, set[str]]:
        """Offering ID -> names of the purchase events that mention it."""
        found: dict[str, set[str]] = {}
        for event in self.purchases:
            offering = event.get("offering_id")
            if offering:
                name = str(event["event"])
                if name == "purchase_resolved":
                    name += f":{event.get('outcome')}"
                found.setdefault(str(offering), set()).add(name)
        return found
