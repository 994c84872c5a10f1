"""IAM in the world over HTTP: the on-call role session, SimulatePrincipalPolicy, and enforcement."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from ops.aws.actions import ACTIONS
from ops.sandbox import World
from tests.world.helpers import API, CLUSTER, WORKER, oncall

TOOLKIT_ACTIONS = list(dict.fromkeys(action.iam_action for action in ACTIONS))  # every call the toolkit may make


def full_access(world: World, name: str) -> BaseClient:
    """A client with the static keys any test may use: full access."""
    return boto3.client(name, endpoint_url=world.aws_endpoint, region_name=world.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response: Any = raised.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def decisions(iam: BaseClient, source: str, actions: list[str], **kwargs: Any) -> dict[tuple[str, str], str]:
    results = iam.simulate_principal_policy(PolicySourceArn=source, ActionNames=actions, **kwargs)
    return {(r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"] for r in results["EvaluationResults"]}


@pytest.fixture
def denied_world() -> Iterator[World]:
    with World(scenario="missing-permission", rollout_seconds=1.0) as w:
        yield w


def service_arn(world: World, name: str, cluster: str = CLUSTER) -> str:
    return f"arn:aws:ecs:{world.region}:{world.account_id}:service/{cluster}/{name}"


# -- who the world's caller is ------------------------------------------------------------------

def test_env_hands_out_the_role_session(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patched:
        patched.setenv("AWS_SESSION_TOKEN", "inherited-token")
        patched.setenv("AWS_PROFILE", "okta-sso")
        env = world.env()
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA") and env["AWS_SECRET_ACCESS_KEY"]
    assert env["AWS_SESSION_TOKEN"] not in ("", "inherited-token")
    assert "AWS_PROFILE" not in env
    identity = oncall(world, "sts").get_caller_identity()
    assert identity["Arn"] == world.caller_arn == (
        f"arn:aws:sts::{world.account_id}:assumed-role/sandbox-broker-oncall/sandbox-oncall")
    assert identity["Account"] == world.account_id
    role = full_access(world, "iam").get_role(RoleName="sandbox-broker-oncall")["Role"]
    assert role["Arn"] == world.role_arn == f"arn:aws:iam::{world.account_id}:role/sandbox-broker-oncall"
    assert identity["UserId"] == f"{role['RoleId']}:sandbox-oncall"
    assert full_access(world, "sts").get_caller_identity()["Arn"] == f"arn:aws:sts::{world.account_id}:user/moto"


def test_role_policy_is_moto_iams_and_can_be_replaced(world: World) -> None:
    iam = full_access(world, "iam")
    stored = iam.get_role_policy(RoleName="sandbox-broker-oncall", PolicyName="sandbox-broker-rollback")
    assert stored["PolicyDocument"] == world.role_policy()
    assert {"ecs:*", "ssm:PutParameter", "iam:SimulatePrincipalPolicy"} <= {
        a for s in world.role_policy()["Statement"] for a in s["Action"]}
    world.set_role_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}]})
    assert decisions(iam, world.role_arn, ["ecs:DescribeServices", "ecs:UpdateService"]) == {
        ("ecs:DescribeServices", "*"): "allowed", ("ecs:UpdateService", "*"): "implicitDeny"}
    with pytest.raises(Exception, match="Policy"):
        world.set_role_policy({"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]})


# -- SimulatePrincipalPolicy ---------------------------------------------------------------------

def test_default_role_allows_every_toolkit_action(world: World) -> None:
    found = decisions(oncall(world, "iam"), world.role_arn, TOOLKIT_ACTIONS)
    assert found == {(a, "*"): "allowed" for a in TOOLKIT_ACTIONS}


def test_missing_permission_denies_only_update_service(denied_world: World) -> None:
    iam = oncall(denied_world, "iam")
    result = iam.simulate_principal_policy(PolicySourceArn=denied_world.role_arn, ActionNames=TOOLKIT_ACTIONS,
                                           ResourceArns=[service_arn(denied_world, API)])
    by_action = {r["EvalActionName"]: r for r in result["EvaluationResults"]}
    assert {a for a, r in by_action.items() if r["EvalDecision"] != "allowed"} == {"ecs:UpdateService"}
    update = by_action["ecs:UpdateService"]
    assert update["EvalDecision"] == "explicitDeny"
    assert update["EvalResourceName"] == service_arn(denied_world, API)
    assert update["MatchedStatements"] == [{"SourcePolicyId": "sandbox-broker-rollback", "SourcePolicyType": "role"}]
    assert update["ResourceSpecificResults"][0]["EvalResourceDecision"] == "explicitDeny"


def test_wildcards_not_action_and_scoped_resources(world: World) -> None:
    ssm_locked = f"arn:aws:ssm:{world.region}:{world.account_id}:parameter/locked/lock"
    world.set_role_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"},
        {"Effect": "Allow", "Action": "ecs:UpdateService",
         "Resource": f"arn:aws:ecs:*:{world.account_id}:service/{CLUSTER}/*"},
        {"Effect": "Allow", "NotAction": ["ecs:*", "iam:*"], "Resource": "*"},
        {"Effect": "Deny", "Action": "ssm:Delete*", "Resource": "arn:aws:ssm:*:*:parameter/locked/*"},
    ]})
    iam = full_access(world, "iam")
    ours, theirs = service_arn(world, API), service_arn(world, API, "other-cluster")
    assert decisions(iam, world.role_arn, ["ecs:UpdateService", "ecs:describeservices"],
                     ResourceArns=[ours, theirs, "*"]) == {
        ("ecs:UpdateService", ours): "allowed", ("ecs:UpdateService", theirs): "implicitDeny",
        ("ecs:UpdateService", "*"): "implicitDeny", ("ecs:describeservices", ours): "allowed",
        ("ecs:describeservices", theirs): "allowed", ("ecs:describeservices", "*"): "allowed"}
    assert decisions(iam, world.role_arn, ["logs:FilterLogEvents", "iam:GetRole", "ecs:DeleteService"]) == {
        ("logs:FilterLogEvents", "*"): "allowed", ("iam:GetRole", "*"): "implicitDeny",
        ("ecs:DeleteService", "*"): "implicitDeny"}
    free = ssm_locked.replace("locked/", "")
    assert decisions(iam, world.role_arn, ["ssm:DeleteParameter"], ResourceArns=[ssm_locked, free]) == {
        ("ssm:DeleteParameter", ssm_locked): "explicitDeny", ("ssm:DeleteParameter", free): "allowed"}


def test_a_user_with_groups_and_managed_policies(world: World) -> None:
    iam = full_access(world, "iam")
    user = iam.create_user(UserName="alice")["User"]["Arn"]
    iam.put_user_policy(UserName="alice", PolicyName="own", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:ListTasks", "Resource": "*"}]}))
    iam.create_group(GroupName="oncall")
    iam.add_user_to_group(GroupName="oncall", UserName="alice")
    iam.put_group_policy(GroupName="oncall", PolicyName="team", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ecs:Delete*", "Resource": "*"}]}))
    managed = iam.create_policy(PolicyName="readers", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]}))
    iam.attach_user_policy(UserName="alice", PolicyArn=managed["Policy"]["Arn"])
    results = iam.simulate_principal_policy(PolicySourceArn=user, ActionNames=[
        "ecs:ListTasks", "ecs:DeleteService", "ssm:GetParameter"])["EvaluationResults"]
    assert [(r["EvalDecision"], r["MatchedStatements"]) for r in results] == [
        ("allowed", [{"SourcePolicyId": "own", "SourcePolicyType": "user"},
                     {"SourcePolicyId": "readers", "SourcePolicyType": "user-managed"}]),
        ("explicitDeny", [{"SourcePolicyId": "team", "SourcePolicyType": "group"}]),
        ("implicitDeny", []),
    ]
    group = iam.get_group(GroupName="oncall")["Group"]["Arn"]
    assert decisions(iam, group, ["ecs:ListTasks"]) == {("ecs:ListTasks", "*"): "implicitDeny"}


def test_policy_input_list_is_added(world: World) -> None:
    extra = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ecs:*", "Resource": "*"}]})
    result = full_access(world, "iam").simulate_principal_policy(
        PolicySourceArn=world.role_arn, ActionNames=["ecs:ListTasks"], PolicyInputList=[extra])["EvaluationResults"][0]
    assert result["EvalDecision"] == "explicitDeny"
    assert result["MatchedStatements"] == [{"SourcePolicyId": "PolicyInputList.1", "SourcePolicyType": "none"}]


def test_pagination_with_max_items_and_marker(world: World) -> None:
    iam = full_access(world, "iam")
    actions, resources = ["ecs:UpdateService", "ecs:ListTasks", "s3:GetObject"], ["arn:aws:a:::1", "arn:aws:a:::2"]
    first = iam.simulate_principal_policy(PolicySourceArn=world.role_arn, ActionNames=actions,
                                          ResourceArns=resources, MaxItems=4)
    assert first["IsTruncated"] is True and len(first["EvaluationResults"]) == 4
    second = iam.simulate_principal_policy(PolicySourceArn=world.role_arn, ActionNames=actions,
                                           ResourceArns=resources, MaxItems=4, Marker=first["Marker"])
    assert second["IsTruncated"] is False and "Marker" not in second
    pages = first["EvaluationResults"] + second["EvaluationResults"]
    assert [(r["EvalActionName"], r["EvalResourceName"]) for r in pages] == [(a, r) for a in actions for r in resources]
    paginated = iam.get_paginator("simulate_principal_policy").paginate(
        PolicySourceArn=world.role_arn, ActionNames=actions, ResourceArns=resources, PaginationConfig={"PageSize": 1})
    assert [r for page in paginated for r in page["EvaluationResults"]] == pages
    unpaged = iam.simulate_principal_policy(PolicySourceArn=world.role_arn, ActionNames=["ecs:ListTasks"] * 150)
    assert len(unpaged["EvaluationResults"]) == 100 and unpaged["IsTruncated"]  # MaxItems defaults to 100


@pytest.mark.parametrize(("kwargs", "code", "status", "needle"), [
    ({"PolicySourceArn": "arn:aws:iam::123456789012:role/nobody"}, "NoSuchEntity", 404, "role with name nobody"),
    ({"PolicySourceArn": "arn:aws:iam::123456789012:user/nobody"}, "NoSuchEntity", 404, "user with name nobody"),
    ({"PolicySourceArn": "arn:aws:sts::123456789012:assumed-role/sandbox-broker-oncall/sandbox-oncall"},
     "InvalidInput", 400, "Invalid Entity Arn: arn:aws:sts::"),
    ({"PolicySourceArn": "not-an-arn-but-long-enough"}, "InvalidInput", 400, "Invalid Entity Arn"),
    ({"MaxItems": 1001}, "ValidationError", 400, "less than or equal to 1000"),
    ({"Marker": "bm90LWEtbWFya2Vy"}, "InvalidInput", 400, "Invalid Marker"),
    ({"PolicyInputList": ["{not json"]}, "InvalidInput", 400, "PolicyInputList.1"),
])
def test_simulate_errors_as_iam(world: World, kwargs: dict[str, Any], code: str, status: int, needle: str) -> None:
    params = {"PolicySourceArn": world.role_arn, "ActionNames": ["ecs:ListTasks"], **kwargs}
    with pytest.raises(ClientError) as raised:
        full_access(world, "iam").simulate_principal_policy(**params)
    found = error(raised)
    assert (found[0], found[2]) == (code, status) and needle in found[1]


# -- enforcement ---------------------------------------------------------------------------------

def test_missing_permission_refuses_update_service_to_the_role_only(denied_world: World) -> None:
    ecs = oncall(denied_world, "ecs")
    with pytest.raises(ClientError) as raised:
        ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")
    message = (f"User: {denied_world.caller_arn} is not authorized to perform: ecs:UpdateService on resource: "
               f"{service_arn(denied_world, API)} with an explicit deny in an identity-based policy")
    assert error(raised) == ("AccessDeniedException", message, 400)
    assert ecs.describe_services(cluster=CLUSTER, services=[API])["services"][0]["taskDefinition"].endswith(":9")
    updated = full_access(denied_world, "ecs").update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")
    assert updated["service"]["taskDefinition"].endswith(":8")


def test_implicit_deny_names_the_action_and_resource(world: World) -> None:
    world.set_role_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecs:DescribeServices", "Resource": service_arn(world, API)},
        {"Effect": "Allow", "Action": "logs:FilterLogEvents",
         "Resource": "arn:aws:logs:*:*:log-group:/ecs/sandbox-broker-api:*"}]})
    ecs, logs = oncall(world, "ecs"), oncall(world, "logs")
    assert ecs.describe_services(cluster=CLUSTER, services=[API])["services"]
    with pytest.raises(ClientError) as raised:
        ecs.describe_services(cluster=CLUSTER, services=[API, WORKER])
    message = (f"User: {world.caller_arn} is not authorized to perform: ecs:DescribeServices on resource: "
               f"{service_arn(world, WORKER)} because no identity-based policy allows the ecs:DescribeServices action")
    assert error(raised) == ("AccessDeniedException", message, 400)
    assert "events" in logs.filter_log_events(logGroupName="/ecs/sandbox-broker-api", limit=1)
    with pytest.raises(ClientError) as raised:
        logs.filter_log_events(logGroupName="/ecs/sandbox-broker-worker", limit=1)
    assert error(raised)[0] == "AccessDeniedException"
    assert "log-group:/ecs/sandbox-broker-worker:log-stream:*" in error(raised)[1]
    with pytest.raises(ClientError) as raised:
        ecs.list_tasks(cluster=CLUSTER)
    assert "on resource: * because no identity-based policy allows the ecs:ListTasks action" in error(raised)[1]


def test_query_protocols_answer_access_denied(world: World) -> None:
    world.deny("iam:*", "sts:*")
    with pytest.raises(ClientError) as raised:
        oncall(world, "iam").simulate_principal_policy(PolicySourceArn=world.role_arn, ActionNames=["ecs:ListTasks"])
    code, message, status = error(raised)
    assert (code, status) == ("AccessDenied", 403)
    assert message == (f"User: {world.caller_arn} is not authorized to perform: iam:SimulatePrincipalPolicy on "
                       f"resource: {world.role_arn} with an explicit deny in an identity-based policy")
    assert oncall(world, "sts").get_caller_identity()["Arn"] == world.caller_arn  # AWS: never needs permission
    assert full_access(world, "iam").simulate_principal_policy(
        PolicySourceArn=world.role_arn, ActionNames=["iam:GetRole"])["EvaluationResults"][0]["EvalDecision"] == "explicitDeny"


def test_behaviour_and_simulation_agree(world: World) -> None:
    world.deny("ecr:DescribeImages", "application-autoscaling:Describe*")
    calls: dict[str, Callable[[], Any]] = {
        "ecr:DescribeImages": lambda: oncall(world, "ecr").describe_images(repositoryName="sandbox-broker-api"),
        "ecr:ListImages": lambda: oncall(world, "ecr").list_images(repositoryName="sandbox-broker-api"),
        "application-autoscaling:DescribeScalableTargets":
            lambda: oncall(world, "application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs"),
        "ecs:DescribeTaskDefinition": lambda: oncall(world, "ecs").describe_task_definition(taskDefinition="sandbox-broker:8"),
    }
    simulated = decisions(full_access(world, "iam"), world.role_arn, list(calls))
    for action, call in calls.items():
        try:
            call()
            behaved = "allowed"
        except ClientError as raised:
            assert raised.response["Error"]["Code"] == "AccessDeniedException"
            behaved = "explicitDeny"
        assert simulated[(action, "*")] == behaved, action
    assert sorted(a for (a, _), d in simulated.items() if d != "allowed") == [
        "application-autoscaling:DescribeScalableTargets", "ecr:DescribeImages"]
