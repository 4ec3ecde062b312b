"""The part of botocore's SageMaker model plan-watcher uses, shipped with plan-watcher.

botocore's SageMaker model describes over 400 operations in 2.6 MB of JSON. Parsed, with the
client class and docstrings botocore builds from it, it held about 22 MB of a daemon whose
whole footprint is meant to stay under 80 MB. plan-watcher calls ten operations
(`OPERATIONS`, below) and reads a few fields of each answer, so its clients load
`models/sagemaker/<version>/service-2.json`, which has only:

- those operations, with their inputs in full (botocore validates every request against
  them as it would against its own model) and their modeled errors;
- their outputs limited to the fields in `READ`, the fields `parse.py` and `sagemaker.py`
  read. botocore's parser skips whatever an answer carries beyond its model, so less of a
  page of 100 plans (and of a job's description) is parsed at all;
- no documentation.

Likewise `models/endpoints.json` is botocore's endpoint data (every partition and region)
with only SageMaker's service entry: botocore's holds some 300 services and kept 6 MB of a
process that talks to one. Other botocore data (endpoint rules, paginators, retry rules)
still comes from botocore. Only the gateway's sessions read through this loader.

`python -m watcher.aws.service_model` writes both files from the installed botocore;
tests/unit/test_service_model.py holds them to botocore's (the same endpoint for every
region, the same operations and shapes) and to the fields the parsers read, and
tests/integration/test_service_model_answers.py has the gateway read the simulator's full
answers through both models and get the same values, so a field read but not kept fails a
test rather than arriving as missing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from botocore.loaders import Loader

# Every operation the code calls. tests/integration/test_iam_from_calls.py holds this list and
# deploy/iam/policy.json to the calls the engine actually makes.
OPERATIONS = (
    "ListTrainingPlans",
    "DescribeTrainingPlan",
    "ListTags",
    "DeleteTags",
    "SearchTrainingPlanOfferings",
    "ExtendTrainingPlan",
    "DescribeTrainingPlanExtensionHistory",
    "ListTrainingJobs",
    "DescribeTrainingJob",
    "ListClusters",
)

MODELS = Path(__file__).resolve().parent / "models"
SERVICE = "sagemaker"
ENDPOINT_SERVICES = ("api.sagemaker",)  # keys of endpoints.json (SageMaker's endpointPrefix)

_PLAN = (
    "TrainingPlanArn",
    "TrainingPlanName",
    "Status",
    "StartTime",
    "EndTime",
    "UpfrontFee",
    "CurrencyCode",
    "TotalInstanceCount",
    "AvailableInstanceCount",
    "InUseInstanceCount",
    "TargetResources",
    "ReservedCapacitySummaries",
)
_EXTENSION = (
    "TrainingPlanExtensionOfferingId",
    "ExtendedAt",
    "StartDate",
    "EndDate",
    "Status",
    "PaymentStatus",
    "AvailabilityZone",
    "DurationHours",
    "UpfrontFee",
    "CurrencyCode",
)
#: Every structure an answer can hold, with the members that are parsed (the rest are not).
READ: dict[str, tuple[str, ...]] = {
    "ListTrainingPlansResponse": ("NextToken", "TrainingPlanSummaries"),
    "TrainingPlanSummary": _PLAN,
    "DescribeTrainingPlanResponse": _PLAN,
    "ReservedCapacitySummary": ("InstanceType", "AvailabilityZone", "StartTime", "EndTime"),
    "ListTagsOutput": ("NextToken", "Tags"),
    "Tag": ("Key", "Value"),
    "DeleteTagsOutput": (),
    "SearchTrainingPlanOfferingsResponse": ("TrainingPlanExtensionOfferings",),
    "TrainingPlanExtensionOffering": (
        "TrainingPlanExtensionOfferingId",
        "AvailabilityZone",
        "StartDate",
        "EndDate",
        "DurationHours",
        "UpfrontFee",
        "CurrencyCode",
    ),
    "ExtendTrainingPlanResponse": ("TrainingPlanExtensions",),
    "DescribeTrainingPlanExtensionHistoryResponse": ("NextToken", "TrainingPlanExtensions"),
    "TrainingPlanExtension": _EXTENSION,
    "ListTrainingJobsResponse": ("NextToken", "TrainingJobSummaries"),
    "TrainingJobSummary": (
        "TrainingJobName",
        "TrainingJobArn",
        "CreationTime",
        "LastModifiedTime",
        "TrainingJobStatus",
        "SecondaryStatus",
        "TrainingPlanArn",
    ),
    "DescribeTrainingJobResponse": (
        "TrainingJobName",
        "TrainingJobArn",
        "ResourceConfig",
        "StoppingCondition",
        "CreationTime",
        "TrainingStartTime",
    ),
    "ResourceConfig": (
        "InstanceType",
        "InstanceCount",
        "InstanceGroups",
        "TrainingPlanArn",
        "InstancePreferences",
        "SelectedInstanceType",
        "SelectedInstanceCount",
    ),
    "InstanceGroup": ("InstanceType", "InstanceCount"),
    "InstancePreference": ("InstanceType", "TrainingPlanArns"),
    "StoppingCondition": ("MaxRuntimeInSeconds",),
    "ListClustersResponse": ("NextToken", "ClusterSummaries"),
    "ClusterSummary": ("ClusterArn", "ClusterName", "ClusterStatus", "TrainingPlanArns"),
}


def loader() -> Loader:
    """A botocore loader that finds plan-watcher's SageMaker model before botocore's own."""
    return Loader(extra_search_paths=[str(MODELS)])


def trim(full: dict[str, Any], operations: tuple[str, ...]) -> dict[str, Any]:
    """`full` (botocore's service-2 model) cut down to `operations`, as described above."""
    shapes: dict[str, Any] = {}

    def keep(name: str, output: bool) -> None:
        if name in shapes:
            return
        shape = {k: v for k, v in full["shapes"][name].items() if k != "documentation"}
        if output and shape["type"] == "structure":
            if name not in READ:
                raise KeyError(f"{name}: an answer's structure with no entry in READ")
            missing = [m for m in READ[name] if m not in shape["members"]]
            if missing:
                raise KeyError(f"{name}: botocore's model has no {', '.join(missing)}")
            shape["members"] = {m: shape["members"][m] for m in READ[name]}
            shape.pop("required", None)
        if "members" in shape:
            shape["members"] = {
                k: {a: b for a, b in v.items() if a != "documentation"}
                for k, v in shape["members"].items()
            }
        shapes[name] = shape
        refs = [shape[k]["shape"] for k in ("member", "key", "value") if k in shape]
        for ref in refs + [m["shape"] for m in shape.get("members", {}).values()]:
            keep(ref, output)

    kept: dict[str, Any] = {}
    for name in operations:
        operation = {k: v for k, v in full["operations"][name].items() if k != "documentation"}
        kept[name] = operation
        if "input" in operation:
            keep(operation["input"]["shape"], output=False)
        for error in operation.get("errors", []):
            keep(error["shape"], output=False)
    for name in operations:
        if "output" in kept[name]:
            keep(kept[name]["output"]["shape"], output=True)
    return {
        "version": full["version"],
        "metadata": full["metadata"],
        "operations": kept,
        "shapes": dict(sorted(shapes.items())),
    }


def trim_endpoints(full: dict[str, Any]) -> dict[str, Any]:
    """botocore's endpoints.json with only ENDPOINT_SERVICES in each partition."""
    partitions = [
        {
            **partition,
            "services": {k: v for k, v in partition["services"].items() if k in ENDPOINT_SERVICES},
        }
        for partition in full["partitions"]
    ]
    return {**full, "partitions": partitions}


def main() -> int:
    """Write the trimmed model from the installed botocore."""
    botocore_loader = Loader()
    full = botocore_loader.load_service_model(SERVICE, "service-2")
    version = full["metadata"]["apiVersion"]
    path = MODELS / SERVICE / version / "service-2.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(trim(full, OPERATIONS), indent=1, sort_keys=True) + "\n")
    endpoints = MODELS / "endpoints.json"
    trimmed = trim_endpoints(botocore_loader.load_data("endpoints"))
    endpoints.write_text(json.dumps(trimmed, indent=1, sort_keys=True) + "\n")
    for written in (path, endpoints):
        print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
