"""Seed moto's backends with the runbook's production, as a scenario leaves it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
from moto.ecr.models import ECRBackend
from moto.ecs.models import EC2ContainerServiceBackend, Service
from moto.logs.models import LogsBackend

from .registry import Release, releases, repository_uri, seed_repository
from .scenarios import (
    API_CONTAINER, API_FAMILY, API_LOG_GROUP, API_REVISIONS, API_SERVICE, BAD_API_REVISION,
    CLUSTER, INACTIVE_API_REVISION, REGION, SCALABLE_DIMENSION, WORKER_CONTAINER, WORKER_FAMILY,
    WORKER_LOG_GROUP, WORKER_SCALABLE_RESOURCE, WORKER_SERVICE, BehaviourTable, Scenario,
)
from .simulator import RolloutSimulator
from .traffic import LogTraffic, Speaker

RELEASE_AGE = timedelta(minutes=20)  # the bad release went out this long ago
HISTORY = timedelta(minutes=30)  # how far back the logs reach
SEEDED_WORKER_FAILURES = 9


@dataclass(frozen=True)
class Backends:
    """The moto backends (one account, one region) the world lives in."""

    ecs: EC2ContainerServiceBackend
    ecr: ECRBackend
    logs: LogsBackend
    autoscaling: ApplicationAutoscalingBackend


def seed(backends: Backends, simulator: RolloutSimulator, traffic: LogTraffic,
         scenario: Scenario, behaviours: BehaviourTable, breaker_rollback: bool,
         now: datetime) -> list[Release]:
    """Create ECR images, task definitions, services, logs and the scalable target."""
    history = releases(scenario, now - RELEASE_AGE)
    seed_repository(backends.ecr, history)
    _behaviours(behaviours, scenario, history)
    _task_definitions(backends.ecs, scenario)
    backends.ecs.create_cluster(CLUSTER)
    for group in (API_LOG_GROUP, WORKER_LOG_GROUP):
        backends.logs.create_log_group(group, tags={})
    since = now - RELEASE_AGE
    api = _service(backends.ecs, API_SERVICE, f"{API_FAMILY}:{API_REVISIONS}", 2, breaker_rollback)
    worker = _service(backends.ecs, WORKER_SERVICE, f"{WORKER_FAMILY}:1", scenario.worker_desired,
                      breaker_rollback)
    simulator.adopt(api, since)
    simulator.adopt(worker, since, failed=SEEDED_WORKER_FAILURES if scenario.worker == "crash-loop" else 0)
    for service in (api, worker):
        _steady_event(service, since + timedelta(minutes=1))
    _log_history(traffic, simulator, scenario, now)
    backends.autoscaling.register_scalable_target(
        "ecs", WORKER_SCALABLE_RESOURCE, SCALABLE_DIMENSION, scenario.autoscaling_min, 2,
        f"arn:aws:iam::{backends.ecs.account_id}:role/aws-service-role/ecs.application-autoscaling"
        ".amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService", None,  # type: ignore[arg-type]
    )
    return history


def _behaviours(table: BehaviourTable, scenario: Scenario, history: list[Release]) -> None:
    """Key the scenario's misbehaviour by what runs: (family, digest of the current release)."""
    current = next(r for r in history if r.revision == BAD_API_REVISION)
    if scenario.api_release != "healthy":
        table.by_digest[(API_FAMILY, current.digest)] = scenario.api_release
    if scenario.worker != "healthy":
        table.by_digest[(WORKER_FAMILY, current.digest)] = scenario.worker


def _image(account_id: str, scenario: Scenario, revision: int) -> str:
    tag = "latest" if scenario.latest_tag else f"v{revision}"
    return f"{repository_uri(account_id)}:{tag}"


def _environment(revision: int) -> list[dict[str, str]]:
    """Harmless variables and secret-looking ones (fake values) for redaction tests."""
    return [
        {"name": "APP_ENV", "value": "production"},
        {"name": "APP_VERSION", "value": f"v{revision}"},
        {"name": "PORT", "value": "8080"},
        {"name": "DATABASE_PASSWORD", "value": f"sandbox-fake-db-password-{revision}"},
        {"name": "API_TOKEN_SECRET", "value": f"sandbox-fake-token-secret-{revision}"},
    ]


def _container(name: str, image: str, log_group: str, revision: int,
               command: list[str] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name, "image": image, "essential": True, "memory": 512,
        "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
        "environment": _environment(revision),
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": log_group, "awslogs-region": REGION, "awslogs-stream-prefix": "ecs"}},
    }
    if command:
        container["command"] = command
    return container


def _task_definitions(ecs: EC2ContainerServiceBackend, scenario: Scenario) -> None:
    """sandbox-broker:1..9 (1 deregistered) and sandbox-broker-worker:1 (same image as :9)."""
    account = ecs.account_id
    for revision in range(1, API_REVISIONS + 1):
        ecs.register_task_definition(
            API_FAMILY,
            [_container(API_CONTAINER, _image(account, scenario, revision), API_LOG_GROUP, revision)],
            cpu="256", memory="512",
        )
    ecs.deregister_task_definition(f"{API_FAMILY}:{INACTIVE_API_REVISION}")
    worker = _container(WORKER_CONTAINER, _image(account, scenario, BAD_API_REVISION),
                        WORKER_LOG_GROUP, BAD_API_REVISION, ["python", "-m", "broker.worker"])
    worker.pop("portMappings")
    ecs.register_task_definition(WORKER_FAMILY, [worker], cpu="256", memory="512")


def _service(ecs: EC2ContainerServiceBackend, name: str, task_definition: str, desired: int,
             breaker_rollback: bool) -> Service:
    service = ecs.create_service(CLUSTER, name, desired, task_definition, launch_type="EC2")
    service.deployment_configuration = {
        "deploymentCircuitBreaker": {"enable": True, "rollback": breaker_rollback},
        "maximumPercent": 200, "minimumHealthyPercent": 100,
    }
    service.health_check_grace_period_seconds = 60
    service.enable_execute_command = False
    return service


def _steady_event(service: Service, at: datetime) -> None:
    service.events.append({"id": str(uuid.uuid4()), "createdAt": at,
                           "message": f"(service {service.name}) has reached a steady state."})


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _log_history(traffic: LogTraffic, simulator: RolloutSimulator, scenario: Scenario,
                 now: datetime) -> None:
    """The last ~30 minutes: :8's tasks before the release, the current tasks since."""
    release, start, end = now - RELEASE_AGE, now - HISTORY, now
    for _ in range(2):
        speaker = Speaker(API_LOG_GROUP, API_CONTAINER, uuid.uuid4().hex, "healthy")
        traffic.history(speaker, _ms(start), _ms(release))
    for task in simulator.running(API_SERVICE):
        speaker = Speaker(API_LOG_GROUP, API_CONTAINER, task.id, simulator.behaviour_of(task))
        traffic.history(speaker, _ms(release), _ms(end))
    if scenario.worker == "crash-loop":
        for minute in range(0, int(RELEASE_AGE.total_seconds() // 60), 3):
            speaker = Speaker(WORKER_LOG_GROUP, WORKER_CONTAINER, uuid.uuid4().hex, "crash-loop")
            first = release + timedelta(minutes=minute)
            traffic.history(speaker, _ms(first), _ms(first + timedelta(seconds=3)), every_ms=1000)
        return
    running = simulator.running(WORKER_SERVICE)
    task_id = running[0].id if running else uuid.uuid4().hex
    worker_end = end if running else now - timedelta(minutes=8)
    speaker = Speaker(WORKER_LOG_GROUP, WORKER_CONTAINER, task_id, "healthy")
    traffic.history(speaker, _ms(release), _ms(worker_end))
