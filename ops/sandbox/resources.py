"""Which resource ARNs an AWS request acts on, with which condition context, for IAM evaluation in the world.

Mapped where the request names the resource and the Service Authorization Reference scopes the
action to it (ECS services, tasks, clusters, task definitions being registered, the resource a tag
call names, and service deployments/revisions with their service; ECR repositories; CloudWatch Logs log groups and streams; SSM parameters;
the principal of SimulatePrincipalPolicy). Every other action is evaluated on ``*``: right for
actions without resource-level permissions (DescribeTaskDefinition, ListTasks by cluster,
GetCallerIdentity, Application Auto Scaling's targets by namespace), too strict for a policy scoped
to a resource the world does not map. The context holds ``aws:RequestedRegion`` (``authz`` adds
``aws:PrincipalArn``) and the keys the toolkit's policy conditions on:
``ecs:cluster``, Application Auto Scaling's ``service-namespace`` and ``scalable-dimension``, the
tags a request passes, and for the actions RegisterTaskDefinition implies, ``iam:PassedToService``
and ``ecs:CreateAction``. No other global key (``aws:SourceIp``, ``aws:SecureTransport``,
``aws:ResourceTag/...``) is given: a condition on one is decided as for a missing key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .wire import Request

Mapper = Callable[[dict[str, Any], str, str], list[str]]


def resources_of(request: Request, account: str) -> list[str]:
    """The ARNs the request acts on (``["*"]`` when not mapped or not named)."""
    mapper = _MAPPERS.get(request.iam_action or "")
    region = request.region or "us-east-1"
    found = mapper(request.params, region, account) if mapper else []
    return found or ["*"]


def _name(value: str, kind: str) -> str:
    """The last part of an ECS ARN (``.../cluster/NAME``) or the name itself."""
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") and f":{kind}/" in value else value


def _cluster(params: dict[str, Any]) -> str:
    return _name(str(params.get("cluster") or "default"), "cluster")


def _ecs_service(params: dict[str, Any], region: str, account: str, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:ecs:{region}:{account}:service/{_cluster(params)}/{name}"


def _ecs_services(params: dict[str, Any], region: str, account: str) -> list[str]:
    names = params.get("services") or [params.get("service") or params.get("serviceName") or ""]
    return [_ecs_service(params, region, account, str(n)) for n in names if n]


def _ecs_tasks(params: dict[str, Any], region: str, account: str) -> list[str]:
    names = params.get("tasks") or [params.get("task") or ""]
    return [str(t) if str(t).startswith("arn:")
            else f"arn:aws:ecs:{region}:{account}:task/{_cluster(params)}/{t}" for t in names if t]


def _ecs_clusters(params: dict[str, Any], region: str, account: str) -> list[str]:
    names = params.get("clusters") or ["default"]
    return [str(c) if str(c).startswith("arn:") else f"arn:aws:ecs:{region}:{account}:cluster/{c}"
            for c in names]


def _listed(*keys: str) -> Mapper:
    """ARNs the request passes as they are (service deployments, service revisions)."""
    def mapper(params: dict[str, Any], region: str, account: str) -> list[str]:
        found: list[str] = []
        for key in keys:
            value = params.get(key)
            found += [str(v) for v in value] if isinstance(value, list) else [str(value)] if value else []
        return found
    return mapper


def _with_service(*keys: str) -> Mapper:
    """Service deployments and revisions: the ARNs passed, and the service each one belongs to (the Service
    Authorization Reference requires both, ``service*`` and ``service-deployment*`` / ``service-revision*``)."""
    listed = _listed(*keys)

    def mapper(params: dict[str, Any], region: str, account: str) -> list[str]:
        found = listed(params, region, account)
        services = [f"{arn.split(':service-', 1)[0]}:service/{'/'.join(arn.split('/')[1:3])}"
                    for arn in found if ":service-deployment/" in arn or ":service-revision/" in arn]
        return list(dict.fromkeys(services + found))
    return mapper


def _ecr_repository(params: dict[str, Any], region: str, account: str) -> list[str]:
    names = params.get("repositoryNames") or [params.get("repositoryName") or ""]
    owner = params.get("registryId") or account
    return [f"arn:aws:ecr:{region}:{owner}:repository/{n}" for n in names if n]


def log_group_name(identifier: str) -> str:
    """The log group a ``logGroupIdentifier`` names: a name as it is, or the name in a log group ARN
    (with or without the trailing ``:*``)."""
    if not identifier.startswith("arn:"):
        return identifier
    return identifier.split(":log-group:", 1)[-1].removesuffix(":*")


def _log_group(params: dict[str, Any], region: str, account: str) -> list[str]:
    group = log_group_name(str(params.get("logGroupName") or params.get("logGroupIdentifier") or ""))
    if not group:
        return []
    stream = params.get("logStreamName") or "*"
    return [f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}"]


def _ssm_parameter(params: dict[str, Any], region: str, account: str) -> list[str]:
    names = params.get("Names") or [params.get("Name") or ""]
    return [f"arn:aws:ssm:{region}:{account}:parameter/{str(n).lstrip('/')}" for n in names if n]


def _task_definition(params: dict[str, Any], region: str, account: str) -> list[str]:
    """The family being registered (its next revision is not known before it is registered)."""
    family = params.get("family")
    return [f"arn:aws:ecs:{region}:{account}:task-definition/{family}:*"] if family else []


def _principal(params: dict[str, Any], region: str, account: str) -> list[str]:
    return [str(params["PolicySourceArn"])] if params.get("PolicySourceArn") else []


_ECS_SERVICE_ACTIONS = ("UpdateService", "DescribeServices", "DeleteService", "CreateService",
                        "ListServiceDeployments")
_LOG_ACTIONS = ("FilterLogEvents", "GetLogEvents", "DescribeLogStreams", "PutLogEvents",
                "CreateLogStream", "DeleteLogStream")
_MAPPERS: dict[str, Mapper] = {
    **{f"ecs:{a}": _ecs_services for a in _ECS_SERVICE_ACTIONS},
    "ecs:DescribeTasks": _ecs_tasks, "ecs:StopTask": _ecs_tasks,
    "ecs:DescribeClusters": _ecs_clusters,
    "ecs:RegisterTaskDefinition": _task_definition,
    **{f"ecs:{a}": _listed("resourceArn") for a in ("TagResource", "UntagResource", "ListTagsForResource")},
    "ecs:DescribeServiceDeployments": _with_service("serviceDeploymentArns"),
    "ecs:StopServiceDeployment": _with_service("serviceDeploymentArn"),
    "ecs:DescribeServiceRevisions": _with_service("serviceRevisionArns"),
    **{f"ecr:{a}": _ecr_repository for a in ("DescribeImages", "BatchGetImage", "ListImages",
                                             "DescribeRepositories", "PutImage", "BatchDeleteImage")},
    **{f"logs:{a}": _log_group for a in _LOG_ACTIONS},
    **{f"ssm:{a}": _ssm_parameter for a in ("GetParameter", "GetParameters", "PutParameter",
                                            "DeleteParameter", "DeleteParameters")},
    "iam:SimulatePrincipalPolicy": _principal,
}


ECS_TASKS = "ecs-tasks.amazonaws.com"
# ECS actions whose cluster is the default one when the request names none
_DEFAULT_CLUSTER = {f"ecs:{a}" for a in ("ListTasks", "DescribeTasks", "StopTask", "ListServices",
                                         *_ECS_SERVICE_ACTIONS)}
# ECS ARNs that name their cluster: service/CLUSTER/NAME, task/CLUSTER/ID, service-deployment/CLUSTER/...
_IN_A_CLUSTER = (":service/", ":task/", ":service-deployment/", ":service-revision/")


Asked = tuple[str, list[str], dict[str, list[str]]]  # (action, resources, context)


def asked_of(request: Request, account: str) -> list[Asked]:
    """Everything the request needs permission for: its own action on its resources, then the actions it
    implies, each with its condition context (``aws:RequestedRegion`` in all of them)."""
    resources = resources_of(request, account)
    region = {"aws:requestedregion": [request.region]} if request.region else {}
    own = {**region, **context_of(request, account, resources)}
    return [(request.iam_action or "", resources, own), *_implied(request, account, resources, region, own)]


def context_of(request: Request, account: str, resources: list[str]) -> dict[str, list[str]]:
    """The request's own condition keys (lower-cased) and values."""
    action, params = request.iam_action or "", request.params
    context: dict[str, list[str]] = {}
    if action.startswith("ecs:"):
        cluster = _cluster_arn(request, account, resources)
        if cluster:
            context["ecs:cluster"] = [cluster]
        context.update(_tag_context(params.get("tags")))
    if action.startswith("application-autoscaling:"):
        for key, param in (("service-namespace", "ServiceNamespace"), ("scalable-dimension", "ScalableDimension")):
            if params.get(param):
                context[f"application-autoscaling:{key}"] = [str(params[param])]
    return context


def _cluster_arn(request: Request, account: str, resources: list[str]) -> str | None:
    """The cluster a request names (its ``cluster``, else the one in the ARNs it passes, else the default)."""
    params, region = request.params, request.region or "us-east-1"
    named = str(params.get("cluster") or "")
    if not named:
        for resource in resources:
            if any(kind in resource for kind in _IN_A_CLUSTER) and resource.count("/") >= 2:
                prefix, rest = resource.split("/", 1)
                return f"{prefix.rsplit(':', 1)[0]}:cluster/{rest.split('/', 1)[0]}"
        if (request.iam_action or "") not in _DEFAULT_CLUSTER:
            return None
        named = "default"
    return named if named.startswith("arn:") else f"arn:aws:ecs:{region}:{account}:cluster/{named}"


def _tag_context(tags: Any) -> dict[str, list[str]]:
    """``aws:TagKeys`` and ``aws:RequestTag/KEY`` of the tags a request passes (ECS's ``[{key, value}]``)."""
    pairs = [(str(t.get("key")), str(t.get("value", ""))) for t in tags or [] if isinstance(t, dict) and t.get("key")]
    if not pairs:
        return {}
    return {"aws:tagkeys": [k for k, _ in pairs], **{f"aws:requesttag/{k.lower()}": [v] for k, v in pairs}}


def _implied(request: Request, account: str, resources: list[str], region: dict[str, list[str]],
             own: dict[str, list[str]]) -> list[Asked]:
    """The other actions a request needs permission for (the Service Authorization Reference's "dependent
    actions"): RegisterTaskDefinition passes its task and execution roles to ECS tasks, and tags the new
    revision when it carries tags."""
    if request.iam_action != "ecs:RegisterTaskDefinition":
        return []
    params = request.params
    found: list[Asked] = []
    roles = [_role_arn(str(params[k]), account) for k in ("taskRoleArn", "executionRoleArn") if params.get(k)]
    if roles:
        found.append(("iam:PassRole", list(dict.fromkeys(roles)), {**region, "iam:passedtoservice": [ECS_TASKS]}))
    if params.get("tags"):  # tag-on-create: the request's own context (its tags) and the action creating them
        found.append(("ecs:TagResource", resources, {**own, "ecs:createaction": ["RegisterTaskDefinition"]}))
    return found


def _role_arn(role: str, account: str) -> str:
    """A task's role as ECS takes it: an ARN, or a name in the caller's account."""
    return role if role.startswith("arn:") else f"arn:aws:iam::{account}:role/{role}"
