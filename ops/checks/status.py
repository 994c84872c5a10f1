"""The Quick Status Check (``inv status``): both services, their deployments with image digests, recent events."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable

from botocore.exceptions import BotoCoreError, ClientError

from ops.aws.ecr import parse_image_lenient, short_digest
from ops.aws.ecs import Service, describe_services, running_tasks_by_service, short_td
from ops.aws.history import Revision, describe_revisions
from ops.aws.holder import Holder, holder_json, read_holder_or_note
from ops.aws.session import error_code
from ops.report import table
from ops.runtime import Runtime


@dataclass(frozen=True)
class DeploymentImages:
    """One deployment's code: digests its running tasks report, images its task definition names."""

    digests: tuple[str, ...]
    images: tuple[str, ...]
    mutable: bool | None  # a mutable tag among ``images``; None: the task definition could not be read

    @property
    def mutable_images(self) -> tuple[str, ...]:
        return tuple(i for i in self.images if (ref := parse_image_lenient(i)) is not None and ref.is_mutable_tag)

    def to_json(self) -> dict[str, Any]:
        return {"imageDigests": list(self.digests), "images": list(self.images), "mutableTag": self.mutable}


def tasks_by_deployment(tasks: list[dict[str, Any]], deployments: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Running tasks keyed by deployment id (``startedBy``; else the one deployment of its revision).

    ``deployments`` maps deployment id to its task definition (ARN or ``family:revision``).
    """
    by_revision: dict[str, list[str]] = {}
    for deployment_id, task_definition in deployments.items():
        by_revision.setdefault(task_definition.rsplit("/", 1)[-1], []).append(deployment_id)
    found: dict[str, list[dict[str, Any]]] = {d: [] for d in deployments}
    for task in tasks:
        owner = task.get("startedBy", "")
        if owner not in found:
            candidates = by_revision.get(str(task.get("taskDefinitionArn", "")).rsplit("/", 1)[-1], [])
            owner = candidates[0] if len(candidates) == 1 else ""
        if owner:
            found[owner].append(task)
    return found


class TaskDefinitionImages:
    """The container images of task definitions, one ``describe_task_definition`` per revision."""

    def __init__(self, ecs: Any) -> None:
        self._ecs = ecs
        self._cache: dict[str, tuple[str, ...] | None] = {}
        self.errors: list[str] = []

    def __call__(self, task_definition: str) -> tuple[str, ...] | None:
        key = task_definition.rsplit("/", 1)[-1]
        if key not in self._cache:
            self._cache[key] = self._read(task_definition, key)
        return self._cache[key]

    def _read(self, task_definition: str, key: str) -> tuple[str, ...] | None:
        try:
            answer = self._ecs.describe_task_definition(taskDefinition=task_definition)
        except (ClientError, BotoCoreError) as exc:
            self.errors.append(f"cannot read task definition {key}: {error_code(exc)}")
            return None
        definitions = answer.get("taskDefinition", {}).get("containerDefinitions", [])
        return tuple(str(c.get("image", "")) for c in definitions)


def deployment_images(tasks: list[dict[str, Any]], deployments: dict[str, str],
                      images_of: TaskDefinitionImages) -> dict[str, DeploymentImages]:
    """Per deployment id: running digests (sorted) and the task definition's images, mutable tags flagged."""
    owned = tasks_by_deployment(tasks, deployments)
    result = {}
    for deployment_id, task_definition in deployments.items():
        digests = {c["imageDigest"] for t in owned[deployment_id] for c in t.get("containers", []) if c.get("imageDigest")}
        running_images = tuple(dict.fromkeys(c["image"] for t in owned[deployment_id] for c in t.get("containers", [])
                                             if c.get("image")))
        # running tasks carry the task definition's image strings: read the revision only when none run
        images = running_images or images_of(task_definition)
        mutable = None if images is None else any(
            (ref := parse_image_lenient(i)) is not None and ref.is_mutable_tag for i in images
        )
        result[deployment_id] = DeploymentImages(tuple(sorted(digests)), images or (), mutable)
    return result


def running_tasks_or_note(ecs: Any, cluster: str, names: list[str]) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Each service's running tasks; an unreadable task list is a note (no digests), not a failure."""
    try:
        return running_tasks_by_service(ecs, cluster, names), []
    except (ClientError, BotoCoreError) as exc:
        return {n: [] for n in names}, [f"cannot list the running tasks ({error_code(exc)}): no digests shown"]


def images_per_deployment(ecs: Any, services: Iterable[Service], tasks: dict[str, list[dict[str, Any]]]
                          ) -> tuple[dict[str, dict[str, DeploymentImages]], list[str]]:
    """Per service, per deployment id: what it runs (from its running ``tasks``), reading a task
    definition only for deployments none of whose tasks run. Unreadable parts become notes."""
    images_of = TaskDefinitionImages(ecs)
    found = {
        s.name: deployment_images(tasks.get(s.name, []), {d.id: d.task_definition for d in s.deployments}, images_of)
        for s in services
    }
    return found, images_of.errors


@dataclass
class Snapshot:
    services: dict[str, Service]
    images: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    lock: Holder | None = None

    def to_json(self) -> dict[str, Any]:
        """The contract's ``{"services": [...]}`` (deployments carry image digests) and the held ``lock``."""
        return {"services": [with_images(s.to_json(), self.images[n]) for n, s in self.services.items()],
                "lock": holder_json(self.lock)}


def gather(rt: Runtime) -> Snapshot:
    """One describe_services for both services (the lock read beside it), then what each deployment runs:
    one DescribeServiceRevisions for the services' current revisions (their recorded digests), or, where
    ECS does not name them, the running tasks and a task definition only for a deployment with none."""
    names = [s.service for s in rt.settings.services]
    ecs = rt.ecs
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="status") as pool:  # botocore clients are thread-safe
        lock_future = pool.submit(_lock_or_note, rt)
        services = describe_services(ecs, rt.settings.cluster, names)
        images, notes = _images(rt, services)
        holder, lock_notes = lock_future.result()
    return Snapshot(services=services, images=images, notes=notes + lock_notes, lock=holder)


def _images(rt: Runtime, services: dict[str, Service]) -> tuple[dict[str, dict[str, DeploymentImages]], list[str]]:
    from_revisions = revision_images(rt.ecs, services.values())
    if from_revisions is not None:
        return from_revisions
    tasks, notes = running_tasks_or_note(rt.ecs, rt.settings.cluster, list(services))
    images, more_notes = images_per_deployment(rt.ecs, services.values(), tasks)
    return images, notes + more_notes


def revision_images(ecs: Any, services: Iterable[Service]) -> tuple[dict[str, dict[str, DeploymentImages]], list[str]] | None:
    """Per service, per deployment: the images and digests its current service revision recorded (one
    DescribeServiceRevisions for all services); None when ECS names no current revisions (then tasks tell)."""
    found = list(services)
    arns = [str(r.get("arn", "")) for s in found for r in s.raw.get("currentServiceRevisions") or [] if r.get("arn")]
    if not arns or any(not s.raw.get("currentServiceRevisions") for s in found if s.deployments):
        return None
    try:
        revisions = describe_revisions(ecs, arns)
    except (ClientError, BotoCoreError):
        return None  # the tasks still tell
    by_definition = {r.task_definition: r for r in revisions.values()}
    images_of = TaskDefinitionImages(ecs)
    result: dict[str, dict[str, DeploymentImages]] = {}
    for service in found:
        result[service.name] = {}
        for deployment in service.deployments:
            revision = by_definition.get(short_td(deployment.task_definition))
            result[service.name][deployment.id] = _from_revision(revision) if revision else \
                deployment_images([], {deployment.id: deployment.task_definition}, images_of)[deployment.id]
    return result, images_of.errors


def _from_revision(revision: Revision) -> DeploymentImages:
    images = tuple(i.image for i in revision.images)
    digests = tuple(sorted({i.digest for i in revision.images if i.digest}))
    mutable = any((ref := parse_image_lenient(i)) is not None and ref.is_mutable_tag for i in images)
    return DeploymentImages(digests, images, mutable)


def _lock_or_note(rt: Runtime) -> tuple[Holder | None, list[str]]:
    holder, note = read_holder_or_note(rt)
    return holder, [note] if note else []


def render(snapshot: Snapshot, events: int) -> str:
    """The tables and the last ``events`` service events of each service."""
    lines = [services_table(snapshot.services.values())]
    if snapshot.lock is not None:
        lines += ["", f"ROLLBACK LOCK held by {snapshot.lock.describe()}: another rollback may be running"]
    for name, service in snapshot.services.items():
        count = len(service.deployments)
        lines += ["", f"{name}: {count} deployment{'' if count == 1 else 's'}",
                  deployments_table(service, snapshot.images[name])]
        lines += mutable_tag_warnings(service, snapshot.images[name])
    for name, service in snapshot.services.items():
        recent = events_lines(service, events)
        if recent:
            lines += ["", f"last events of {name}:", *recent]
    return "\n".join(lines)


def services_table(services: Iterable[Service]) -> str:
    rows = [
        (
            s.name,
            s.status,
            f"{s.running}/{s.desired}/{s.pending}",
            short_td(s.task_definition),
            s.rollout_state or "-",
            len(s.deployments),
        )
        for s in services
    ]
    return table(rows, ["service", "status", "running/desired/pending", "task definition", "rollout", "deployments"])


def deployments_table(service: Service, images: dict[str, DeploymentImages] | None = None) -> str:
    """One row per deployment; with ``images``, each deployment's short digests and its images' tags."""
    headers = ["deployment", "id", "task definition", "running/desired/pending", "failed", "rollout"]
    rows = []
    for d in service.deployments:
        row: list[Any] = [d.status, d.id, short_td(d.task_definition), f"{d.running}/{d.desired}/{d.pending}",
                          d.failed, d.rollout_state or "-"]
        if images is not None:
            row += _image_cells(images.get(d.id))
        rows.append(row)
    if images is not None:
        headers += ["image digest", "image"]
    return table(rows, headers)


def _image_cells(found: DeploymentImages | None) -> list[str]:
    if found is None:
        return ["-", "?"]
    digests = ", ".join(short_digest(d) for d in found.digests) or "-"
    names = ", ".join(_tag_part(i) for i in found.images) or "?"
    return [digests, f"{names}  MUTABLE TAG" if found.mutable else names]


def _tag_part(image: str) -> str:
    """``...amazonaws.com/sandbox-broker-api:latest`` -> ``sandbox-broker-api:latest``."""
    return image.rsplit("/", 1)[-1]


def with_images(service_json: dict[str, Any], images: dict[str, DeploymentImages]) -> dict[str, Any]:
    """The contract's service object with ``imageDigests``, ``images``, ``mutableTag`` added to each deployment."""
    for deployment in service_json.get("deployments", []):
        found = images.get(deployment.get("id", ""))
        deployment.update(found.to_json() if found else {"imageDigests": [], "images": [], "mutableTag": None})
    return service_json


def mutable_tag_warnings(service: Service, images: dict[str, DeploymentImages]) -> list[str]:
    """One line per task definition whose images use a mutable tag (``:latest``): its code is not pinned."""
    lines, seen = [], set()
    for d in service.deployments:
        found, name = images.get(d.id), short_td(d.task_definition)
        if found is None or not found.mutable or name in seen:
            continue
        seen.add(name)
        tags = ", ".join(_tag_part(i) for i in found.mutable_images)
        lines.append(
            f"warning: {name} uses a mutable tag ({tags}): the revision does not pin its code, so rolling "
            "back to a revision may redeploy whatever the tag points at now; pin images by digest"
        )
    return lines


def events_lines(service: Service, count: int) -> list[str]:
    return [
        f"  {e.created_at:%Y-%m-%d %H:%M:%S} {e.message}" if e.created_at else f"  {e.message}"
        for e in service.events[:count]
    ]
