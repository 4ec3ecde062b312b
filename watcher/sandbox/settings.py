"""Behaviour switches for what AWS does not document (see docs/sandbox.md, "Assumptions")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal


@dataclass
class SimSettings:
    # How long an extension stays Pending / payment Pending before it resolves.
    payment_delay: timedelta = timedelta(minutes=10)
    # Whether DescribeTrainingPlan.EndTime moves when the extension is bought or only
    # once its payment completes. The docs say buying "updates the end date".
    end_time_moves: Literal["on_purchase", "on_payment"] = "on_purchase"
    # Whether an extension whose payment failed (`Failed`) still counts in the plan's end and
    # capacity. AWS documents neither; by default the end goes back (or, on_payment, never
    # moved) and the capacity is not there.
    failed_extension_keeps_end: bool = False
    # How long a search result's offering ID stays usable.
    offering_ttl: timedelta = timedelta(minutes=30)
    # Which ID an extension is listed under (ExtendTrainingPlan's answer and the history):
    # the offering ID it was bought with, or one of its own (AWS may not echo the offering's).
    extension_ids: Literal["offering", "own"] = "offering"
    # How long after a purchase DescribeTrainingPlanExtensionHistory starts listing it (AWS
    # documents no consistency bound; ExtendTrainingPlan's own answer lists it at once).
    history_delay: timedelta = timedelta(0)
    # How long a new plan stays Pending (payment) after CreateTrainingPlan.
    plan_payment_delay: timedelta = timedelta(minutes=5)
    # Extension window, before the plan's end.
    extension_min_lead: timedelta = timedelta(hours=1)
    extension_max_lead: timedelta = timedelta(days=56)
    # Whether the time a training job spends back in Pending between two reserved
    # capacities counts toward its MaxRuntimeInSeconds (AWS documents only that it does not
    # count toward MaxPendingTimeInSeconds).
    pending_counts_toward_runtime: bool = False
    # Whether a plan's InUseInstanceCount counts the instances of a job that waits (back in
    # Pending between two reserved capacities, or seeded `waiting` for capacity). AWS does not
    # say; by default it does not.
    in_use_counts_pending: bool = False
    # How far InUseInstanceCount lags behind the jobs: it counts the jobs that ran this long
    # ago (AWS documents no consistency bound; by default none).
    in_use_lag: timedelta = timedelta(0)
    # When consumers lose their capacity, before the end of the reserved capacity.
    job_cutoff: timedelta = timedelta(minutes=30)
    cluster_cutoff: timedelta = timedelta(hours=1)
    # AWS's clock minus the caller's (positive: the caller's clock is behind). Every answer
    # carries AWS's time in Date; a request signed more than signature_tolerance away from it
    # is refused with InvalidSignatureException, as AWS does (docs/sandbox.md).
    clock_skew: timedelta = timedelta(0)
    signature_tolerance: timedelta = timedelta(minutes=5)
    # Which ListTrainingJobs summaries carry TrainingPlanArn: jobs with a job-level plan
    # (`job_level`; a job placed through InstancePreferences has none), or none (`never`).
    summary_plan_arn: Literal["job_level", "never"] = "job_level"
    # ListTrainingJobs filters applied after MaxResults (the documented quirk applies to
    # StatusEquals; the others are undocumented and treated the same way by default).
    jobs_filters_after_limit: tuple[str, ...] = (
        "StatusEquals",
        "TrainingPlanArnEquals",
        "NameContains",
    )
