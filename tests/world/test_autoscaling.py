"""Scaling as AWS does it: tasks drain over their stop timeout, and only a scaling policy's alarm raises
a desired count (the worker-autoscaled scenario), unless scaling is suspended."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.client import BaseClient

from ops.sandbox import World
from tests.world.helpers import (
    CLUSTER,
    ROLLOUT,
    WORKER,
    WORKER_TARGET,
    client,
    describe,
    describe_when,
    stays,
    wait_for,
)

ALARM = "sandbox-broker-worker-job-backlog-high"
SUSPENDED = {"DynamicScalingInSuspended": True, "DynamicScalingOutSuspended": True, "ScheduledScalingSuspended": True}


@pytest.fixture
def autoscaled() -> Iterator[World]:
    with World(scenario="worker-autoscaled", rollout_seconds=ROLLOUT) as w:
        yield w


def counts(ecs: BaseClient) -> tuple[int, int]:
    """The runbook's Option 3 check: [runningCount, desiredCount]."""
    worker = describe(ecs, WORKER)
    return worker["runningCount"], worker["desiredCount"]


def alarm_state(world: World) -> str:
    alarms = client(world, "cloudwatch").describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    return str(alarms[0]["StateValue"])


def register(world: World, **settings: Any) -> None:
    client(world, "application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs", ResourceId=WORKER_TARGET, ScalableDimension="ecs:service:DesiredCount", **settings)


def test_a_stopped_task_drains_over_its_stop_timeout() -> None:
    with World(rollout_seconds=8.0) as world:  # stop timeout 2 s: long enough to watch
        ecs = client(world, "ecs")
        [task_arn] = ecs.list_tasks(cluster=CLUSTER, serviceName=WORKER)["taskArns"]
        assert ecs.update_service(cluster=CLUSTER, service=WORKER, desiredCount=0)["service"]["runningCount"] == 1
        draining = wait_for(lambda: (t := ecs.describe_tasks(cluster=CLUSTER, tasks=[task_arn])["tasks"][0])[
            "desiredStatus"] == "STOPPED" and t)
        assert draining["lastStatus"] == "RUNNING"  # SIGTERM sent, the worker finishes its job
        assert counts(ecs) == (1, 0)
        assert ecs.list_tasks(cluster=CLUSTER, serviceName=WORKER)["taskArns"] == []  # not desired RUNNING
        describe_when(ecs, WORKER, lambda s: (s["runningCount"], s["desiredCount"]) == (0, 0))
        stopped = ecs.describe_tasks(cluster=CLUSTER, tasks=[task_arn])["tasks"][0]
        assert stopped["lastStatus"] in ("STOPPING", "STOPPED") and stopped["stopCode"] == "ServiceSchedulerInitiated"
        wait_for(lambda: ecs.describe_tasks(cluster=CLUSTER, tasks=[task_arn])["tasks"][0]["lastStatus"] == "STOPPED")


def test_without_a_scaling_policy_desired_below_min_capacity_stays() -> None:
    with World(rollout_seconds=ROLLOUT) as world:
        ecs = client(world, "ecs")
        scaling = client(world, "application-autoscaling")
        [target] = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
        assert target["MinCapacity"] == 1 and not scaling.describe_scaling_policies(ServiceNamespace="ecs")[
            "ScalingPolicies"]
        ecs.update_service(cluster=CLUSTER, service=WORKER, desiredCount=0)
        describe_when(ecs, WORKER, lambda s: (s["runningCount"], s["desiredCount"]) == (0, 0))
        stays(lambda: counts(ecs), (0, 0), 3 * ROLLOUT)
        assert not any("Application Auto Scaling" in e["message"] for e in describe(ecs, WORKER)["events"])


def test_the_backlog_alarm_scales_the_stopped_worker_out(autoscaled: World) -> None:
    ecs = client(autoscaled, "ecs")
    [policy] = client(autoscaled, "application-autoscaling").describe_scaling_policies(
        ServiceNamespace="ecs")["ScalingPolicies"]
    assert policy["PolicyType"] == "StepScaling" and policy["ResourceId"] == WORKER_TARGET
    assert alarm_state(autoscaled) == "OK"
    ecs.update_service(cluster=CLUSTER, service=WORKER, desiredCount=0)
    describe_when(ecs, WORKER, lambda s: (s["runningCount"], s["desiredCount"]) == (0, 0))
    raised = describe_when(ecs, WORKER, lambda s: s["desiredCount"] == 1)
    assert any(ALARM in e["message"] and "from 0 to 1" in e["message"] for e in raised["events"])
    wait_for(lambda: alarm_state(autoscaled) == "OK")  # tasks are being started again


def test_min_capacity_zero_does_not_stop_a_scale_out(autoscaled: World) -> None:
    ecs = client(autoscaled, "ecs")
    register(autoscaled, MinCapacity=0)
    ecs.update_service(cluster=CLUSTER, service=WORKER, desiredCount=0)
    describe_when(ecs, WORKER, lambda s: s["desiredCount"] == 1, timeout=10)


def test_suspended_scaling_leaves_the_worker_stopped_while_the_alarm_fires(autoscaled: World) -> None:
    ecs = client(autoscaled, "ecs")
    register(autoscaled, MinCapacity=0, SuspendedState=SUSPENDED)  # what worker.stop does
    ecs.update_service(cluster=CLUSTER, service=WORKER, desiredCount=0)
    describe_when(ecs, WORKER, lambda s: (s["runningCount"], s["desiredCount"]) == (0, 0))
    wait_for(lambda: alarm_state(autoscaled) == "ALARM")
    stays(lambda: counts(ecs), (0, 0), 3 * ROLLOUT)  # longer than the policy's cooldown
    register(autoscaled, MinCapacity=1, SuspendedState={k: False for k in SUSPENDED})  # worker.start's undo
    describe_when(ecs, WORKER, lambda s: s["desiredCount"] == 1)
