"""Which plans a DescribeTrainingJob answer puts a job on (`JobFacts.plan_arns`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from watcher.aws.parse import parse_job

A = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/a"
B = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/b"
PREFERENCES = [
    {"InstanceType": "ml.p5.48xlarge", "InstanceCount": 2, "TrainingPlanArns": [A]},
    {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 4, "TrainingPlanArns": [B]},
]


def _job(resources: Any) -> dict[str, Any]:
    return {
        "TrainingJobName": "run",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/run",
        "CreationTime": datetime(2026, 3, 1, tzinfo=UTC),
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "ResourceConfig": resources,
    }


@pytest.mark.parametrize(
    ("resources", "plans", "settled"),
    [
        ({"InstanceType": "ml.p5.48xlarge", "TrainingPlanArn": A}, (A,), True),
        (
            {"InstancePreferences": PREFERENCES, "SelectedInstanceType": "ml.p4d.24xlarge"},
            (B,),
            True,
        ),
        ({"InstancePreferences": PREFERENCES}, (A, B), False),
        ({"InstanceType": "ml.p5.48xlarge"}, (), True),
        (None, (), True),
        ({"InstancePreferences": "junk"}, (), True),
        ({"InstancePreferences": [{"InstanceType": "x", "TrainingPlanArns": [7]}]}, (), False),
    ],
)
def test_a_job_is_on_its_plan_its_selected_preference_or_every_preference(
    resources: Any, plans: tuple[str, ...], settled: bool
) -> None:
    facts = parse_job(_job(resources))
    assert (facts.plan_arns, facts.settled) == (plans, settled)
