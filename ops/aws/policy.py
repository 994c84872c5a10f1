"""The least-privilege IAM policy of the toolkit, derived from ``ops.aws.actions.ACTIONS``: each action's
resources scoped to this cluster, its two services, the API family, the two log groups and the lock
parameter wherever IAM allows scoping. ``inv iam-policy`` prints it; preflight simulates the same
actions on the same resources."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops.aws.actions import ACTIONS, Action, Scope
from ops.config import BREAK_SUFFIX, Settings

VERSION = "2012-10-17"
ECS_TASKS = "ecs-tasks.amazonaws.com"
SCALING = {"application-autoscaling:service-namespace": "ecs",
           "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount"}


@dataclass(frozen=True)
class Where:
    """The names ARNs are built from: the config, the account, and what the API task definition names."""

    settings: Settings
    account: str
    repositories: tuple[str, ...] = ()  # repository ARNs of the API task definition's images
    roles: tuple[str, ...] = ()  # task / execution role ARNs of the API task definition
    partition: str = "aws"

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        where = self.settings.aws.region if region else ""
        return f"arn:{self.partition}:{service}:{where}:{self.account}:{resource}"

    @property
    def cluster(self) -> str:
        return self.settings.cluster

    def services(self) -> list[str]:
        return [self.arn("ecs", f"service/{self.cluster}/{s.service}") for s in self.settings.services]


@dataclass
class Statement:
    sid: str
    actions: list[str]
    resources: list[str]
    condition: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"Sid": self.sid, "Effect": "Allow", "Action": sorted(set(self.actions)),
                                    "Resource": self.resources if len(self.resources) != 1 else self.resources[0]}
        if self.condition:
            document["Condition"] = self.condition
        return document


def resources(action: Action, where: Where) -> list[str]:
    """The resource ARNs ``action`` touches ("*" where IAM does not scope it)."""
    s, api = where.settings, where.settings.api_service.service
    by_scope: dict[Scope, list[str]] = {
        Scope.ANY: ["*"],
        Scope.SERVICES: where.services(),
        Scope.WORKER: [where.arn("ecs", f"service/{where.cluster}/{s.worker_service.service}")],
        Scope.TASKS: [where.arn("ecs", f"task/{where.cluster}/*")],
        Scope.CONTAINER_INSTANCES: ["*"],  # ListTasks: "*" with the ecs:cluster condition (see conditions())
        Scope.SERVICE_DEPLOYMENTS: [where.services()[0], where.arn("ecs", f"service-deployment/{where.cluster}/{api}/*")],
        Scope.SERVICE_REVISIONS: [*where.services(), *(where.arn("ecs", f"service-revision/{where.cluster}/{x.service}/*")
                                                      for x in s.services)],  # status reads both services'

        Scope.REPOSITORIES: list(where.repositories) or [where.arn("ecr", "repository/*")],
        Scope.LOG_GROUPS: [arn for svc in s.services for arn in (where.arn("logs", f"log-group:{svc.log_group}"),
                                                                 where.arn("logs", f"log-group:{svc.log_group}:*"))],
        Scope.LOCK: [where.arn("ssm", "parameter/" + s.lock.parameter.lstrip("/") + suffix) for suffix in ("", BREAK_SUFFIX)],
        Scope.ROLES: [where.arn("iam", "role/*", region=False)],
        Scope.PRINCIPALS: [where.arn("iam", "role/*", region=False), where.arn("iam", "user/*", region=False)],
        Scope.TASK_DEFINITIONS: [where.arn("ecs", f"task-definition/{s.api_service.family}:*")],
    }
    return by_scope[action.scope]


def conditions(action: Action, where: Where) -> dict[str, Any]:
    """Conditions that scope an action IAM cannot scope by resource."""
    if action.scope is Scope.CONTAINER_INSTANCES:
        return {"ArnEquals": {"ecs:cluster": where.arn("ecs", f"cluster/{where.cluster}")}}
    if action.operation == "register_scalable_target":
        return {"StringEquals": dict(SCALING)}
    return {}


def context_entries(where: Where) -> list[dict[str, Any]]:
    """SimulatePrincipalPolicy's context for the conditions above (so a conditional Allow can match)."""
    values = {"ecs:cluster": where.arn("ecs", f"cluster/{where.cluster}"), "iam:PassedToService": ECS_TASKS, **SCALING}
    return [{"ContextKeyName": k, "ContextKeyValues": [v], "ContextKeyType": "string"} for k, v in values.items()]


def statements(where: Where) -> list[Statement]:
    """One statement per distinct (resources, condition), the toolkit's actions in each."""
    grouped: dict[tuple[tuple[str, ...], str], Statement] = {}
    for action in ACTIONS:
        found = resources(action, where)
        condition = conditions(action, where)
        key = (tuple(found), repr(condition))
        if key not in grouped:
            grouped[key] = Statement(_sid(action), [], found, condition)
        grouped[key].actions.append(action.iam_action)
    # what register_task_definition needs besides its own action (the Service Authorization Reference's
    # "operations" list): it passes the task's roles, and it tags the copy with the source's tags
    roles = list(where.roles) or [where.arn("iam", "role/*", region=False)]
    extra = [Statement("PassTheTaskRolesToOption2Copies", ["iam:PassRole"], roles,
                       {"StringEquals": {"iam:PassedToService": ECS_TASKS}})]
    for statement in grouped.values():
        if statement.resources == resources(_REGISTER, where):
            statement.actions.append("ecs:TagResource")  # the copy keeps the source's tags
    return list(grouped.values()) + extra


_REGISTER = next(a for a in ACTIONS if a.operation == "register_task_definition")


SIDS = {
    Scope.ANY: "ActionsWithoutResourceLevelPermissions", Scope.SERVICES: "BothServices",
    Scope.WORKER: "WorkerServiceTags", Scope.TASKS: "TasksOfTheCluster", Scope.CONTAINER_INSTANCES: "ListTasksOfTheCluster",
    Scope.SERVICE_DEPLOYMENTS: "ApiServiceDeployments", Scope.SERVICE_REVISIONS: "ServiceRevisions",
    Scope.REPOSITORIES: "ApiImages", Scope.LOG_GROUPS: "BothLogGroups", Scope.LOCK: "RollbackLock",
    Scope.ROLES: "RoleOfTheCaller", Scope.PRINCIPALS: "SimulateTheCallersPolicies",
    Scope.TASK_DEFINITIONS: "ApiTaskDefinitions",
}


def _sid(action: Action) -> str:
    return SIDS[action.scope] + ("ScalableTarget" if action.operation == "register_scalable_target" else "")


def document(where: Where) -> dict[str, Any]:
    """The policy document ``inv iam-policy`` prints."""
    found = statements(where)
    seen: dict[str, int] = {}
    for statement in found:  # Sids must be unique within a policy
        seen[statement.sid] = seen.get(statement.sid, 0) + 1
        if seen[statement.sid] > 1:
            statement.sid += str(seen[statement.sid])
    return {"Version": VERSION, "Statement": [s.to_json() for s in found]}
