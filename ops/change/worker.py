"""Option 3 (``inv worker.stop``) and the decision tree's "restart worker" (``inv worker.start``).

The worker is never deleted, only scaled: ``worker.stop`` remembers the desired count in a service
tag and suspends Application Auto Scaling (min 0) so the 0 sticks; ``worker.start`` restores both.
"""
from __future__ import annotations

from dataclasses import dataclass

from ops.aws.ecs import Service, service_tags
from ops.aws.scaling import SCALING_DIMENSION, Scaling, scaling_target
from ops.change.runner import Options, Outcome, Phase, run
from ops.change.services import read_pair, refuse_while_rolling
from ops.change.steps import Plan, Step
from ops.checks.wait import Goal
from ops.config import Settings
from ops.errors import UsageError
from ops.runtime import Runtime, Say

STOP_TASK, START_TASK = "worker.stop", "worker.start"
PREVIOUS_COUNT_TAG = "rollback-toolkit:previous-desired-count"
PREVIOUS_MIN_TAG = "rollback-toolkit:previous-min-capacity"
ALL_SUSPENDED = {"DynamicScalingInSuspended": True, "DynamicScalingOutSuspended": True, "ScheduledScalingSuspended": True}
NONE_SUSPENDED = {k: False for k in ALL_SUSPENDED}


@dataclass(frozen=True)
class StartRequest:
    """The flags of ``worker.start``."""

    count: int | None = None  # default: the count worker.stop remembered, else ecs.worker.restore_count
    force: bool = False  # start even while the API service is rolling out


def _scaling_step(worker: Service, scaling: Scaling, minimum: int, suspended: dict[str, bool],
                  before: str, after: str, undo: str = "") -> Step:
    return Step(
        worker.name, "suspend the worker's auto scaling" if any(suspended.values()) else "resume the worker's auto scaling",
        "application-autoscaling", "register_scalable_target",
        {"ServiceNamespace": "ecs", "ResourceId": scaling.resource_id, "ScalableDimension": SCALING_DIMENSION,
         "MinCapacity": minimum, "SuspendedState": suspended},
        before, after, undo=undo,
    )


def stop_worker_plan(cluster: str, worker: Service, scaling: Scaling | None) -> Plan | None:
    """Option 3: remember the count (a tag), pin auto scaling, set desired 0. Never delete."""
    if worker.desired == 0 and worker.running == 0 and worker.pending == 0:
        return None
    restart = f"inv worker.start --count {worker.desired or 1}"
    steps: list[Step] = []
    tags = [{"key": PREVIOUS_COUNT_TAG, "value": str(worker.desired)}]
    if scaling is not None:
        tags.append({"key": PREVIOUS_MIN_TAG, "value": str(scaling.min_capacity)})
    if worker.desired > 0:
        steps.append(Step(worker.name, "remember the worker's desired count", "ecs", "tag_resource",
                          {"resourceArn": worker.arn, "tags": tags}, "-", f"{PREVIOUS_COUNT_TAG}={worker.desired}"))
    if scaling is not None:
        steps.append(_scaling_step(worker, scaling, 0, ALL_SUSPENDED, f"min {scaling.min_capacity}, scaling on",
                                   "min 0, scaling suspended", undo=restart))
    steps.append(Step(
        worker.name, "stop the worker", "ecs", "update_service",
        {"cluster": cluster, "service": worker.name, "desiredCount": 0},
        f"desired {worker.desired}", "desired 0", undo=restart,
    ))
    return Plan(title=f"Option 3: stop {worker.name} (desired {worker.desired} -> 0)", steps=steps)


def restore_count(settings: Settings, worker: Service, count: int | None) -> int:
    """``--count``, else the count remembered by worker.stop, else ``ecs.worker.restore_count``."""
    if count is not None:
        if count < 1:
            raise UsageError(f"--count {count} must be 1 or more", "to stop the worker use `inv worker.stop`")
        return count
    remembered = service_tags(worker).get(PREVIOUS_COUNT_TAG, "")
    if remembered.isdigit() and int(remembered) > 0:
        return int(remembered)
    return int(settings.worker_service.restore_count or 1)


def start_worker_plan(cluster: str, worker: Service, count: int, scaling: Scaling | None) -> Plan | None:
    """Restart the worker: set the count, restore auto scaling, forget the remembered count."""
    tags = service_tags(worker)
    steps: list[Step] = []
    if worker.desired != count or not worker.is_steady:
        steps.append(Step(
            worker.name, "start the worker", "ecs", "update_service",
            {"cluster": cluster, "service": worker.name, "desiredCount": count},
            f"desired {worker.desired}", f"desired {count}", undo="inv worker.stop",
        ))
    if scaling is not None and (any(scaling.suspended.values()) or PREVIOUS_MIN_TAG in tags):
        minimum = int(tags[PREVIOUS_MIN_TAG]) if tags.get(PREVIOUS_MIN_TAG, "").isdigit() else scaling.min_capacity
        steps.append(_scaling_step(worker, scaling, minimum, NONE_SUSPENDED,
                                   f"min {scaling.min_capacity}, scaling suspended", f"min {minimum}, scaling on"))
    forget = [k for k in (PREVIOUS_COUNT_TAG, PREVIOUS_MIN_TAG) if k in tags]
    if forget and steps:
        steps.append(Step(worker.name, "forget the remembered count", "ecs", "untag_resource",
                          {"resourceArn": worker.arn, "tagKeys": forget}, ", ".join(forget), "-"))
    if not steps:
        return None
    return Plan(title=f"restart {worker.name} (desired {worker.desired} -> {count})", steps=steps)


def stop_phase(rt: Runtime, worker: Service, say: Say) -> Phase | None:
    """Option 3's plan and its goal (also Option 4's first phase); None: already stopped."""
    scaling = scaling_target(rt.client("application-autoscaling"), rt.settings.cluster, worker.name, say)
    plan = stop_worker_plan(rt.settings.cluster, worker, scaling)
    return None if plan is None else Phase(plan, [Goal(worker.name, desired=0)])


def worker_stop(rt: Runtime, options: Options, say: Say = print) -> Outcome | None:
    """Option 3: scale the worker to 0 and wait for ``[0, 0]``; never delete it."""
    worker = read_pair(rt).worker
    phase = stop_phase(rt, worker, say)
    if phase is None:
        say(f"{worker.name} is already stopped (running 0, desired 0): nothing to do")
        return None
    return run(rt, STOP_TASK, phase.plan.title, [phase], options, say=say)


def worker_start(rt: Runtime, request: StartRequest, options: Options, say: Say = print) -> Outcome | None:
    """Restart the worker with the remembered count, refusing while the API rolls out."""
    pair = read_pair(rt)
    worker = pair.worker
    refuse_while_rolling(pair.api, f"start {worker.name}", request.force, say)
    wanted = restore_count(rt.settings, worker, request.count)
    scaling = scaling_target(rt.client("application-autoscaling"), rt.settings.cluster, worker.name, say)
    plan = start_worker_plan(rt.settings.cluster, worker, wanted, scaling)
    if plan is None:
        say(f"{worker.name} already runs {worker.running}/{wanted}: nothing to do")
        return None
    goal = Goal(worker.name, desired=wanted, at_least=scaling is not None)  # resumed scaling may add tasks
    return run(rt, START_TASK, plan.title, [Phase(plan, [goal])], options, say=say)
