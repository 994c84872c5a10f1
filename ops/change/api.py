"""Option 1 (``inv rollback.api``): roll the API service back to a known-good task definition revision.

The target comes from ECS's deployment history (``known_good_revision: auto``) or the config pin;
a release still rolling out is rolled back natively (``stop_service_deployment``, ROLLBACK).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ops.aws import ecs as ecs_mod
from ops.aws.ecs import Service, short_td
from ops.aws.history import Deployment, History, describe_deployment, describe_revisions, revision_number
from ops.change import moved_tag
from ops.change.diff import plan_diff
from ops.change.runner import Options, Outcome, Phase, run
from ops.change.services import Pair, read_pair, refuse_while_rolling
from ops.change.steps import ContainerImage, Plan, Step
from ops.change.target import (
    Choice,
    Target,
    choose,
    no_target,
    parse_revision,
    read_history,
    release_in_flight,
    resolve_target,
)
from ops.checks.wait import Goal
from ops.errors import NotFound
from ops.runtime import Runtime, Say

TASK = "rollback.api"
NATIVE = "stop_service_deployment"  # the audit action of a native rollback (the contract's name)


@dataclass(frozen=True)
class RevisionRequest:
    """The flags of Options 1 and 4: which revision, and the overrides."""

    revision: str | None = None
    force: bool = False  # act even if already there, or while the other service rolls out
    allow_same_image: bool = False  # go ahead even if the target would redeploy the running digests
    native: bool = True  # --no-native: update_service even while the release is in flight


def update_step(service: Service, task_definition: str, after: str, cluster: str, action: str) -> Step:
    """``update_service(taskDefinition=..., forceNewDeployment=True)`` on ``service``."""
    before = short_td(service.task_definition)
    return Step(
        service=service.name,
        action=action,
        client="ecs",
        operation="update_service",
        params={"cluster": cluster, "service": service.name, "taskDefinition": task_definition, "forceNewDeployment": True},
        before=before,
        after=after,
        undo=f"inv rollback.api --revision {before.rpartition(':')[2]} --force --allow-same-image",
        task_definition=after,
    )


def option1_plan(cluster: str, api: Service, target: Target, force: bool) -> Plan | None:
    """Option 1: ``update_service(taskDefinition=family:N, forceNewDeployment=True)``; None if already there."""
    primary = api.primary
    if not force and api.is_steady and primary and short_td(primary.task_definition) == target.name:
        return None
    step = update_step(api, target.name, target.name, cluster, "roll back the API service")
    return Plan(title=f"Option 1: roll back {api.name} to {target.name}", steps=[step])


def native_plan(api: Service, in_flight: Deployment, target: Target, images: tuple[ContainerImage, ...]) -> Plan:
    """ECS's own rollback of the deployment in flight: it restores the previous service revision."""
    current = short_td(api.task_definition)
    step = Step(
        service=api.name, action=NATIVE, client="ecs", operation="stop_service_deployment",
        params={"serviceDeploymentArn": in_flight.arn, "stopType": "ROLLBACK"},
        before=current, after=target.name,
        undo=f"inv rollback.api --revision {revision_number(current)} --force --allow-same-image",
        task_definition=target.name, images=images,
        note=f"ECS native rollback of the release in flight: ECS restores {target.name} with the image digests it "
             "recorded, whatever its tags point at now",
    )
    return Plan(title=f"Option 1: roll back {api.name} to {target.name} (native rollback of {current} in flight)",
                steps=[step])


def native_source(rt: Runtime, in_flight: Deployment) -> tuple[str | None, tuple[ContainerImage, ...]]:
    """The revision a native rollback of ``in_flight`` restores (ECS: its source revision), and its digests."""
    described = describe_deployment(rt.ecs, in_flight.arn) or {}
    arns = [s.get("arn", "") for s in described.get("sourceServiceRevisions", []) or []]
    revisions = list(describe_revisions(rt.ecs, arns).values())
    if len(revisions) != 1:
        return None, ()
    images = tuple(ContainerImage(i.container, i.image, i.digest) for i in revisions[0].images)
    return revisions[0].task_definition, images


def _native(rt: Runtime, api: Service, history: History | None, choice: Choice, target: Target,
            request: RevisionRequest, say: Say) -> Plan | None:
    """The native rollback plan when the release is in flight and the target is the last good revision."""
    in_flight = release_in_flight(api, history)
    if in_flight is None:
        return None
    if not request.native:
        say(f"note: {short_td(api.task_definition)} is still rolling out; --no-native: rolling back with update_service")
        return None
    if choice.last_good is None or choice.last_good.task_definition != target.name:
        say(f"note: the target {target.name} is not the last good revision: rolling back with update_service")
        return None
    source, images = native_source(rt, in_flight)
    if source != target.name:
        say(f"note: ECS's native rollback would restore {source or 'an unknown revision'}, not {target.name}: "
            "rolling back with update_service")
        return None
    return native_plan(api, in_flight, target, images)


def _predates_worker(target: Target, worker: Service) -> str | None:
    """A warning when the target is older than the worker service while the worker runs."""
    registered = target.document.get("registeredAt")
    if worker.desired == 0 and worker.running == 0 or not isinstance(registered, datetime) or worker.created_at is None:
        return None
    if registered >= worker.created_at:
        return None
    return (f"warning: {target.name} was registered before {worker.name} existed: back then the API ran the background "
            f"jobs itself, so with {worker.name} running the jobs may run twice; Option 4 (`inv rollback.full`) "
            "stops the worker first")


def _forward(current: str, target: Target) -> str | None:
    """A "rollback" to a newer revision than the running one rolls forward: say so (was that one rolled back?)."""
    if target.revision <= revision_number(current) or target.family != current.rpartition(":")[0]:
        return None
    return (f"warning: the target {target.name} is newer than the running {current}: this rolls forward, not back "
            f"(if {target.name} was rolled back before, pass --revision with an older one; `inv revisions`)")


def _target(rt: Runtime, api: Service, request: RevisionRequest, choice: Choice) -> Target:
    if request.revision is None and choice.target is None:
        raise no_target(api.name, choice)
    family = rt.settings.api_service.family or ""
    chosen, number = parse_revision(request.revision or choice.target, family, revision_number(choice.target))
    return resolve_target(rt.ecs, api, chosen, number)


def api_phase(rt: Runtime, pair: Pair, request: RevisionRequest, say: Say, worker_stopping: bool = False,
              read: tuple[History | None, str | None] | None = None) -> Phase | None:
    """Option 1's checks and step (also Option 4's second phase); None: already on the target. ``read``: the
    deployment history as the caller has just read it (``read_history``), so it is not asked for twice."""
    api, current = pair.api, short_td(pair.api.task_definition)
    history, unreadable = read if read is not None else read_history(rt, api.name)
    if unreadable:
        say(f"note: {unreadable}")
    settings = rt.settings
    if (request.revision or "").strip().lower() == "auto":  # --revision auto: the history's, whatever the pin
        settings = replace(settings, api_service=replace(settings.api_service, known_good_revision=None))
        request = replace(request, revision=None)
    choice = choose(settings, current, history, unreadable)
    target = _target(rt, api, request, choice)
    warnings = [w for w in (choice.warning if request.revision is None else None, _forward(current, target),
                            None if worker_stopping else _predates_worker(target, pair.worker)) if w]
    if not worker_stopping:
        refuse_while_rolling(pair.worker, f"roll back {api.name}", request.force, say)
    plan = None if worker_stopping else _native(rt, api, history, choice, target, request, say)
    running: dict[str, set[str]] = {}
    resolved: dict[str, str | None] = {}
    if plan is None:
        plan = option1_plan(rt.settings.cluster, api, target, request.force)
        if plan is None:
            say(f"{api.name} already runs {target.name} in a steady state: nothing to do (--force redeploys it)")
            return None
        running, resolved = _digests(rt, api, target, history, choice, request, say)
    else:
        running = moved_tag.primary_digests(rt, api, history)
        resolved = {i.container: i.digest for i in plan.steps[0].images}
    plan.notes = _diff(rt, api, target, running, resolved) + warnings
    native = plan.steps[0].operation == "stop_service_deployment"
    return Phase(plan, [Goal(api.name, task_definition=target.name, replacing=current if native else None)])


def _digests(rt: Runtime, api: Service, target: Target, history: History | None, choice: Choice,
             request: RevisionRequest, say: Say) -> tuple[dict[str, set[str]], dict[str, str | None]]:
    """The same-image rule (unless --allow-same-image); the digests running and resolved, for the diff."""
    running = moved_tag.primary_digests(rt, api, history)
    checks = moved_tag.check_same_image(rt, target, running)
    gone = [c for c in checks if c.missing]
    if gone:
        raise NotFound(f"{target.name}'s image is gone from ECR: " + ", ".join(f"{c.image} ({c.note})" for c in gone)
                       + ": its tasks could not start (expired by a lifecycle policy?). Nothing was changed.",
                       "pick a revision whose image exists (`inv revisions`), or roll back by an image that exists: "
                       "`inv rollback.image --image REPOSITORY@sha256:DIGEST`")
    if not request.allow_same_image:
        moved_tag.refuse_checked(rt, api, target, say, checks, choice.last_good)
    return running, {c.container: c.target_digest for c in checks}


def _diff(rt: Runtime, api: Service, target: Target, running: dict[str, set[str]],
          resolved: dict[str, str | None]) -> list[str]:
    current: dict[str, Any] = ecs_mod.describe_task_definition(rt.ecs, api.task_definition)["taskDefinition"]
    return plan_diff(short_td(api.task_definition), target.name, current, target.document, running, resolved)


def rollback_api(rt: Runtime, request: RevisionRequest, options: Options, say: Say = print) -> Outcome | None:
    """Option 1 end to end; None when there was nothing to do."""
    phase = api_phase(rt, read_pair(rt), request, say)
    if phase is None:
        return None
    return run(rt, TASK, phase.plan.title, [phase], options, say=say)
