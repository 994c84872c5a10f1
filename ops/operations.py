"""The runbook's options end to end, as plain functions the tasks call (and the drill, too)."""
from __future__ import annotations

from typing import Any

from ops import rollback as rb
from ops.ecs import Service, describe_services, short_td
from ops.flow import Options, Outcome, Phase, Say, run
from ops.runtime import Runtime
from ops.wait import Goal, WaitResult, wait_for


def _services(rt: Runtime) -> tuple[Service, Service]:
    s = rt.settings
    found = describe_services(rt.ecs, s.cluster, [s.api_service.service, s.worker_service.service])
    return found[s.api_service.service], found[s.worker_service.service]


def _api_phase(rt: Runtime, api: Service, worker: Service, revision: str | int | None, force: bool,
               allow_same_image: bool, say: Say, worker_stopping: bool = False) -> Phase | None:
    """Option 1's checks and step (shared by rollback.api and rollback.full)."""
    s = rt.settings
    family, number = rb.parse_revision(revision, s.api_service.family or "", s.api_service.known_good_revision or 1)
    target = rb.resolve_target(rt.ecs, api, family, number)
    if not worker_stopping:
        rb.refuse_while_rolling(worker, f"roll back {api.name}", force, say)
    plan = rb.option1_plan(s, api, target, force)
    if plan is None:
        say(f"{api.name} already runs {target.name} in a steady state: nothing to do (--force redeploys it)")
        return None
    if not allow_same_image:
        rb.guard_same_image(rt.ecs, rt.aws.client("ecr"), rt.identity().account, s, api, target, say)
    return Phase(plan, [Goal(api.name, task_definition=target.name)])


def rollback_api(rt: Runtime, revision: str | int | None, force: bool, allow_same_image: bool,
                 options: Options, say: Say = print) -> Outcome | None:
    """Option 1: roll the API service back to a known-good revision."""
    api, worker = _services(rt)
    phase = _api_phase(rt, api, worker, revision, force, allow_same_image, say)
    if phase is None:
        return None
    return run(rt, "rollback.api", phase.plan.title, [phase], options, say=say)


def rollback_image(rt: Runtime, image: str | None, container: str | None, from_revision: int | None,
                   force: bool, options: Options, say: Say = print) -> Outcome:
    """Option 2: a new revision copied from the current one with one image replaced, deployed."""
    ref = rb.parse_image_flag(image)
    api, worker = _services(rt)
    rb.refuse_while_rolling(worker, f"roll back {api.name}", force, say)
    described = rb.base_task_definition(rt.ecs, api, from_revision, rt.settings.api_service.family or "")
    name = rb.pick_container(described["taskDefinition"], container)
    rb.check_image_exists(rt.aws.client("ecr"), ref, rt.identity().account, say)
    plan = rb.option2_plan(rt.settings, api, described, name, ref)
    return run(rt, "rollback.image", plan.title, [Phase(plan, [Goal(api.name)])], options, say=say)


def _worker_stop_phase(rt: Runtime, worker: Service, say: Say) -> Phase | None:
    scaling = rb.scaling_target(rt.aws.client("application-autoscaling"), rt.settings.cluster, worker.name, say)
    plan = rb.stop_worker_plan(rt.settings, worker, scaling)
    if plan is None:
        return None
    return Phase(plan, [Goal(worker.name, desired=0)])


def worker_stop(rt: Runtime, options: Options, say: Say = print) -> Outcome | None:
    """Option 3: scale the worker to 0 and wait for ``[0, 0]``; never delete it."""
    _, worker = _services(rt)
    phase = _worker_stop_phase(rt, worker, say)
    if phase is None:
        say(f"{worker.name} is already stopped (running 0, desired 0): nothing to do")
        return None
    return run(rt, "worker.stop", phase.plan.title, [phase], options, say=say)


def worker_start(rt: Runtime, count: int | None, force: bool, options: Options, say: Say = print) -> Outcome | None:
    """Restart the worker with the remembered count, refusing while the API rolls out."""
    api, worker = _services(rt)
    rb.refuse_while_rolling(api, f"start {worker.name}", force, say)
    wanted = rb.restore_count(rt.settings, worker, count)
    scaling = rb.scaling_target(rt.aws.client("application-autoscaling"), rt.settings.cluster, worker.name, say)
    plan = rb.start_worker_plan(rt.settings, worker, wanted, scaling)
    if plan is None:
        say(f"{worker.name} already runs {worker.running}/{wanted}: nothing to do")
        return None
    return run(rt, "worker.start", plan.title, [Phase(plan, [Goal(worker.name, desired=wanted)])], options, say=say)


def rollback_full(rt: Runtime, revision: str | int | None, force: bool, allow_same_image: bool,
                  options: Options, say: Say = print) -> Outcome | None:
    """Option 4: stop the worker and wait for 0, then roll back the API and wait, then verify."""
    api, worker = _services(rt)
    phases = [p for p in (
        _worker_stop_phase(rt, worker, say),
        _api_phase(rt, api, worker, revision, force, allow_same_image, say, worker_stopping=True),
    ) if p is not None]
    if not phases:
        say("the worker is stopped and the API already runs the target: nothing to do")
        return None
    target = short_td(phases[-1].plan.steps[-1].after)
    return run(rt, "rollback.full", f"Option 4: full rollback (worker to 0, then the API to {target})", phases, options, say=say)


def wait(rt: Runtime, timeout: float | None) -> WaitResult:
    """Monitor: until both services have one PRIMARY deployment, running = desired, COMPLETED."""
    s = rt.settings
    goals = [Goal(s.api_service.service), Goal(s.worker_service.service)]
    return wait_for(rt.ecs, s.cluster, goals, timeout or s.wait.timeout, s.wait.poll, s.wait.poll_max)


def describe_outcome(outcome: Any) -> str:
    if outcome is None:
        return "nothing changed"
    if outcome.executed.done and outcome.verified:
        return "rolled back and verified"
    return "changed" if outcome.executed.done else "nothing changed"
