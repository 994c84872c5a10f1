"""Container image references: parse, validate, and resolve tags to digests in ECR."""
from __future__ import annotations

import re
from datetime import datetime
from dataclasses import dataclass
from typing import Any, Iterable

from botocore.exceptions import BotoCoreError, ClientError

from ops.ecs import Service, running_tasks_by_service
from ops.errors import UsageError

_IMAGE = re.compile(
    r"^(?:(?P<registry>[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+(?::\d+)?|localhost(?::\d+)?)/)?"
    r"(?P<repository>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_ECR = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
MUTABLE_TAGS = {
    "latest", "stable", "prod", "production", "main", "master", "current", "live", "release", "edge",
    "nightly", "dev", "develop", "staging",
}


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def ecr_account(self) -> str | None:
        match = _ECR.match(self.registry)
        return match.group("account") if match else None

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def pinned(self, digest: str) -> str:
        return f"{self.name}@{digest}"

    @property
    def is_mutable_tag(self) -> bool:
        """A tag (not a digest) that by convention moves: ``latest`` and friends."""
        return self.digest is None and (self.tag or "latest") in MUTABLE_TAGS

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image(uri: str) -> ImageRef:
    """Parse ``repository:tag`` or ``repository@sha256:...`` (with a registry); UsageError otherwise."""
    match = _IMAGE.match(uri.strip())
    if not match or not (match.group("tag") or match.group("digest")):
        raise UsageError(
            f"--image {uri!r} is not an image URI with a tag or digest",
            "use REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST "
            "(e.g. 905418046272.dkr.ecr.eu-central-1.amazonaws.com/sandbox-broker-api@sha256:...)",
        )
    return ImageRef(match.group("registry") or "", match.group("repository"), match.group("tag"), match.group("digest"))


def parse_image_lenient(uri: str) -> ImageRef | None:
    """Parse an image as a task definition holds it (no tag means ``latest``); None if unparseable."""
    match = _IMAGE.match(uri.strip())
    if not match:
        return None
    tag = match.group("tag") or (None if match.group("digest") else "latest")
    return ImageRef(match.group("registry") or "", match.group("repository"), tag, match.group("digest"))


@dataclass(frozen=True)
class Resolution:
    """What an image reference points at in ECR right now (digest None: could not tell, and why)."""

    image: ImageRef
    digest: str | None
    reason: str = ""


def resolve(ecr: Any, image: ImageRef, account: str) -> Resolution:
    """Resolve a tag to its digest with ``describe_images`` when the repository is this account's ECR."""
    if image.ecr_account is None:
        return Resolution(image, image.digest, "" if image.digest else f"{image.registry or 'Docker Hub'} is not ECR")
    if image.ecr_account != account:
        return Resolution(image, image.digest, "" if image.digest else f"repository is in another account ({image.ecr_account})")
    image_id = {"imageDigest": image.digest} if image.digest else {"imageTag": image.tag or "latest"}
    try:
        answer = ecr.describe_images(repositoryName=image.repository, imageIds=[image_id])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return Resolution(image, None, f"not found in ECR ({code})")
        return Resolution(image, image.digest, f"cannot read ECR: {code}")
    except BotoCoreError as exc:
        return Resolution(image, image.digest, f"cannot read ECR: {exc}")
    details = answer.get("imageDetails", [])
    return Resolution(image, details[0]["imageDigest"] if details else None, "" if details else "not found in ECR")


def image_history(ecr: Any, repository: str, registry_id: str | None = None) -> list[dict[str, Any]]:
    """Every image of a repository, newest push first (paginated)."""
    extra = {"registryId": registry_id} if registry_id else {}
    images: list[dict[str, Any]] = []
    for page in ecr.get_paginator("describe_images").paginate(repositoryName=repository, **extra):
        images.extend(page.get("imageDetails", []))
    return sorted(images, key=_pushed_at, reverse=True)


def _pushed_at(image: dict[str, Any]) -> float:
    pushed = image.get("imagePushedAt")
    if isinstance(pushed, datetime):
        return pushed.timestamp()
    return float(pushed or 0)


def short_digest(digest: str | None) -> str:
    return digest.split(":", 1)[-1][:12] if digest else "-"


# ---------------------------------------------------------------- what each deployment runs (inv status)


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
            self.errors.append(f"cannot read task definition {key}: {_reason(exc)}")
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


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or str(exc)
    return str(exc)


def running_tasks_or_note(ecs: Any, cluster: str, names: list[str]) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Each service's running tasks; an unreadable task list is a note (no digests), not a failure."""
    try:
        return running_tasks_by_service(ecs, cluster, names), []
    except (ClientError, BotoCoreError) as exc:
        return {n: [] for n in names}, [f"cannot list the running tasks ({_reason(exc)}): no digests shown"]


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
