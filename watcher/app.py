"""Wiring: config -> sessions, gateways, journal, reconciler. Used by the CLI and the daemon."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from watcher.aws.calls import CallCounter
from watcher.aws.sagemaker import SageMakerGateway
from watcher.aws.session import TargetSpec, target_session
from watcher.clock import Clock, SystemClock
from watcher.config import Config
from watcher.ha.leader import Leadership, LeaseKeeper, SoleReplica, replica_id
from watcher.ha.lease import Lease
from watcher.journal.dynamodb import DynamoJournal
from watcher.journal.records import Fence, Journal
from watcher.journal.sqlite import SqliteJournal
from watcher.journal.table import table_client
from watcher.reconcile import Reconciler
from watcher.results import CycleResult

GatewayFactory = Callable[[TargetSpec, CallCounter], SageMakerGateway]


def default_gateway(spec: TargetSpec, counter: CallCounter) -> SageMakerGateway:
    return SageMakerGateway(spec, target_session(spec, counter=counter), counter)


def build_gateways(
    config: Config, counter: CallCounter, factory: GatewayFactory = default_gateway
) -> Mapping[str, SageMakerGateway]:
    return {
        t.name: factory(TargetSpec(t.name, t.region, t.role_arn, t.external_id), counter)
        for t in config.targets
    }


def open_journal(config: Config, counter: CallCounter | None = None) -> Journal:
    """SQLite for a file path; DynamoDB (ambient credentials and region) for dynamodb://TABLE,
    its requests counted in `counter`."""
    path, table = config.state.sqlite_path, config.state.dynamodb_table
    if path is not None or table is None:
        return SqliteJournal(path or config.state.journal)
    # Calls are bounded well inside the lease, so a hung request cannot outlive leadership.
    timeout = max(1.0, min(5.0, config.state.lease.duration.total_seconds() / 4))
    region = config.targets[0].region if config.targets else None
    return DynamoJournal(table, table_client(region, timeout, counter), SystemClock())


def open_leadership(
    config: Config, journal: Journal, log: Any, on_change: Callable[[bool], None]
) -> Leadership:
    """A lease on the journal's table when it is DynamoDB; otherwise the sole replica leads."""
    if not isinstance(journal, DynamoJournal):
        return SoleReplica(on_change)
    lease = Lease(
        journal.client, journal.table, replica_id(), config.state.lease.duration, journal.clock
    )
    return LeaseKeeper(lease, config.state.lease.renew_every, journal.clock, log, on_change)


def build_reconciler(
    config: Config,
    clock: Clock | None = None,
    journal: Journal | None = None,
    counter: CallCounter | None = None,
    factory: GatewayFactory = default_gateway,
    *,
    gate: Callable[[], str | None] | None = None,
    fence: Callable[[], Fence | None] | None = None,
    notifier: Callable[[CycleResult], None] | None = None,
    log: Any = None,
) -> Reconciler:
    """A reconciler over the config's targets. `gate` is asked before every purchase, `fence`
    gives the leader fence its intents are written under, `notifier` is handed every finished
    cycle: whoever passes them owns them (the daemon, or `once`); without them nothing is
    gated beyond the valves, nothing fenced, and nobody told. `log`: the process's logger
    unless given."""
    counter = counter or CallCounter()
    return Reconciler(
        config,
        clock or SystemClock(),
        journal or open_journal(config, counter),
        build_gateways(config, counter, factory),
        log=log,
        gate=gate,
        fence=fence,
        notifier=notifier,
    )
