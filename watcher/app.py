"""Wiring: config -> sessions, gateways, journal, reconciler. Used by the CLI and the daemon."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from watcher.act.journal import Journal
from watcher.act.sqlite_journal import SqliteJournal
from watcher.aws.calls import CallCounter
from watcher.aws.sagemaker import SageMakerGateway
from watcher.aws.session import TargetSpec, target_session
from watcher.clock import Clock, SystemClock
from watcher.config import Config
from watcher.notify import build_notifier
from watcher.reconcile import Reconciler

GatewayFactory = Callable[[TargetSpec, CallCounter], SageMakerGateway]


def default_gateway(spec: TargetSpec, counter: CallCounter) -> SageMakerGateway:
    return SageMakerGateway(spec, target_session(spec), counter)


def build_gateways(
    config: Config, counter: CallCounter, factory: GatewayFactory = default_gateway
) -> Mapping[str, SageMakerGateway]:
    return {
        t.name: factory(TargetSpec(t.name, t.region, t.role_arn, t.external_id), counter)
        for t in config.targets
    }


def open_journal(config: Config) -> Journal:
    path = config.state.sqlite_path
    if path is None:
        raise NotImplementedError(
            f"journal {config.state.journal!r}: only SQLite file journals are available so far"
        )
    return SqliteJournal(path)


def build_reconciler(
    config: Config,
    clock: Clock | None = None,
    journal: Journal | None = None,
    counter: CallCounter | None = None,
    factory: GatewayFactory = default_gateway,
) -> Reconciler:
    counter = counter or CallCounter()
    return Reconciler(
        config,
        clock or SystemClock(),
        journal or open_journal(config),
        build_gateways(config, counter, factory),
        notifier=build_notifier(config),
    )
