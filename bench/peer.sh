#!/usr/bin/env bash
# The peer a user might write instead of plan-watcher: the AWS CLI, one region after the other;
# list the plans, and for each describe it, list its training jobs and search its extension
# offerings. It decides nothing and buys nothing: it only gathers what a decision needs.
#
#   AWS_ENDPOINT_URL=http://127.0.0.1:PORT bench/peer.sh us-east-1 us-west-2 ...
#
# PEER_PLANS_PER_REGION=N looks at only the first N plans of each region (the bench uses a
# sample and scales it up: every plan costs the same three commands); unset means all.
set -euo pipefail

AWS=${AWS:-aws}
limit=${PEER_PLANS_PER_REGION:-}
plans_seen=0

for region in "$@"; do
    # Only Active and Scheduled plans can be extended (a search on any other fails).
    arns=$("$AWS" sagemaker list-training-plans --region "$region" --output text \
        --query "TrainingPlanSummaries[?Status=='Active' || Status=='Scheduled'].TrainingPlanArn")
    n=0
    for arn in $arns; do
        if [[ -n "$limit" && "$n" -ge "$limit" ]]; then
            break
        fi
        n=$((n + 1))
        "$AWS" sagemaker describe-training-plan --region "$region" \
            --training-plan-name "$arn" --output json >/dev/null
        "$AWS" sagemaker list-training-jobs --region "$region" \
            --training-plan-arn-equals "$arn" --status-equals InProgress \
            --query 'TrainingJobSummaries[].TrainingJobName' --output text >/dev/null
        "$AWS" sagemaker search-training-plan-offerings --region "$region" \
            --training-plan-arn "$arn" --output json >/dev/null
    done
    plans_seen=$((plans_seen + n))
done
echo "peer looked at ${plans_seen} plans"
