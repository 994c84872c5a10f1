"""Small views over ECS responses and the few ECS reads the toolkit makes."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Iterator, Sequence

from ops.errors import NotFound


def short_td(arn_or_name: str | None) -> str:
    """``arn:...:task-definition/sandbox-broker:8`` -> ``sandbox-broker:8``."""
    if not arn_or_name:
        return ""
    return arn_or_name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Deployment:
    id: str
    status: str
    task_definition: str
    desired: int
    running: int
    pending: int
    failed: int
    rollout_state: str
    rollout_reason: str
    created_at: datetime | None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "Deployment":
        return cls(
            id=str(data.get("id", "")),
            status=str(data.get("status", "")),
            task_definition=str(data.get("taskDefinition", "")),
            desired=int(data.get("desiredCount", 0)),
            running=int(data.get("runningCount", 0)),
            pending=int(data.get("pendingCount", 0)),
            failed=int(data.get("failedTasks", 0)),
            rollout_state=str(data.get("rolloutState", "") or ""),
            rollout_reason=str(data.get("rolloutStateReason", "") or ""),
            created_at=data.get("createdAt"),
        )

    @property
    def is_primary(self) -> bool:
        return self.status == "PRIMARY"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "taskDefinition": short_td(self.task_definition),
            "desired": self.desired,
            "running": self.running,
            "pending": self.pending,
            "failed": self.failed,
            "rolloutState": self.rollout_state,
        }


@dataclass(frozen=True)
class Event:
    created_at: datetime | None
    message: str


@dataclass(frozen=True)
class Service:
    name: str
    arn: str
    status: str
    desired: int
    running: int
    pending: int
    task_definition: str
    deployments: tuple[Deployment, ...]
    events: tuple[Event, ...]
    raw: dict[str, Any]
    created_at: datetime | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "Service":
        return cls(
            name=str(data.get("serviceName", "")),
            arn=str(data.get("serviceArn", "")),
            status=str(data.get("status", "")),
            desired=int(data.get("desiredCount", 0)),
            running=int(data.get("runningCount", 0)),
            pending=int(data.get("pendingCount", 0)),
            task_definition=str(data.get("taskDefinition", "")),
            deployments=tuple(Deployment.from_api(d) for d in data.get("deployments", [])),
            events=tuple(Event(e.get("createdAt"), str(e.get("message", ""))) for e in data.get("events", [])),
            raw=data,
            created_at=data.get("createdAt"),
        )

    @property
    def primary(self) -> Deployment | None:
        return next((d for d in self.deployments if d.is_primary), None)

    @property
    def rollout_state(self) -> str:
        primary = self.primary
        return primary.rollout_state if primary else ""

    @property
    def failed_tasks(self) -> int:
        return sum(d.failed for d in self.deployments)

    @property
    def is_steady(self) -> bool:
        """One PRIMARY deployment, running = desired, nothing pending, rollout COMPLETED (or none)."""
        primary = self.primary
        return (
            len(self.deployments) == 1
            and primary is not None
            and primary.running == primary.desired == self.desired
            and self.running == self.desired
            and self.pending == 0
            and primary.rollout_state in ("COMPLETED", "")
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "desired": self.desired,
            "running": self.running,
            "pending": self.pending,
            "taskDefinition": short_td(self.task_definition),
            "rolloutState": self.rollout_state,
            "deployments": [d.to_json() for d in self.deployments],
        }


def describe_services(ecs: Any, cluster: str, names: Sequence[str]) -> dict[str, Service]:
    """One ``describe_services`` call for all ``names``; a missing service is NotFound."""
    answer = ecs.describe_services(cluster=cluster, services=list(names), include=["TAGS"])
    found = {s["serviceName"]: Service.from_api(s) for s in answer.get("services", [])}
    missing = [n for n in names if n not in found or found[n].status == "INACTIVE"]
    if missing:
        raise NotFound(
            f"ECS service {', '.join(missing)} not found in cluster {cluster}",
            "check ecs.cluster, ecs.api.service and ecs.worker.service in invoke.yaml, and aws.region",
        )
    return {name: found[name] for name in names}


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """``items`` in lists of at most ``size`` (what one Describe call may take)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def running_tasks(ecs: Any, cluster: str, service: str) -> list[dict[str, Any]]:
    """The service's RUNNING tasks (``list_tasks`` + ``describe_tasks``, both paginated)."""
    return running_tasks_by_service(ecs, cluster, [service])[service]


def running_tasks_by_service(ecs: Any, cluster: str, services: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Each service's RUNNING tasks: ``list_tasks`` per service, one ``describe_tasks`` per 100 tasks."""
    def arns(service: str) -> list[str]:
        pages = ecs.get_paginator("list_tasks").paginate(cluster=cluster, serviceName=service, desiredStatus="RUNNING")
        return [arn for page in pages for arn in page.get("taskArns", [])]

    with ThreadPoolExecutor(max_workers=max(1, len(services)), thread_name_prefix="list-tasks") as pool:
        listed = list(pool.map(arns, services))  # one round trip for all services, not one each
    owner = {arn: service for service, found in zip(services, listed, strict=True) for arn in found}
    found: dict[str, list[dict[str, Any]]] = {service: [] for service in services}
    for chunk in chunks(list(owner), 100):
        for task in ecs.describe_tasks(cluster=cluster, tasks=chunk).get("tasks", []):
            found[owner[task["taskArn"]]].append(task)
    return found


def deployment_task_ids(ecs: Any, cluster: str, service: str, deployment_id: str) -> set[str]:
    """Ids of the tasks (running or stopped) that a deployment started (ECS sets startedBy to its id)."""
    arns: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, serviceName=service, desiredStatus=status):
            arns.extend(page.get("taskArns", []))
    ids: set[str] = set()
    for chunk in chunks(arns, 100):
        for task in ecs.describe_tasks(cluster=cluster, tasks=chunk).get("tasks", []):
            if task.get("startedBy") == deployment_id:
                ids.add(str(task.get("taskArn", "")).rsplit("/", 1)[-1])
    return ids


def task_images(tasks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each task with each container's image and image digest (the shape saved by capture)."""
    return [
        {
            "taskArn": t.get("taskArn", ""),
            "taskDefinition": short_td(t.get("taskDefinitionArn")),
            "lastStatus": t.get("lastStatus", ""),
            "startedBy": t.get("startedBy", ""),
            "containers": [
                {"name": c.get("name", ""), "image": c.get("image", ""), "imageDigest": c.get("imageDigest", "")}
                for c in t.get("containers", [])
            ],
        }
        for t in tasks
    ]


def describe_task_definition(ecs: Any, task_definition: str) -> dict[str, Any]:
    """``{"taskDefinition": {...}, "tags": [...]}`` for ``family``, ``family:rev`` or an ARN."""
    try:
        answer = ecs.describe_task_definition(taskDefinition=task_definition, include=["TAGS"])
    except ecs.exceptions.ClientException as exc:
        raise NotFound(
            f"task definition {task_definition} not found: {exc.response['Error'].get('Message', '')}",
            "check the revision (aws ecs list-task-definitions --family-prefix FAMILY)",
        ) from None
    answer.pop("ResponseMetadata", None)
    return answer


# What describe_task_definition returns that register_task_definition does not take.
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


def service_tags(service: Service) -> dict[str, str]:
    """The service's tags (``describe_services(include=["TAGS"])``) as a dict."""
    return {t.get("key", ""): t.get("value", "") for t in service.raw.get("tags", []) or []}
