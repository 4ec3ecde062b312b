"""Who reconciles: the one replica holding the leader lease.

`SoleReplica` is the single-replica case (SQLite journal): always the leader, no fence.
`LeaseKeeper` runs a heartbeat thread that acquires the lease when it is free and renews it
every `renew_every`. It counts itself leader only until one heartbeat before the lease would
expire (measured from before the renewing write was sent), so a replica that stops
renewing stops reconciling before anyone else may take over. Its fence is the last one it
held, also after losing it, so a purchase started under a lost lease is refused by the table.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from watcher.clock import Clock
from watcher.ha.lease import Lease
from watcher.journal.records import Fence
from watcher.journal.table import JournalUnavailable

STALE_AFTER_HEARTBEATS = 3


class Leadership(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None:
        """Stop the heartbeat and give the lease up."""
        ...

    def is_leader(self) -> bool: ...

    def fence(self) -> Fence | None:
        """The fence to carry into the purchase's conditional write (None: no lease)."""
        ...

    def healthy(self) -> tuple[bool, str]:
        """Whether the heartbeat is alive (it keeps trying even while the table is down)."""
        ...


def replica_id() -> str:
    """This process's name in the lease: host (the pod name on Kubernetes), pid, nonce."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


class SoleReplica:
    """One replica (SQLite journal): always the leader; nothing to fence against."""

    def __init__(self, on_change: Callable[[bool], None] | None = None) -> None:
        self._on_change = on_change

    def start(self) -> None:
        if self._on_change is not None:
            self._on_change(True)

    def stop(self) -> None:
        pass

    def is_leader(self) -> bool:
        return True

    def fence(self) -> Fence | None:
        return None

    def healthy(self) -> tuple[bool, str]:
        return True, "ok"


class LeaseKeeper:
    """Keeps (or waits for) the leader lease from a heartbeat thread."""

    def __init__(
        self,
        lease: Lease,
        renew_every: timedelta,
        clock: Clock,
        log: Any,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.lease = lease
        self.renew_every = renew_every
        self.clock = clock
        self.log = log
        self._on_change = on_change
        self._lock = threading.Lock()
        self._held: Fence | None = None  # the fence while we believe we hold the lease
        self._last: Fence | None = None  # the last fence we held, kept after losing it
        self._valid_until: datetime | None = None
        self._last_beat: float | None = None  # monotonic time of the last completed heartbeat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what the daemon asks -----------------------------------------------------------

    def is_leader(self) -> bool:
        with self._lock:
            return (
                self._held is not None
                and self._valid_until is not None
                and self.clock.now() < self._valid_until
            )

    def fence(self) -> Fence | None:
        with self._lock:
            # Token 0 is never issued: a replica that never led is always fenced out.
            return self._last or Fence(self.lease.owner, 0)

    def healthy(self) -> tuple[bool, str]:
        if self._last_beat is None:
            return True, "starting"
        limit = STALE_AFTER_HEARTBEATS * self.renew_every.total_seconds()
        limit = max(limit, self.lease.duration.total_seconds())
        age = time.monotonic() - self._last_beat
        if age > limit:
            return False, f"lease heartbeat silent for {age:.0f}s (limit {limit:.0f}s)"
        return True, "ok"

    # --- the heartbeat ------------------------------------------------------------------

    def start(self) -> None:
        """Try for the lease once now (so a leader's first cycle is not skipped), then keep
        beating every `renew_every` in the background."""
        self.beat()
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lease.duration.total_seconds())
        with self._lock:
            held, self._held = self._held, None
        if held is None:
            return
        try:
            released = self.lease.release(held)
        except JournalUnavailable as exc:
            self.log.warning("lease_release_failed", error=str(exc), note="it expires instead")
            released = False
        self.log.info("leader_released", fence=held.token, released=released)
        self._changed(False)

    def _run(self) -> None:
        while not self._stop.wait(self.renew_every.total_seconds()):
            self.beat()

    def beat(self) -> None:
        """One heartbeat: renew the lease we hold, or try to take it."""
        sent = self.clock.now()
        with self._lock:
            held = self._held
        try:
            if held is not None:
                if self.lease.renew(held):
                    self._keep(held, sent)
                else:
                    self._lose(held, "another replica took the lease over")
            else:
                fence = self.lease.acquire()
                if fence is not None:
                    self._keep(fence, sent)
                    self.log.info("leader_acquired", owner=fence.owner, fence=fence.token)
                    self._changed(True)
        except JournalUnavailable as exc:
            self.log.warning("lease_renew_failed", error=str(exc), leader=self.is_leader())
            if held is not None and not self.is_leader():
                self._lose(held, "the lease could not be renewed before it ran out")
        self._last_beat = time.monotonic()

    def _keep(self, fence: Fence, sent: datetime) -> None:
        with self._lock:
            self._held = self._last = fence
            # Stop one heartbeat early: the table's expiry is `sent + duration` at the latest.
            self._valid_until = sent + self.lease.duration - self.renew_every

    def _lose(self, fence: Fence, reason: str) -> None:
        with self._lock:
            if self._held != fence:
                return
            self._held = None
        self.log.warning("leader_lost", fence=fence.token, reason=reason)
        self._changed(False)

    def _changed(self, leader: bool) -> None:
        if self._on_change is not None:
            self._on_change(leader)
