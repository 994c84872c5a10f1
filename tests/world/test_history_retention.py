"""The deployment history keeps ECS's 90 days, and the ticker's prune looks at most once a minute."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ops.sandbox.history import PRUNE_EVERY, RETENTION, DeploymentHistory, ServiceDeployment, ServiceRevision

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
SERVICE = "arn:aws:ecs:eu-central-1:123456789012:service/sandbox-broker-cluster/sandbox-broker"


def deployment(history: DeploymentHistory, revision: int, at: datetime) -> ServiceDeployment:
    target = history.add_revision(ServiceRevision(
        arn=history.arn("service-revision", "sandbox-broker-cluster", "sandbox-broker", str(revision)),
        service_arn=SERVICE, cluster_arn="arn:aws:ecs:eu-central-1:123456789012:cluster/sandbox-broker-cluster",
        task_definition=f"sandbox-broker:{revision}", launch_type="FARGATE", images=(), created_at=at))
    return history.start("sandbox-broker-cluster", "sandbox-broker", target, [], {}, 3, at)


def test_deployments_past_ninety_days_are_forgotten_with_their_revisions() -> None:
    history = DeploymentHistory("eu-central-1", "123456789012")
    old = deployment(history, 1, NOW - RETENTION - timedelta(seconds=1))
    kept = deployment(history, 2, NOW - RETENTION)
    history.prune(NOW)
    assert list(history.deployments) == [kept.arn]
    assert list(history.revisions) == [kept.target.arn] and old.target.arn not in history.revisions


def test_prune_looks_at_most_once_a_minute() -> None:
    history = DeploymentHistory("eu-central-1", "123456789012")
    history.prune(NOW)  # nothing to forget yet
    ages = deployment(history, 1, NOW - RETENTION + timedelta(seconds=1))  # past 90 days a second from now
    history.prune(NOW + PRUNE_EVERY - timedelta(seconds=1))
    assert ages.arn in history.deployments  # within a minute of the last prune: not looked at
    history.prune(NOW + PRUNE_EVERY)
    assert history.deployments == {} and history.revisions == {}
