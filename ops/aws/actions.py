"""Every AWS call the toolkit may make, in one list: the plan allowlist, preflight's permission check
and ``inv iam-policy`` are all derived from ``ACTIONS``, so they cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# the IAM service prefix of each boto3 client the toolkit uses
IAM_PREFIX = {
    "ecs": "ecs", "ecr": "ecr", "logs": "logs", "application-autoscaling": "application-autoscaling",
    "ssm": "ssm", "iam": "iam", "sts": "sts",
}


class Scope(StrEnum):
    """Which resources an action touches (``ops.checks.iam_policy`` turns these into ARNs)."""

    ANY = "any"  # the action does not support resource-level permissions
    SERVICES = "services"  # the two ECS services
    WORKER = "worker"  # the worker service only
    TASKS = "tasks"  # tasks of the cluster
    CONTAINER_INSTANCES = "container-instances"  # ListTasks is scoped to the cluster's container instances
    SERVICE_DEPLOYMENTS = "service-deployments"  # the API service's service deployments
    SERVICE_REVISIONS = "service-revisions"
    REPOSITORIES = "repositories"  # ECR repositories of this account and region
    LOG_GROUPS = "log-groups"  # the two log groups
    LOCK = "lock"  # the lock's SSM parameter
    ROLES = "roles"  # IAM roles of this account
    PRINCIPALS = "principals"  # IAM roles and users of this account (whose policies preflight simulates)
    TASK_DEFINITIONS = "task-definitions"  # the API family's task definitions


@dataclass(frozen=True)
class Action:
    """One boto3 operation; ``changes`` ones may only run as a step of a plan."""

    client: str
    operation: str
    scope: Scope
    changes: bool = False
    why: str = ""

    @property
    def iam_action(self) -> str:
        """``ecs:UpdateService`` for ``("ecs", "update_service")``."""
        return f"{IAM_PREFIX[self.client]}:{''.join(word.capitalize() for word in self.operation.split('_'))}"


ACTIONS: tuple[Action, ...] = (
    Action("sts", "get_caller_identity", Scope.ANY, why="who is calling (every AWS task, first)"),
    Action("ecs", "describe_services", Scope.SERVICES, why="both services' state"),
    Action("ecs", "list_tasks", Scope.CONTAINER_INSTANCES, why="running tasks (digests, capture)"),
    Action("ecs", "describe_tasks", Scope.TASKS, why="running tasks' images and digests"),
    Action("ecs", "describe_task_definition", Scope.ANY, why="targets, diffs, capture"),
    Action("ecr", "describe_images", Scope.REPOSITORIES, why="image tags resolved to digests"),
    Action("logs", "filter_log_events", Scope.LOG_GROUPS, why="capture and triage read the logs"),
    Action("application-autoscaling", "describe_scalable_targets", Scope.ANY, why="the worker's auto scaling"),
    Action("ecs", "list_service_deployments", Scope.SERVICES, why="deployment history: the rollback target"),
    Action("ecs", "describe_service_deployments", Scope.SERVICE_DEPLOYMENTS, why="the release in flight"),
    Action("ecs", "describe_service_revisions", Scope.SERVICE_REVISIONS, why="recorded images and digests"),
    Action("ssm", "get_parameter", Scope.LOCK, why="who holds the rollback lock"),
    Action("iam", "simulate_principal_policy", Scope.PRINCIPALS, why="preflight: are the permissions still there"),
    Action("iam", "get_role", Scope.ROLES, why="preflight: the role (and its path) of an assumed-role session"),
    Action("ecs", "update_service", Scope.SERVICES, changes=True, why="Options 1-4 and restart"),
    Action("ecs", "register_task_definition", Scope.TASK_DEFINITIONS, changes=True,
           why="Option 2's copy with another image"),
    Action("ecs", "tag_resource", Scope.WORKER, changes=True, why="worker.stop remembers the count"),
    Action("ecs", "untag_resource", Scope.WORKER, changes=True, why="worker.start forgets it"),
    Action("application-autoscaling", "register_scalable_target", Scope.ANY, changes=True,
           why="suspend / resume the worker's auto scaling"),
    Action("ecs", "stop_service_deployment", Scope.SERVICE_DEPLOYMENTS, changes=True,
           why="native rollback of a release in flight"),
    Action("ssm", "put_parameter", Scope.LOCK, changes=True, why="take the rollback lock"),
    Action("ssm", "delete_parameter", Scope.LOCK, changes=True, why="release (or break) the rollback lock"),
)

# (client, operation) pairs a plan may contain. Everything else (delete_service, deregistering task
# definitions, anything outside ECS, Application Auto Scaling and the lock's SSM parameter) is refused
# before it runs.
ALLOWED: frozenset[tuple[str, str]] = frozenset((a.client, a.operation) for a in ACTIONS if a.changes)
KNOWN: frozenset[tuple[str, str]] = frozenset((a.client, a.operation) for a in ACTIONS)
# the botocore services the toolkit builds clients for (``ops.aws.loader`` knows no others)
CLIENTS: frozenset[str] = frozenset(a.client for a in ACTIONS)
# each client's operations (``ops.aws.loader`` cuts botocore's models down to these)
OPERATIONS: dict[str, frozenset[str]] = {
    client: frozenset(a.operation for a in ACTIONS if a.client == client) for client in sorted(CLIENTS)
}
