"""Plan builders and the runbook's rules as data: what each option would call, before -> after, undo."""
from __future__ import annotations

import json

import pytest

from ops.aws.actions import ALLOWED
from ops.aws.ecr import parse_image
from ops.change.api import option1_plan
from ops.change.image import cloned_registration, option2_plan, pick_container
from ops.change.services import refuse_while_rolling
from ops.change.steps import REGISTERED, ForbiddenStep, Step
from ops.change.target import Target
from ops.change.worker import (
    ALL_SUSPENDED,
    NONE_SUSPENDED,
    PREVIOUS_COUNT_TAG,
    PREVIOUS_MIN_TAG,
    Scaling,
    restore_count,
    start_worker_plan,
    stop_worker_plan,
)
from ops.config import DEFAULTS, load
from ops.errors import Refused, UsageError
from ops.redact import REDACTED
from tests.helpers import API, CLUSTER, WORKER
from tests.unit.shapes import deployment, service, td_arn

SETTINGS = load(DEFAULTS)
SCALING = Scaling(f"service/{CLUSTER}/{WORKER}", 1, {})
IMAGE = "905418046272.dkr.ecr.eu-central-1.amazonaws.com/sandbox-broker-api"


def target(revision: int = 8) -> Target:
    return Target("sandbox-broker", revision, {"containerDefinitions": []})


# ------------------------------------------------------------------ Option 1


def test_option1_is_one_forced_update_to_the_target() -> None:
    plan = option1_plan(CLUSTER, service(API, "sandbox-broker:9"), target(), force=False)
    assert plan is not None
    [step] = plan.steps
    assert (step.operation, step.before, step.after, step.task_definition) == (
        "update_service", "sandbox-broker:9", "sandbox-broker:8", "sandbox-broker:8")
    assert step.params == {"cluster": CLUSTER, "service": API, "taskDefinition": "sandbox-broker:8",
                           "forceNewDeployment": True}
    assert step.undo == "inv rollback.api --revision 9 --force --allow-same-image"
    assert step.cli("eu-central-1", "okta-sso") == (
        "aws ecs update-service --cluster sandbox-broker-cluster --service sandbox-broker --task-definition "
        "sandbox-broker:8 --force-new-deployment --region eu-central-1 --profile okta-sso")


def test_option1_already_on_the_target_is_nothing_unless_forced() -> None:
    there = service(API, "sandbox-broker:8")
    assert option1_plan(CLUSTER, there, target(), force=False) is None
    assert option1_plan(CLUSTER, there, target(), force=True) is not None
    rolling = service(API, "sandbox-broker:8", [deployment("sandbox-broker:8", rollout="IN_PROGRESS"),
                                                 deployment("sandbox-broker:9", status="ACTIVE", id="ecs-svc/2")])
    assert option1_plan(CLUSTER, rolling, target(), force=False) is not None  # not steady yet: redeploy


# ------------------------------------------------------------------ Option 2


def _described() -> dict:
    return {"taskDefinition": {
        "taskDefinitionArn": td_arn("sandbox-broker:9"), "family": "sandbox-broker", "revision": 9, "status": "ACTIVE",
        "registeredAt": "2026-11-30", "requiresAttributes": [], "compatibilities": ["EC2"], "cpu": "256",
        "containerDefinitions": [
            {"name": "api", "image": f"{IMAGE}:latest", "environment": [{"name": "DB_PASSWORD", "value": "hunter2"}]},
            {"name": "sidecar", "image": "envoy:v1"},
        ]}, "tags": [{"key": "team", "value": "broker"}]}


def test_option2_registers_a_copy_with_one_image_then_deploys_what_it_registered() -> None:
    pinned = parse_image(f"{IMAGE}@sha256:{'a' * 64}")
    plan = option2_plan(CLUSTER, service(API, "sandbox-broker:9"), _described(), "api", pinned)
    register, deploy = plan.steps
    params = register.params
    assert not {"taskDefinitionArn", "revision", "status", "registeredAt", "requiresAttributes",
                "compatibilities"} & set(params)
    assert [c["image"] for c in params["containerDefinitions"]] == [str(pinned), "envoy:v1"]
    assert params["tags"] == [{"key": "team", "value": "broker"}] and params["cpu"] == "256"
    assert deploy.params["taskDefinition"] == REGISTERED
    assert [i.to_json() for i in register.images] == [{"container": "api", "image": str(pinned), "digest": "sha256:" + "a" * 64}]
    assert deploy.images == register.images
    shown = register.cli("eu-central-1", None)
    assert "hunter2" not in shown and REDACTED in shown and "hunter2" in json.dumps(params)


def test_cloned_registration_leaves_the_source_untouched() -> None:
    described = _described()
    cloned_registration(described, "api", "other:1")
    assert described["taskDefinition"]["containerDefinitions"][0]["image"] == f"{IMAGE}:latest"


def test_pick_container() -> None:
    document = _described()["taskDefinition"]
    assert pick_container(document, "sidecar") == "sidecar"
    with pytest.raises(UsageError, match="2 containers"):
        pick_container(document, None)
    with pytest.raises(UsageError, match="is not in the task definition"):
        pick_container(document, "nope")


# ------------------------------------------------------------------ Option 3 and restart


def test_stop_remembers_the_count_suspends_scaling_and_scales_to_zero() -> None:
    worker = service(WORKER, "sandbox-broker-worker:1", [deployment("sandbox-broker-worker:1", desired=3)])
    plan = stop_worker_plan(CLUSTER, worker, SCALING)
    assert plan is not None
    tag, scaling, stop = plan.steps
    assert tag.operation == "tag_resource" and {"key": PREVIOUS_COUNT_TAG, "value": "3"} in tag.params["tags"]
    assert {"key": PREVIOUS_MIN_TAG, "value": "1"} in tag.params["tags"]
    assert scaling.params["MinCapacity"] == 0 and scaling.params["SuspendedState"] == ALL_SUSPENDED
    assert stop.params == {"cluster": CLUSTER, "service": WORKER, "desiredCount": 0}
    assert stop.undo == "inv worker.start --count 3"
    assert all(s.operation != "delete_service" for s in plan.steps)


def test_stop_without_scaling_target_and_when_already_stopped() -> None:
    worker = service(WORKER, "sandbox-broker-worker:1", [deployment("sandbox-broker-worker:1", desired=1)])
    plan = stop_worker_plan(CLUSTER, worker, None)
    assert plan is not None and [s.operation for s in plan.steps] == ["tag_resource", "update_service"]
    stopped = service(WORKER, "sandbox-broker-worker:1", [deployment("sandbox-broker-worker:1", desired=0)])
    assert stop_worker_plan(CLUSTER, stopped, SCALING) is None


def test_start_restores_count_and_scaling_then_forgets_the_tags() -> None:
    tags = {PREVIOUS_COUNT_TAG: "3", PREVIOUS_MIN_TAG: "2"}
    worker = service(WORKER, "sandbox-broker-worker:1", [deployment("sandbox-broker-worker:1", desired=0)], tags=tags)
    count = restore_count(SETTINGS, worker, None)
    assert count == 3
    plan = start_worker_plan(CLUSTER, worker, count, Scaling(SCALING.resource_id, 0, ALL_SUSPENDED))
    assert plan is not None
    start, resume, forget = plan.steps
    assert start.params["desiredCount"] == 3
    assert resume.params["MinCapacity"] == 2 and resume.params["SuspendedState"] == NONE_SUSPENDED
    assert forget.operation == "untag_resource" and set(forget.params["tagKeys"]) == set(tags)


def test_restore_count_falls_back_to_config_and_rejects_zero() -> None:
    worker = service(WORKER, "sandbox-broker-worker:1", [deployment("sandbox-broker-worker:1", desired=0)])
    assert restore_count(SETTINGS, worker, None) == SETTINGS.worker_service.restore_count
    assert restore_count(SETTINGS, worker, 4) == 4
    with pytest.raises(UsageError, match="must be 1 or more"):
        restore_count(SETTINGS, worker, 0)


def test_start_of_a_running_worker_is_nothing() -> None:
    worker = service(WORKER, "sandbox-broker-worker:1", [deployment("sandbox-broker-worker:1", desired=1)])
    assert start_worker_plan(CLUSTER, worker, 1, None) is None


# ------------------------------------------------------------------ never both services at once


def test_refuse_while_the_other_service_rolls_out() -> None:
    rolling = service(WORKER, "w:2", [deployment("w:2", rollout="IN_PROGRESS", running=0),
                                      deployment("w:1", status="ACTIVE", id="ecs-svc/2")])
    with pytest.raises(Refused, match="still rolling out"):
        refuse_while_rolling(rolling, "roll back sandbox-broker", force=False)
    refuse_while_rolling(rolling, "roll back sandbox-broker", force=True)  # --force overrides


def test_a_failing_unchanging_service_is_not_a_rollout() -> None:
    said: list[str] = []
    crashing = service(WORKER, "w:1", [deployment("w:1", desired=1, running=0, failed=9)])
    refuse_while_rolling(crashing, "roll back sandbox-broker", force=False, say=said.append)
    assert said and "not rolling out: going ahead" in said[0]


# ------------------------------------------------------------------ the "What NOT to Do" allowlist


def test_never_delete_the_worker_service() -> None:
    """DO NOT delete the worker service: a plan cannot even contain the call."""
    with pytest.raises(ForbiddenStep, match="refusing ecs delete_service on sandbox-broker-worker") as caught:
        Step(WORKER, "delete", "ecs", "delete_service", {"cluster": CLUSTER, "service": WORKER}, "ACTIVE", "gone")
    assert "never delete the worker service" in (caught.value.hint or "")


def test_only_ecs_and_scaling_calls_no_terraform_no_code() -> None:
    """DO NOT roll back Terraform state / make code changes: only ECS service, task definition
    and scaling calls (and the lock's SSM parameter) are executable; anything else (S3 state, ECR
    pushes, CodeBuild) is refused."""
    assert {client for client, _ in ALLOWED} == {"ecs", "application-autoscaling", "ssm"}
    assert {op for client, op in ALLOWED if client == "ssm"} == {"put_parameter", "delete_parameter"}  # the lock
    for client, operation in [("s3", "put_object"), ("dynamodb", "delete_item"), ("ecr", "put_image"),
                              ("codebuild", "start_build"), ("ecs", "deregister_task_definition")]:
        with pytest.raises(ForbiddenStep):
            Step(API, "x", client, operation, {}, "-", "-")


