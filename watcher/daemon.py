"""The daemon: reconcile on a schedule, serve health and metrics, stop and reload on signals.

APScheduler runs the cycle every `poll.interval` (plus jitter), never two at once, coalescing
missed runs; the first cycle starts at once. SIGTERM/SIGINT stop it: no purchase starts after
the signal, a cycle in progress gets a few seconds to finish (a purchase already sent is
recorded, or left as an open intent that the next start resolves), and the process exits 0.
SIGHUP reloads the config; an invalid one is logged and the old one stays.

With a DynamoDB journal several replicas run and only the lease holder reconciles
(`watcher/ha/`): a follower skips its cycles (`not_leader`), serves its endpoints, and
exports plan_watcher_leader 0. The reconciler's fence is the lease's, so a replica that lost
its lease mid-cycle cannot open a purchase intent. The journal and lease settings are read at
start; a reload does not change them.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from watcher.app import (
    GatewayFactory,
    build_reconciler,
    default_gateway,
    open_journal,
    open_leadership,
)
from watcher.aws.calls import CallCounter
from watcher.clock import Clock, SystemClock
from watcher.config import Config, ConfigError, load_config
from watcher.exit_codes import ExitCode
from watcher.ha.leader import Leadership
from watcher.journal.records import Journal
from watcher.notify import Dispatcher, build_notifier
from watcher.observe.arenas import limit_arenas
from watcher.observe.http import EndpointServer
from watcher.observe.logs import get_logger
from watcher.observe.metrics import build_registry
from watcher.reconcile import Reconciler
from watcher.report import cycle_json
from watcher.results import CycleResult

# APScheduler reports skipped runs (a slow cycle) through stdlib logging; the daemon logs its
# own `cycle_skipped` event instead.
logging.getLogger("apscheduler").setLevel(logging.ERROR)

STOP_GRACE_SECONDS = 8.0
STUCK_AFTER_INTERVALS = 3


class Daemon:
    def __init__(
        self,
        config: Config,
        config_path: Path | None = None,
        *,
        clock: Clock | None = None,
        interval_seconds: float | None = None,
        jitter_seconds: float | None = None,
        factory: GatewayFactory = default_gateway,
        journal: Journal | None = None,
        on_cycle: Callable[[CycleResult], None] | None = None,
        listen: tuple[str, int] | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.clock = clock or SystemClock()
        self._interval_override = interval_seconds
        self._jitter_override = jitter_seconds
        self._factory = factory
        self._on_cycle = on_cycle
        self._listen = [listen] if listen else config.metrics.addresses
        self.log = get_logger()
        self.calls = CallCounter()
        self.notify_stats = CallCounter()
        self.registry, self.telemetry, self.snapshot = build_registry(
            self.calls, config.metrics.tag_labels, self.notify_stats
        )
        self.journal = journal or open_journal(config, self.calls)
        self._leader_since: float | None = None
        self.leadership = leadership or open_leadership(
            config, self.journal, self.log, self._leader_changed
        )
        #: The notifier the daemon owns: built with each reconciler, closed on reload and stop.
        self.notifier: Dispatcher | None = None
        self.reconciler = self._reconciler(config)
        self._stop = threading.Event()  # a stop was asked for
        self._stopping = threading.Event()  # purchases are no longer allowed
        self._reload = threading.Event()
        self._cycle_lock = threading.Lock()
        self._pending: Config | None = None
        self._started = time.monotonic()
        self._last_ok: float | None = None
        self._last: CycleResult | None = None
        self.server: EndpointServer | None = None
        self.cycles = 0

    # --- timing -------------------------------------------------------------------------

    @property
    def interval(self) -> float:
        if self._interval_override is not None:
            return self._interval_override
        return self.config.poll.interval.total_seconds()

    @property
    def jitter(self) -> float:
        if self._jitter_override is not None:
            return self._jitter_override
        return self.config.poll.jitter.total_seconds()

    # --- the cycle ----------------------------------------------------------------------

    def _reconciler(self, config: Config) -> Reconciler:
        """A reconciler for `config`, gated by the daemon's stop, fenced by its lease, telling
        the daemon's notifier (the one before is closed, its queued notices flushed)."""
        old = getattr(self, "reconciler", None)
        if old is not None:
            old.close()  # its worker threads end; the new one starts its own
        if self.notifier is not None:
            self.notifier.close()  # its queued notices get a bounded flush
        self.notifier = build_notifier(config, self.notify_stats, calls=self.calls)
        return build_reconciler(
            config,
            self.clock,
            self.journal,
            self.calls,
            self._factory,
            gate=self._gate,
            fence=self.leadership.fence,
            notifier=self.notifier,
        )

    def _leader_changed(self, leader: bool) -> None:
        self.telemetry.leader.set(1 if leader else 0)
        self._leader_since = time.monotonic() if leader else None

    def _gate(self) -> str | None:
        if self._stopping.is_set():
            return "plan-watcher is shutting down; the purchase was not started"
        return None

    def run_cycle(self) -> CycleResult | None:
        """One cycle, unless one is already running or the daemon is stopping."""
        if not self._cycle_lock.acquire(blocking=False):
            self.log.warning("cycle_skipped", reason="the previous cycle is still running")
            return None
        try:
            if self._stopping.is_set():
                return None
            if not self.leadership.is_leader():
                self.log.info("not_leader", note="another replica holds the lease")
                return None
            self._apply_pending_config()
            started = time.monotonic()
            cycle = self.reconciler.run_cycle()
            self.telemetry.observe_cycle(cycle, time.monotonic() - started)
            self.snapshot.update(cycle)
            self._last = cycle
            self._last_ok = time.monotonic()
            self.cycles += 1
            if self._on_cycle is not None:
                self._on_cycle(cycle)
            return cycle
        except Exception as exc:  # a cycle may fail; the daemon must not
            self.log.exception("cycle_crashed", error=str(exc))
            return None
        finally:
            self._cycle_lock.release()

    # --- health -------------------------------------------------------------------------

    def healthy(self) -> tuple[bool, str]:
        lease_ok, reason = self.leadership.healthy()
        if not lease_ok or not self.leadership.is_leader():
            return lease_ok, reason  # a follower is healthy while its heartbeat runs
        # Since the later of: the last completed cycle, becoming leader, starting.
        since = max(t for t in (self._last_ok, self._leader_since, self._started) if t is not None)
        age = time.monotonic() - since
        limit = STUCK_AFTER_INTERVALS * self.interval + self.jitter
        if age > limit:
            return False, f"no completed cycle for {age:.0f}s (limit {limit:.0f}s)"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        if not self.leadership.is_leader():
            return True, "standing by: another replica holds the lease"
        if self._last is None:
            return False, "waiting for the first cycle to complete"
        return True, "ok"

    def status(self) -> dict[str, Any]:
        cycle = self._last
        if cycle is None:
            return {
                "started_at": None,
                "mode": self.config.mode.value,
                "decisions": [],
                "errors": [],
                "proposals": [],
                "purchases_paused": None,
                "clock_skew_seconds": {},
            }
        return cycle_json(cycle)

    # --- config reload ------------------------------------------------------------------

    def _reload_config(self) -> None:
        if self.config_path is None:
            self.log.warning("config_reload_skipped", reason="no config file to reload")
            return
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            self.log.error(
                "config_reload_failed",
                errors=[str(issue) for issue in exc.issues],
                note="the previous config stays in effect",
            )
            return
        self._pending = new
        self.log.info("config_reloaded", path=str(self.config_path), note="applies next cycle")

    def _apply_pending_config(self) -> None:
        new, self._pending = self._pending, None
        if new is None:
            return
        if new.state != self.config.state:
            self.log.warning("config_reload_partial", note="state (journal, lease) needs a restart")
            new = new.model_copy(update={"state": self.config.state})
        self.config = new
        self.reconciler = self._reconciler(new)
        self.snapshot.set_tag_labels(new.metrics.tag_labels)

    # --- running ------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload.set()
        else:
            self._stopping.set()
            self._stop.set()

    def run(self, install_signals: bool = True) -> ExitCode:
        """Run until stopped; return the exit code (`ExitCode.OK` on a clean stop)."""
        arenas = limit_arenas(os.environ)  # before any of the daemon's threads start
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, self._on_signal)
        self.telemetry.leader.set(0)
        (host, port), *more = self._listen
        self.server = EndpointServer(host, port, self.registry, self, more=more)
        self.server.start()
        self.leadership.start()  # after the endpoints: a slow table must not hide /healthz
        self.log.info(
            "daemon_started",
            mode=self.config.mode.value,
            interval_seconds=self.interval,
            listen=",".join(f"{host}:{port}" for host, port in self.server.addresses),
            targets=[t.name for t in self.config.targets],
            malloc_arenas=arenas,
        )
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(
            self.run_cycle,
            "interval",
            seconds=self.interval,
            jitter=self.jitter or None,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(self.interval)),
            next_run_time=SystemClock().now(),
        )
        scheduler.start()
        try:
            while not self._stop.wait(0.2):
                if self._reload.is_set():
                    self._reload.clear()
                    self._reload_config()
        finally:
            self._shutdown(scheduler)
        return ExitCode.OK

    def _shutdown(self, scheduler: BackgroundScheduler) -> None:
        self._stopping.set()
        self.log.info("daemon_stopping")
        scheduler.shutdown(wait=False)
        finished = self._cycle_lock.acquire(timeout=STOP_GRACE_SECONDS)
        self.leadership.stop()  # a purchase still running after this is fenced out
        if self.server is not None:
            self.server.stop()
        self.reconciler.close()  # a cycle still running finishes in the background
        if self.notifier is not None:
            self.notifier.close()  # bounded: a dead webhook cannot hold the stop
        if finished:
            self.journal.close()
            self._cycle_lock.release()
        else:
            self.log.warning(
                "daemon_stopped_mid_cycle",
                note="any purchase in progress is journalled and resolved at the next start",
            )
        self.log.info("daemon_stopped", cycles=self.cycles)
        sys.stdout.flush()
