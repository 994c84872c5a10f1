"""The runbook's options as plans: targets checked, images resolved, steps built as data.

Nothing here changes AWS: builders read state and return a ``Plan`` (or None: nothing to do).
``ops.flow`` prints, confirms, captures, executes, waits and verifies.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from ops import ecs as ecs_mod
from ops.capture import SECRET_NAME, TASKS_FILE
from ops.config import Settings
from ops.ecs import Service, short_td
from ops.errors import NotFound, Refused, UsageError
from ops.images import ImageRef, image_history, parse_image, parse_image_lenient, resolve, short_digest
from ops.plan import REGISTERED, Plan, Step

PREVIOUS_COUNT_TAG = "rollback-toolkit:previous-desired-count"
PREVIOUS_MIN_TAG = "rollback-toolkit:previous-min-capacity"
READ_ONLY_FIELDS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
)
SCALING_DIMENSION = "ecs:service:DesiredCount"
ALL_SUSPENDED = {"DynamicScalingInSuspended": True, "DynamicScalingOutSuspended": True, "ScheduledScalingSuspended": True}
NONE_SUSPENDED = {k: False for k in ALL_SUSPENDED}

Say = Callable[[str], None]
_PINNED_IMAGE = re.compile(r"(\S+)@(sha256:[0-9a-f]{64})")


# ---------------------------------------------------------------- targets (Option 1 / 4)


@dataclass(frozen=True)
class Target:
    family: str
    revision: int
    document: dict[str, Any]  # describe_task_definition's ``taskDefinition``

    @property
    def name(self) -> str:
        return f"{self.family}:{self.revision}"


def parse_revision(text: str | int | None, family: str, default: int) -> tuple[str, int]:
    """``--revision``: ``N`` or ``family:N`` (default: ``ecs.api.known_good_revision``)."""
    if text is None or text == "":
        return family, default
    raw = str(text).strip()
    named_family, _, number = raw.rpartition(":")
    if not re.fullmatch(r"[0-9]{1,9}", number) or int(number) < 1:
        raise UsageError(f"--revision {raw!r} is not a revision number", "pass a whole number such as --revision 8")
    return (named_family or family), int(number)


def resolve_target(ecs: Any, service: Service, family: str, revision: int) -> Target:
    """The target revision, checked: it exists, is ACTIVE, and is in the service's family."""
    service_family = short_td(service.task_definition).rpartition(":")[0]
    if family != service_family:
        raise UsageError(
            f"{family}:{revision} is not in the family of service {service.name} ({service_family})",
            f"pick a revision of {service_family} (check ecs.api.family in invoke.yaml)",
        )
    try:
        document = ecs_mod.describe_task_definition(ecs, f"{family}:{revision}")["taskDefinition"]
    except NotFound:
        raise NotFound(
            f"task definition {family}:{revision} does not exist",
            f"list revisions with `aws ecs list-task-definitions --family-prefix {family}`",
        ) from None
    if document.get("status") != "ACTIVE":
        raise UsageError(
            f"task definition {family}:{revision} is {document.get('status')}, not ACTIVE: ECS cannot deploy it",
            "pick an ACTIVE revision (`aws ecs list-task-definitions --family-prefix "
            f"{family} --status ACTIVE`), or roll back by image with `inv rollback.image`",
        )
    return Target(family=family, revision=revision, document=document)


def update_step(service: Service, task_definition: str, after: str, cluster: str, action: str) -> Step:
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
    )


def option1_plan(settings: Settings, api: Service, target: Target, force: bool) -> Plan | None:
    """Option 1: ``update_service(taskDefinition=family:N, forceNewDeployment=True)``; None if already there."""
    primary = api.primary
    if not force and api.is_steady and primary and short_td(primary.task_definition) == target.name:
        return None
    step = update_step(api, target.name, target.name, settings.cluster, "roll back the API service")
    return Plan(title=f"Option 1: roll back {api.name} to {target.name}", steps=[step])


# ---------------------------------------------------------------- same image (the moved tag)


@dataclass(frozen=True)
class ContainerCheck:
    container: str
    image: ImageRef | None
    target_digest: str | None
    running_digests: frozenset[str]
    note: str = ""

    @property
    def same(self) -> bool:
        return bool(self.target_digest) and self.running_digests == {self.target_digest}


def check_same_image(ecs: Any, ecr: Any, account: str, cluster: str, api: Service, target: Target) -> list[ContainerCheck]:
    """For each container of the target: the digest its image resolves to now vs. what runs."""
    running: dict[str, set[str]] = {}
    for task in ecs_mod.running_tasks(ecs, cluster, api.name):
        for container in task.get("containers", []):
            if container.get("imageDigest"):
                running.setdefault(container.get("name", ""), set()).add(container["imageDigest"])
    checks = []
    for definition in target.document.get("containerDefinitions", []):
        name, ref = definition.get("name", ""), parse_image_lenient(str(definition.get("image", "")))
        if ref is None:
            checks.append(ContainerCheck(name, None, None, frozenset(running.get(name, ())), "image URI not understood"))
            continue
        resolution = resolve(ecr, ref, account)
        checks.append(ContainerCheck(name, ref, resolution.digest, frozenset(running.get(name, ())), resolution.reason))
    return checks


@dataclass(frozen=True)
class Previous:
    """The digest a container ran before the bad release, and where that was learnt."""

    digest: str
    source: str


def previous_digest(settings: Settings, ecr: Any, check: ContainerCheck) -> Previous | None:
    """The digest the service ran before the bad release: captures, then the audit log, then ECR push order."""
    if check.image is None:
        return None
    return (
        _from_captures(settings, check)
        or _from_audit(settings, check)
        or _from_ecr(ecr, check)
    )


def _from_captures(settings: Settings, check: ContainerCheck) -> Previous | None:
    """Newest capture first: a digest of this container (same repository) other than the running one."""
    for path in sorted(Path(settings.capture.dir).glob("*/" + TASKS_FILE), reverse=True):
        digest = _digest_in_capture(path, settings.api_service.service, check)
        if digest:
            return Previous(digest, f"capture {path.parent.name}/{TASKS_FILE}")
    return None


def _digest_in_capture(path: Path, service: str, check: ContainerCheck) -> str | None:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    for entry in document.get("services", []):
        if entry.get("name") != service:
            continue
        for task in entry.get("tasks", []):
            for c in task.get("containers", []):
                if c.get("name") == check.container and _usable(check, str(c.get("image", "")), c.get("imageDigest")):
                    return str(c["imageDigest"])
    return None


def _from_audit(settings: Settings, check: ContainerCheck) -> Previous | None:
    """Newest first: an image this toolkit deployed by digest (``inv rollback.image``) to this service."""
    path = Path(settings.capture.dir) / "audit.jsonl"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("service") != settings.api_service.service or record.get("outcome") != "ok":
            continue
        for image, digest in _PINNED_IMAGE.findall(str(record.get("action", ""))):
            if _usable(check, image, digest):
                return Previous(digest, f"audit log {path.name} ({record.get('time', '?')})")
    return None


def _from_ecr(ecr: Any, check: ContainerCheck) -> Previous | None:
    """The image pushed to the repository just before the one running now."""
    if check.image is None or check.image.ecr_account is None or not check.target_digest:
        return None
    try:
        history = image_history(ecr, check.image.repository, check.image.ecr_account)
    except (ClientError, BotoCoreError):
        return None
    digests = [i.get("imageDigest") for i in history]
    if check.target_digest not in digests:
        return None
    index = digests.index(check.target_digest) + 1
    if index >= len(digests):
        return None
    pushed = history[index].get("imagePushedAt")
    when = f", pushed {pushed:%Y-%m-%d %H:%M:%S %Z}".rstrip() if hasattr(pushed, "strftime") else ""
    return Previous(str(digests[index]), f"ECR push order: the image pushed before the running one{when}")


def _usable(check: ContainerCheck, image: str, digest: Any) -> bool:
    """A digest of the same repository as the check's image, other than the one running now."""
    if not digest or digest == check.target_digest or digest in check.running_digests or check.image is None:
        return False
    ref = parse_image_lenient(image)
    return ref is not None and ref.name == check.image.name


def config_difference(current: dict[str, Any], target: dict[str, Any]) -> list[str]:
    """What differs between two task definitions apart from images (secret-looking values redacted)."""
    lines: list[str] = []
    old, new = _flatten(_without_images(current)), _flatten(_without_images(target))
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            if SECRET_NAME.search(key):
                lines.append(f"{key}: (secret value changed, not shown)")
            else:
                lines.append(f"{key}: {old.get(key, '(unset)')!r} -> {new.get(key, '(unset)')!r}")
    return lines


def _without_images(document: dict[str, Any]) -> dict[str, Any]:
    clean = {k: v for k, v in document.items() if k not in READ_ONLY_FIELDS}
    clean["containerDefinitions"] = [
        {k: v for k, v in c.items() if k != "image"} for c in document.get("containerDefinitions", [])
    ]
    return clean


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value) and value:
        out = {}
        for item in value:
            rest = {k: v for k, v in item.items() if k != "name"}
            out.update(_flatten(rest.get("value", rest) if set(rest) == {"value"} else rest, f"{prefix}[{item['name']}]"))
        return out
    return {prefix: value}


@dataclass(frozen=True)
class PinnedImage:
    """A container's image pinned to the digest it ran before the bad release."""

    container: str
    image: str  # REPOSITORY@sha256:DIGEST

    def command(self, with_container: bool) -> str:
        container = f" --container {self.container}" if with_container else ""
        return f"inv rollback.image --image {self.image}{container}"


class SameImageRefused(Refused):
    """Option 1/4 would redeploy the running code; ``pinned`` are the rollbacks by digest that would not."""

    def __init__(self, message: str, pinned: list[PinnedImage], many_containers: bool) -> None:
        self.pinned = pinned
        self.commands = [p.command(many_containers) for p in pinned]
        super().__init__(message, _pinned_hint(self.commands))


def is_same_image(checks: list[ContainerCheck]) -> bool:
    """Every container whose digest could be resolved would run what runs now (and at least one could)."""
    resolved = [c for c in checks if c.target_digest]
    return bool(resolved) and all(c.same for c in resolved)


def refuse_same_image(
    settings: Settings, ecr: Any, checks: list[ContainerCheck], current_doc: Callable[[], dict[str, Any]],
    target: Target, say: Say,
) -> None:
    """Raise Refused when the rollback would redeploy the digests already running; else say what it will run."""
    if not is_same_image(checks):
        for check in checks:
            if not check.target_digest:
                say(f"note: cannot resolve the digest of {check.container}'s image {check.image or '(unreadable)'} "
                    f"({check.note or 'unknown reason'}): cannot tell whether {target.name} runs different code; "
                    "going ahead")
        _say_mutable_targets(checks, target, say)
        return
    previous = {c.container: previous_digest(settings, ecr, c) for c in checks if c.same}
    pinned = [
        PinnedImage(c.container, c.image.pinned(found.digest))
        for c in checks
        if c.same and c.image is not None and (found := previous.get(c.container)) is not None
    ]
    raise SameImageRefused(_same_image_message(checks, previous, current_doc(), target), pinned, len(checks) > 1)


def guard_same_image(ecs: Any, ecr: Any, account: str, settings: Settings, api: Service, target: Target,
                     say: Say) -> None:
    """Before Option 1/4 changes anything: Refused if ``target`` would redeploy the running digests."""
    checks = check_same_image(ecs, ecr, account, settings.cluster, api, target)
    current = lambda: ecs_mod.describe_task_definition(ecs, api.task_definition)["taskDefinition"]  # noqa: E731
    refuse_same_image(settings, ecr, checks, current, target, say)


def _say_mutable_targets(checks: list[ContainerCheck], target: Target, say: Say) -> None:
    """Going ahead, but a moving tag means the target may not run what it ran when it was good."""
    for check in checks:
        if check.image is not None and check.image.is_mutable_tag and check.target_digest:
            running = ", ".join(short_digest(d) for d in sorted(check.running_digests)) or "-"
            say(f"note: {target.name} names the mutable tag {check.image}: {check.container} will run "
                f"{short_digest(check.target_digest)} (what that tag points at now), running now: {running}")


def _same_image_message(checks: list[ContainerCheck], previous: dict[str, Previous | None],
                        current_doc: dict[str, Any], target: Target) -> str:
    lines = [
        f"refusing: rolling back to {target.name} would redeploy the same code that runs now, so it would not "
        "roll anything back. Nothing was changed.",
    ]
    for check in checks:
        if check.same:
            lines.append(f"  {check.container}: {check.image} resolves to {check.target_digest}, "
                         "the digest the service's tasks run now")
        elif not check.target_digest:
            lines.append(f"  {check.container}: could not check {check.image or 'its image'} ({check.note or 'unknown'})")
    difference = config_difference(current_doc, target.document)
    if difference:
        lines.append(f"  the digests are the same; {target.name} differs from the running task definition only in:")
        lines.extend(f"    {d}" for d in difference[:20])
        if len(difference) > 20:
            lines.append(f"    ... and {len(difference) - 20} more")
    for container, found in previous.items():
        if found:
            lines.append(f"  before the bad release {container} ran {found.digest} (from {found.source})")
        else:
            lines.append(f"  the digest {container} ran before the bad release is unknown")
    return "\n".join(lines)


def _pinned_hint(commands: list[str]) -> str:
    if commands:
        return ("roll back by digest to what ran before the bad release: " + " ; ".join(commands)
                + "  (or pass --allow-same-image to redeploy anyway)")
    return ("find the digest that ran before in ECR (`aws ecr describe-images`) and run "
            "`inv rollback.image --image REPOSITORY@sha256:DIGEST`, or pass --allow-same-image")


# ---------------------------------------------------------------- Option 2: by image


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


def check_image_exists(ecr: Any, image: ImageRef, account: str, say: Say) -> None:
    """In this account's ECR the tag or digest must exist; elsewhere we can only say so."""
    resolution = resolve(ecr, image, account)
    if resolution.reason.startswith("not found"):
        raise NotFound(
            f"image {image} does not exist: {resolution.reason}",
            f"list what exists with `aws ecr describe-images --repository-name {image.repository}`",
        )
    if resolution.reason:
        say(f"note: cannot check that {image} exists ({resolution.reason}); going ahead")


def option2_plan(settings: Settings, api: Service, described: dict[str, Any], container: str, image: ImageRef) -> Plan:
    params = cloned_registration(described, container, str(image))
    family = described["taskDefinition"]["family"]
    register = Step(
        service=api.name,
        action=f"register a copy of {short_td(described['taskDefinition']['taskDefinitionArn'])} with {container} on {image}",
        client="ecs",
        operation="register_task_definition",
        params=params,
        before=short_td(described["taskDefinition"]["taskDefinitionArn"]),
        after=f"{family}:<new revision>",
    )
    deploy = update_step(api, REGISTERED, f"{family}:<new revision>", settings.cluster, "deploy the new revision")
    return Plan(title=f"Option 2: roll back {api.name} to image {image}", steps=[register, deploy])


def parse_image_flag(uri: str | None) -> ImageRef:
    if not uri:
        raise UsageError("--image is required", "pass --image REPOSITORY:TAG or REPOSITORY@sha256:DIGEST")
    return parse_image(uri)


# ---------------------------------------------------------------- Option 3 and restart: the worker


@dataclass(frozen=True)
class Scaling:
    """The worker's Application Auto Scaling target, if any."""

    resource_id: str
    min_capacity: int
    suspended: dict[str, bool]


def scaling_target(autoscaling: Any, cluster: str, service: str, say: Say) -> Scaling | None:
    resource_id = f"service/{cluster}/{service}"
    try:
        answer = autoscaling.describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[resource_id], ScalableDimension=SCALING_DIMENSION
        )
    except ClientError as exc:
        say(f"note: cannot read Application Auto Scaling ({exc.response.get('Error', {}).get('Code')}); "
            "if it manages the worker it may undo the change")
        return None
    targets = answer.get("ScalableTargets", [])
    if not targets:
        return None
    t = targets[0]
    return Scaling(resource_id, int(t["MinCapacity"]), dict(t.get("SuspendedState") or {}))


def _tags(service: Service) -> dict[str, str]:
    return {t.get("key", ""): t.get("value", "") for t in service.raw.get("tags", []) or []}


def stop_worker_plan(settings: Settings, worker: Service, scaling: Scaling | None) -> Plan | None:
    """Option 3: remember the count (a tag), pin auto scaling, set desired 0. Never delete."""
    if worker.desired == 0 and worker.running == 0 and worker.pending == 0:
        return None
    steps: list[Step] = []
    tags = [{"key": PREVIOUS_COUNT_TAG, "value": str(worker.desired)}]
    if scaling is not None:
        tags.append({"key": PREVIOUS_MIN_TAG, "value": str(scaling.min_capacity)})
    if worker.desired > 0:
        steps.append(Step(worker.name, "remember the worker's desired count", "ecs", "tag_resource",
                          {"resourceArn": worker.arn, "tags": tags}, "-", f"{PREVIOUS_COUNT_TAG}={worker.desired}"))
    if scaling is not None:
        steps.append(Step(
            worker.name, "suspend the worker's auto scaling", "application-autoscaling", "register_scalable_target",
            {"ServiceNamespace": "ecs", "ResourceId": scaling.resource_id, "ScalableDimension": SCALING_DIMENSION,
             "MinCapacity": 0, "SuspendedState": ALL_SUSPENDED},
            f"min {scaling.min_capacity}, scaling on", "min 0, scaling suspended",
            undo=f"inv worker.start --count {worker.desired or 1}",
        ))
    steps.append(Step(
        worker.name, "stop the worker", "ecs", "update_service",
        {"cluster": settings.cluster, "service": worker.name, "desiredCount": 0},
        f"desired {worker.desired}", "desired 0", undo=f"inv worker.start --count {worker.desired or 1}",
    ))
    return Plan(title=f"Option 3: stop {worker.name} (desired {worker.desired} -> 0)", steps=steps)


def restore_count(settings: Settings, worker: Service, count: int | None) -> int:
    """``--count``, else the count remembered by worker.stop, else ``ecs.worker.restore_count``."""
    if count is not None:
        if count < 1:
            raise UsageError(f"--count {count} must be 1 or more", "to stop the worker use `inv worker.stop`")
        return count
    remembered = _tags(worker).get(PREVIOUS_COUNT_TAG, "")
    if remembered.isdigit() and int(remembered) > 0:
        return int(remembered)
    return int(settings.worker_service.restore_count or 1)


def refuse_while_rolling(other: Service, doing: str, force: bool, say: Say = print) -> None:
    """The runbook: never restart both services at once (a failing, unchanging service is no rollout)."""
    if force or other.is_steady:
        return
    primary = other.primary
    changing = len(other.deployments) > 1 or (primary is not None and primary.rollout_state == "IN_PROGRESS")
    if not changing and other.failed_tasks > 0:
        say(f"note: {other.name} is failing (running {other.running}/{other.desired}, {other.failed_tasks} failed "
            "tasks), not rolling out: going ahead")
        return
    raise Refused(
        f"refusing to {doing} while {other.name} is still rolling out "
        f"({len(other.deployments)} deployment(s), running {other.running}/{other.desired}, {other.rollout_state or '-'})",
        "the runbook says never to change both services at once: run `inv wait` first, or pass --force",
    )


def start_worker_plan(settings: Settings, worker: Service, count: int, scaling: Scaling | None) -> Plan | None:
    """Restart the worker: set the count, restore auto scaling, forget the remembered count."""
    tags = _tags(worker)
    steps: list[Step] = []
    if worker.desired != count or not worker.is_steady:
        steps.append(Step(
            worker.name, "start the worker", "ecs", "update_service",
            {"cluster": settings.cluster, "service": worker.name, "desiredCount": count},
            f"desired {worker.desired}", f"desired {count}", undo="inv worker.stop",
        ))
    if scaling is not None and (any(scaling.suspended.values()) or PREVIOUS_MIN_TAG in tags):
        minimum = int(tags[PREVIOUS_MIN_TAG]) if tags.get(PREVIOUS_MIN_TAG, "").isdigit() else scaling.min_capacity
        steps.append(Step(
            worker.name, "resume the worker's auto scaling", "application-autoscaling", "register_scalable_target",
            {"ServiceNamespace": "ecs", "ResourceId": scaling.resource_id, "ScalableDimension": SCALING_DIMENSION,
             "MinCapacity": minimum, "SuspendedState": NONE_SUSPENDED},
            f"min {scaling.min_capacity}, scaling suspended", f"min {minimum}, scaling on",
        ))
    forget = [k for k in (PREVIOUS_COUNT_TAG, PREVIOUS_MIN_TAG) if k in tags]
    if forget and steps:
        steps.append(Step(worker.name, "forget the remembered count", "ecs", "untag_resource",
                          {"resourceArn": worker.arn, "tagKeys": forget}, ", ".join(forget), "-"))
    if not steps:
        return None
    return Plan(title=f"restart {worker.name} (desired {worker.desired} -> {count})", steps=steps)
