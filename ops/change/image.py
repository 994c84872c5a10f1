"""Option 2 (``inv rollback.image``): register a copy of the API task definition with another image, and deploy it."""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

from ops.aws import ecs as ecs_mod
from ops.aws.ecr import ImageRef, Resolution, parse_image, resolve
from ops.aws.ecs import READ_ONLY_FIELDS, Service, short_td
from ops.change.api import update_step
from ops.change.diff import plan_diff
from ops.change.moved_tag import primary_digests
from ops.change.runner import Options, Outcome, Phase, run
from ops.change.services import Pair, read_pair, refuse_while_rolling
from ops.change.steps import NEW_REVISION, REGISTERED, ContainerImage, Plan, Step
from ops.checks.wait import Goal
from ops.errors import NotFound, UsageError
from ops.runtime import Runtime, Say

TASK = "rollback.image"


@dataclass(frozen=True)
class ImageRequest:
    """The flags of Option 2."""

    image: str | None
    container: str | None = None
    from_revision: int | None = None  # copy this revision instead of the service's current one
    force: bool = False  # act even while the worker is rolling out


def parse_image_flag(uri: str | None) -> ImageRef:
    if not uri:
        raise UsageError("--image is required", "pass --image REPOSITORY:TAG or REPOSITORY@sha256:DIGEST")
    return parse_image(uri)


def base_task_definition(ecs: Any, api: Service, from_revision: int | None, family: str) -> dict[str, Any]:
    """``{"taskDefinition": ..., "tags": ...}`` of the service's current revision or ``--from-revision``."""
    name = f"{family}:{from_revision}" if from_revision else api.task_definition
    try:
        return ecs_mod.describe_task_definition(ecs, name)
    except NotFound:
        raise NotFound(f"task definition {short_td(name)} does not exist", "check --from-revision") from None


def pick_container(document: dict[str, Any], container: str | None) -> str:
    names = [c.get("name", "") for c in document.get("containerDefinitions", [])]
    if container:
        if container not in names:
            raise UsageError(f"--container {container!r} is not in the task definition", f"pick one of: {', '.join(names)}")
        return container
    if len(names) != 1:
        raise UsageError(
            f"the task definition has {len(names)} containers ({', '.join(names)})",
            "name the one to change with --container NAME",
        )
    return names[0]


def cloned_registration(described: dict[str, Any], container: str, image: str) -> dict[str, Any]:
    """``register_task_definition`` parameters: a copy with one image replaced, read-only fields dropped."""
    params = {k: copy.deepcopy(v) for k, v in described["taskDefinition"].items() if k not in READ_ONLY_FIELDS}
    for definition in params.get("containerDefinitions", []):
        if definition.get("name") == container:
            definition["image"] = image
    if described.get("tags"):
        params["tags"] = copy.deepcopy(described["tags"])
    return params


def check_image_exists(ecr: Any, image: ImageRef, account: str, say: Say) -> Resolution:
    """In this account's ECR the tag or digest must exist; elsewhere we can only say so."""
    resolution = resolve(ecr, image, account)
    if resolution.missing:
        raise NotFound(
            f"image {image} does not exist: {resolution.reason}",
            f"list what exists with `aws ecr describe-images --repository-name {image.repository}`",
        )
    if resolution.reason:
        say(f"note: cannot check that {image} exists ({resolution.reason}); going ahead")
    return resolution


def option2_plan(cluster: str, api: Service, described: dict[str, Any], container: str, image: ImageRef,
                 digest: str | None = None) -> Plan:
    """Register the copy, then deploy the revision it registered."""
    params = cloned_registration(described, container, str(image))
    source = described["taskDefinition"]
    family, base = source["family"], short_td(source["taskDefinitionArn"])
    pinned = (ContainerImage(container, str(image), digest or image.digest),)
    register = Step(
        service=api.name,
        action=f"register a copy of {base} with {container} on {image}",
        client="ecs",
        operation="register_task_definition",
        params=params,
        before=base,
        after=f"{family}:{NEW_REVISION}",
        images=pinned,
    )
    deploy = replace(update_step(api, REGISTERED, f"{family}:{NEW_REVISION}", cluster, "deploy the new revision"),
                     images=pinned)
    return Plan(title=f"Option 2: roll back {api.name} to image {image}", steps=[register, deploy])


def image_phase(rt: Runtime, pair: Pair, request: ImageRequest, say: Say) -> Phase:
    """Option 2's checks and plan: the image is checked in ECR before anything is registered."""
    ref = parse_image_flag(request.image)
    refuse_while_rolling(pair.worker, f"roll back {pair.api.name}", request.force, say)
    described = base_task_definition(rt.ecs, pair.api, request.from_revision, rt.settings.api_service.family or "")
    name = pick_container(described["taskDefinition"], request.container)
    resolution = check_image_exists(rt.client("ecr"), ref, rt.identity().account, say)
    plan = option2_plan(rt.settings.cluster, pair.api, described, name, ref, resolution.digest)
    plan.notes = _diff(rt, pair.api, described, plan.steps[0], name, resolution.digest)
    return Phase(plan, [Goal(pair.api.name)])


def rollback_image(rt: Runtime, request: ImageRequest, options: Options, say: Say = print) -> Outcome:
    """Option 2 end to end."""
    phase = image_phase(rt, read_pair(rt), request, say)
    return run(rt, TASK, phase.plan.title, [phase], options, say=say)


def _diff(rt: Runtime, api: Service, described: dict[str, Any], register: Step, container: str,
          digest: str | None) -> list[str]:
    """The running task definition vs the copy about to be registered."""
    base = described["taskDefinition"]
    current = base if base.get("taskDefinitionArn") == api.task_definition else \
        ecs_mod.describe_task_definition(rt.ecs, api.task_definition)["taskDefinition"]
    running = primary_digests(rt, api, None)
    return plan_diff(short_td(api.task_definition), f"the new revision (a copy of {short_td(base['taskDefinitionArn'])})",
                     current, register.params, running, {container: digest})
