"""A rollout simulator on top of moto's (static) ECS backend.

moto keeps a service's deployment, counts and task definition frozen. This module replaces the
backend instance's ``update_service`` and ``list_tasks`` and moves deployments and real moto
tasks over time from ``tick()``, the way the ECS scheduler does. Every public method must be
called with the world's lock held.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from moto.applicationautoscaling.models import FakeScalableTarget
from moto.ecs.exceptions import EcsClientException, InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Service, Task, TaskDefinition

from .scenarios import Behaviour, BehaviourTable

Clock = Callable[[], float]
DigestResolver = Callable[[str], "str | None"]
TargetLookup = Callable[[str, str], "FakeScalableTarget | None"]

MAX_EVENTS = 100
MAX_STOPPED_TASKS = 50
AUTOSCALING_DELAY = 1.0
_SUSPENSIONS = ("DynamicScalingInSuspended", "DynamicScalingOutSuspended", "ScheduledScalingSuspended")


def utcnow() -> datetime:
    """Timezone-aware now, for ECS timestamps."""
    return datetime.now(timezone.utc)


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
        self.since = now  # when the current status began
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


@dataclass
class Deployment:
    """One ECS deployment of a service and the tasks it started."""

    id: str
    task_definition: TaskDefinition
    digests: dict[str, str | None]
    desired: int
    status: str = "PRIMARY"
    rollout_state: str = "IN_PROGRESS"
    rollout_reason: str = ""
    failed: int = 0
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    tasks: list[SimulatedTask] = field(default_factory=list)

    def live(self) -> list[SimulatedTask]:
        """Tasks the scheduler still wants (PENDING or RUNNING, desired RUNNING)."""
        return [t for t in self.tasks if t.status in ("PENDING", "RUNNING")]

    def count(self, status: str) -> int:
        """How many of its tasks are in ``status``."""
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
    last_completed: TaskDefinition | None = None
    steady: bool = True
    quiet_since: float | None = None
    below_min_since: float | None = None


def new_deployment_id() -> str:
    """An id shaped like ECS's: ``ecs-svc/`` and 19 digits."""
    return f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"


def breaker_threshold(desired: int) -> int:
    """ECS's circuit breaker failed-task threshold."""
    return min(200, max(3, math.ceil(desired / 2)))


class RolloutSimulator:
    """Moves ECS services, deployments and tasks over time, as ECS would."""

    def __init__(self, backend: EC2ContainerServiceBackend, behaviours: BehaviourTable,
                 resolve_digest: DigestResolver, scalable_target: TargetLookup,
                 rollout_seconds: float, clock: Clock,
                 breaker_failures: int | None = None) -> None:
        self.backend = backend
        self.behaviours = behaviours
        self._resolve_digest = resolve_digest
        self._scalable_target = scalable_target
        self._clock = clock
        self._breaker_failures = breaker_failures
        self.start_delay = rollout_seconds * 0.5  # PENDING -> RUNNING (or crash)
        self.drain_delay = rollout_seconds * 0.25  # STOPPING -> STOPPED
        self.settle_delay = rollout_seconds * 0.25  # quiet time before COMPLETED
        self.services: dict[str, ServiceSim] = {}
        self._original_list_tasks = backend.list_tasks

    # -- installation and seeding ---------------------------------------------------------

    def install(self) -> None:
        """Replace the backend instance's methods with the simulator's."""
        self.backend.update_service = self.update_service  # type: ignore[method-assign]
        self.backend.list_tasks = self.list_tasks  # type: ignore[method-assign]

    def adopt(self, service: Service, since: datetime, failed: int = 0) -> None:
        """Take over a freshly created service as if it had been steady since ``since``."""
        task_definition = self.backend.describe_task_definition(service.task_definition)
        deployment = Deployment(
            id=new_deployment_id(), task_definition=task_definition,
            digests=self._digests(task_definition), desired=service.desired_count,
            rollout_state="COMPLETED", failed=failed, created_at=since, updated_at=since,
        )
        deployment.rollout_reason = f"ECS deployment {deployment.id} completed."
        sim = ServiceSim(service=service, deployments=[deployment], last_completed=task_definition)
        self.services[service.name] = sim
        now = self._clock()
        for _ in range(service.desired_count):
            if self._behaviour_of_deployment(deployment) in ("healthy", "errors"):
                task = self._launch(sim, deployment, now)
                task.move("RUNNING", now)
                task.created_at = task.started_at = since
        sim.steady = self._quiet(sim)
        self._sync(sim)

    # -- the patched ECS API ---------------------------------------------------------------

    def update_service(self, props: dict[str, Any]) -> Service:
        """ECS UpdateService: validate, apply, and start a deployment when one is due."""
        cluster = props.pop("cluster", "default")
        service = self.backend._get_service(cluster, props.pop("service").split("/")[-1])
        sim = self.services[service.name]
        target = props.pop("task_definition", None)
        force = bool(props.pop("force_new_deployment", False))
        desired = props.pop("desired_count", None)
        task_definition = self._task_definition_for_update(target) if target else None
        if desired is not None and int(desired) < 0:
            raise InvalidParameterException("Invalid value for desiredCount; it must be >= 0.")
        for name, value in props.items():
            if value is not None:
                setattr(service, name, value)
        if desired is not None:
            service.desired_count = int(desired)
            sim.deployments[0].desired = service.desired_count
        changed = task_definition is not None and task_definition.arn != service.task_definition
        if changed or force:
            self._deploy(sim, task_definition or sim.deployments[0].task_definition)
        self._sync(sim)
        return service

    def list_tasks(self, cluster_str: str | None = None, container_instance: str | None = None,
                   family: str | None = None, started_by: str | None = None,
                   service_name: str | None = None, desiredStatus: str | None = None) -> list[Task]:
        """ECS ListTasks: honours serviceName and the default desiredStatus RUNNING."""
        tasks = self._original_list_tasks(cluster_str, container_instance, family, started_by,
                                          None, desiredStatus or "RUNNING")
        if service_name:
            group = f"service:{service_name.split('/')[-1]}"
            tasks = [t for t in tasks if t.group == group]
        return tasks

    # -- time ------------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance every service by what happened since the last tick."""
        now = self._clock()
        for sim in self.services.values():
            self._autoscale(sim, now)
            self._advance_tasks(sim, now)
            self._scale_primary(sim, now)
            self._drain_old(sim, now)
            self._circuit_breaker(sim)
            self._retire_drained(sim)
            self._settle(sim, now)
            self._prune_stopped(sim)
            self._sync(sim)
        self._sync_cluster()

    # -- queries ---------------------------------------------------------------------------

    def behaviour_of(self, task: SimulatedTask) -> Behaviour:
        """How this task behaves (by family and digest, with per-revision overrides)."""
        return self.behaviours.resolve(task.family, task.revision, task.digest)

    def tasks(self, service_name: str) -> list[SimulatedTask]:
        """All (including stopped) tasks of a service, oldest deployment first."""
        sim = self.services[service_name]
        return [t for d in reversed(sim.deployments) for t in d.tasks]

    def running(self, service_name: str) -> list[SimulatedTask]:
        """The service's RUNNING tasks."""
        return [t for t in self.tasks(service_name) if t.status == "RUNNING"]

    def converged(self) -> bool:
        """No deployment IN_PROGRESS and no desired-count change still converging."""
        return all(self._converged(sim) for sim in self.services.values())

    def snapshot(self, service_name: str) -> dict[str, Any]:
        """A plain-data view of one service for assertions."""
        sim = self.services[service_name]
        service = sim.service
        return {
            "name": service.name, "status": service.status,
            "taskDefinition": service.task_definition,
            "desired": service.desired_count, "running": service.running_count,
            "pending": service.pending_count,
            "deployments": [
                {"id": d.id, "status": d.status, "taskDefinition": d.task_definition.arn,
                 "desired": d.desired, "running": d.count("RUNNING"),
                 "pending": d.count("PENDING"), "failed": d.failed,
                 "rolloutState": d.rollout_state, "rolloutStateReason": d.rollout_reason}
                for d in sim.deployments
            ],
            "running_digests": sorted(str(t.digest) for t in self.running(service_name)),
            "events": [e["message"] for e in service.events],
        }

    # -- internals: deployments --------------------------------------------------------------

    def _task_definition_for_update(self, target: str) -> TaskDefinition:
        """Resolve family, family:revision or ARN as ECS does, with ECS's errors."""
        name = target.split("/")[-1]
        family, _, revision = name.partition(":")
        revisions = self.backend.task_definitions.get(family, {})
        if revision:
            if not revision.isdigit():
                raise EcsClientException("TaskDefinition not found.")
            task_definition = revisions.get(int(revision))
            if task_definition is None:
                raise EcsClientException("TaskDefinition not found.")
            if task_definition.status != "ACTIVE":
                raise InvalidParameterException("TaskDefinition is inactive")
            return task_definition
        active = [td for td in revisions.values() if td.status == "ACTIVE"]
        if not active:
            raise EcsClientException("TaskDefinition not found.")
        return max(active, key=lambda td: td.revision)

    def _digests(self, task_definition: TaskDefinition) -> dict[str, str | None]:
        """Resolve each container's image to a digest, as ECS does when a deployment starts."""
        return {c["name"]: self._resolve_digest(c["image"]) for c in task_definition.container_definitions}

    def _deploy(self, sim: ServiceSim, task_definition: TaskDefinition) -> Deployment:
        """Start a new PRIMARY deployment; older ones turn ACTIVE."""
        for old in sim.deployments:
            old.status = "ACTIVE"
            old.updated_at = utcnow()
        deployment = Deployment(
            id=new_deployment_id(), task_definition=task_definition,
            digests=self._digests(task_definition), desired=sim.service.desired_count,
        )
        deployment.rollout_reason = f"ECS deployment {deployment.id} in progress."
        sim.deployments.insert(0, deployment)
        sim.service.task_definition = task_definition.arn
        sim.quiet_since = None
        sim.steady = False
        return deployment

    def _behaviour_of_deployment(self, deployment: Deployment) -> Behaviour:
        td = deployment.task_definition
        first = td.container_definitions[0]["name"]
        return self.behaviours.resolve(td.family, td.revision, deployment.digests.get(first))

    # -- internals: the scheduler ------------------------------------------------------------

    def _launch(self, sim: ServiceSim, deployment: Deployment, now: float) -> SimulatedTask:
        task = SimulatedTask(self.backend, sim.service, deployment, now)
        deployment.tasks.append(task)
        self.backend.tasks.setdefault(sim.service.cluster_name, {})[task.task_arn] = task
        return task

    def _advance_tasks(self, sim: ServiceSim, now: float) -> None:
        """PENDING tasks start (or crash, or hang); STOPPING tasks stop; crash-loopers die."""
        for deployment in sim.deployments:
            for task in deployment.tasks:
                behaviour = self.behaviour_of(task)
                age = now - task.since
                if task.status == "STOPPING" and age >= self.drain_delay:
                    task.move("STOPPED", now)
                elif task.status == "PENDING" and age >= self.start_delay:
                    self._start(deployment, task, behaviour, now)
                elif task.status == "RUNNING" and behaviour == "crash-loop":
                    self._crash(deployment, task, now)

    def _start(self, deployment: Deployment, task: SimulatedTask, behaviour: Behaviour,
               now: float) -> None:
        if behaviour in ("healthy", "errors"):
            task.move("RUNNING", now)
        elif behaviour == "crash-loop":
            self._crash(deployment, task, now)

    def _crash(self, deployment: Deployment, task: SimulatedTask, now: float) -> None:
        task.move("STOPPED", now)
        task.stop_code = "EssentialContainerExited"
        task.stopped_reason = "Essential container in task exited"
        for container in task.containers:
            container.exitCode = 1
            container.reason = "exit status 1"
        deployment.failed += 1
        deployment.updated_at = utcnow()

    def _scale_primary(self, sim: ServiceSim, now: float) -> None:
        """Start or stop PRIMARY tasks until it has ``desiredCount`` wanted tasks."""
        primary = sim.deployments[0]
        primary.desired = sim.service.desired_count
        live = primary.live()
        missing = primary.desired - len(live)
        if missing > 0:
            started = [self._launch(sim, primary, now) for _ in range(missing)]
            self._event(sim, f"(service {sim.service.name}) has started {len(started)} tasks: "
                        + " ".join(f"(task {t.id})" for t in started) + ".")
        elif missing < 0:
            self._stop(sim, self._stop_order(live)[:-missing], now)

    def _drain_old(self, sim: ServiceSim, now: float) -> None:
        """Stop older deployments' tasks as the PRIMARY's tasks come up (100%/200%)."""
        primary = sim.deployments[0]
        old = sim.deployments[1:]
        allowed = max(0, sim.service.desired_count - primary.count("RUNNING"))
        candidates = [t for d in old for t in d.live()]
        excess = len(candidates) - allowed
        if excess > 0:
            self._stop(sim, self._stop_order(candidates)[:excess], now)
        for deployment in old:
            deployment.desired = len(deployment.live())

    @staticmethod
    def _stop_order(tasks: list[SimulatedTask]) -> list[SimulatedTask]:
        """PENDING before RUNNING, newest first."""
        return sorted(tasks, key=lambda t: (t.status == "RUNNING", -t.since))

    def _stop(self, sim: ServiceSim, tasks: list[SimulatedTask], now: float) -> None:
        if not tasks:
            return
        for task in tasks:
            task.stop_code = "ServiceSchedulerInitiated"
            task.stopped_reason = f"Scaling activity initiated by (deployment {task.started_by})"
            task.move("STOPPED" if task.status == "PENDING" else "STOPPING", now)
        self._event(sim, f"(service {sim.service.name}) has stopped {len(tasks)} running tasks: "
                    + " ".join(f"(task {t.id})" for t in tasks) + ".")

    def _circuit_breaker(self, sim: ServiceSim) -> None:
        """Fail an IN_PROGRESS deployment whose tasks keep failing; roll back if configured."""
        primary = sim.deployments[0]
        breaker = (getattr(sim.service, "deployment_configuration", None) or {}).get(
            "deploymentCircuitBreaker") or {}
        threshold = self._breaker_failures or breaker_threshold(primary.desired)
        if primary.rollout_state != "IN_PROGRESS" or not breaker.get("enable"):
            return
        if primary.failed < threshold:
            return
        primary.rollout_state = "FAILED"
        primary.rollout_reason = "ECS deployment circuit breaker: tasks failed to start."
        primary.updated_at = utcnow()
        self._event(sim, f"(service {sim.service.name}) (deployment {primary.id}) deployment "
                    "failed: tasks failed to start.")
        if breaker.get("rollback") and sim.last_completed is not None:
            target = sim.last_completed
            self._deploy(sim, target)
            self._event(sim, f"(service {sim.service.name}) rolling back to deployment with "
                        f"task definition {target.arn}.")

    def _retire_drained(self, sim: ServiceSim) -> None:
        """Older deployments disappear once none of their tasks is wanted or stopping."""
        sim.deployments[1:] = [
            d for d in sim.deployments[1:]
            if any(t.status in ("PENDING", "RUNNING", "STOPPING") for t in d.tasks)
        ]

    def _quiet(self, sim: ServiceSim) -> bool:
        """One deployment, running = desired, nothing pending or stopping."""
        primary = sim.deployments[0]
        stopping = any(t.status == "STOPPING" for t in primary.tasks)
        return (len(sim.deployments) == 1 and not stopping and primary.count("PENDING") == 0
                and primary.count("RUNNING") == sim.service.desired_count)

    def _settle(self, sim: ServiceSim, now: float) -> None:
        """Complete the rollout and announce a steady state after a quiet spell."""
        if not self._quiet(sim):
            sim.quiet_since = None
            sim.steady = False
            return
        sim.quiet_since = sim.quiet_since if sim.quiet_since is not None else now
        if now - sim.quiet_since < self.settle_delay or sim.steady:
            return
        primary = sim.deployments[0]
        if primary.rollout_state == "IN_PROGRESS":
            primary.rollout_state = "COMPLETED"
            primary.rollout_reason = f"ECS deployment {primary.id} completed."
            primary.updated_at = utcnow()
            self._event(sim, f"(service {sim.service.name}) (deployment {primary.id}) "
                        "deployment completed.")
        if primary.rollout_state == "COMPLETED":
            sim.last_completed = primary.task_definition
        sim.steady = True
        self._event(sim, f"(service {sim.service.name}) has reached a steady state.")

    def _converged(self, sim: ServiceSim) -> bool:
        if any(d.rollout_state == "IN_PROGRESS" for d in sim.deployments):
            return False
        primary = sim.deployments[0]
        if self._behaviour_of_deployment(primary) in ("crash-loop", "stuck"):
            return True
        return sim.steady and self._quiet(sim)

    def _autoscale(self, sim: ServiceSim, now: float) -> None:
        """Application Auto Scaling raises desiredCount back to MinCapacity after a moment."""
        service = sim.service
        target = self._scalable_target(service.cluster_name, service.name)
        minimum = target.min_capacity if target is not None else None
        suspended = target is not None and any((target.suspended_state or {}).get(k) for k in _SUSPENSIONS)
        if minimum is None or suspended or service.desired_count >= int(minimum):
            sim.below_min_since = None
            return
        if sim.below_min_since is None:
            sim.below_min_since = now
            return
        if now - sim.below_min_since < AUTOSCALING_DELAY:
            return
        before = service.desired_count
        service.desired_count = int(minimum)
        sim.below_min_since = None
        self._event(sim, f"(service {service.name}) Application Auto Scaling set desired count "
                    f"from {before} to {minimum}: below MinCapacity {minimum} of scalable target "
                    f"{target.resource_id}.")  # type: ignore[union-attr]

    def _prune_stopped(self, sim: ServiceSim) -> None:
        """Forget the oldest STOPPED tasks beyond a cap (ECS forgets them after an hour)."""
        stopped = [t for d in sim.deployments for t in d.tasks if t.status == "STOPPED"]
        stopped.sort(key=lambda t: t.since)
        for task in stopped[:-MAX_STOPPED_TASKS]:
            for deployment in sim.deployments:
                if task in deployment.tasks:
                    deployment.tasks.remove(task)
            self.backend.tasks.get(sim.service.cluster_name, {}).pop(task.task_arn, None)

    # -- internals: what moto serializes -----------------------------------------------------

    def _event(self, sim: ServiceSim, message: str) -> None:
        sim.service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": utcnow(), "message": message})
        del sim.service.events[MAX_EVENTS:]

    def _sync(self, sim: ServiceSim) -> None:
        """Write the simulator's state into the moto Service that describe_services returns."""
        service = sim.service
        service.deployments = [d.record(service.launch_type) for d in sim.deployments]
        service.running_count = sum(d.count("RUNNING") for d in sim.deployments)
        service.pending_count = sum(d.count("PENDING") for d in sim.deployments)

    def _sync_cluster(self) -> None:
        for cluster in self.backend.clusters.values():
            sims = [s for s in self.services.values() if s.service.cluster_name == cluster.name]
            cluster.running_tasks_count = sum(s.service.running_count for s in sims)
            cluster.pending_tasks_count = sum(s.service.pending_count for s in sims)
            cluster.active_services_count = len(sims)
