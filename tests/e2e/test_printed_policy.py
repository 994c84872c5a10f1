"""The policy `inv iam-policy` prints, as the on-call role's only policy, in a world that enforces it as AWS
does (resource-level permissions, conditions with the request's context, the actions a call implies):
preflight's permission check passes, and the rollbacks it plans run under it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import API, CLUSTER, WORKER, run_inv, service_changes, world_env
from tests.world.helpers import client, wait_for

TAGS = [{"key": "team", "value": "broker"}]


def with_roles_and_tags(world: Any) -> str:
    """The API on a revision with a task role, an execution role and tags (the seeded ones have none), so
    Option 2's copy passes the roles (iam:PassRole) and tags the copy (ecs:TagResource); its role ARN."""
    ecs, role = client(world, "ecs"), f"arn:aws:iam::{world.account_id}:role/sandbox-broker-task"
    current = ecs.describe_services(cluster=CLUSTER, services=[API])["services"][0]["taskDefinition"]
    source = ecs.describe_task_definition(taskDefinition=current)["taskDefinition"]
    kept = {k: source[k] for k in ("family", "containerDefinitions", "cpu", "memory", "networkMode",
                                   "requiresCompatibilities") if k in source}
    copy = ecs.register_task_definition(**kept, taskRoleArn=role, executionRoleArn=role, tags=TAGS)
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition=copy["taskDefinition"]["taskDefinitionArn"])
    wait_for(lambda: len(world.service_state(API)["deployments"]) == 1, timeout=30)
    return role


def printed_policy(world: Any, tmp_path: Path) -> dict[str, Any]:
    result = run_inv(["iam-policy"], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_the_printed_policy_passes_preflight_and_the_rollbacks_run_under_it(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("worker-stopped")  # the API is fine, the worker at 0: it starts and stops again
    role = with_roles_and_tags(world)
    policy = printed_policy(world, tmp_path)
    assert role in json.dumps(policy)  # iam:PassRole on the roles the API's task definition names
    world.set_role_policy(policy)
    env = world_env(world, tmp_path)
    preflight = run_inv(["preflight", "--json"], env, tmp_path)
    checks = {c["name"]: c for c in json.loads(preflight.stdout)["checks"]}
    assert checks["permissions"]["status"] == "PASS", checks["permissions"]
    assert preflight.code == 0, preflight.stdout + preflight.stderr
    # the worker back and Option 3 again (auto scaling registered under its conditions, the count remembered in
    # a tag, the lock, the capture's ListTasks under its ecs:cluster condition), then Option 2's task definition
    for args in (["worker.start", "--yes"], ["worker.stop", "--yes"]):
        result = run_inv(args, env, tmp_path)
        assert result.code == 0, result.stdout + result.stderr
    assert world.service_state(WORKER)["desired"] == 0
    good = f"{world.account_id}.dkr.ecr.{world.region}.amazonaws.com/sandbox-broker-api@{world.digest_of(8)}"
    result = run_inv(["rollback.image", "--yes", "--image", good], env, tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    copied = client(world, "ecs").describe_task_definition(taskDefinition=world.service_state(API)["taskDefinition"],
                                                           include=["TAGS"])
    assert copied["taskDefinition"]["taskRoleArn"] == role and copied["tags"] == TAGS


def test_without_pass_role_option_2_is_refused_before_it_changes_anything(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("worker-stopped")
    with_roles_and_tags(world)
    policy = printed_policy(world, tmp_path)
    policy["Statement"] = [s for s in policy["Statement"] if "iam:PassRole" not in s["Action"]]
    world.set_role_policy(policy)
    env = world_env(world, tmp_path)
    checks = {c["name"]: c for c in json.loads(run_inv(["preflight", "--json"], env, tmp_path).stdout)["checks"]}
    assert checks["permissions"]["status"] == "FAIL" and "iam:PassRole" in checks["permissions"]["detail"]
    before = world.service_state(API)["taskDefinition"]
    good = f"{world.account_id}.dkr.ecr.{world.region}.amazonaws.com/sandbox-broker-api@{world.digest_of(8)}"
    result = run_inv(["rollback.image", "--yes", "--image", good], env, tmp_path)
    assert result.code == 2, result.stdout + result.stderr
    assert "is not authorized to perform: iam:PassRole" in result.stderr
    assert world.service_state(API)["taskDefinition"] == before
    assert [(r["operation"], r["outcome"]) for r in service_changes(tmp_path)] == [("register_task_definition", "failed")]


def test_a_condition_for_another_cluster_fails_preflight_by_name(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("worker-failing")
    policy = printed_policy(world, tmp_path)
    listing = next(s for s in policy["Statement"] if "ecs:ListTasks" in s["Action"])
    listing["Condition"]["ArnEquals"]["ecs:cluster"] = listing["Condition"]["ArnEquals"]["ecs:cluster"] + "-other"
    world.set_role_policy(policy)
    result = run_inv(["preflight", "--json"], world_env(world, tmp_path), tmp_path)
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert result.code == 1
    assert checks["permissions"]["status"] == "FAIL"
    assert checks["permissions"]["detail"].endswith("may not call: ecs:ListTasks")
    assert service_changes(tmp_path) == []
