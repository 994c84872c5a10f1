"""The policy `inv iam-policy` prints, as the on-call role's only policy, in a world that enforces it as AWS
does (resource-level permissions, conditions with the request's context, the actions a call implies):
preflight's permission check passes, and the rollbacks it plans run under it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import WORKER, run_inv, service_changes, world_env


def printed_policy(world: Any, tmp_path: Path) -> dict[str, Any]:
    result = run_inv(["iam-policy"], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_the_printed_policy_passes_preflight_and_the_rollbacks_run_under_it(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("worker-stopped")  # the API is fine, the worker at 0: it starts and stops again
    world.set_role_policy(printed_policy(world, tmp_path))
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
        assert "AccessDenied" not in result.stdout + result.stderr
    assert world.service_state(WORKER)["desired"] == 0
    good = f"{world.account_id}.dkr.ecr.{world.region}.amazonaws.com/sandbox-broker-api@{world.digest_of(8)}"
    result = run_inv(["rollback.image", "--yes", "--image", good], env, tmp_path)
    assert result.code == 0, result.stdout + result.stderr


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
