"""A rollout simulator on top of moto's (static) ECS backend.

moto keeps a service's deployment, counts and task definition frozen. This module replaces the
backend instance's ``update_service`` and ``list_tasks`` and moves deployments and real moto
tasks over time from ``tick()``, the way the ECS scheduler does, recording every deployment it
starts as a service deployment of a service revision (``history``). Every public method must be
called with the world's lock held.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Service, Task

from .deployer import Deployer, DigestResolver
from .ecs_model import Deployment, ServiceSim, new_deployment_id, utcnow
from .history import CONTINUING, STOPPABLE, Counts, DeploymentHistory, ServiceRevision
from .scenarios import BehaviourTable
from .scheduler import Clock, PullCheck
from .wire import AwsError


class RolloutSimulator(Deployer):
    """Moves ECS services, deployments and tasks over time, as ECS would, and records their history:
    the seeding calls, the ECS API calls it answers, the clock, and what tests observe."""

    def __init__(self, backend: EC2ContainerServiceBackend, behaviours: BehaviourTable,
                 resolve_digest: DigestResolver, can_pull: PullCheck, history: DeploymentHistory,
                 rollout_seconds: float, clock: Clock, breaker_failures: int | None = None) -> None:
        super().__init__(backend, behaviours, resolve_digest, can_pull, history, rollout_seconds, clock,
                         breaker_failures)
        self._original_list_tasks = backend.list_tasks

    # -- installation and seeding ---------------------------------------------------------

    def install(self) -> None:
        """Replace the backend instance's methods with the simulator's."""
        self.backend.update_service = self.update_service  # type: ignore[method-assign]
        self.backend.list_tasks = self.list_tasks  # type: ignore[method-assign]

    def record_past(self, service: Service, task_definition: str, digests: dict[str, str | None],
                    started: datetime, finished: datetime, sources: list[ServiceRevision]) -> ServiceRevision:
        """Record a deployment that ran to SUCCESSFUL before the world began; returns its revision."""
        td = self.backend.describe_task_definition(task_definition)
        revision = self._new_revision(service, td, new_deployment_id(), started, digests)
        deployment = self._start_history(service, revision, sources, service.desired_count, started)
        deployment.counts[revision.arn] = Counts(service.desired_count, service.desired_count, 0)
        for source in sources:
            deployment.counts[source.arn] = Counts()
        deployment.move("IN_PROGRESS", "", started)
        self._succeed(deployment, finished)
        return revision

    def adopt(self, service: Service, since: datetime, finished: datetime,
              sources: list[ServiceRevision] | None = None, failed: int = 0) -> None:
        """Take over a freshly created service as if its deployment completed at ``finished``."""
        td = self.backend.describe_task_definition(service.task_definition)
        deployment_id = new_deployment_id()
        revision = self._new_revision(service, td, deployment_id, since, self._digests(td))
        record = self._start_history(service, revision, sources or [], service.desired_count, since)
        record.move("IN_PROGRESS", "", since)
        deployment = Deployment(
            id=deployment_id, task_definition=td, revision=revision, service_deployment=record,
            desired=service.desired_count, rollout_state="COMPLETED", failed=failed, created_at=since,
            updated_at=finished, rollout_reason=f"ECS deployment {deployment_id} completed.",
        )
        sim = ServiceSim(service=service, deployments=[deployment], last_completed=revision)
        self.services[service.name] = sim
        now = self._clock()
        for _ in range(service.desired_count):
            if self._behaviour_of_deployment(deployment) in ("healthy", "errors"):
                task = self._launch(sim, deployment, now)
                task.move("RUNNING", now)
                task.created_at = task.started_at = since
        sim.steady = self._quiet(sim)
        self._sync(sim)
        record.counts[revision.arn] = Counts(service.desired_count, deployment.count("RUNNING"), 0)
        self._succeed(record, finished)

    def begin(self, service_name: str, task_definition: str, since: datetime, failed: int = 0) -> None:
        """Start a deployment that began at ``since`` and is still rolling out (for seeding)."""
        sim = self.services[service_name]
        deployment = self._deploy(sim, self._task_definition_for_update(task_definition), since)
        deployment.failed = deployment.service_deployment.failure_count = failed
        deployment.service_deployment.move("IN_PROGRESS", "", since)
        self._sync(sim)

    # -- the patched and the added ECS API ---------------------------------------------------

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
            self.scale(service.name, int(desired))
        changed = task_definition is not None and task_definition.arn != service.task_definition
        if changed or force:
            self._deploy(sim, task_definition or sim.deployments[0].task_definition, utcnow())
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

    def stop_service_deployment(self, arn: str) -> None:
        """ECS StopServiceDeployment (ROLLBACK): PENDING/IN_PROGRESS -> ROLLBACK_REQUESTED, with ECS's errors."""
        record = self.history.deployments.get(arn)
        if record is None:
            raise AwsError("ServiceDeploymentNotFoundException",
                           f"Service deployment {arn} not found.")
        if record.status in CONTINUING:
            return
        if record.status not in STOPPABLE:
            raise AwsError("ConflictException", f"Service deployment {arn} is {record.status}: "
                           "only a PENDING or IN_PROGRESS service deployment can be stopped.")
        sim = next(s for s in self.services.values() if s.service.arn == record.target.service_arn)
        if self._rollback_revision(sim, record) is None:
            raise AwsError("ConflictException", f"Service deployment {arn} has no previous "
                           "service revision to roll back to.")
        record.move("ROLLBACK_REQUESTED", "Rollback requested (StopServiceDeployment).", utcnow())
        sim.rollbacks.append(record)

    def scale(self, service_name: str, count: int) -> None:
        """Set a service's desired count (UpdateService --desired-count, or Application Auto Scaling)."""
        sim = self.services[service_name]
        sim.service.desired_count = count
        sim.deployments[0].desired = count

    # -- time ------------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance every service by what happened since the last tick."""
        now = self._clock()
        for sim in self.services.values():
            self._begin_pending(sim)
            self._begin_requested_rollbacks(sim)
            self._advance_tasks(sim, now)
            self._scale_primary(sim, now)
            self._drain_old(sim, now)
            self._circuit_breaker(sim)
            self._retire_drained(sim)
            self._settle(sim, now)
            self._prune_stopped(sim)
            self._sync(sim)
        self._sync_cluster()
        self.history.prune(utcnow())

    # -- queries ---------------------------------------------------------------------------

    def converged(self) -> bool:
        """No deployment IN_PROGRESS and no desired-count change still converging."""
        return all(self._converged(sim) for sim in self.services.values())

    def snapshot(self, service_name: str) -> dict[str, Any]:
        """A plain-data view of one service for assertions."""
        sim = self.services[service_name]
        service = sim.service
        deployments = self._snapshot_deployments(sim)
        for entry, deployment in zip(deployments, sim.deployments, strict=True):
            entry["serviceDeploymentArn"] = deployment.service_deployment.arn
            entry["serviceRevisionArn"] = deployment.revision.arn
        return {
            "name": service.name, "status": service.status,
            "taskDefinition": service.task_definition,
            "desired": service.desired_count, "running": service.running_count,
            "pending": service.pending_count, "deployments": deployments,
            "running_digests": sorted(str(t.digest) for t in self.running(service_name)),
            "events": [e["message"] for e in service.events],
        }

    def _converged(self, sim: ServiceSim) -> bool:
        if sim.rollbacks or any(d.rollout_state == "IN_PROGRESS" for d in sim.deployments):
            return False
        primary = sim.deployments[0]
        if self._behaviour_of_deployment(primary) in ("crash-loop", "stuck"):
            return True
        return sim.steady and self._quiet(sim)
