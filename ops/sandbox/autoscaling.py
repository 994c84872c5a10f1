"""Application Auto Scaling in the world, as AWS does it: only a scaling policy changes a desired count.

A scalable target's MinCapacity is not enforced on its own: a desired count set below it stays there
until a scaling activity runs. A step scaling policy runs when its CloudWatch alarm is in ALARM and
DynamicScalingOutSuspended is not set; the new desired count is the current one plus the step's
adjustment, kept within [MinCapacity, MaxCapacity], and the policy waits its cooldown before acting
again. The world's alarm is a worker's job backlog: it goes to ALARM once the service has run no task
for ``period`` seconds (jobs pile up with nobody taking them) and back to OK once a task is started.
Every method must be called with the world's lock held.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from moto.applicationautoscaling.models import ApplicationAutoscalingBackend, FakeScalableTarget
from moto.cloudwatch.models import CloudWatchBackend

from .scenarios import SCALABLE_DIMENSION
from .simulator import RolloutSimulator

BACKLOG_NAMESPACE = "SandboxBroker"
BACKLOG_METRIC = "JobQueueBacklog"
BACKLOG_THRESHOLD = 100.0


@dataclass
class BacklogPolicy:
    """A step scaling (scale-out) policy on a service and the backlog alarm that triggers it."""

    cluster: str
    service: str
    policy_arn: str
    alarm_name: str
    adjustment: int
    period: float
    cooldown: float
    idle_since: float | None = None
    last_activity: float | None = None

    @property
    def resource_id(self) -> str:
        """``service/CLUSTER/SERVICE``."""
        return f"service/{self.cluster}/{self.service}"


class AutoScaling:
    """Evaluates the world's scaling alarms and runs their policies' scaling activities."""

    def __init__(self, scaling: ApplicationAutoscalingBackend, cloudwatch: CloudWatchBackend,
                 simulator: RolloutSimulator) -> None:
        self._scaling = scaling
        self._cloudwatch = cloudwatch
        self._sim = simulator
        self.policies: list[BacklogPolicy] = []

    def add_backlog_policy(self, cluster: str, service: str, period: float, adjustment: int = 1) -> BacklogPolicy:
        """Put a StepScaling policy on the service's scalable target and its backlog alarm (OK)."""
        resource_id = f"service/{cluster}/{service}"
        name = f"{service}-backlog-scale-out"
        policy = self._scaling.put_scaling_policy(name, "ecs", resource_id, SCALABLE_DIMENSION, {
            "AdjustmentType": "ChangeInCapacity", "Cooldown": 60, "MetricAggregationType": "Maximum",
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": adjustment}],
        }, "StepScaling")
        alarm = f"{service}-job-backlog-high"
        self._cloudwatch.put_metric_alarm(
            name=alarm, namespace=BACKLOG_NAMESPACE, metric_name=BACKLOG_METRIC,
            comparison_operator="GreaterThanThreshold", evaluation_periods=1, period=60,
            threshold=BACKLOG_THRESHOLD, statistic="Maximum",
            description=f"Jobs waiting for {service}: scale it out", dimensions=[{"Name": "Service", "Value": service}],
            alarm_actions=[policy.policy_arn],
        )
        added = BacklogPolicy(cluster, service, policy.policy_arn, alarm, adjustment, period, 2 * period)
        self.policies.append(added)
        return added

    def tick(self, now: float) -> None:
        """Move each alarm with the backlog; run the policy of an alarm in ALARM when it may act."""
        for policy in self.policies:
            in_alarm = self._evaluate(policy, now)
            cooled = policy.last_activity is None or now - policy.last_activity >= policy.cooldown
            if in_alarm and cooled:
                self._scale_out(policy, now)

    def _evaluate(self, policy: BacklogPolicy, now: float) -> bool:
        service = self._sim.services[policy.service].service
        idle = service.running_count + service.pending_count == 0
        policy.idle_since = (policy.idle_since if policy.idle_since is not None else now) if idle else None
        in_alarm = policy.idle_since is not None and now - policy.idle_since >= policy.period
        state = "ALARM" if in_alarm else "OK"
        alarm = self._cloudwatch.alarms[policy.alarm_name]
        if alarm.state_value != state:
            value = BACKLOG_THRESHOLD * 2 if in_alarm else 0.0
            alarm.update_state(f"Threshold Crossed: 1 datapoint [{value}] was "
                               f"{'greater' if in_alarm else 'not greater'} than the threshold "
                               f"({BACKLOG_THRESHOLD}).", json.dumps({"recentDatapoints": [value]}), state)
        return in_alarm

    def _scale_out(self, policy: BacklogPolicy, now: float) -> None:
        target = self._target(policy)
        if target is None or (target.suspended_state or {}).get("DynamicScalingOutSuspended"):
            return
        service = self._sim.services[policy.service].service
        before = int(service.desired_count)
        after = min(int(target.max_capacity or before), max(int(target.min_capacity or 0), before + policy.adjustment))
        if after <= before:
            return
        policy.last_activity = now
        self._sim.scale(policy.service, after)
        self._sim.event(policy.service, f"(service {policy.service}) Application Auto Scaling: alarm "
                        f"{policy.alarm_name} in ALARM, policy {policy.service}-backlog-scale-out set desired "
                        f"count from {before} to {after}.")

    def _target(self, policy: BacklogPolicy) -> FakeScalableTarget | None:
        return self._scaling.targets.get(SCALABLE_DIMENSION, {}).get(policy.resource_id)
