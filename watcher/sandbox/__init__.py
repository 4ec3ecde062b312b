"""A simulator of the SageMaker training-plan APIs, attached to moto.

In-process: `with sandboxed(clock) as sim:` gives real boto3 clients a simulator behind
`mock_aws`. As a server: `python -m watcher.sandbox serve --scenario demo --port 5055`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from watcher.clock import Clock
from watcher.sandbox.faults import Faults
from watcher.sandbox.market import Market
from watcher.sandbox.settings import SimSettings
from watcher.sandbox.simulator import DEFAULT_ACCOUNT, DEFAULT_REGION, Simulator

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_REGION", "Simulator", "sandboxed"]


@contextmanager
def sandboxed(
    clock: Clock,
    settings: SimSettings | None = None,
    market: Market | None = None,
    faults: Faults | None = None,
) -> Iterator[Simulator]:
    """Start moto's in-process mock with a fresh simulator installed."""
    from moto import mock_aws

    from watcher.sandbox import moto_hook

    sim = Simulator(clock, settings, market, faults)
    with mock_aws():
        moto_hook.install(sim)
        try:
            yield sim
        finally:
            moto_hook.uninstall()
