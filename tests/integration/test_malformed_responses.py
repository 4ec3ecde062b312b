"""AWS answers that are wrong in shape or content hurt only the plan they describe.

Three plans are due under the same extend policy, each under a job that outlives it: `llm-a`
and `llm-c` are left alone, `llm-b`'s answers are corrupted in one way per test (in
ListTrainingPlans, SearchTrainingPlanOfferings or DescribeTrainingPlanExtensionHistory). The
corruption is applied in-process by a botocore `after-call` handler on plan-watcher's own
clients, so the simulator stays correct and the damage is exactly what the test says. The
cycle must complete, `llm-b` must end as `error` (or with its bad offering rejected and
a reason), and the others must be extended as if nothing happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
import structlog
import yaml

from tests.integration.test_engine_support import (
    REGION,
    Engine,
    by_name,
    client,
    config_dict,
    kinds,
    make_config,
    policy,
)
from watcher.aws.parse import Malformed, parse_plan
from watcher.aws.sagemaker import SageMakerGateway
from watcher.aws.session import TargetSpec
from watcher.cli import main
from watcher.clock import ManualClock, SystemClock
from watcher.journal.records import Intent, IntentState
from watcher.journal.sqlite import SqliteJournal
from watcher.model import Decision, Money
from watcher.reconcile import Reconciler
from watcher.sandbox import sandboxed

# Due: with the simulator's T0 (Monday 09:00 UTC) the plans end Wednesday 11:30.
DUE = timedelta(hours=40)
VICTIM = "llm-b"
MONTHLY = {"name": "monthly", "limit": "250000.00 USD"}
OTHERS = ("llm-a", "llm-c")

Item = dict[str, Any]
Damage = Callable[[Item], None]


def _seed(sim: Any, t0: datetime, names: tuple[str, ...] = ("llm-a", VICTIM, "llm-c")) -> None:
    for name in names:
        sim.add_plan(name, ends_at=t0 + DUE, instance_count=4)
        end = sim.plan_end(name)
        started = t0 - timedelta(days=1)
        sim.add_job(
            f"{name}-job", plan=name, started_at=started, max_runtime=end - started + DUE / 2
        )


class Corruptor:
    """Rewrites what plan-watcher's clients receive for one plan, after botocore parsed it.

    Request parameters are remembered per call (`before-parameter-build`), because offerings
    and extension history items do not name their plan.
    """

    def __init__(self) -> None:
        self.rules: dict[str, tuple[str, Damage]] = {}
        self.extra: dict[str, tuple[str, Item]] = {}

    def damage(self, operation: str, key: str, change: Damage) -> None:
        """Apply `change` to every item under `key` in `operation`'s answers about VICTIM
        (with `key` empty: to the answer itself)."""
        self.rules[operation] = (key, change)

    def inject(self, operation: str, key: str, item: Item) -> None:
        """Add `item` under `key` to every answer of `operation` about VICTIM."""
        self.extra[operation] = (key, item)

    def attach(self, session: boto3.Session) -> None:
        session.events.register("before-parameter-build.sagemaker.*", self._remember)
        session.events.register("after-call.sagemaker.*", self._rewrite)

    @staticmethod
    def _remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["plan_watcher_test_params"] = dict(params)

    def _rewrite(
        self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if "Error" in parsed:
            return
        params = context.get("plan_watcher_test_params", {})
        asked = str(params.get("TrainingPlanArn") or params.get("ResourceArn") or "")
        extra = self.extra.get(model.name)
        if extra is not None and asked.endswith(f"/{VICTIM}"):
            parsed.setdefault(extra[0], []).append(dict(extra[1]))
        rule = self.rules.get(model.name)
        if rule is None:
            return
        key, change = rule
        for item in parsed.get(key) or [] if key else [parsed]:
            job = str(item.get("TrainingJobName", "")).removesuffix("-job")
            about = str(item.get("TrainingPlanArn") or item.get("TrainingPlanName") or job or asked)
            if about.endswith(f"/{VICTIM}") or about == VICTIM:
                change(item)


@pytest.fixture
def corruptor() -> Corruptor:
    return Corruptor()


@pytest.fixture
def build(
    sim: Any, clock: ManualClock, t0: datetime, tmp_path: Path, corruptor: Corruptor
) -> Callable[..., Engine]:
    """Seeds the three plans; `build(**config)` is an engine whose answers `corruptor` damages,
    with `make_config(**config)`."""
    _seed(sim, t0)

    def make(**config: Any) -> Engine:
        journal = tmp_path / "j.db"
        return _CorruptedEngine(make_config(journal, **config), clock, journal, corruptor=corruptor)

    return make


@pytest.fixture
def engine(build: Callable[..., Engine]) -> Engine:
    return build()


@dataclass
class _CorruptedEngine(Engine):
    corruptor: Corruptor = field(default_factory=Corruptor)

    def start(self) -> Reconciler:
        session = boto3.Session(region_name=REGION)
        self.corruptor.attach(session)
        gateway = SageMakerGateway(
            TargetSpec("default", REGION), session, self.counter, read_attempts=1
        )
        log = structlog.wrap_logger(self.logger, processors=[])
        self.reconciler = Reconciler(
            self.config, self.clock, SqliteJournal(self.journal_path), {"default": gateway}, log
        )
        return self.reconciler


def _set(key: str, value: Any) -> Damage:
    def change(item: Item) -> None:
        item[key] = value

    return change


def _drop(key: str) -> Damage:
    def change(item: Item) -> None:
        item.pop(key, None)

    return change


def _others_extended(decisions: dict[str, str]) -> None:
    assert {name: decisions.get(name) for name in OTHERS} == dict.fromkeys(OTHERS, "extended")


def _victim_after_cycle(engine: Engine) -> Decision:
    """Run a cycle, check the two healthy plans were each extended once, return VICTIM's."""
    cycle, calls = engine.cycle()
    _others_extended(kinds(cycle))
    assert calls["ExtendTrainingPlan"] == 2
    return by_name(cycle)[VICTIM].decision


# --- the plan itself (ListTrainingPlans) -------------------------------------------------------

PAST = datetime(2020, 1, 1, 11, 30).astimezone()
# Fees AWS would never write ("1234.56" is what it documents); each was once read as money.
FEE_DAMAGE: list[tuple[str, Damage, str]] = [
    ("fee with a comma", _set("UpfrontFee", "12,000.00"), "'12,000.00'"),
    ("fee NaN", _set("UpfrontFee", "NaN"), "'NaN'"),
    ("fee empty", _set("UpfrontFee", ""), "UpfrontFee ''"),
    ("fee in exponent form", _set("UpfrontFee", "1e3"), "'1e3'"),
]
PLAN_DAMAGE: list[tuple[str, Damage, str]] = [
    *FEE_DAMAGE,
    ("no ARN", _drop("TrainingPlanArn"), "missing TrainingPlanArn"),
    ("no name", _drop("TrainingPlanName"), "missing TrainingPlanArn or TrainingPlanName"),
    ("no status", _drop("Status"), "unknown status None"),
    ("unknown status", _set("Status", "Retiring"), "unknown status 'Retiring'"),
    ("no end time", _drop("EndTime"), "missing EndTime"),
    ("end time not a time", _set("EndTime", "soon"), "EndTime is not a timestamp"),
    ("start time not a time", _set("StartTime", 1700000000), "StartTime is not a timestamp"),
    ("end time in year 1", _set("EndTime", datetime(1, 1, 1, tzinfo=UTC)), "out of range"),
    ("end time in year 9999", _set("EndTime", datetime(9999, 12, 31, tzinfo=UTC)), "range"),
    ("fee negative", _set("UpfrontFee", "-5.00"), "'-5.00'"),
    ("fee a number", _set("UpfrontFee", 12000.5), "12000.5"),
    ("currency unreadable", _set("CurrencyCode", "US Dollar"), "'US Dollar'"),
]


@pytest.mark.parametrize(
    ("what", "change", "reason"), PLAN_DAMAGE, ids=[case[0] for case in PLAN_DAMAGE]
)
def test_an_unreadable_plan_is_an_error_and_the_others_are_decided(
    engine: Engine, corruptor: Corruptor, what: str, change: Damage, reason: str
) -> None:
    corruptor.damage("ListTrainingPlans", "TrainingPlanSummaries", change)

    cycle, calls = engine.cycle()

    decisions = kinds(cycle)
    _others_extended(decisions)
    errors = [r for r in cycle.results if r.decision.kind.value == "error"]
    assert len(errors) == 1, decisions
    assert reason in errors[0].decision.reason
    assert calls["ExtendTrainingPlan"] == 2
    assert engine.events("cycle_finished")


def test_an_unreadable_plan_is_reported_under_its_name(
    engine: Engine, corruptor: Corruptor
) -> None:
    corruptor.damage("ListTrainingPlans", "TrainingPlanSummaries", _set("Status", "Retiring"))

    cycle, _ = engine.cycle()

    assert kinds(cycle)[VICTIM] == "error"


def test_a_plan_whose_end_is_in_the_past_is_expired_not_bought(
    engine: Engine, corruptor: Corruptor
) -> None:
    corruptor.damage("ListTrainingPlans", "TrainingPlanSummaries", _set("EndTime", PAST))

    cycle, calls = engine.cycle()

    assert kinds(cycle)[VICTIM] == "expired"
    _others_extended(kinds(cycle))
    assert calls["ExtendTrainingPlan"] == 2


def test_a_plan_without_a_start_time_is_decided_normally(
    engine: Engine, corruptor: Corruptor
) -> None:
    corruptor.damage("ListTrainingPlans", "TrainingPlanSummaries", _drop("StartTime"))

    cycle, _ = engine.cycle()

    assert set(kinds(cycle).values()) == {"extended"}


def test_a_job_with_an_absurd_runtime_keeps_its_plan_for_min_duration_only(
    engine: Engine, corruptor: Corruptor
) -> None:
    """MaxRuntimeInSeconds far past AWS's 28-day limit is damage, not a reason to buy for
    long; but the job named in the listing runs on the plan, so it is not let go either."""
    stopping = {"MaxRuntimeInSeconds": 10**15}
    corruptor.damage("DescribeTrainingJob", "", _set("StoppingCondition", stopping))

    cycle, calls = engine.cycle()

    _others_extended(kinds(cycle))
    victim = by_name(cycle)[VICTIM].decision
    assert victim.kind.value == "extended" and victim.unknown_jobs == 1
    assert victim.need_hours == 24  # min_duration, not the runtime the answer claims
    assert "could not be described" in victim.reason and "MaxRuntimeInSeconds" in victim.reason
    assert calls["ExtendTrainingPlan"] == 3


def test_a_plan_in_a_currency_nobody_configured_buys_nothing(
    build: Callable[..., Engine], corruptor: Corruptor
) -> None:
    """Caps and budget are in USD; the plan and its offerings come back in JPY."""
    capped = policy(extension={"max_duration": "14d", "max_upfront_fee": "60000.00 USD"})
    built = build(policies=[capped], budgets=[MONTHLY])
    corruptor.damage("ListTrainingPlans", "TrainingPlanSummaries", _set("CurrencyCode", "JPY"))
    corruptor.damage(
        "SearchTrainingPlanOfferings", "TrainingPlanExtensionOfferings", _set("CurrencyCode", "JPY")
    )

    victim = _victim_after_cycle(built)

    assert victim.kind.value == "no_offering"
    assert victim.rejected and all("JPY" in r.reason for r in victim.rejected)


# --- offerings (SearchTrainingPlanOfferings) ---------------------------------------------------

OFFERS = ("SearchTrainingPlanOfferings", "TrainingPlanExtensionOfferings")
OFFER_DAMAGE: list[tuple[str, Damage, str]] = [
    ("no ID", _drop("TrainingPlanExtensionOfferingId"), "missing TrainingPlanExtensionOfferingId"),
    *FEE_DAMAGE,
    ("no fee", _drop("UpfrontFee"), "None"),
    ("no currency", _drop("CurrencyCode"), "None"),
    ("negative duration", _set("DurationHours", -24), "DurationHours -24"),
    ("duration a string", _set("DurationHours", "24"), "DurationHours '24'"),
    ("no end date", _drop("EndDate"), "EndDate is not a timestamp"),
    ("start date junk", _set("StartDate", "tomorrow"), "StartDate is not a timestamp"),
]


@pytest.mark.parametrize(
    ("what", "change", "reason"), OFFER_DAMAGE, ids=[case[0] for case in OFFER_DAMAGE]
)
def test_an_unreadable_offering_is_left_out_with_a_reason(
    engine: Engine, corruptor: Corruptor, what: str, change: Damage, reason: str
) -> None:
    corruptor.damage(*OFFERS, change)

    victim = _victim_after_cycle(engine)

    assert victim.kind.value == "no_offering"
    assert "unreadable offerings left out" in victim.reason and reason in victim.reason


REJECTED: list[tuple[str, Damage, str]] = [
    ("ends before it starts", lambda o: o.update(EndDate=o["StartDate"] - DUE), "before it starts"),
    ("starts in the past", _set("StartDate", PAST), "not where the plan ends"),
    ("another currency", _set("CurrencyCode", "EUR"), "not in USD"),
    ("an hour count AWS does not sell", _set("DurationHours", 25), "not one AWS sells"),
]


@pytest.mark.parametrize(("what", "change", "reason"), REJECTED, ids=[c[0] for c in REJECTED])
def test_a_nonsensical_offering_is_rejected_with_its_reason(
    engine: Engine, corruptor: Corruptor, what: str, change: Damage, reason: str
) -> None:
    corruptor.damage(*OFFERS, change)

    victim = _victim_after_cycle(engine)

    assert victim.kind.value == "no_offering"
    assert victim.rejected and all(reason in r.reason for r in victim.rejected)


# --- extension history (DescribeTrainingPlanExtensionHistory) ----------------------------------

HISTORY = ("DescribeTrainingPlanExtensionHistory", "TrainingPlanExtensions")


def _pending(**fields: Any) -> Item:
    """An extension bought a moment ago and not yet paid, with `fields` changed."""
    item: Item = {
        "TrainingPlanExtensionOfferingId": "tpeo-earlier",
        "ExtendedAt": datetime(2026, 3, 2, 8, 0).astimezone(),
        "StartDate": PAST,
        "EndDate": PAST + timedelta(days=1),
        "Status": "Pending",
        "PaymentStatus": "Pending",
        "DurationHours": 24,
        "UpfrontFee": "9438.72",
        "CurrencyCode": "USD",
    }
    item.update(fields)
    return item


PENDING_JUNK: list[tuple[str, Item]] = [
    ("requested at an unreadable time", _pending(ExtendedAt="yesterday")),
    ("dates missing", {k: v for k, v in _pending().items() if not k.endswith("Date")}),
    ("dates that are numbers", _pending(StartDate=0, EndDate=-1)),
    ("negative duration", _pending(DurationHours=-24)),
    ("fee unreadable", _pending(UpfrontFee="n/a")),
    ("status in capitals", _pending(Status="PENDING", PaymentStatus="PENDING")),
    ("payment pending spelled out", _pending(Status="Active", PaymentStatus="Payment Pending")),
]


@pytest.mark.parametrize(("what", "item"), PENDING_JUNK, ids=[c[0] for c in PENDING_JUNK])
def test_a_pending_extension_with_junk_fields_still_blocks_a_second_purchase(
    engine: Engine, corruptor: Corruptor, what: str, item: Item
) -> None:
    corruptor.inject(*HISTORY, item)

    victim = _victim_after_cycle(engine)

    assert victim.kind.value == "in_flight"
    assert "tpeo-earlier" in victim.reason


def test_a_history_entry_without_an_offering_id_stops_purchases_for_that_plan(
    engine: Engine, corruptor: Corruptor
) -> None:
    corruptor.inject(*HISTORY, _pending(TrainingPlanExtensionOfferingId=None))

    cycle, calls = engine.cycle()

    assert kinds(cycle)[VICTIM] in ("error", "in_flight")
    assert calls["ExtendTrainingPlan"] == 2


def test_an_extension_in_an_undocumented_status_blocks_a_second_purchase(
    engine: Engine, corruptor: Corruptor
) -> None:
    corruptor.inject(*HISTORY, _pending(Status="Processing", PaymentStatus="InProgress"))

    cycle, calls = engine.cycle()

    assert kinds(cycle)[VICTIM] == "in_flight"
    assert calls["ExtendTrainingPlan"] == 2


def test_a_bought_extension_at_an_unknown_time_makes_its_budget_admit_nothing(
    build: Callable[..., Engine], corruptor: Corruptor
) -> None:
    built = build(budgets=[MONTHLY])
    bought = _pending(Status="Active", PaymentStatus="Completed", ExtendedAt="2026-03-01")
    corruptor.inject(*HISTORY, dict(bought, UpfrontFee="249000.00"))

    cycle, calls = built.cycle()

    assert set(kinds(cycle).values()) == {"over_budget"}
    assert calls["ExtendTrainingPlan"] == 0


def test_history_with_junk_beside_a_settled_extension_changes_nothing(
    engine: Engine, corruptor: Corruptor
) -> None:
    settled = _pending(Status="Active", PaymentStatus="Completed", DurationHours="x", Junk=[1])
    corruptor.inject(*HISTORY, settled)

    cycle, calls = engine.cycle()

    assert set(kinds(cycle).values()) == {"extended"}
    assert calls["ExtendTrainingPlan"] == 3


# --- through the command line --------------------------------------------------------------


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    """The CLI points structlog at this test's stderr; put the default back afterwards."""
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("_restore_logging")
@pytest.mark.parametrize(
    ("seeded", "code", "victim"),
    [
        ({"fee": Decimal("NaN")}, 1, "error"),
        ({"currency": "JPY"}, 0, "no_offering"),
    ],
    ids=["fee NaN on the wire: exit 1", "plan in JPY: exit 0"],
)
def test_plan_command_reports_the_damaged_plan_beside_the_others(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    seeded: dict[str, Any],
    code: int,
    victim: str,
) -> None:
    """The simulator itself answers with the damage here (real JSON over moto), and the CLI
    runs one `plan` cycle on the system clock: exit 1 when a plan's evaluation failed, 0 when
    only offerings were refused, and every plan in the JSON either way."""
    config = tmp_path / "watcher.yaml"
    capped = policy(extension={"max_duration": "14d", "max_upfront_fee": "60000.00 USD"})
    config.write_text(yaml.safe_dump(config_dict(tmp_path / "j.db", policies=[capped])))
    now = datetime.now(UTC)
    with sandboxed(SystemClock()) as sim:
        for name in ("llm-a", VICTIM, "llm-c"):
            sim.add_plan(name, ends_at=now + DUE, **(seeded if name == VICTIM else {}))
            end = sim.plan_end(name)
            sim.add_job(f"{name}-job", plan=name, started_at=now, max_runtime=end - now + DUE)
        ends = {name: sim.plan_end(name) for name in ("llm-a", VICTIM, "llm-c")}
        exit_code = main(["plan", "--config", str(config), "--output", "json"])
        ends_after = {name: sim.plan_end(name) for name in ends}
    out, err = capsys.readouterr()

    assert exit_code == code
    assert "Traceback" not in err
    report = json.loads(out)
    decisions = {d["plan_name"]: d["decision"] for d in report["decisions"]}
    assert decisions == {"llm-a": "would_extend", VICTIM: victim, "llm-c": "would_extend"}
    assert ends_after == ends  # `plan` never buys


def test_an_unreadable_plan_still_carries_its_readable_name_and_arn() -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/llm-b"
    item = {"TrainingPlanArn": arn, "TrainingPlanName": VICTIM, "Status": "Retiring"}
    with pytest.raises(Malformed) as caught:
        parse_plan(item, "default")
    assert (caught.value.arn, caught.value.name) == (arn, VICTIM)
    assert caught.value.reason == "unknown status 'Retiring'"


def test_a_tag_without_a_key_hurts_only_its_plan(
    build: Callable[..., Engine], corruptor: Corruptor
) -> None:
    built = build(metrics={"plan_labels_from_tags": ["team"]})
    corruptor.inject("ListTags", "Tags", {"Value": "no key"})

    cycle, calls = built.cycle()

    assert kinds(cycle)[VICTIM] in ("error", "extended")
    _others_extended(kinds(cycle))


def test_what_was_bought_for_an_unreadable_plan_still_counts_in_the_budgets(
    build: Callable[..., Engine], corruptor: Corruptor, tmp_path: Path, clock: ManualClock
) -> None:
    """A plan whose listing entry cannot be read has no policy this cycle, but the purchases
    the journal holds for it were made: they count in every budget that may cover it, so the
    other plans cannot spend that money a second time."""
    victim = client().describe_training_plan(TrainingPlanName=VICTIM)["TrainingPlanArn"]
    fee, ghost = Decimal("9438.72"), Decimal("1000.00")
    journal = SqliteJournal(tmp_path / "j.db")
    bought = Intent(victim, clock.now(), "tpeo-b", "default", Money(ghost, "USD"), 24, clock.now())
    assert journal.open_intent(bought)
    journal.close_intent(bought, IntentState.BOUGHT, "bought", clock.now())
    journal.close()
    limit = 2 * fee + ghost - Decimal("0.01")
    engine = build(budgets=[{"name": "ml", "limit": f"{limit} USD"}])
    corruptor.damage("ListTrainingPlans", "TrainingPlanSummaries", _set("Status", "Retiring"))
    cycle, calls = engine.cycle()
    assert kinds(cycle) == {"llm-a": "extended", VICTIM: "error", "llm-c": "over_budget"}
    assert calls["ExtendTrainingPlan"] == 1
