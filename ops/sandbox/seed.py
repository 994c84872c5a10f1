"""Seed moto's backends with the runbook's production, as a scenario leaves it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
from moto.cloudwatch.models import CloudWatchBackend
from moto.ecr.models import ECRBackend
from moto.ecs.models import EC2ContainerServiceBackend, Service
from moto.logs.models import LogsBackend

from .history import ServiceRevision
from .registry import Release, expire_images, releases, repository_uri, seed_repository
from .scenarios import (
    API_CONTAINER,
    API_FAMILY,
    API_LOG_GROUP,
    API_SERVICE,
    BAD_API_REVISION,
    CLUSTER,
    INACTIVE_API_REVISION,
    REGION,
    SCALABLE_DIMENSION,
    WORKER_CONTAINER,
    WORKER_FAMILY,
    WORKER_LOG_GROUP,
    WORKER_SCALABLE_RESOURCE,
    WORKER_SERVICE,
    BehaviourTable,
    Scenario,
)
from .simulator import RolloutSimulator
from .traffic import LogTraffic, Speaker

RELEASE_AGE = timedelta(minutes=20)  # the bad release went out this long ago
IN_FLIGHT_AGE = timedelta(minutes=5)  # release-in-flight: the rollout began this long ago
ROLLOUT_TOOK = timedelta(minutes=4, seconds=10)  # how long each past deployment took to complete
HISTORY = timedelta(minutes=30)  # how far back the logs reach
FIRST_RECORDED_REVISION = 7  # the API's deployment history starts with :7
SEEDED_WORKER_FAILURES = 9
WORKER_SINCE = 5  # the worker service exists since API revision 5: :1-:4 ran the background jobs themselves
SEEDED_IN_FLIGHT_FAILURES = 6


@dataclass(frozen=True)
class Backends:
    """The moto backends (one account, one region) the world lives in."""

    ecs: EC2ContainerServiceBackend
    ecr: ECRBackend
    logs: LogsBackend
    autoscaling: ApplicationAutoscalingBackend
    cloudwatch: CloudWatchBackend


def seed(backends: Backends, simulator: RolloutSimulator, traffic: LogTraffic,
         scenario: Scenario, behaviours: BehaviourTable, breaker_rollback: bool,
         now: datetime) -> list[Release]:
    """Create ECR images, task definitions, services and their deployment history, logs and the
    scalable target."""
    release_at = now - (IN_FLIGHT_AGE if scenario.in_flight else RELEASE_AGE)
    history = releases(scenario, release_at)
    seed_repository(backends.ecr, history)
    _behaviours(behaviours, scenario, history)
    _task_definitions(backends.ecs, scenario)
    backends.ecs.create_cluster(CLUSTER)
    for group in (API_LOG_GROUP, WORKER_LOG_GROUP):
        backends.logs.create_log_group(group, tags={})
    api = _service(backends.ecs, API_SERVICE, f"{API_FAMILY}:{scenario.api_revisions}", 2, breaker_rollback,
                   scenario.api_breaker)
    worker = _service(backends.ecs, WORKER_SERVICE, f"{WORKER_FAMILY}:1", scenario.worker_desired,
                      breaker_rollback)
    _creation_times(backends.ecs, api, worker, history)
    api_since = _api_history(simulator, api, scenario, history)
    worker_since = _pushed(history, BAD_API_REVISION)
    simulator.adopt(worker, worker_since, worker_since + ROLLOUT_TOOK,
                    failed=SEEDED_WORKER_FAILURES if scenario.worker == "crash-loop" else 0)
    _steady_event(api, api_since + timedelta(minutes=1))
    _steady_event(worker, worker_since + timedelta(minutes=1))
    _log_history(traffic, simulator, scenario, now, release_at)
    backends.autoscaling.register_scalable_target(
        "ecs", WORKER_SCALABLE_RESOURCE, SCALABLE_DIMENSION, scenario.autoscaling_min, 2,
        f"arn:aws:iam::{backends.ecs.account_id}:role/aws-service-role/ecs.application-autoscaling"
        ".amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService", None,  # type: ignore[arg-type]
    )
    if scenario.ecr_keep is not None:
        expire_images(backends.ecr, scenario.ecr_keep)
    return history


def _creation_times(ecs: EC2ContainerServiceBackend, api: Service, worker: Service, history: list[Release]) -> None:
    """Each API revision was registered when its build was pushed; the worker service was created with
    :WORKER_SINCE (before that the API ran the background jobs itself)."""
    for revision, definition in ecs.task_definitions[API_FAMILY].items():
        definition.registered_at = _pushed(history, revision)
    for definition in ecs.task_definitions[WORKER_FAMILY].values():
        definition.registered_at = _pushed(history, WORKER_SINCE)
    api.created_at = _pushed(history, 1) - timedelta(hours=1)  # moto serialises ``created_at`` as createdAt
    worker.created_at = _pushed(history, WORKER_SINCE) - timedelta(hours=1)


def _pushed(history: list[Release], revision: int) -> datetime:
    return next(r.pushed_at for r in history if r.revision == revision)


def _api_history(simulator: RolloutSimulator, api: Service, scenario: Scenario,
                 history: list[Release]) -> datetime:
    """:7 .. the previous release SUCCESSFUL on earlier days (each recording its own build's digest,
    whatever a tag says now), then the current deployment; in release-in-flight the newest release is
    still rolling out on top of the previous one. Returns when the adopted deployment began."""
    newest = scenario.api_revisions
    adopted = newest - 1 if scenario.in_flight else newest
    sources: list[ServiceRevision] = []
    for release in history:
        if FIRST_RECORDED_REVISION <= release.revision < adopted:
            started = release.pushed_at
            revision = simulator.record_past(api, f"{API_FAMILY}:{release.revision}",
                                             {API_CONTAINER: release.digest}, started, started + ROLLOUT_TOOK,
                                             sources[-1:])
            sources.append(revision)
    since = _pushed(history, adopted)
    api.task_definition = simulator.backend.describe_task_definition(f"{API_FAMILY}:{adopted}").arn
    simulator.adopt(api, since, since + ROLLOUT_TOOK, sources[-1:])
    if scenario.in_flight:
        simulator.begin(API_SERVICE, f"{API_FAMILY}:{newest}", _pushed(history, newest),
                        failed=SEEDED_IN_FLIGHT_FAILURES)
    return since


def _behaviours(table: BehaviourTable, scenario: Scenario, history: list[Release]) -> None:
    """Key the scenario's misbehaviour by what runs: (family, digest of the newest release / the
    worker's build)."""
    newest = next(r for r in history if r.revision == scenario.api_revisions)
    worker_build = next(r for r in history if r.revision == BAD_API_REVISION)
    if scenario.api_release != "healthy":
        table.by_digest[(API_FAMILY, newest.digest)] = scenario.api_release
    if scenario.worker != "healthy":
        table.by_digest[(WORKER_FAMILY, worker_build.digest)] = scenario.worker


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
    """sandbox-broker:1..N (1 deregistered) and sandbox-broker-worker:1 (same image as :9)."""
    account = ecs.account_id
    for revision in range(1, scenario.api_revisions + 1):
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
             breaker_rollback: bool, breaker: bool = True) -> Service:
    service = ecs.create_service(CLUSTER, name, desired, task_definition, launch_type="EC2")
    service.deployment_configuration = {
        "deploymentCircuitBreaker": {"enable": breaker, "rollback": breaker_rollback and breaker},
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
                 now: datetime, release: datetime) -> None:
    """The last ~30 minutes: the previous release's tasks before the release, the current tasks since
    (in release-in-flight the previous release's tasks all along, and the new release crash-looping)."""
    start, end = now - HISTORY, now
    running = simulator.running(API_SERVICE)
    if scenario.in_flight:
        for task in running:
            traffic.history(Speaker(API_LOG_GROUP, API_CONTAINER, task.id, "healthy"), _ms(start), _ms(end))
        _crash_history(traffic, API_LOG_GROUP, API_CONTAINER, release, end)
    else:
        for _ in range(2):
            speaker = Speaker(API_LOG_GROUP, API_CONTAINER, uuid.uuid4().hex, "healthy")
            traffic.history(speaker, _ms(start), _ms(release))
        for task in running:
            speaker = Speaker(API_LOG_GROUP, API_CONTAINER, task.id, simulator.behaviour_of(task))
            traffic.history(speaker, _ms(release), _ms(end))
    worker_from = now - RELEASE_AGE
    if scenario.worker == "crash-loop":
        _crash_history(traffic, WORKER_LOG_GROUP, WORKER_CONTAINER, worker_from, end)
        return
    worker = simulator.running(WORKER_SERVICE)
    task_id = worker[0].id if worker else uuid.uuid4().hex
    worker_end = end if worker else now - timedelta(minutes=8)
    speaker = Speaker(WORKER_LOG_GROUP, WORKER_CONTAINER, task_id, "healthy")
    traffic.history(speaker, _ms(worker_from), _ms(worker_end))


def _crash_history(traffic: LogTraffic, group: str, container: str, since: datetime, until: datetime) -> None:
    """A crash-looping container: a new task every 3 minutes that prints a few lines and dies."""
    first = since
    while first < until:
        speaker = Speaker(group, container, uuid.uuid4().hex, "crash-loop")
        traffic.history(speaker, _ms(first), _ms(min(until, first + timedelta(seconds=3))), every_ms=1000)
        first += timedelta(minutes=3)
