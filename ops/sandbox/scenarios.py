"""Names of the simulated production resources, the scenarios, and who behaves how.

Behaviour is a property of what runs: it is looked up by (task definition family, image digest),
with per-(family, revision) overrides set by tests through ``World.set_behaviour``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

Behaviour = Literal["healthy", "errors", "crash-loop", "stuck"]
BEHAVIOURS: tuple[str, ...] = get_args(Behaviour)

REGION = "eu-central-1"
CLUSTER = "sandbox-broker-cluster"
API_SERVICE = "sandbox-broker"
API_FAMILY = "sandbox-broker"
API_CONTAINER = "sandbox-broker-api"
API_LOG_GROUP = "/ecs/sandbox-broker-api"
API_REVISIONS = 9
BAD_API_REVISION = 9  # the default scenarios' current release; the worker always runs this build
INACTIVE_API_REVISION = 1
WORKER_SERVICE = "sandbox-broker-worker"
WORKER_FAMILY = "sandbox-broker-worker"
WORKER_CONTAINER = "sandbox-broker-worker"
WORKER_LOG_GROUP = "/ecs/sandbox-broker-worker"
REPOSITORY = "sandbox-broker-api"
SCALABLE_DIMENSION = "ecs:service:DesiredCount"
WORKER_SCALABLE_RESOURCE = f"service/{CLUSTER}/{WORKER_SERVICE}"


@dataclass(frozen=True)
class Scenario:
    """One broken (or not) production state to rehearse against."""

    name: str
    description: str
    api_release: Behaviour = "healthy"  # how the API's newest release (:9's image by default) behaves
    worker: Behaviour = "healthy"  # how the worker's image behaves
    worker_desired: int = 1
    autoscaling_min: int = 1
    latest_tag: bool = False  # every revision runs ...:latest, and :latest moved to the bad image
    denied_actions: tuple[str, ...] = ()  # explicitly denied to the on-call role (world.deny)
    api_revisions: int = API_REVISIONS  # the newest API revision: the release that api_release describes
    in_flight: bool = False  # the newest release is still rolling out (its predecessor still runs)
    api_breaker: bool = True  # the API service has a deployment circuit breaker
    ecr_keep: int | None = None  # an ECR lifecycle policy expired all but this many newest images
    backlog_alarm: bool = False  # a job-backlog alarm scales the worker out (Application Auto Scaling)


_SCENARIOS = (
    Scenario(
        "api-bad-release",
        "API :9 serves errors (healthz unhealthy, error logs); :8 and older are good; worker fine.",
        api_release="errors",
    ),
    Scenario(
        "worker-failing",
        "worker:1 crash-loops (failedTasks grows, running < desired); API fine.",
        worker="crash-loop",
    ),
    Scenario(
        "both-failing",
        "API :9 serves errors and worker:1 crash-loops.",
        api_release="errors",
        worker="crash-loop",
    ),
    Scenario(
        "worker-stopped",
        "Worker scaled to 0 (autoscaling min 0); API fine.",
        worker_desired=0,
        autoscaling_min=0,
    ),
    Scenario(
        "latest-tag-moved",
        "Every revision runs :latest; :latest moved to the bad release, so redeploying :8 stays bad.",
        api_release="errors",
        latest_tag=True,
    ),
    Scenario(
        "missing-permission",
        "API :9 serves errors as in api-bad-release, and the on-call role may not ecs:UpdateService "
        "(an explicit Deny in its policy).",
        api_release="errors",
        denied_actions=("ecs:UpdateService",),
    ),
    Scenario(
        "next-release-failing",
        "API :10 (deployed, SUCCESSFUL for ECS) serves errors; :9 is the last good release, the pinned "
        "known_good_revision 8 is stale.",
        api_release="errors",
        api_revisions=10,
    ),
    Scenario(
        "release-in-flight",
        "API :10 is still rolling out (service deployment IN_PROGRESS, no circuit breaker) and "
        "crash-loops while :9's tasks keep serving.",
        api_release="crash-loop",
        api_revisions=10,
        in_flight=True,
        api_breaker=False,
    ),
    Scenario(
        "target-image-expired",
        "API :9 serves errors; an ECR lifecycle policy expired every image but :9's, so the pinned target "
        ":8 cannot start (CannotPullContainerError).",
        api_release="errors",
        ecr_keep=1,
    ),
    Scenario(
        "worker-autoscaled",
        "worker:1 crash-loops; a job-backlog alarm scales it out (Application Auto Scaling) whenever it runs "
        "no task, unless scaling is suspended.",
        worker="crash-loop",
        backlog_alarm=True,
    ),
)
SCENARIOS: tuple[str, ...] = tuple(s.name for s in _SCENARIOS)


def get_scenario(name: str) -> Scenario:
    """Return the scenario called ``name`` or raise ValueError listing the known ones."""
    for scenario in _SCENARIOS:
        if scenario.name == name:
            return scenario
    raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")


def check_behaviour(behaviour: str) -> Behaviour:
    """Validate a behaviour name."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}; known: {', '.join(BEHAVIOURS)}")
    return behaviour  # type: ignore[return-value]


@dataclass
class BehaviourTable:
    """Who behaves how: by (family, digest), overridden by (family, revision)."""

    by_digest: dict[tuple[str, str], Behaviour] = field(default_factory=dict)
    overrides: dict[tuple[str, int], Behaviour] = field(default_factory=dict)

    def resolve(self, family: str, revision: int, digest: str | None) -> Behaviour:
        """The behaviour of a task of ``family:revision`` running image ``digest``."""
        override = self.overrides.get((family, revision))
        if override is not None:
            return override
        if digest is None:
            return "healthy"
        return self.by_digest.get((family, digest), "healthy")
