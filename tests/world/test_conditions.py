"""The world's IAM condition operators on their own, and how a Condition decides a statement: the rules
AWS documents ("IAM JSON policy elements: Condition operators", "... multiple context keys or values")."""

from __future__ import annotations

from typing import Any

import pytest

from ops.sandbox.conditions import holds
from ops.sandbox.policy import SourcePolicy, evaluate

CLUSTER = "arn:aws:ecs:eu-central-1:123456789012:cluster/sandbox-broker-cluster"
OTHER = "arn:aws:ecs:eu-central-1:123456789012:cluster/other"


@pytest.mark.parametrize(("condition", "context", "expected"), [
    ({"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
     {"iam:passedtoservice": ["ecs-tasks.amazonaws.com"]}, True),
    ({"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
     {"iam:passedtoservice": ["lambda.amazonaws.com"]}, False),
    ({"StringEquals": {"IAM:passedToService": "ecs-tasks.amazonaws.com"}},  # keys are case-insensitive
     {"iam:passedtoservice": ["ecs-tasks.amazonaws.com"]}, True),
    ({"StringEquals": {"iam:PassedToService": "ECS-TASKS.amazonaws.com"}},  # values are not
     {"iam:passedtoservice": ["ecs-tasks.amazonaws.com"]}, False),
    ({"StringEqualsIgnoreCase": {"k": "ABC"}}, {"k": ["abc"]}, True),
    ({"StringEquals": {"k": ["a", "b"]}}, {"k": ["b"]}, True),  # a key's values: OR
    ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": ["b"]}, False),  # negated: NOR
    ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": ["c"]}, True),
    ({"StringLike": {"k": "ecs-*.amazonaws.com"}}, {"k": ["ecs-tasks.amazonaws.com"]}, True),
    ({"StringLike": {"k": "ecs-?asks"}}, {"k": ["ecs-tasks"]}, True),
    ({"StringNotLike": {"k": "ecs-*"}}, {"k": ["lambda"]}, True),
    ({"ArnEquals": {"ecs:cluster": CLUSTER}}, {"ecs:cluster": [CLUSTER]}, True),
    ({"ArnEquals": {"ecs:cluster": CLUSTER}}, {"ecs:cluster": [OTHER]}, False),
    ({"ArnLike": {"ecs:cluster": "arn:aws:ecs:*:123456789012:cluster/sandbox-*"}}, {"ecs:cluster": [CLUSTER]}, True),
    ({"ArnLike": {"ecs:cluster": "arn:aws:ecs:*:123456789012:cluster/sandbox-*"}}, {"ecs:cluster": ["not-an-arn"]}, False),
    ({"ArnNotEquals": {"ecs:cluster": CLUSTER}}, {"ecs:cluster": [OTHER]}, True),
    ({"NumericLessThan": {"k": "10"}}, {"k": ["9"]}, True),
    ({"NumericGreaterThanEquals": {"k": "10"}}, {"k": ["9"]}, False),
    ({"NumericEquals": {"k": "10"}}, {"k": ["ten"]}, False),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:securetransport": ["true"]}, True),
    ({"Bool": {"aws:SecureTransport": True}}, {"aws:securetransport": ["false"]}, False),  # JSON true is "true"
])
def test_operators(condition: dict[str, Any], context: dict[str, list[str]], expected: bool) -> None:
    assert holds(condition, context) is expected


@pytest.mark.parametrize(("operator", "expected"), [
    ("StringEquals", False), ("ArnEquals", False), ("NumericEquals", False), ("Bool", False),  # a missing key fails
    ("StringNotEquals", True), ("StringNotLike", True), ("ArnNotLike", True),  # ... and passes a negated one
    ("StringEqualsIfExists", True), ("ArnLikeIfExists", True),  # IfExists: no key, no test
    ("ForAnyValue:StringEquals", False), ("ForAllValues:StringEquals", True),
    ("ForAnyValue:StringNotEquals", False), ("ForAllValues:StringNotEquals", True),  # an empty set, negated or not
    ("DateGreaterThan", False), ("IpAddress", False),  # not modelled, but the missing-key rule is AWS's
    ("NotIpAddress", True), ("DateLessThanIfExists", True),
    ("Unknown:StringEquals", False), ("Unknown:StringNotEquals", False),  # not a set operator
])
def test_a_key_missing_from_the_context(operator: str, expected: bool) -> None:
    assert holds({operator: {"k": "1"}}, {}) is expected


def test_null_tests_whether_the_key_is_there() -> None:
    assert holds({"Null": {"k": "true"}}, {}) and not holds({"Null": {"k": "true"}}, {"k": ["v"]})
    assert holds({"Null": {"k": "false"}}, {"k": ["v"]}) and not holds({"Null": {"k": "false"}}, {})
    assert holds({"Null": {"k": ["true", "false"]}}, {}) and holds({"Null": {"k": ["true", "false"]}}, {"k": ["v"]})


def test_an_operator_the_world_does_not_model_never_holds_with_its_key_present() -> None:
    assert not holds({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": ["192.0.2.1"]})
    assert not holds({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
                     {"aws:currenttime": ["2026-12-01T00:00:00Z"]})


def test_every_operator_and_every_key_must_hold() -> None:
    both = {"StringEquals": {"a": "1", "b": "2"}, "ArnEquals": {"ecs:cluster": CLUSTER}}
    assert holds(both, {"a": ["1"], "b": ["2"], "ecs:cluster": [CLUSTER]})
    assert not holds(both, {"a": ["1"], "b": ["3"], "ecs:cluster": [CLUSTER]})
    assert not holds(both, {"a": ["1"], "b": ["2"], "ecs:cluster": [OTHER]})


def test_set_operators_on_a_multi_valued_key() -> None:
    tags = {"aws:tagkeys": ["team", "cost"]}
    assert holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost", "env"]}}, tags)
    assert not holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, tags)
    assert holds({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}, tags)
    assert not holds({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}, tags)


def _policy(condition: dict[str, Any], effect: str = "Allow") -> SourcePolicy:
    return SourcePolicy.parse("p", "role", {"Statement": [
        {"Effect": effect, "Action": "ecs:ListTasks", "Resource": "*", "Condition": condition}]})


def test_a_conditional_allow_applies_only_when_its_condition_holds() -> None:
    allow = _policy({"ArnEquals": {"ecs:cluster": CLUSTER}})
    assert evaluate([allow], "ecs:ListTasks", "*", {"ecs:cluster": [CLUSTER]}).decision == "allowed"
    other = evaluate([allow], "ecs:ListTasks", "*", {"ecs:cluster": [OTHER]})
    assert (other.decision, other.missing_context) == ("implicitDeny", ())
    unknown = evaluate([allow], "ecs:ListTasks", "*")  # no context: as the simulator without ContextEntries
    assert (unknown.decision, unknown.missing_context) == ("implicitDeny", ("ecs:cluster",))


def test_a_conditional_deny_wins_only_when_its_condition_holds() -> None:
    policies = [SourcePolicy.parse("all", "role", {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
                _policy({"ArnNotEquals": {"ecs:cluster": CLUSTER}}, effect="Deny")]
    assert evaluate(policies, "ecs:ListTasks", "*", {"ecs:cluster": [CLUSTER]}).decision == "allowed"
    assert evaluate(policies, "ecs:ListTasks", "*", {"ecs:cluster": [OTHER]}).decision == "explicitDeny"
    assert evaluate(policies, "ecs:ListTasks", "*").decision == "explicitDeny"  # negated, key missing: it holds


def test_a_missing_key_is_reported_once_whatever_its_case() -> None:
    policies = [_policy({"ArnEquals": {"ecs:cluster": CLUSTER}}), _policy({"ArnLike": {"ECS:Cluster": "*"}})]
    assert evaluate(policies, "ecs:ListTasks", "*").missing_context == ("ecs:cluster",)
