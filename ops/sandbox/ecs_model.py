"""The rollout simulator's ECS objects: tasks only the simulator moves, deployments, per-service state."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from moto.ecs.models import EC2ContainerServiceBackend, Service, Task, TaskDefinition

from .history import ServiceDeployment, ServiceRevision


def utcnow() -> datetime:
    """Timezone-aware now, for ECS timestamps."""
    return datetime.now(timezone.utc)


def new_deployment_id() -> str:
    """An id shaped like ECS's: ``ecs-svc/`` and 19 digits."""
    return f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"


def breaker_threshold(desired: int) -> int:
    """ECS's circuit breaker failed-task threshold: 0.5 x desired count, at least 3, at most 200."""
    return min(200, max(3, math.ceil(desired / 2)))


class SimulatedTask(Task):
    """A moto ECS task whose status only the simulator moves.

    moto's own tasks advance RUNNING -> DEACTIVATING -> ... each time they are described.
    """

    def __init__(self, backend: EC2ContainerServiceBackend, service: Service,
                 deployment: Deployment, now: float) -> None:
        cluster = backend._get_cluster(service.cluster_name)
        super().__init__(
            cluster=cluster, task_definition=deployment.task_definition,
            container_instance_arn=None, resource_requirements=None, backend=backend,
            group=f"service:{service.name}", launch_type="EC2", started_by=deployment.id,
        )
        self.status = "PENDING"
        self.family: str = deployment.task_definition.family
        self.revision: int = deployment.task_definition.revision
        self.since = now  # when the current status (or the stop request) began
        self.created_at = utcnow()
        self.health_status = "UNKNOWN"
        self.availability_zone = "eu-central-1a"
        for container in self.containers:
            container.task_arn = self.task_arn  # moto puts the task definition ARN here
            container.image_digest = deployment.digests.get(container.name)
            container.last_status = "PENDING"
            container.health_status = "UNKNOWN"

    @property
    def status(self) -> str | None:  # type: ignore[override]
        """The current status, never advanced behind the simulator's back."""
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        self._status = value

    def advance(self) -> None:
        """moto calls this on describe; the simulator alone moves tasks."""

    @property
    def digest(self) -> str | None:
        """The image digest of the (single) container."""
        return self.containers[0].image_digest

    @property
    def draining(self) -> bool:
        """Asked to stop (desired STOPPED) while its containers still run their stop timeout."""
        return self.status == "RUNNING" and self.desired_status == "STOPPED"

    @property
    def wanted(self) -> bool:
        """PENDING or RUNNING with desired status RUNNING: a task the scheduler still counts on."""
        return self.status in ("PENDING", "RUNNING") and self.desired_status == "RUNNING"

    def request_stop(self, now: float) -> None:
        """ECS's StopTask: desired STOPPED, the containers get SIGTERM and their stop timeout."""
        self.desired_status = "STOPPED"
        self.since = now

    def move(self, status: str, now: float) -> None:
        """Set the task and container status and the matching timestamps."""
        self.status = status
        self.since = now
        stamp = utcnow()
        for container in self.containers:
            container.last_status = status
            container.health_status = "HEALTHY" if status == "RUNNING" else "UNKNOWN"
        if status == "RUNNING":
            self.started_at = stamp
            self.health_status = "HEALTHY"
        elif status == "STOPPING":
            self.desired_status = "STOPPED"
            self.stopping_at = stamp
        elif status == "STOPPED":
            self.desired_status = "STOPPED"
            self.stopped_at = stamp
            self.execution_stopped_at = stamp

    def fail(self, now: float, stop_code: str, reason: str, container_reason: str,
             exit_code: int | None) -> None:
        """Stop because it failed (exited, or never started), as ECS reports it."""
        self.move("STOPPED", now)
        self.stop_code = stop_code
        self.stopped_reason = reason
        for container in self.containers:
            container.exitCode = exit_code
            container.reason = container_reason


@dataclass
class Deployment:
    """One ECS deployment of a service (``describe_services``), the tasks it started, and the service
    deployment and service revision it belongs to (``describe_service_deployments``)."""

    id: str
    task_definition: TaskDefinition
    revision: ServiceRevision
    service_deployment: ServiceDeployment
    desired: int
    status: str = "PRIMARY"
    rollout_state: str = "IN_PROGRESS"
    rollout_reason: str = ""
    failed: int = 0
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    tasks: list[SimulatedTask] = field(default_factory=list)

    @property
    def digests(self) -> dict[str, str | None]:
        """Container name -> the digest its tasks run (recorded in the service revision)."""
        return self.revision.digests

    def live(self) -> list[SimulatedTask]:
        """Tasks the scheduler still wants (PENDING or RUNNING, desired RUNNING)."""
        return [t for t in self.tasks if t.wanted]

    def serving(self) -> int:
        """RUNNING tasks not being stopped."""
        return sum(1 for t in self.tasks if t.status == "RUNNING" and not t.draining)

    def count(self, status: str) -> int:
        """How many of its tasks are in ``status`` (a draining task is still RUNNING)."""
        return sum(1 for t in self.tasks if t.status == status)

    def record(self, launch_type: str | None) -> dict[str, Any]:
        """The ECS API's Deployment structure."""
        return {
            "id": self.id, "status": self.status,
            "taskDefinition": self.task_definition.arn,
            "desiredCount": self.desired, "pendingCount": self.count("PENDING"),
            "runningCount": self.count("RUNNING"), "failedTasks": self.failed,
            "createdAt": self.created_at, "updatedAt": self.updated_at,
            "launchType": launch_type, "rolloutState": self.rollout_state,
            "rolloutStateReason": self.rollout_reason,
        }


@dataclass
class ServiceSim:
    """Simulator state of one service."""

    service: Service
    deployments: list[Deployment]
    last_completed: ServiceRevision | None = None
    steady: bool = True
    quiet_since: float | None = None
    rollbacks: list[ServiceDeployment] = field(default_factory=list)  # ROLLBACK_REQUESTED, not begun
