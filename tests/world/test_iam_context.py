"""IAM conditions in the world over HTTP: SimulatePrincipalPolicy's ContextEntries, the context the world
gives a request it enforces (ecs:cluster, Application Auto Scaling's namespace and dimension), and the
actions RegisterTaskDefinition implies (iam:PassRole for its roles, ecs:TagResource for its tags)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from ops.sandbox import World
from tests.world.helpers import API, CLUSTER, WORKER_TARGET, client, oncall


def cluster_arn(world: World, name: str = CLUSTER) -> str:
    return f"arn:aws:ecs:{world.region}:{world.account_id}:cluster/{name}"


def allow(action: str, resource: Any = "*", **condition: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    return dict(statement, Condition=condition) if condition else statement


def refusal(raised: pytest.ExceptionInfo[ClientError]) -> str:
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    return str(raised.value.response["Error"]["Message"])


def test_the_simulator_decides_a_conditional_statement_from_the_context_entries(world: World) -> None:
    world.set_role_policy({"Version": "2012-10-17", "Statement": [
        allow("ecs:ListTasks", ArnEquals={"ecs:cluster": cluster_arn(world)})]})
    iam = client(world, "iam")

    def simulate(*entries: dict[str, Any]) -> tuple[str, list[str]]:
        result = iam.simulate_principal_policy(PolicySourceArn=world.role_arn, ActionNames=["ecs:ListTasks"],
                                               ContextEntries=list(entries))["EvaluationResults"][0]
        return result["EvalDecision"], result["MissingContextValues"]

    def cluster(name: str) -> dict[str, Any]:
        return {"ContextKeyName": "ecs:cluster", "ContextKeyValues": [cluster_arn(world, name)],
                "ContextKeyType": "string"}

    assert simulate() == ("implicitDeny", ["ecs:cluster"])
    assert simulate(cluster(CLUSTER)) == ("allowed", [])
    assert simulate(cluster("another-cluster")) == ("implicitDeny", [])


def test_enforcement_takes_ecs_cluster_from_the_request(world: World) -> None:
    world.set_role_policy({"Version": "2012-10-17", "Statement": [
        allow("ecs:ListTasks", ArnEquals={"ecs:cluster": [cluster_arn(world), cluster_arn(world, "default")]}),
        allow("ecs:ListServiceDeployments", ArnEquals={"ecs:cluster": cluster_arn(world)}),
        allow("ecs:DescribeServiceDeployments", ArnEquals={"ecs:cluster": cluster_arn(world)})]})
    ecs = oncall(world, "ecs")
    assert ecs.list_tasks(cluster=CLUSTER)["taskArns"]
    assert "taskArns" in ecs.list_tasks(cluster=cluster_arn(world))  # by ARN: the same cluster
    with pytest.raises(ClientError) as raised:  # no cluster named: the default one, which the policy allows too
        ecs.list_tasks()
    assert raised.value.response["Error"]["Code"] == "ClusterNotFoundException"  # past IAM: the world has none
    with pytest.raises(ClientError) as raised:
        ecs.list_tasks(cluster="another-cluster")
    assert refusal(raised).endswith("on resource: * because no identity-based policy allows the ecs:ListTasks action")
    # a service deployment's ARN names its cluster: the condition sees it without a cluster parameter
    arns = [d["serviceDeploymentArn"] for d in ecs.list_service_deployments(cluster=CLUSTER, service=API)[
        "serviceDeployments"]]
    assert ecs.describe_service_deployments(serviceDeploymentArns=arns[:1])["serviceDeployments"]


def test_register_task_definition_needs_its_family_pass_role_for_its_roles_and_tag_resource_for_its_tags(
        world: World) -> None:
    family = f"arn:aws:ecs:{world.region}:{world.account_id}:task-definition/sandbox-broker:*"
    role = f"arn:aws:iam::{world.account_id}:role/sandbox-broker-task"
    statements = [allow("ecs:RegisterTaskDefinition", family)]
    world.set_role_policy({"Version": "2012-10-17", "Statement": statements})
    ecs = oncall(world, "ecs")
    container = [{"name": "api", "image": "public.ecr.aws/docker/library/busybox:1.36", "memory": 128}]

    def register(**extra: Any) -> dict[str, Any]:
        answer: dict[str, Any] = ecs.register_task_definition(family="sandbox-broker", containerDefinitions=container,
                                                               **extra)
        return answer

    assert register()["taskDefinition"]["family"] == "sandbox-broker"
    with pytest.raises(ClientError) as raised:
        ecs.register_task_definition(family="another-family", containerDefinitions=container)
    assert (f"ecs:RegisterTaskDefinition on resource: arn:aws:ecs:{world.region}:{world.account_id}:"
            "task-definition/another-family:* because") in refusal(raised)
    with pytest.raises(ClientError) as raised:
        register(taskRoleArn=role)
    assert f"is not authorized to perform: iam:PassRole on resource: {role}" in refusal(raised)
    statements.append(allow("iam:PassRole", role, StringEquals={"iam:PassedToService": "lambda.amazonaws.com"}))
    world.set_role_policy({"Version": "2012-10-17", "Statement": statements})
    with pytest.raises(ClientError) as raised:  # passing the role to another service is not enough
        register(taskRoleArn=role)
    assert "iam:PassRole" in refusal(raised)
    statements[-1] = allow("iam:PassRole", role, StringEquals={"iam:PassedToService": "ecs-tasks.amazonaws.com"})
    world.set_role_policy({"Version": "2012-10-17", "Statement": statements})
    assert register(taskRoleArn=role, executionRoleArn=role)["taskDefinition"]["taskRoleArn"] == role
    assert register(taskRoleArn="sandbox-broker-task")["taskDefinition"]  # a role by name: the same role
    with pytest.raises(ClientError) as raised:
        register(tags=[{"key": "team", "value": "broker"}])
    assert f"ecs:TagResource on resource: {family}" in refusal(raised)
    statements.append(allow("ecs:TagResource", family, StringEquals={"ecs:CreateAction": "RegisterTaskDefinition"},
                            **{"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}))
    world.set_role_policy({"Version": "2012-10-17", "Statement": statements})
    assert register(tags=[{"key": "team", "value": "broker"}])["taskDefinition"]["family"] == "sandbox-broker"
    with pytest.raises(ClientError) as raised:  # a tag key the condition does not allow
        register(tags=[{"key": "team", "value": "broker"}, {"key": "owner", "value": "me"}])
    assert f"ecs:TagResource on resource: {family}" in refusal(raised)


def test_application_auto_scaling_conditions_see_the_namespace_and_the_dimension(world: World) -> None:
    world.set_role_policy({"Version": "2012-10-17", "Statement": [
        allow("application-autoscaling:RegisterScalableTarget", StringEquals={
            "application-autoscaling:service-namespace": "ecs",
            "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount"})]})
    scaling = oncall(world, "application-autoscaling")
    scaling.register_scalable_target(ServiceNamespace="ecs", ResourceId=WORKER_TARGET,
                                     ScalableDimension="ecs:service:DesiredCount", MinCapacity=0, MaxCapacity=4)
    with pytest.raises(ClientError) as raised:
        scaling.register_scalable_target(ServiceNamespace="dynamodb", ResourceId="table/orders",
                                         ScalableDimension="dynamodb:table:ReadCapacityUnits",
                                         MinCapacity=1, MaxCapacity=4)
    assert "application-autoscaling:RegisterScalableTarget" in refusal(raised)


def test_a_marker_continues_only_the_question_with_the_same_context(world: World) -> None:
    world.set_role_policy({"Version": "2012-10-17", "Statement": [
        allow("ecs:*", ArnEquals={"ecs:cluster": cluster_arn(world)})]})
    iam = client(world, "iam")

    def ask(cluster: str, **more: Any) -> dict[str, Any]:
        entries = [{"ContextKeyName": "ecs:cluster", "ContextKeyValues": [cluster_arn(world, cluster)],
                    "ContextKeyType": "string"}]
        answer: dict[str, Any] = iam.simulate_principal_policy(
            PolicySourceArn=world.role_arn, ActionNames=["ecs:ListTasks", "ecs:ListServices"], ContextEntries=entries,
            MaxItems=1, **more)
        return answer

    first = ask(CLUSTER)
    assert first["IsTruncated"] and first["EvaluationResults"][0]["EvalDecision"] == "allowed"
    assert ask(CLUSTER, Marker=first["Marker"])["EvaluationResults"][0]["EvalDecision"] == "allowed"
    with pytest.raises(ClientError) as raised:  # the next page of another question
        ask("another-cluster", Marker=first["Marker"])
    assert raised.value.response["Error"]["Code"] == "InvalidInput"


def test_every_request_carries_its_region_and_the_callers_role(world: World) -> None:
    world.set_role_policy({"Version": "2012-10-17", "Statement": [
        allow("ecs:DescribeServices", StringEquals={"aws:RequestedRegion": world.region},
              ArnEquals={"aws:PrincipalArn": world.role_arn}),
        {"Effect": "Deny", "Action": "ecs:DescribeServices", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:RequestedRegion": world.region}}}]})
    assert oncall(world, "ecs").describe_services(cluster=CLUSTER, services=[API])["services"]
    world.set_role_policy({"Version": "2012-10-17", "Statement": [
        allow("ecs:DescribeServices", ArnEquals={"aws:PrincipalArn": world.role_arn + "-someone-else"})]})
    with pytest.raises(ClientError) as raised:
        oncall(world, "ecs").describe_services(cluster=CLUSTER, services=[API])
    assert "ecs:DescribeServices" in refusal(raised)


def test_a_service_deployment_needs_its_service_too(world: World) -> None:
    arns = [d["serviceDeploymentArn"] for d in client(world, "ecs").list_service_deployments(
        cluster=CLUSTER, service=API)["serviceDeployments"]][:1]
    service = f"arn:aws:ecs:{world.region}:{world.account_id}:service/{CLUSTER}/{API}"
    world.set_role_policy({"Version": "2012-10-17", "Statement": [allow("ecs:DescribeServiceDeployments", arns)]})
    with pytest.raises(ClientError) as raised:  # service* and service-deployment* are both required
        oncall(world, "ecs").describe_service_deployments(serviceDeploymentArns=arns)
    assert f"ecs:DescribeServiceDeployments on resource: {service} because" in refusal(raised)
    world.set_role_policy({"Version": "2012-10-17", "Statement": [
        allow("ecs:DescribeServiceDeployments", [service, *arns])]})
    assert oncall(world, "ecs").describe_service_deployments(serviceDeploymentArns=arns)["serviceDeployments"]
