"""The ECS service scheduler's half of the simulator: it starts, fails, drains and stops tasks.

A task asked to stop keeps running (desired STOPPED) for its stop timeout, as ECS gives containers
SIGTERM and time to finish, then passes through STOPPING to STOPPED. A task whose image cannot be
pulled never runs: it stops with ECS's CannotPullContainerError. Every method must be called with
the world's lock held.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from moto.ecs.models import EC2ContainerServiceBackend

from .ecs_model import Deployment, ServiceSim, SimulatedTask, utcnow
from .scenarios import Behaviour, BehaviourTable

Clock = Callable[[], float]
PullCheck = Callable[[str, "str | None"], bool]  # (image, digest) -> can a task pull it now

MAX_EVENTS = 100
MAX_STOPPED_TASKS = 50


class Scheduler:
    """Moves tasks the way the ECS service scheduler and agent do."""

    def __init__(self, backend: EC2ContainerServiceBackend, behaviours: BehaviourTable, can_pull: PullCheck,
                 rollout_seconds: float, clock: Clock) -> None:
        self.backend = backend
        self.behaviours = behaviours
        self._can_pull = can_pull
        self._clock = clock
        self.start_delay = rollout_seconds * 0.5  # PENDING -> RUNNING (or crash)
        self.stop_timeout = rollout_seconds * 0.25  # asked to stop -> STOPPING (the app drains)
        self.deprovision_delay = rollout_seconds * 0.05  # STOPPING -> STOPPED
        self.settle_delay = rollout_seconds * 0.25  # quiet time before COMPLETED
        self.services: dict[str, ServiceSim] = {}

    # -- queries ---------------------------------------------------------------------------

    def behaviour_of(self, task: SimulatedTask) -> Behaviour:
        """How this task behaves (by family and digest, with per-revision overrides)."""
        return self.behaviours.resolve(task.family, task.revision, task.digest)

    def tasks(self, service_name: str) -> list[SimulatedTask]:
        """All (including stopped) tasks of a service, oldest deployment first."""
        sim = self.services[service_name]
        return [t for d in reversed(sim.deployments) for t in d.tasks]

    def running(self, service_name: str) -> list[SimulatedTask]:
        """The service's RUNNING tasks that are not being stopped."""
        return [t for t in self.tasks(service_name) if t.status == "RUNNING" and not t.draining]

    # -- tasks -----------------------------------------------------------------------------

    def _launch(self, sim: ServiceSim, deployment: Deployment, now: float) -> SimulatedTask:
        task = SimulatedTask(self.backend, sim.service, deployment, now)
        deployment.tasks.append(task)
        self.backend.tasks.setdefault(sim.service.cluster_name, {})[task.task_arn] = task
        return task

    def _advance_tasks(self, sim: ServiceSim, now: float) -> None:
        """PENDING tasks start (or fail, or hang); stopped tasks drain and stop; crash-loopers die."""
        for deployment in sim.deployments:
            for task in deployment.tasks:
                age = now - task.since
                if task.draining:
                    if age >= self.stop_timeout:
                        task.move("STOPPING", now)
                elif task.status == "STOPPING" and age >= self.deprovision_delay:
                    task.move("STOPPED", now)
                elif task.status == "PENDING" and age >= self.start_delay:
                    self._start(deployment, task, now)
                elif task.status == "RUNNING" and self.behaviour_of(task) == "crash-loop":
                    self._crash(deployment, task, now)

    def _start(self, deployment: Deployment, task: SimulatedTask, now: float) -> None:
        unpullable = next((c.image for c in task.containers
                           if not self._can_pull(c.image, deployment.digests.get(c.name))), None)
        behaviour = self.behaviour_of(task)
        if unpullable is not None:
            reason = (f"CannotPullContainerError: pull image manifest has been retried 5 time(s): "
                      f"failed to resolve ref {unpullable}: {unpullable}: not found")
            self._failed(deployment, task, now, "TaskFailedToStart", reason, reason, None)
        elif behaviour in ("healthy", "errors"):
            task.move("RUNNING", now)
        elif behaviour == "crash-loop":
            self._crash(deployment, task, now)

    def _crash(self, deployment: Deployment, task: SimulatedTask, now: float) -> None:
        self._failed(deployment, task, now, "EssentialContainerExited", "Essential container in task exited",
                     "exit status 1", 1)

    def _failed(self, deployment: Deployment, task: SimulatedTask, now: float, code: str, reason: str,
                container_reason: str, exit_code: int | None) -> None:
        task.fail(now, code, reason, container_reason, exit_code)
        deployment.failed += 1
        deployment.updated_at = utcnow()

    def _scale_primary(self, sim: ServiceSim, now: float) -> None:
        """Start or stop PRIMARY tasks until it has ``desiredCount`` wanted tasks (a FAILED deployment
        launches no new tasks, as ECS documents)."""
        primary = sim.deployments[0]
        primary.desired = sim.service.desired_count
        live = primary.live()
        missing = primary.desired - len(live)
        if missing > 0 and primary.rollout_state != "FAILED":
            started = [self._launch(sim, primary, now) for _ in range(missing)]
            self._event(sim, f"(service {sim.service.name}) has started {len(started)} tasks: "
                        + " ".join(f"(task {t.id})" for t in started) + ".")
        elif missing < 0:
            self._stop(sim, self._stop_order(live)[:-missing], now)

    def _drain_old(self, sim: ServiceSim, now: float) -> None:
        """Stop older deployments' tasks as the PRIMARY's tasks come up (100%/200%)."""
        primary = sim.deployments[0]
        old = sim.deployments[1:]
        allowed = max(0, sim.service.desired_count - primary.serving())
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
            if task.status == "PENDING":
                task.move("STOPPED", now)
            else:
                task.request_stop(now)
        self._event(sim, f"(service {sim.service.name}) has stopped {len(tasks)} running tasks: "
                    + " ".join(f"(task {t.id})" for t in tasks) + ".")

    def _retire_drained(self, sim: ServiceSim) -> None:
        """Older deployments disappear once none of their tasks is wanted or stopping."""
        sim.deployments[1:] = [
            d for d in sim.deployments[1:]
            if any(t.status in ("PENDING", "RUNNING", "STOPPING") for t in d.tasks)
        ]

    def _quiet(self, sim: ServiceSim) -> bool:
        """One deployment, running = desired, nothing pending, draining or stopping."""
        primary = sim.deployments[0]
        stopping = any(t.status == "STOPPING" or t.draining for t in primary.tasks)
        return (len(sim.deployments) == 1 and not stopping and primary.count("PENDING") == 0
                and primary.serving() == sim.service.desired_count)

    def _prune_stopped(self, sim: ServiceSim) -> None:
        """Forget the oldest STOPPED tasks beyond a cap (ECS forgets them after an hour)."""
        stopped = [t for d in sim.deployments for t in d.tasks if t.status == "STOPPED"]
        stopped.sort(key=lambda t: t.since)
        for task in stopped[:-MAX_STOPPED_TASKS]:
            for deployment in sim.deployments:
                if task in deployment.tasks:
                    deployment.tasks.remove(task)
            self.backend.tasks.get(sim.service.cluster_name, {}).pop(task.task_arn, None)

    # -- what moto serializes ----------------------------------------------------------------

    def event(self, service_name: str, message: str) -> None:
        """Add a service event (newest first, as ECS lists them)."""
        self._event(self.services[service_name], message)

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

    def _snapshot_deployments(self, sim: ServiceSim) -> list[dict[str, Any]]:
        return [
            {"id": d.id, "status": d.status, "taskDefinition": d.task_definition.arn,
             "desired": d.desired, "running": d.count("RUNNING"),
             "pending": d.count("PENDING"), "failed": d.failed,
             "rolloutState": d.rollout_state, "rolloutStateReason": d.rollout_reason}
            for d in sim.deployments
        ]
