"""Preflight's ``permissions`` check: ``iam:SimulatePrincipalPolicy`` for the caller's principal (an
assumed-role session mapped to its role) over every action of ``inv iam-policy``, on the same resources."""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ops.aws.ecr import parse_image_lenient
from ops.aws.ecs import describe_services, describe_task_definition
from ops.aws.policy import Where, context_entries, statements
from ops.aws.session import Identity
from ops.runtime import Runtime


def principal(arn: str) -> tuple[str | None, str | None]:
    """The IAM principal to simulate for a caller ARN: an assumed-role session maps to its role
    (``(role ARN without path, role name)``); a user is itself; anything else cannot be simulated."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None, None
    account, resource = parts[4], parts[5]
    if parts[2] == "sts" and resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        return f"arn:{parts[1]}:iam::{account}:role/{role}", role
    if parts[2] == "iam" and resource.startswith(("user/", "role/")):
        return arn, None
    return None, None


def check(rt: Runtime, identity: Identity, api_task_definition: str) -> tuple[str, str, str]:
    """``(status, detail, fix)`` of preflight's ``permissions`` check."""
    source, role = principal(identity.arn)
    if source is None:
        return "WARN", f"cannot simulate the policies of {identity.arn} (not a role session or a user)", ""
    iam = rt.client("iam")
    where = task_definition_where(rt, identity.account, api_task_definition)
    try:
        denied = _simulate(iam, source, where)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchEntity" and role:  # a role with a path: ask IAM for its full ARN
            try:
                source = iam.get_role(RoleName=role)["Role"]["Arn"]
                denied = _simulate(iam, source, where)
            except ClientError as again:
                return "WARN", f"cannot simulate {source}: {_code(again)}", ""
        else:
            return "WARN", f"cannot simulate the policies of {source}: {code or exc}", ""
    if denied:
        return "FAIL", f"{source} may not call: {', '.join(denied)}", \
            "attach the policy `inv iam-policy` prints to the on-call role"
    count = sum(len(st.actions) for st in statements(where))
    return "PASS", f"{source} may call all {count} actions the toolkit uses (iam:SimulatePrincipalPolicy)", ""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) or str(exc)


def _simulate(iam: Any, source: str, where: Where) -> list[str]:
    """The actions (``action on resource``) the principal's policies do not allow."""
    denied: list[str] = []
    for statement in statements(where):
        actions = [a for a in statement.actions if a != "sts:GetCallerIdentity"]  # never deniable
        if not actions:
            continue
        params: dict[str, Any] = {"PolicySourceArn": source, "ActionNames": actions,
                                  "ContextEntries": context_entries(where)}
        if statement.resources != ["*"]:
            params["ResourceArns"] = statement.resources
        for page in iam.get_paginator("simulate_principal_policy").paginate(**params):
            for result in page.get("EvaluationResults", []):
                if result.get("EvalDecision") != "allowed":
                    resource = result.get("EvalResourceName", "*")
                    denied.append(f"{result.get('EvalActionName')}" + (f" on {resource}" if resource != "*" else ""))
    return list(dict.fromkeys(denied))


def where_for(rt: Runtime, account: str, document: dict[str, Any]) -> Where:
    """``Where`` from a task definition: the ECR repositories of its images, its task and execution roles."""
    repositories = []
    for container in document.get("containerDefinitions", []):
        ref = parse_image_lenient(str(container.get("image", "")))
        match = ref.ecr_account if ref else None
        if ref is not None and match:
            region = ref.registry.split(".")[3]
            repositories.append(f"arn:aws:ecr:{region}:{match}:repository/{ref.repository}")
    roles = [document[k] for k in ("taskRoleArn", "executionRoleArn") if document.get(k)]
    return Where(rt.settings, account, tuple(dict.fromkeys(repositories)), tuple(dict.fromkeys(roles)))


def task_definition_where(rt: Runtime, account: str, task_definition: str) -> Where:
    """``Where`` for a task definition (ARN or family:revision), as ``describe_task_definition`` returns it."""
    return where_for(rt, account, describe_task_definition(rt.ecs, task_definition)["taskDefinition"])


def api_where(rt: Runtime) -> Where:
    """``Where`` for the API service's current task definition and the caller's account (``inv iam-policy``;
    its ``pre=[whoami]`` has checked the caller already)."""
    api = rt.settings.api_service.service
    service = describe_services(rt.ecs, rt.settings.cluster, [api])[api]
    return task_definition_where(rt, rt.identity().account, service.task_definition)
