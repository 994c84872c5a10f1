"""The same-image rule (the moved ``:latest`` trap): would Option 1/4's target redeploy the code that runs now?

Before anything changes, the target's images are resolved to digests and compared with what the
service's tasks run. If they are the same, ``SameImageRefused`` carries the pinned
``inv rollback.image --image REPOSITORY@sha256:...`` commands that would really roll back.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from ops.aws import ecs as ecs_mod
from ops.aws.ecr import ImageRef, image_history, parse_image_lenient, resolve, short_digest
from ops.aws.ecs import Service, short_td
from ops.aws.history import Deployment, History
from ops.change.audit import AUDIT_FILE, records
from ops.change.diff import config_difference
from ops.change.target import Target
from ops.checks.capture import TASKS_FILE
from ops.config import Settings
from ops.errors import Refused
from ops.runtime import Runtime, Say


@dataclass(frozen=True)
class ContainerCheck:
    """One container of the target: the digest its image resolves to now vs. the digests running."""

    container: str
    image: ImageRef | None
    target_digest: str | None
    running_digests: frozenset[str]
    note: str = ""
    missing: bool = False  # ECR says the target's image is gone

    @property
    def same(self) -> bool:
        return bool(self.target_digest) and self.running_digests == {self.target_digest}


def primary_digests(rt: Runtime, api: Service, history: History | None) -> dict[str, set[str]]:
    """What the bad release runs: per container, the digests of the PRIMARY deployment's running tasks
    (tasks of older deployments still draining do not count), or, while none of them runs, the digests
    its service revision records."""
    primary = api.primary
    if primary is None:
        return {}
    running: dict[str, set[str]] = {}
    for task in ecs_mod.running_tasks(rt.ecs, rt.settings.cluster, api.name):
        if not _of_deployment(task, primary.id, primary.task_definition):
            continue
        for container in task.get("containers", []):
            if container.get("imageDigest"):
                running.setdefault(container.get("name", ""), set()).add(container["imageDigest"])
    if running or history is None:
        return running
    record = history.record_of(short_td(primary.task_definition))
    return {i.container: {i.digest} for i in record.images if i.digest} if record else {}


def _of_deployment(task: dict[str, Any], deployment_id: str, task_definition: str) -> bool:
    """ECS sets a service task's ``startedBy`` to its deployment's id; without it, match the revision."""
    started_by = task.get("startedBy")
    if started_by:
        return bool(started_by == deployment_id)
    return bool(task.get("taskDefinitionArn") == task_definition)


def check_same_image(rt: Runtime, target: Target, running: dict[str, set[str]]) -> list[ContainerCheck]:
    """For each container of the target: the digest its image resolves to now vs. what the release runs."""
    ecr, account = rt.client("ecr"), rt.identity().account
    checks = []
    for definition in target.document.get("containerDefinitions", []):
        name, ref = definition.get("name", ""), parse_image_lenient(str(definition.get("image", "")))
        if ref is None:
            checks.append(ContainerCheck(name, None, None, frozenset(running.get(name, ())), "image URI not understood"))
            continue
        resolution = resolve(ecr, ref, account)
        checks.append(ContainerCheck(name, ref, resolution.digest, frozenset(running.get(name, ())), resolution.reason,
                                     resolution.missing))
    return checks


@dataclass(frozen=True)
class Previous:
    """The digest a container ran before the bad release, and where that was learnt."""

    digest: str
    source: str


def previous_digest(settings: Settings, ecr: Any, check: ContainerCheck, last_good: Deployment | None = None
                    ) -> Previous | None:
    """The digest the service ran before the bad release: ECS's deployment history (the last good
    deployment's recorded digest), then captures, the audit log, and ECR push order."""
    if check.image is None:
        return None
    return (_from_history(check, last_good) or _from_captures(settings, check) or _from_audit(settings, check)
            or _from_ecr(ecr, check))


def _from_history(check: ContainerCheck, last_good: Deployment | None) -> Previous | None:
    if last_good is None or last_good.revision is None:
        return None
    digest = last_good.revision.digest_of(check.container)
    image = next((i.image for i in last_good.revision.images if i.container == check.container), "")
    if not _usable(check, image, digest):
        return None
    return Previous(str(digest), f"ECS deployment history: {last_good.task_definition}'s last successful deployment")


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
    """Newest first: an image this toolkit deployed by digest to this service (the audit's ``images``)."""
    path = Path(settings.capture.dir) / AUDIT_FILE
    for record in records(path):
        if record.get("service") != settings.api_service.service or record.get("outcome") != "ok":
            continue
        for image in record.get("images") or []:
            if not isinstance(image, dict) or image.get("container") != check.container:
                continue
            ref = parse_image_lenient(str(image.get("image", "")))
            digest = image.get("digest") or (ref.digest if ref else None)
            if _usable(check, str(image.get("image", "")), digest):
                return Previous(str(digest), f"audit log {path.name} ({record.get('time', '?')})")
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


def refuse_same_image(settings: Settings, ecr: Any, checks: list[ContainerCheck],
                      current_doc: Callable[[], dict[str, Any]], target: Target, say: Say,
                      last_good: Deployment | None = None) -> None:
    """Raise Refused when the rollback would redeploy the digests already running; else say what it will run."""
    if not is_same_image(checks):
        for check in checks:
            if not check.target_digest:
                say(f"note: cannot resolve the digest of {check.container}'s image {check.image or '(unreadable)'} "
                    f"({check.note or 'unknown reason'}): cannot tell whether {target.name} runs different code; "
                    "going ahead")
        _say_mutable_targets(checks, target, say)
        return
    previous = {c.container: previous_digest(settings, ecr, c, last_good) for c in checks if c.same}
    pinned = [
        PinnedImage(c.container, c.image.pinned(found.digest))
        for c in checks
        if c.same and c.image is not None and (found := previous.get(c.container)) is not None
    ]
    raise SameImageRefused(_same_image_message(checks, previous, current_doc(), target), pinned, len(checks) > 1)


def guard_same_image(rt: Runtime, api: Service, target: Target, say: Say, running: dict[str, set[str]],
                     last_good: Deployment | None = None) -> list[ContainerCheck]:
    """Before Option 1/4 changes anything: Refused if ``target`` would redeploy what the release runs
    (``running``: ``primary_digests``); else the checks (the plan's diff shows their digests)."""
    checks = check_same_image(rt, target, running)
    refuse_checked(rt, api, target, say, checks, last_good)
    return checks


def refuse_checked(rt: Runtime, api: Service, target: Target, say: Say, checks: list[ContainerCheck],
                   last_good: Deployment | None = None) -> None:
    """The same-image rule on checks already made."""
    current = lambda: ecs_mod.describe_task_definition(rt.ecs, api.task_definition)["taskDefinition"]  # noqa: E731
    refuse_same_image(rt.settings, rt.client("ecr"), checks, current, target, say, last_good)


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
