"""The world's IAM policy evaluator on its own: the rules AWS documents for identity policies."""

from __future__ import annotations

from typing import Any

import pytest

from ops.sandbox.policy import SourcePolicy, evaluate, wildcard

SERVICE = "arn:aws:ecs:eu-central-1:123456789012:service/sandbox-broker-cluster/sandbox-broker"


def policy(*statements: dict[str, Any], name: str = "p") -> SourcePolicy:
    return SourcePolicy.parse(name, "role", {"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def test_nothing_allows_means_implicit_deny() -> None:
    result = evaluate([policy(allow("ecs:DescribeServices"))], "ecs:UpdateService", SERVICE)
    assert (result.decision, result.matched, result.allowed) == ("implicitDeny", (), False)
    assert evaluate([], "ecs:UpdateService").decision == "implicitDeny"


def test_explicit_deny_wins_over_any_allow_and_is_the_only_match() -> None:
    allowing = policy(allow("*"), name="admin")
    denying = policy(deny("ecs:UpdateService", SERVICE), name="no-updates")
    result = evaluate([allowing, denying], "ecs:UpdateService", SERVICE)
    assert result.decision == "explicitDeny"
    assert [m.policy.policy_id for m in result.matched] == ["no-updates"]
    assert evaluate([allowing, denying], "ecs:DescribeServices", SERVICE).decision == "allowed"


@pytest.mark.parametrize(("pattern", "action", "expected"), [
    ("ecs:Describe*", "ecs:DescribeServices", True),
    ("ecs:Describe*", "ecs:describeservices", True),  # actions match case-insensitively
    ("ECS:describe*", "ecs:DescribeTasks", True),
    ("ecs:Describe*", "ecs:UpdateService", False),
    ("ecs:*", "ecr:DescribeImages", False),
    ("*", "ssm:PutParameter", True),
    ("ecs:Describe?asks", "ecs:DescribeTasks", True),
    ("ecs:Describe?asks", "ecs:DescribeXXasks", False),
    ("ecs:Update", "ecs:UpdateService", False),  # no implicit prefix match
])
def test_action_wildcards(pattern: str, action: str, expected: bool) -> None:
    assert evaluate([policy(allow(pattern))], action).allowed is expected


@pytest.mark.parametrize(("pattern", "resource", "expected"), [
    ("*", SERVICE, True),
    ("arn:aws:ecs:*:123456789012:service/sandbox-broker-cluster/*", SERVICE, True),
    ("arn:aws:ecs:*:123456789012:service/other-cluster/*", SERVICE, False),
    ("arn:aws:ecs:eu-central-1:123456789012:service/sandbox-broker-cluster/SANDBOX-BROKER", SERVICE, False),
    ("arn:aws:ecs:eu-central-1:123456789012:service/sandbox-broker-cluster/sandbox-broke?", SERVICE, True),
    ("arn:aws:ecs:eu-central-1:123456789012:service/*", "*", False),  # "*" is not every ARN
])
def test_resource_wildcards_are_case_sensitive(pattern: str, resource: str, expected: bool) -> None:
    assert evaluate([policy(allow("ecs:UpdateService", pattern))], "ecs:UpdateService", resource).allowed is expected


def test_not_action_allows_everything_else() -> None:
    everything_but_iam = policy({"Effect": "Allow", "NotAction": ["iam:*", "ecs:Update*"], "Resource": "*"})
    assert evaluate([everything_but_iam], "logs:FilterLogEvents").allowed
    assert evaluate([everything_but_iam], "iam:PassRole").decision == "implicitDeny"
    assert evaluate([everything_but_iam], "ecs:UpdateService").decision == "implicitDeny"
    deny_but_reads = policy(allow("*"), {"Effect": "Deny", "NotAction": "ecs:Describe*", "Resource": "*"})
    assert evaluate([deny_but_reads], "ecs:DescribeServices").allowed
    assert evaluate([deny_but_reads], "ecs:UpdateService").decision == "explicitDeny"


def test_not_resource() -> None:
    doc = policy({"Effect": "Allow", "Action": "ecs:UpdateService", "NotResource": f"{SERVICE}-worker"})
    assert evaluate([doc], "ecs:UpdateService", SERVICE).allowed
    assert not evaluate([doc], "ecs:UpdateService", f"{SERVICE}-worker").allowed


def test_a_conditional_statement_never_applies_and_names_its_keys() -> None:
    conditional = allow("ecs:UpdateService", Condition={"StringEquals": {"aws:RequestedRegion": "eu-central-1"}})
    result = evaluate([policy(conditional)], "ecs:UpdateService", SERVICE)
    assert (result.decision, result.missing_context) == ("implicitDeny", ("aws:RequestedRegion",))


def test_statement_shapes() -> None:
    lone = SourcePolicy.parse("p", "role", '{"Version": "2012-10-17", "Statement": '
                                           '{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}}')
    assert evaluate([lone], "ecs:ListTasks").allowed
    assert not evaluate([policy({"Effect": "Allow", "Action": "ecs:*"})], "ecs:ListTasks").allowed  # no Resource
    assert not evaluate([policy({"Effect": "Maybe", "Action": "*", "Resource": "*"})], "ecs:ListTasks").allowed
    with pytest.raises(ValueError):
        SourcePolicy.parse("p", "role", "[1, 2]")


def test_wildcard_escapes_regex_characters() -> None:
    assert wildcard("arn:aws:logs:*:log-group:/ecs/a.b:*", False).fullmatch("arn:aws:logs:x:log-group:/ecs/a.b:y")
    assert not wildcard("arn:aws:logs:*:log-group:/ecs/a.b:*", False).fullmatch("arn:aws:logs:x:log-group:/ecs/aXb:y")
