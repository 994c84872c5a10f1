"""`inv preflight` and `inv iam-policy` end to end on the rehearsal world: each check's PASS and its
FAIL (or WARN) path, the JSON and JUnit shapes, exit codes, and that preflight changes nothing.
IAM permissions are the world's own (an assumed-role session, SimulatePrincipalPolicy and enforcement)."""
from __future__ import annotations

import json
import stat
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ops.aws.actions import ACTIONS
from tests.helpers import audit_lines, run_inv, service_changes, world_env
from tests.world.helpers import client

NAMES = ["caller", "permissions", "target", "target-image", "same-image", "worker-scaling", "circuit-breaker",
         "healthz", "token", "capture-dir", "lock"]


def preflight(world: Any, tmp_path: Path, code: int, **env: str) -> tuple[dict[str, dict[str, Any]], Any]:
    """`inv preflight --json`, which must exit ``code`` (0: no FAIL, 1: a FAIL); its checks by name."""
    result = run_inv(["preflight", "--json"], dict(world_env(world, tmp_path), **env), tmp_path)
    document = json.loads(result.stdout)
    assert [c["name"] for c in document["checks"]] == NAMES
    assert document["ok"] == all(c["status"] != "FAIL" for c in document["checks"])
    assert result.code == code == (0 if document["ok"] else 1), result.stdout + result.stderr
    return {c["name"]: c for c in document["checks"]}, result


def test_a_healthy_plan_passes_and_preflight_changes_nothing(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("worker-failing")  # the API is healthy, the worker is the problem
    junit = tmp_path / "reports" / "preflight.xml"
    result = run_inv(["preflight", "--junit", str(junit)], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[2:-1]}
    assert rows == {name: "PASS" for name in NAMES}
    assert result.stdout.splitlines()[-1] == "OK: 11 PASS, 0 WARN, 0 FAIL"
    suite = ET.fromstring(junit.read_text())
    assert suite.get("name") == "preflight" and suite.get("tests") == "11" and suite.get("failures") == "0"
    assert stat.S_IMODE(junit.stat().st_mode) == 0o600
    # read-only: no lock, no capture, no audit line; only reads were made
    assert not (tmp_path / "diagnostics").exists() and audit_lines(tmp_path) == []
    assert result.changing_calls() == []
    assert world.webhook.received() == []


def test_failures_and_warnings_of_a_broken_plan(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("missing-permission")
    (tmp_path / "a-file").write_text("not a folder")  # (the tests run as root: only a file stops a write)
    checks, result = preflight(world, tmp_path, 1, INVOKE_CAPTURE_DIR=str(tmp_path / "a-file" / "diagnostics"),
                               SANDBOX_BROKER_API_TOKEN="")
    assert checks["permissions"]["status"] == "FAIL"
    assert "may not call: ecs:UpdateService on arn:aws:ecs:eu-central-1:123456789012:service/sandbox-broker-cluster/" \
           "sandbox-broker" in checks["permissions"]["detail"]
    assert "iam-policy" in checks["permissions"]["fix"]
    assert checks["capture-dir"]["status"] == "FAIL" and checks["capture-dir"]["fix"]
    assert checks["token"]["status"] == "WARN" and "SANDBOX_BROKER_API_TOKEN is not set" in checks["token"]["detail"]
    assert checks["healthz"]["status"] == "WARN" and "unhealthy" in checks["healthz"]["detail"]
    assert world.token not in result.stdout + result.stderr


def test_the_target_image_expired_and_the_moved_tag_are_caught(world_factory: Any, tmp_path: Path) -> None:
    expired = world_factory("target-image-expired")
    checks, _ = preflight(expired, tmp_path, 1)
    assert checks["target-image"]["status"] == "FAIL"
    assert f"sandbox-broker-api@{expired.digest_of(8)}" in checks["target-image"]["detail"]
    expired.stop()
    moved = world_factory("latest-tag-moved")
    (tmp_path / "moved").mkdir()
    checks, _ = preflight(moved, tmp_path / "moved", 1)
    assert checks["same-image"]["status"] == "FAIL"
    assert f"inv rollback.image --image {moved.account_id}.dkr.ecr.eu-central-1.amazonaws.com/sandbox-broker-api@" \
           f"{moved.digest_of(8)}" in checks["same-image"]["fix"]
    assert checks["target-image"]["status"] == "PASS"  # by the digest the history recorded, not the moved tag


@pytest.mark.parametrize(("env", "words"), [
    ({"INVOKE_ECS_API_KNOWN_GOOD_REVISION": "1"}, "INACTIVE"),
    ({"INVOKE_ECS_API_KNOWN_GOOD_REVISION": "42"}, "does not exist"),
])
def test_a_target_that_cannot_be_deployed_fails(world: Any, tmp_path: Path, env: dict[str, str], words: str) -> None:
    checks, _ = preflight(world, tmp_path, 1, **env)
    assert checks["target"]["status"] == "FAIL" and words in checks["target"]["detail"]
    assert checks["target-image"]["status"] == "FAIL" and checks["same-image"]["status"] == "FAIL"


def test_auto_with_a_stale_pin_warns_and_an_in_flight_release_without_a_breaker_warns(world_factory: Any,
                                                                                      tmp_path: Path) -> None:
    world = world_factory("release-in-flight")
    checks, _ = preflight(world, tmp_path, 0)
    assert checks["circuit-breaker"]["status"] == "WARN" and "sandbox-broker" in checks["circuit-breaker"]["detail"]
    assert checks["target"]["status"] == "WARN" and "sandbox-broker:9" in checks["target"]["detail"]
    auto, _ = preflight(world, tmp_path, 0, INVOKE_ECS_API_KNOWN_GOOD_REVISION="auto")
    assert auto["target"]["status"] == "PASS" and auto["target"]["detail"].startswith("sandbox-broker:9 exists")


def test_unreadable_parts_warn_and_a_held_lock_is_named(world: Any, tmp_path: Path) -> None:
    world.deny("iam:SimulatePrincipalPolicy", "application-autoscaling:DescribeScalableTargets")
    held = {"caller": "arn:aws:sts::123456789012:assumed-role/oncall/bob", "task": "rollback.api", "host": "h",
            "pid": 1, "startedAt": datetime.now(timezone.utc).isoformat(), "token": "t"}
    client(world, "ssm").put_parameter(
        Name="/rollback-toolkit/sandbox-broker-cluster/sandbox-broker", Value=json.dumps(held), Type="String")
    checks, _ = preflight(world, tmp_path, 1, INVOKE_API_URL="http://127.0.0.1:9")
    assert checks["permissions"]["status"] == "WARN" and "cannot simulate" in checks["permissions"]["detail"]
    assert checks["worker-scaling"]["status"] == "WARN"
    assert checks["lock"]["status"] == "WARN" and "held by arn:aws:sts::123456789012:assumed-role/oncall/bob" \
        in checks["lock"]["detail"]
    assert checks["healthz"]["status"] == "FAIL" and "cannot connect" in checks["healthz"]["detail"]


def test_the_wrong_account_fails_the_caller_check_and_exits_2(world: Any, tmp_path: Path) -> None:
    junit = tmp_path / "preflight.xml"
    result = run_inv(["preflight", "--json", "--junit", str(junit)],
                     dict(world_env(world, tmp_path), INVOKE_AWS_ACCOUNT_ID="905418046272"), tmp_path)
    assert result.code == 2
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["checks"][0]["status"] == "FAIL"
    assert "not aws.account_id 905418046272" in document["checks"][0]["detail"]
    assert {c["detail"] for c in document["checks"][1:]} == {"not checked: wrong AWS account"}
    assert set(result.calls) == {("sts", "get_caller_identity")}
    assert ET.fromstring(junit.read_text()).get("failures") == "11"


def test_iam_policy_covers_every_action_scoped_to_this_deployment(world: Any, tmp_path: Path) -> None:
    result = run_inv(["iam-policy"], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stderr
    policy = json.loads(result.stdout)
    assert policy["Version"] == "2012-10-17"
    statements = policy["Statement"]
    actions = {a for s in statements for a in s["Action"]}
    assert actions == {a.iam_action for a in ACTIONS} | {"iam:PassRole", "ecs:TagResource"}
    assert len({s["Sid"] for s in statements}) == len(statements)
    by_action = {a: s for s in statements for a in s["Action"]}
    account, region = world.account_id, world.region
    assert by_action["ecs:UpdateService"]["Resource"] == [
        f"arn:aws:ecs:{region}:{account}:service/sandbox-broker-cluster/sandbox-broker",
        f"arn:aws:ecs:{region}:{account}:service/sandbox-broker-cluster/sandbox-broker-worker"]
    lock = f"arn:aws:ssm:{region}:{account}:parameter/rollback-toolkit/sandbox-broker-cluster/sandbox-broker"
    assert by_action["ssm:PutParameter"]["Resource"] == [lock, lock + ".break"]  # the lock and the break marker
    assert by_action["ecs:RegisterTaskDefinition"]["Resource"] == \
        f"arn:aws:ecs:{region}:{account}:task-definition/sandbox-broker:*"
    assert f"arn:aws:logs:{region}:{account}:log-group:/ecs/sandbox-broker-api" in by_action["logs:FilterLogEvents"]["Resource"]
    assert by_action["ecr:DescribeImages"]["Resource"] == f"arn:aws:ecr:{region}:{account}:repository/sandbox-broker-api"
    assert by_action["ecs:ListTasks"]["Condition"] == {"ArnEquals": {
        "ecs:cluster": f"arn:aws:ecs:{region}:{account}:cluster/sandbox-broker-cluster"}}
    assert "delete" not in json.dumps([a for a in actions if a.startswith("ecs:")]).lower()  # never DeleteService
    assert service_changes(tmp_path) == []


def test_same_image_warns_when_the_digest_cannot_be_resolved(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("latest-tag-moved")
    world.deny("ecr:DescribeImages")
    checks, _ = preflight(world, tmp_path, 1)
    assert [n for n, c in checks.items() if c["status"] == "FAIL"] == ["permissions"]  # ecr:DescribeImages denied
    assert checks["same-image"]["status"] == "WARN" and "cannot tell" in checks["same-image"]["detail"]
