"""ECS's own deployment history of a service (ListServiceDeployments, DescribeServiceDeployments,
DescribeServiceRevisions): each deployment's outcome, and the task definition and resolved image
digests of the revision it deployed. Read-only; at most 20 ARNs a describe call, as ECS allows."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Sequence

from ops.aws.ecs import chunks, short_td

DESCRIBE_CHUNK = 20  # ECS: at most 20 ARNs per DescribeServiceDeployments / DescribeServiceRevisions
PAGE_SIZE = 100  # ListServiceDeployments' largest page
ONGOING = ("PENDING", "IN_PROGRESS")  # the statuses StopServiceDeployment accepts


@dataclass(frozen=True)
class RevisionImage:
    """One container of a service revision: the image it names and the digest ECS resolved then."""

    container: str
    image: str
    digest: str | None

    def to_json(self) -> dict[str, Any]:
        return {"container": self.container, "image": self.image, "digest": self.digest}


@dataclass(frozen=True)
class Revision:
    """A service revision: what one deployment ran."""

    arn: str
    task_definition: str  # family:revision
    images: tuple[RevisionImage, ...]

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "Revision":
        images = tuple(RevisionImage(str(c.get("containerName", "")), str(c.get("image", "")), c.get("imageDigest"))
                       for c in data.get("containerImages", []) or [])
        return cls(str(data.get("serviceRevisionArn", "")), short_td(data.get("taskDefinition")), images)

    def digest_of(self, container: str) -> str | None:
        return next((i.digest for i in self.images if i.container == container), None)


@dataclass(frozen=True)
class Deployment:
    """A service deployment (a brief from ListServiceDeployments), with its target revision once read."""

    arn: str
    status: str
    status_reason: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    target_arn: str
    revision: Revision | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "Deployment":
        return cls(
            arn=str(data.get("serviceDeploymentArn", "")), status=str(data.get("status", "")),
            status_reason=str(data.get("statusReason", "") or ""), created_at=data.get("createdAt"),
            started_at=data.get("startedAt"), finished_at=data.get("finishedAt"),
            target_arn=str(data.get("targetServiceRevisionArn", "")),
        )

    @property
    def task_definition(self) -> str | None:
        return self.revision.task_definition if self.revision else None

    @property
    def ongoing(self) -> bool:
        return self.status in ONGOING

    def to_json(self) -> dict[str, Any]:
        """The contract's entry of ``inv revisions --json``."""
        return {"taskDefinition": self.task_definition, "status": self.status, "startedAt": iso(self.started_at),
                "finishedAt": iso(self.finished_at),
                "images": [i.to_json() for i in self.revision.images] if self.revision else []}


def iso(when: datetime | None) -> str | None:
    """``2026-11-30T10:00:00Z`` (UTC, whole seconds), or None; a naive time is taken as UTC."""
    if when is None:
        return None
    aware = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def list_deployments(ecs: Any, cluster: str, service: str, statuses: Sequence[str] = ()) -> list[Deployment]:
    """Every service deployment ECS keeps (90 days), newest first; all pages read (the order of the
    answer is not documented, so it is sorted here by creation time)."""
    params: dict[str, Any] = {"cluster": cluster, "service": service, "maxResults": PAGE_SIZE}
    if statuses:
        params["status"] = list(statuses)
    found: list[Deployment] = []
    while True:
        answer = ecs.list_service_deployments(**params)
        found.extend(Deployment.from_api(d) for d in answer.get("serviceDeployments", []))
        token = answer.get("nextToken")
        if not token:
            break
        params["nextToken"] = token
    return sorted(found, key=lambda d: d.created_at.timestamp() if d.created_at else 0.0, reverse=True)


def describe_revisions(ecs: Any, arns: Iterable[str]) -> dict[str, Revision]:
    """Service revisions by ARN (20 a call); unknown ARNs are left out."""
    wanted = list(dict.fromkeys(a for a in arns if a))
    found: dict[str, Revision] = {}
    for chunk in chunks(wanted, DESCRIBE_CHUNK):
        for data in ecs.describe_service_revisions(serviceRevisionArns=chunk).get("serviceRevisions", []):
            revision = Revision.from_api(data)
            found[revision.arn] = revision
    return found


def with_revisions(ecs: Any, deployments: Sequence[Deployment]) -> list[Deployment]:
    """``deployments`` with their target revisions read (one call per 20 deployments)."""
    revisions = describe_revisions(ecs, [d.target_arn for d in deployments])
    return [replace(d, revision=revisions.get(d.target_arn)) for d in deployments]


def describe_deployment(ecs: Any, arn: str) -> dict[str, Any] | None:
    """The full ServiceDeployment (source revisions, rollback, circuit breaker), or None if unknown."""
    answer = ecs.describe_service_deployments(serviceDeploymentArns=[arn])
    found = answer.get("serviceDeployments", [])
    return found[0] if found else None


class History:
    """A service's deployments newest first, each target revision read lazily, 20 a call, only as far
    as a question needs (the last good revision is usually among the newest few)."""

    def __init__(self, ecs: Any, briefs: Sequence[Deployment]) -> None:
        self._ecs = ecs
        self._briefs = list(briefs)
        self._read: list[Deployment] = []

    @classmethod
    def of(cls, ecs: Any, cluster: str, service: str) -> "History":
        return cls(ecs, list_deployments(ecs, cluster, service))

    @classmethod
    def known(cls, deployments: Sequence[Deployment]) -> "History":
        """A history whose revisions are already read (nothing left to ask ECS)."""
        history = cls(None, deployments)
        history._read = list(deployments)
        return history

    def __len__(self) -> int:
        return len(self._briefs)

    def __iter__(self) -> Iterator[Deployment]:
        position = 0
        while position < len(self._briefs):
            if position == len(self._read):
                self._read.extend(with_revisions(self._ecs, self._briefs[position:position + DESCRIBE_CHUNK]))
            yield self._read[position]
            position += 1

    def newest(self, limit: int) -> list[Deployment]:
        return [d for _, d in zip(range(limit), self, strict=False)]

    def last_good(self, current: str) -> Deployment | None:
        """The newest SUCCESSFUL deployment of a task definition other than ``current`` (family:revision)."""
        return next((d for d in self if d.status == "SUCCESSFUL" and d.task_definition not in (None, current)), None)

    def newer_good(self, current: str, revision: int) -> Deployment | None:
        """The newest SUCCESSFUL deployment of a revision newer than ``revision``, other than ``current``."""
        return next((d for d in self if d.status == "SUCCESSFUL" and d.task_definition not in (None, current)
                     and revision_number(d.task_definition) > revision), None)

    def in_flight(self, current: str) -> Deployment | None:
        """The deployment rolling ``current`` out now (PENDING or IN_PROGRESS), if any."""
        return next((d for d in self if d.ongoing and d.task_definition == current), None)

    def record_of(self, task_definition: str) -> Revision | None:
        """The newest revision ECS recorded for ``task_definition`` (what its deployment resolved)."""
        return next((d.revision for d in self if d.revision and d.task_definition == task_definition), None)


def revision_number(task_definition: str | None) -> int:
    """``sandbox-broker:9`` -> 9 (0 when there is none)."""
    number = (task_definition or "").rpartition(":")[2]
    return int(number) if number.isdigit() else 0
