"""ECS service deployment history: the service revisions and service deployments the world records.

This module owns the data ECS answers ``ListServiceDeployments``, ``DescribeServiceDeployments`` and
``DescribeServiceRevisions`` from, and the service deployment status machine as the ECS developer
guide documents it (PENDING -> IN_PROGRESS -> SUCCESSFUL; STOPPED; ROLLBACK_REQUESTED ->
ROLLBACK_IN_PROGRESS -> ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED). The rollout simulator drives it;
every method must be called with the world's lock held.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

RETENTION = timedelta(days=90)  # ECS keeps 90 days of service deployments
PRUNE_EVERY = timedelta(minutes=1)  # prune() is called every tick: it looks at most this often
ONGOING = ("PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
STOPPABLE = ("PENDING", "IN_PROGRESS")  # StopServiceDeployment moves these to ROLLBACK_REQUESTED
CONTINUING = ("STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")  # a repeated stop carries on
STATUSES = ("PENDING", "SUCCESSFUL", "STOPPED", "STOP_REQUESTED", "IN_PROGRESS", "ROLLBACK_REQUESTED",
            "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")
_ID_ALPHABET = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class ServiceRevision:
    """What one deployment ran: task definition and each container's image with the digest resolved
    when the deployment started."""

    arn: str
    service_arn: str
    cluster_arn: str
    task_definition: str
    launch_type: str
    images: tuple[tuple[str, str, str | None], ...]  # (container name, image, digest)
    created_at: datetime

    @property
    def digests(self) -> dict[str, str | None]:
        """Container name -> recorded digest."""
        return {name: digest for name, _, digest in self.images}

    def describe(self) -> dict[str, Any]:
        """The ECS API's ServiceRevision structure."""
        return {
            "serviceRevisionArn": self.arn, "serviceArn": self.service_arn, "clusterArn": self.cluster_arn,
            "taskDefinition": self.task_definition, "launchType": self.launch_type,
            "containerImages": [{"containerName": name, "image": image, **({"imageDigest": digest} if digest else {})}
                                for name, image, digest in self.images],
            "guardDutyEnabled": False, "serviceConnectConfiguration": {"enabled": False},
            "createdAt": self.created_at,
        }


@dataclass
class Counts:
    """A revision's task counts in a deployment (live while it is ongoing, as last seen after)."""

    requested: int = 0
    running: int = 0
    pending: int = 0

    def describe(self, arn: str) -> dict[str, Any]:
        """The ECS API's ServiceRevisionSummary structure."""
        return {"arn": arn, "requestedTaskCount": self.requested, "runningTaskCount": self.running,
                "pendingTaskCount": self.pending}


@dataclass
class ServiceDeployment:
    """One service deployment: from source revisions to a target revision, and how it ended."""

    arn: str
    target: ServiceRevision
    sources: list[ServiceRevision]
    created_at: datetime
    configuration: dict[str, Any]
    breaker_threshold: int
    status: str = "PENDING"
    status_reason: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    stopped_at: datetime | None = None
    updated_at: datetime | None = None
    failure_count: int = 0
    breaker_status: str = "MONITORING"
    rollback: dict[str, Any] | None = None
    counts: dict[str, Counts] = field(default_factory=dict)  # revision ARN -> counts

    @property
    def ongoing(self) -> bool:
        """Not finished yet (pending or ongoing, in ECS's words)."""
        return self.status in ONGOING

    def brief(self) -> dict[str, Any]:
        """The ECS API's ServiceDeploymentBrief structure (ListServiceDeployments)."""
        return _present({
            "serviceDeploymentArn": self.arn, "serviceArn": self.target.service_arn,
            "clusterArn": self.target.cluster_arn, "startedAt": self.started_at, "createdAt": self.created_at,
            "finishedAt": self.finished_at, "targetServiceRevisionArn": self.target.arn,
            "status": self.status, "statusReason": self.status_reason or None,
        })

    def describe(self) -> dict[str, Any]:
        """The ECS API's ServiceDeployment structure (DescribeServiceDeployments)."""
        counts = self.counts
        return _present({
            "serviceDeploymentArn": self.arn, "serviceArn": self.target.service_arn,
            "clusterArn": self.target.cluster_arn, "createdAt": self.created_at, "startedAt": self.started_at,
            "finishedAt": self.finished_at, "stoppedAt": self.stopped_at, "updatedAt": self.updated_at,
            "sourceServiceRevisions": [counts.get(s.arn, Counts()).describe(s.arn) for s in self.sources],
            "targetServiceRevision": counts.get(self.target.arn, Counts()).describe(self.target.arn),
            "status": self.status, "statusReason": self.status_reason or None,
            "deploymentConfiguration": self.configuration,
            "rollback": self.rollback,
            "deploymentCircuitBreaker": {"status": self.breaker_status, "failureCount": self.failure_count,
                                         "threshold": self.breaker_threshold},
            "alarms": {"status": "DISABLED"},
        })

    def move(self, status: str, reason: str, at: datetime) -> None:
        """Enter ``status``, stamping the times ECS stamps for it."""
        self.status, self.status_reason, self.updated_at = status, reason, at
        if status == "IN_PROGRESS":
            self.started_at = self.started_at or at
        elif status == "STOPPED":
            self.stopped_at = self.finished_at = at
        elif status in ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"):
            self.finished_at = at


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """Drop members that have no value (ECS leaves them out)."""
    return {k: v for k, v in fields.items() if v is not None}


def new_id(length: int = 21) -> str:
    """A service deployment id shaped like ECS's (``ejGvqq2ilnbKT9qj0vLJe``)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


class DeploymentHistory:
    """Every service revision and service deployment of the world, by ARN."""

    def __init__(self, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id
        self.revisions: dict[str, ServiceRevision] = {}
        self.deployments: dict[str, ServiceDeployment] = {}
        self._pruned_at: datetime | None = None

    def arn(self, kind: str, cluster: str, service: str, identifier: str) -> str:
        """``arn:aws:ecs:REGION:ACCOUNT:<kind>/CLUSTER/SERVICE/ID``."""
        return f"arn:aws:ecs:{self.region}:{self.account_id}:{kind}/{cluster}/{service}/{identifier}"

    def add_revision(self, revision: ServiceRevision) -> ServiceRevision:
        """Record a service revision."""
        self.revisions[revision.arn] = revision
        return revision

    def start(self, cluster: str, service: str, target: ServiceRevision, sources: list[ServiceRevision],
              configuration: dict[str, Any], threshold: int, at: datetime) -> ServiceDeployment:
        """Record a new PENDING deployment; an ongoing one of the same service is STOPPED (superseded)."""
        deployment = ServiceDeployment(
            arn=self.arn("service-deployment", cluster, service, new_id()), target=target, sources=sources,
            created_at=at, updated_at=at, configuration=configuration, breaker_threshold=threshold,
        )
        breaker = configuration.get("deploymentCircuitBreaker") or {}
        deployment.breaker_status = "MONITORING" if breaker.get("enable") else "DISABLED"
        for older in self.of_service(target.service_arn):
            if older.ongoing:
                older.move("STOPPED", f"Superseded by service deployment {deployment.arn}.", at)
        self.deployments[deployment.arn] = deployment
        return deployment

    def of_service(self, service_arn: str) -> list[ServiceDeployment]:
        """A service's deployments, newest first."""
        found = [d for d in self.deployments.values() if d.target.service_arn == service_arn]
        return sorted(found, key=lambda d: d.created_at, reverse=True)

    def prune(self, now: datetime) -> None:
        """Forget deployments older than ECS's 90 days (and revisions no deployment names); does
        nothing within ``PRUNE_EVERY`` of the last time it did."""
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        self.deployments = {a: d for a, d in self.deployments.items() if now - d.created_at <= RETENTION}
        named = {r.arn for d in self.deployments.values() for r in (d.target, *d.sources)}
        self.revisions = {a: r for a, r in self.revisions.items() if a in named}
