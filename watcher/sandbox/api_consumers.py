"""Training jobs and HyperPod clusters, as far as plan-watcher reads them.

ListTrainingJobs keeps the documented quirk: `MaxResults` jobs are taken first and only then
filtered by status (and, by default, by plan ARN and name), so a page can be empty while a
`NextToken` is still set. ListClusters' `MaxResults` likewise counts clusters evaluated.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from watcher.sandbox.errors import in_use, not_found, validation
from watcher.sandbox.wire import as_utc, decode_token, encode_token, max_results
from watcher.sandbox.world import SimCluster, SimInstanceGroup, SimJob, World

Params = dict[str, Any]
JOB_STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped", "Deleting")
DEFAULT_RUNTIME = timedelta(days=1)


def job_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:training-job/{name}"


def cluster_arn(world: World, account: str, region: str) -> str:
    """A new cluster's ARN: it ends in a 12-character id, not the cluster's name (botocore's
    pattern is `cluster/[a-z0-9]{12}`)."""
    return f"arn:aws:sagemaker:{region}:{account}:cluster/{world.next_id('c')[-12:]}"


def _live_cluster(world: World, account: str, region: str, name: str) -> SimCluster | None:
    found = (
        c
        for c in world.clusters.values()
        if c.name == name and not c.deleted and _owned(c.arn, account, region)
    )
    return next(found, None)


def _owned(arn: str, account: str, region: str) -> bool:
    return arn.startswith(f"arn:aws:sagemaker:{region}:{account}:")


def create_training_job(world: World, account: str, region: str, params: Params) -> Any:
    name = params.get("TrainingJobName")
    if not isinstance(name, str) or not name:
        raise validation("TrainingJobName is required")
    arn = job_arn(account, region, name)
    if arn in world.jobs:
        raise in_use(f"Training job {name} already exists.")
    resources = params.get("ResourceConfig") or {}
    plan = resources.get("TrainingPlanArn")
    preferences = [
        (str(p.get("InstanceType")), str((p.get("TrainingPlanArns") or [""])[0]))
        for p in resources.get("InstancePreferences") or []
    ]
    if preferences and (plan is not None or "InstanceType" in resources):
        raise validation(
            "InstancePreferences cannot be combined with TrainingPlanArn or InstanceType"
        )
    for ref in [plan, *(arn for _, arn in preferences)]:
        if ref is not None and world.plan_by_name_or_arn(account, region, ref) is None:
            raise validation(f"Training plan {ref} does not exist.")
    if preferences:
        # Placed on the first preference (the simulator has capacity for every plan).
        resources = {**resources, "InstanceType": preferences[0][0]}
        plan = preferences[0][1]
    runtime = (params.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    now = world.clock.now()
    world.add_job(
        SimJob(
            name=name,
            arn=arn,
            plan_arn=plan,
            created_at=now,
            start=now,
            max_runtime=timedelta(seconds=runtime) if runtime else DEFAULT_RUNTIME,
            instance_type=resources.get("InstanceType", "ml.p5.48xlarge"),
            instance_count=int(resources.get("InstanceCount", 1)),
            preferences=preferences,
            selected_type=preferences[0][0] if preferences else None,
        )
    )
    return {"TrainingJobArn": arn}


def _job(world: World, account: str, region: str, name: Any) -> SimJob:
    job = world.jobs.get(job_arn(account, region, str(name)))
    if job is None:
        # What AWS returns for an unknown training job (a validation error, not a 404).
        raise validation("Requested resource not found.")
    return job


def describe_training_job(world: World, account: str, region: str, params: Params) -> Any:
    job = _job(world, account, region, params.get("TrainingJobName"))
    resources: dict[str, Any] = {
        "InstanceType": job.instance_type,
        "InstanceCount": job.instance_count,
        "VolumeSizeInGB": 50,
    }
    if job.preferences:
        resources = _preference_resources(job)
    elif job.plan_arn:
        resources["TrainingPlanArn"] = job.plan_arn
    result: dict[str, Any] = {
        "TrainingJobName": job.name,
        "TrainingJobArn": job.arn,
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://sandbox/{job.name}/output/model.tar.gz"},
        "TrainingJobStatus": job.status,
        "SecondaryStatus": _secondary(job),
        "AlgorithmSpecification": {
            "TrainingImage": "sandbox/trainer:latest",
            "TrainingInputMode": "File",
        },
        "RoleArn": f"arn:aws:iam::{account}:role/sandbox-training",
        "ResourceConfig": resources,
        "StoppingCondition": {"MaxRuntimeInSeconds": int(job.max_runtime.total_seconds())},
        "CreationTime": job.created_at,
        "TrainingStartTime": job.start,
        "LastModifiedTime": job.end_time or job.start,
    }
    if job.end_time:
        result["TrainingEndTime"] = job.end_time
    if job.failure_reason:
        result["FailureReason"] = job.failure_reason
    return result


def _preference_resources(job: SimJob) -> dict[str, Any]:
    """A job placed through InstancePreferences: no InstanceType and no job-level plan."""
    resources: dict[str, Any] = {
        "VolumeSizeInGB": 50,
        "InstancePreferences": [
            {"InstanceType": kind, "InstanceCount": job.instance_count, "TrainingPlanArns": [plan]}
            for kind, plan in job.preferences
        ],
    }
    if job.selected_type is not None:
        resources["SelectedInstanceType"] = job.selected_type
        resources["SelectedInstanceCount"] = job.instance_count
    return resources


def _secondary(job: SimJob) -> str:
    if job.pending:
        return "Pending"  # waiting for capacity, or back in the queue between two capacities
    return {"InProgress": "Training", "Completed": "Completed", "Failed": "Failed"}.get(
        job.status, job.status
    )


def list_training_jobs(world: World, account: str, region: str, params: Params) -> Any:
    late = set(world.settings.jobs_filters_after_limit)
    status = params.get("StatusEquals")
    if status is not None and status not in JOB_STATUSES:
        raise validation(f"Invalid StatusEquals {status!r}")
    jobs = [j for j in world.jobs.values() if _owned(j.arn, account, region)]
    jobs = _time_filtered(jobs, params)

    checks: dict[str, Callable[[SimJob], bool]] = {
        "StatusEquals": lambda j: j.status == status,
        "TrainingPlanArnEquals": lambda j: j.plan_arn == params["TrainingPlanArnEquals"],
        "NameContains": lambda j: params["NameContains"] in j.name,
    }
    early = [checks[k] for k in checks if k in params and k not in late]
    after = [checks[k] for k in checks if k in params and k in late]
    jobs = [j for j in jobs if all(c(j) for c in early)]

    sort_by = params.get("SortBy", "CreationTime")
    keys: dict[str, Callable[[SimJob], Any]] = {
        "CreationTime": lambda j: (j.created_at, j.name),
        "Name": lambda j: j.name,
        "Status": lambda j: (j.status, j.name),
    }
    if sort_by not in keys:
        raise validation(f"Invalid SortBy {sort_by!r}")
    jobs.sort(key=keys[sort_by], reverse=params.get("SortOrder", "Ascending") == "Descending")

    offset = decode_token(params.get("NextToken"))
    limit = max_results(params)
    window = jobs[offset : offset + limit]
    page = [j for j in window if all(c(j) for c in after)]
    shown = world.settings.summary_plan_arn
    result: dict[str, Any] = {"TrainingJobSummaries": [_job_summary(j, shown) for j in page]}
    if offset + limit < len(jobs):
        result["NextToken"] = encode_token(offset + limit)
    return result


def _time_filtered(jobs: list[SimJob], params: Params) -> list[SimJob]:
    bounds: dict[str, Callable[[SimJob, datetime], bool]] = {
        "CreationTimeAfter": lambda j, t: j.created_at > t,
        "CreationTimeBefore": lambda j, t: j.created_at < t,
        "LastModifiedTimeAfter": lambda j, t: (j.end_time or j.start) > t,
        "LastModifiedTimeBefore": lambda j, t: (j.end_time or j.start) < t,
    }
    for key, test in bounds.items():
        if key in params:
            moment = as_utc(params[key])
            jobs = [j for j in jobs if test(j, moment)]
    return jobs


def _job_summary(job: SimJob, summary_plan_arn: str) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "TrainingJobName": job.name,
        "TrainingJobArn": job.arn,
        "CreationTime": job.created_at,
        "LastModifiedTime": job.end_time or job.start,
        "TrainingJobStatus": job.status,
        "SecondaryStatus": _secondary(job),
    }
    if job.end_time:
        summary["TrainingEndTime"] = job.end_time
    if job.plan_arn and not job.preferences and summary_plan_arn == "job_level":
        summary["TrainingPlanArn"] = job.plan_arn
    return summary


def create_cluster(world: World, account: str, region: str, params: Params) -> Any:
    name = params.get("ClusterName")
    if not isinstance(name, str) or not name:
        raise validation("ClusterName is required")
    if _live_cluster(world, account, region, name) is not None:
        raise in_use(f"Cluster {name} already exists.")
    arn = cluster_arn(world, account, region)
    groups = []
    for spec in params.get("InstanceGroups") or []:
        plan = spec.get("TrainingPlanArn")
        if plan is not None and world.plan_by_name_or_arn(account, region, plan) is None:
            raise validation(f"Training plan {plan} does not exist.")
        count = int(spec.get("InstanceCount", 1))
        groups.append(
            SimInstanceGroup(
                name=spec["InstanceGroupName"],
                instance_type=spec.get("InstanceType", ""),
                target_count=count,
                plan_arn=plan,
                current_count=count,
            )
        )
    world.add_cluster(SimCluster(name=name, arn=arn, created_at=world.clock.now(), groups=groups))
    return {"ClusterArn": arn}


def _cluster(world: World, account: str, region: str, ref: Any) -> SimCluster:
    ref = str(ref)
    if ref.startswith("arn:"):
        cluster = world.clusters.get(ref)
        cluster = cluster if cluster is not None and _owned(ref, account, region) else None
    else:
        cluster = _live_cluster(world, account, region, ref)
    if cluster is None or cluster.deleted:
        raise not_found(f"Cluster {ref} not found.")
    return cluster


def describe_cluster(world: World, account: str, region: str, params: Params) -> Any:
    cluster = _cluster(world, account, region, params.get("ClusterName"))
    now = world.clock.now()
    groups = []
    for group in cluster.groups:
        item: dict[str, Any] = {
            "InstanceGroupName": group.name,
            "InstanceType": group.instance_type,
            "CurrentCount": group.current_count,
            "TargetCount": group.target_count,
            "Status": "InService" if group.lost_at is None else "Degraded",
            "LifeCycleConfig": {"SourceS3Uri": "s3://sandbox/lifecycle", "OnCreate": "on.sh"},
            "ExecutionRole": f"arn:aws:iam::{account}:role/sandbox-hyperpod",
        }
        if group.plan_arn:
            item["TrainingPlanArn"] = group.plan_arn
            plan = world.plans.get(group.plan_arn)
            if plan is not None:
                item["TrainingPlanStatus"] = plan.status(now, world.settings)
        groups.append(item)
    return {
        "ClusterArn": cluster.arn,
        "ClusterName": cluster.name,
        "ClusterStatus": "InService",
        "CreationTime": cluster.created_at,
        "InstanceGroups": groups,
    }


def list_clusters(world: World, account: str, region: str, params: Params) -> Any:
    clusters = [
        c for c in world.clusters.values() if not c.deleted and _owned(c.arn, account, region)
    ]
    if "CreationTimeAfter" in params:
        after = as_utc(params["CreationTimeAfter"])
        clusters = [c for c in clusters if c.created_at > after]
    if "CreationTimeBefore" in params:
        before = as_utc(params["CreationTimeBefore"])
        clusters = [c for c in clusters if c.created_at < before]
    if params.get("SortBy", "CREATION_TIME") == "NAME":
        clusters.sort(key=lambda c: c.name)
    else:
        clusters.sort(key=lambda c: (c.created_at, c.name))
    if params.get("SortOrder") == "Descending":
        clusters.reverse()
    offset = decode_token(params.get("NextToken"))
    limit = max_results(params)
    window = clusters[offset : offset + limit]
    # MaxResults counts clusters evaluated, not matches: filters apply after the limit.
    plan = params.get("TrainingPlanArn")
    name = params.get("NameContains")
    page = [
        c
        for c in window
        if (plan is None or any(g.plan_arn == plan for g in c.groups))
        and (name is None or name in c.name)
    ]
    result: dict[str, Any] = {"ClusterSummaries": [_cluster_summary(c) for c in page]}
    if offset + limit < len(clusters):
        result["NextToken"] = encode_token(offset + limit)
    return result


def _cluster_summary(cluster: SimCluster) -> dict[str, Any]:
    plans = sorted({g.plan_arn for g in cluster.groups if g.plan_arn})
    return {
        "ClusterArn": cluster.arn,
        "ClusterName": cluster.name,
        "ClusterStatus": "InService",
        "CreationTime": cluster.created_at,
        "TrainingPlanArns": plans,
    }


def delete_cluster(world: World, account: str, region: str, params: Params) -> Any:
    cluster = _cluster(world, account, region, params.get("ClusterName"))
    cluster.deleted = True
    world.touched()
    return {"ClusterArn": cluster.arn}
