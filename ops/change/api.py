"""Option 1 (``inv rollback.api``): roll the API service back to a known-good task definition revision."""
from __future__ import annotations

from dataclasses import dataclass

from ops.aws.ecs import Service, short_td
from ops.change import moved_tag
from ops.change.runner import Options, Outcome, Phase, run
from ops.change.services import Pair, read_pair, refuse_while_rolling
from ops.change.steps import Plan, Step
from ops.change.target import Target, parse_revision, resolve_target
from ops.checks.wait import Goal
from ops.runtime import Runtime, Say

TASK = "rollback.api"


@dataclass(frozen=True)
class RevisionRequest:
    """The flags of Options 1 and 4: which revision, and the two overrides."""

    revision: str | None = None
    force: bool = False  # act even if already there, or while the other service rolls out
    allow_same_image: bool = False  # go ahead even if the target would redeploy the running digests


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


def api_phase(rt: Runtime, pair: Pair, request: RevisionRequest, say: Say, worker_stopping: bool = False) -> Phase | None:
    """Option 1's checks and step (also Option 4's second phase); None: already on the target."""
    s = rt.settings
    family, number = parse_revision(request.revision, s.api_service.family or "", s.api_service.known_good_revision or 1)
    target = resolve_target(rt.ecs, pair.api, family, number)
    if not worker_stopping:
        refuse_while_rolling(pair.worker, f"roll back {pair.api.name}", request.force, say)
    plan = option1_plan(s.cluster, pair.api, target, request.force)
    if plan is None:
        say(f"{pair.api.name} already runs {target.name} in a steady state: nothing to do (--force redeploys it)")
        return None
    if not request.allow_same_image:
        moved_tag.guard_same_image(rt, pair.api, target, say)
    return Phase(plan, [Goal(pair.api.name, task_definition=target.name)])


def rollback_api(rt: Runtime, request: RevisionRequest, options: Options, say: Say = print) -> Outcome | None:
    """Option 1 end to end; None when there was nothing to do."""
    phase = api_phase(rt, read_pair(rt), request, say)
    if phase is None:
        return None
    return run(rt, TASK, phase.plan.title, [phase], options, say=say)
