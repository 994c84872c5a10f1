"""How ECS deployments move, and the history they leave: the deployer half of the simulator.

A deployment of a new task definition records a service revision (each container's image with the
digest resolved when the deployment starts) and a service deployment (``history``); a rollback (the
circuit breaker's, or StopServiceDeployment's) deploys the source service revision again with its
recorded digests. Every method must be called with the world's lock held.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime

from moto.ecs.exceptions import EcsClientException, InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Service, TaskDefinition

from .ecs_model import Deployment, ServiceSim, breaker_threshold, new_deployment_id, utcnow
from .history import Counts, DeploymentHistory, ServiceDeployment, ServiceRevision
from .scenarios import Behaviour, BehaviourTable
from .scheduler import Clock, PullCheck, Scheduler

DigestResolver = Callable[[str], "str | None"]


class Deployer(Scheduler):
    """Starts, fails, rolls back and completes deployments, recording each in ``history``."""

    def __init__(self, backend: EC2ContainerServiceBackend, behaviours: BehaviourTable,
                 resolve_digest: DigestResolver, can_pull: PullCheck, history: DeploymentHistory,
                 rollout_seconds: float, clock: Clock, breaker_failures: int | None = None) -> None:
        super().__init__(backend, behaviours, can_pull, rollout_seconds, clock)
        self.history = history
        self._resolve_digest = resolve_digest
        self._breaker_failures = breaker_failures

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

    def _new_revision(self, service: Service, td: TaskDefinition, deployment_id: str, at: datetime,
                      digests: dict[str, str | None]) -> ServiceRevision:
        cluster_arn = self.backend._get_cluster(service.cluster_name).arn
        return self.history.add_revision(ServiceRevision(
            arn=self.history.arn("service-revision", service.cluster_name, service.name,
                                 deployment_id.removeprefix("ecs-svc/")),
            service_arn=service.arn, cluster_arn=cluster_arn, task_definition=td.arn,
            launch_type=service.launch_type or "EC2",
            images=tuple((c["name"], c["image"], digests.get(c["name"])) for c in td.container_definitions),
            created_at=at,
        ))

    def _start_history(self, service: Service, revision: ServiceRevision, sources: list[ServiceRevision],
                       desired: int, at: datetime) -> ServiceDeployment:
        configuration = copy.deepcopy(getattr(service, "deployment_configuration", None) or {})
        configuration.setdefault("alarms", {"alarmNames": [], "rollback": False, "enable": False})
        threshold = self._breaker_failures or breaker_threshold(desired)
        return self.history.start(service.cluster_name, service.name, revision, sources, configuration,
                                  threshold, at)

    def _deploy(self, sim: ServiceSim, task_definition: TaskDefinition, at: datetime,
                rollback: tuple[ServiceRevision, ServiceDeployment] | None = None) -> Deployment:
        """Start a new PRIMARY deployment (of a new service revision, or of ``rollback``'s recorded one)."""
        deployment_id = new_deployment_id()
        if rollback is None:
            revision = self._new_revision(sim.service, task_definition, deployment_id, at,
                                          self._digests(task_definition))
            sources = list({d.revision.arn: d.revision for d in sim.deployments}.values())
            record = self._start_history(sim.service, revision, sources, sim.service.desired_count, at)
        else:
            revision, record = rollback
        for old in sim.deployments:
            old.status = "ACTIVE"
            old.updated_at = at
        deployment = Deployment(
            id=deployment_id, task_definition=task_definition, revision=revision, service_deployment=record,
            desired=sim.service.desired_count, created_at=at, updated_at=at,
            rollout_reason=f"ECS deployment {deployment_id} in progress.",
        )
        sim.deployments.insert(0, deployment)
        sim.service.task_definition = task_definition.arn
        sim.quiet_since = None
        sim.steady = False
        return deployment

    def _rollback_revision(self, sim: ServiceSim, record: ServiceDeployment) -> ServiceRevision | None:
        """The previous service revision: the source that last completed, else the first source."""
        if sim.last_completed is not None and sim.last_completed in record.sources:
            return sim.last_completed
        return record.sources[0] if record.sources else None

    def _roll_back(self, sim: ServiceSim, record: ServiceDeployment, revision: ServiceRevision,
                   reason: str) -> None:
        """ROLLBACK_IN_PROGRESS: a new PRIMARY deployment of ``revision`` with its recorded digests."""
        now = utcnow()
        record.rollback = {"reason": reason, "startedAt": now, "serviceRevisionArn": revision.arn}
        record.move("ROLLBACK_IN_PROGRESS", reason, now)
        self._deploy(sim, self.backend.describe_task_definition(revision.task_definition), now,
                     rollback=(revision, record))
        self._event(sim, f"(service {sim.service.name}) rolling back to deployment with task definition "
                    f"{revision.task_definition}.")

    @staticmethod
    def _begin_pending(sim: ServiceSim) -> None:
        """PENDING -> IN_PROGRESS, one tick after the deployment was created."""
        record = sim.deployments[0].service_deployment
        if record.status == "PENDING":
            record.move("IN_PROGRESS", "", utcnow())

    def _begin_requested_rollbacks(self, sim: ServiceSim) -> None:
        """ROLLBACK_REQUESTED -> ROLLBACK_IN_PROGRESS, one tick after StopServiceDeployment."""
        for record in sim.rollbacks:
            revision = self._rollback_revision(sim, record)
            if record.status != "ROLLBACK_REQUESTED" or revision is None:
                continue
            for deployment in sim.deployments:
                if deployment.service_deployment is record and deployment.rollout_state == "IN_PROGRESS":
                    deployment.rollout_state = "FAILED"
                    deployment.rollout_reason = f"ECS deployment {deployment.id} stopped: rollback requested."
            self._roll_back(sim, record, revision, "StopServiceDeployment requested a rollback.")
        sim.rollbacks = []

    def _behaviour_of_deployment(self, deployment: Deployment) -> Behaviour:
        td = deployment.task_definition
        first = td.container_definitions[0]["name"]
        return self.behaviours.resolve(td.family, td.revision, deployment.digests.get(first))

    def _circuit_breaker(self, sim: ServiceSim) -> None:
        """Fail an IN_PROGRESS deployment whose tasks keep failing; roll back if configured."""
        primary = sim.deployments[0]
        breaker = (getattr(sim.service, "deployment_configuration", None) or {}).get(
            "deploymentCircuitBreaker") or {}
        threshold = self._breaker_failures or breaker_threshold(primary.desired)
        if primary.rollout_state != "IN_PROGRESS" or not breaker.get("enable") or primary.failed < threshold:
            return
        primary.rollout_state = "FAILED"
        primary.rollout_reason = "ECS deployment circuit breaker: tasks failed to start."
        primary.updated_at = utcnow()
        self._event(sim, f"(service {sim.service.name}) (deployment {primary.id}) deployment "
                    "failed: tasks failed to start.")
        record = primary.service_deployment
        record.breaker_status, record.failure_count = "TRIGGERED", primary.failed
        if record.status == "ROLLBACK_IN_PROGRESS":
            record.move("ROLLBACK_FAILED", "The rollback's tasks failed to start.", utcnow())
        elif breaker.get("rollback") and sim.last_completed is not None:
            self._roll_back(sim, record, sim.last_completed, "Circuit breaker: tasks failed to start.")
        elif record.ongoing:
            record.move("STOPPED", "ECS deployment circuit breaker: tasks failed to start.", utcnow())

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
            self._succeed(primary.service_deployment, utcnow())
        if primary.rollout_state == "COMPLETED":
            sim.last_completed = primary.revision
        sim.steady = True
        self._event(sim, f"(service {sim.service.name}) has reached a steady state.")

    @staticmethod
    def _succeed(record: ServiceDeployment, at: datetime) -> None:
        """IN_PROGRESS -> SUCCESSFUL, ROLLBACK_IN_PROGRESS -> ROLLBACK_SUCCESSFUL."""
        if record.breaker_status == "MONITORING":
            record.breaker_status = "MONITORING_COMPLETE"
        if record.status == "IN_PROGRESS":
            record.move("SUCCESSFUL", "Service deployment completed.", at)
        elif record.status == "ROLLBACK_IN_PROGRESS":
            record.move("ROLLBACK_SUCCESSFUL", "Rolled back to the previous service revision.", at)

    def _sync(self, sim: ServiceSim) -> None:
        """moto's Service (describe_services, with its current service deployment and revisions) and the
        ongoing service deployments' task counts."""
        super()._sync(sim)
        counts: dict[str, Counts] = {}
        for deployment in sim.deployments:
            seen = counts.setdefault(deployment.revision.arn, Counts())
            seen.requested += deployment.desired
            seen.running += deployment.count("RUNNING")
            seen.pending += deployment.count("PENDING")
        sim.service.current_service_deployment = sim.deployments[0].service_deployment.arn
        sim.service.current_service_revisions = [c.describe(arn) for arn, c in counts.items()]
        for deployment in sim.deployments:
            record = deployment.service_deployment
            if not record.ongoing:
                continue
            for revision in (record.target, *record.sources):
                if revision.arn in counts:
                    record.counts[revision.arn] = copy.copy(counts[revision.arn])
            if deployment.revision is record.target:
                record.failure_count = deployment.failed
                record.updated_at = deployment.updated_at
