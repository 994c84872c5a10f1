"""The rollback target from ECS's own deployment history, end to end on the rehearsal world: `inv
revisions`, `known_good_revision: auto`, the stale-pin warning, the `diff:` block, native rollback of a
release in flight, and the drills of the contract's new scenarios."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ops.sandbox.scenarios import API_FAMILY
from tests.helpers import API, CLUSTER, audit_lines, base_env, primary_revision, run_inv, service_changes, world_env
from tests.world.helpers import client

AUTO = {"INVOKE_ECS_API_KNOWN_GOOD_REVISION": "auto"}


def _inv(world: Any, tmp_path: Path, *args: str, **env: str) -> Any:
    return run_inv(list(args), dict(world_env(world, tmp_path), **env), tmp_path)


def _tagged(world: Any, revision: int) -> str:
    """The image URI the scenario seeds into API revision ``revision``'s task definition (``...:vN``)."""
    return f"{world.account_id}.dkr.ecr.{world.region}.amazonaws.com/sandbox-broker-api:v{revision}"


def test_revisions_json_table_and_limit(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("next-release-failing")
    document = json.loads(_inv(world, tmp_path, "revisions", "--json", "--limit", "3").stdout)
    assert set(document) == {"service", "current", "target", "targetSource", "deployments"}
    assert (document["service"], document["current"]) == (API, "sandbox-broker:10")
    assert (document["target"], document["targetSource"]) == ("sandbox-broker:8", "config")
    assert [d["taskDefinition"] for d in document["deployments"]] == ["sandbox-broker:10", "sandbox-broker:9",
                                                                        "sandbox-broker:8"]
    newest = document["deployments"][0]
    assert set(newest) == {"taskDefinition", "status", "startedAt", "finishedAt", "images"}
    assert newest["status"] == "SUCCESSFUL" and newest["startedAt"].endswith("Z")
    assert newest["images"] == [{"container": "sandbox-broker-api", "image": _tagged(world, 10),
                                 "digest": world.digest_of(10)}]
    auto = json.loads(_inv(world, tmp_path, "revisions", "--json", **AUTO).stdout)
    assert (auto["target"], auto["targetSource"]) == ("sandbox-broker:9", "history")
    table = _inv(world, tmp_path, "revisions")
    assert table.code == 0
    lines = table.stdout.splitlines()
    assert any(line.startswith("sandbox-broker:10") and line.endswith("current") for line in lines)
    assert any(line.startswith("sandbox-broker:9") and line.endswith("last good") for line in lines)
    assert "target: sandbox-broker:8 (ecs.api.known_good_revision pins it)" in lines
    assert any(line.startswith("warning:") and "sandbox-broker:9" in line for line in lines)
    bad = _inv(world, tmp_path, "revisions", "--limit", "0")
    assert bad.code == 2 and "--limit" in bad.stderr and "Traceback" not in bad.stderr


def test_auto_rolls_back_one_release_and_verifies(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("next-release-failing")
    result = _inv(world, tmp_path, "rollback.api", "--yes", **AUTO)
    assert result.code == 0, result.stdout + result.stderr
    assert "plan: Option 1: roll back sandbox-broker to sandbox-broker:9" in result.stdout
    assert "warning:" not in result.stdout  # auto: nothing skipped
    assert primary_revision(world) == "sandbox-broker:9" and world.api_healthy()
    [change] = service_changes(tmp_path)
    assert (change["before"], change["after"], change["taskDefinition"]) == ("sandbox-broker:10", "sandbox-broker:9",
                                                                          "sandbox-broker:9")


def test_a_stale_pin_wins_but_warns_before_any_prompt(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("next-release-failing")
    dry = _inv(world, tmp_path, "rollback.full", "--dry-run")
    assert dry.code == 0, dry.stderr
    lines = dry.stdout.splitlines()
    warning = next(i for i, line in enumerate(lines) if line.startswith("warning:"))
    assert "sandbox-broker:9" in lines[warning] and "--revision 9" in lines[warning]
    assert warning < lines.index("dry run: nothing was changed (no lock taken, no capture written)")
    assert "then the API to sandbox-broker:8" in dry.stdout  # the pin still wins
    assert service_changes(tmp_path) == [] and primary_revision(world) == "sandbox-broker:10"


def test_auto_without_a_candidate_is_exit_2_saying_revision(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("next-release-failing")
    world.deny("ecs:ListServiceDeployments")  # no history can be read: no candidate
    result = _inv(world, tmp_path, "rollback.api", "--yes", **AUTO)
    assert result.code == 2, result.stdout + result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "no rollback target" in error[0]
    assert "--revision N" in result.stderr and "Traceback" not in result.stderr
    assert audit_lines(tmp_path) == [] and not (tmp_path / "diagnostics").exists()
    assert primary_revision(world) == "sandbox-broker:10"


def test_every_rollback_plan_has_a_diff_block_with_secrets_masked(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("api-bad-release")
    image = f"{world.account_id}.dkr.ecr.{world.region}.amazonaws.com/sandbox-broker-api@{world.digest_of(7)}"
    for args in (["rollback.api"], ["rollback.full"], ["rollback.image", "--image", image]):
        out = _inv(world, tmp_path, *args, "--dry-run").stdout
        diff = [line for line in out.splitlines() if line.startswith("diff:")]
        assert len(diff) == 1 and diff[0].startswith("diff: sandbox-broker:9 (running now) -> "), (args, out)
        assert f"sandbox-broker-api:v9 ({world.digest_of(9)[7:19]})" in out  # the digest running now
        assert "sandbox-fake" not in out  # secret values never shown
    full = _inv(world, tmp_path, "rollback.api", "--dry-run").stdout
    assert f"sandbox-broker-api image: sandbox-broker-api:v9 ({world.digest_of(9)[7:19]}) -> " \
           f"sandbox-broker-api:v8 ({world.digest_of(8)[7:19]})" in full
    assert "environment changed: APP_VERSION 'v9' -> 'v8', DATABASE_PASSWORD (secret, not shown)" in full
    same = _inv(world, tmp_path, "rollback.api", "--dry-run", "--revision", "9", "--force", "--allow-same-image").stdout
    assert "diff: sandbox-broker:9 and sandbox-broker:9 are identical" in same


def test_a_release_in_flight_is_rolled_back_natively(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("release-in-flight")
    dry = _inv(world, tmp_path, "rollback.api", "--dry-run", "--revision", "9")
    assert "1. stop_service_deployment (sandbox-broker): sandbox-broker:10 -> sandbox-broker:9" in dry.stdout
    assert "call: ecs.stop_service_deployment(serviceDeploymentArn='arn:aws:ecs:" in dry.stdout
    assert "$ aws ecs stop-service-deployment --service-deployment-arn arn:aws:ecs:" in dry.stdout
    assert "--stop-type ROLLBACK --region eu-central-1" in dry.stdout
    forced = _inv(world, tmp_path, "rollback.api", "--dry-run", "--revision", "9", "--no-native")
    assert "stop_service_deployment" not in forced.stdout and "--no-native" in forced.stdout
    assert "aws ecs update-service" in forced.stdout
    result = _inv(world, tmp_path, "rollback.api", "--yes", "--revision", "9")
    assert result.code == 0, result.stdout + result.stderr
    assert "OK: 5 of 5 checks passed" in result.stdout
    [change] = service_changes(tmp_path)
    assert change["action"] == "stop_service_deployment" and change["operation"] == "stop_service_deployment"
    assert change["images"] == [{"container": "sandbox-broker-api", "image": _tagged(world, 9),
                                 "digest": world.digest_of(9)}]
    assert primary_revision(world) == "sandbox-broker:9" and world.api_healthy()
    statuses = {d["taskDefinition"].rsplit("/", 1)[-1]: d["status"] for d in world.service_deployments(API)}
    assert statuses["sandbox-broker:10"] == "ROLLBACK_SUCCESSFUL"


def test_the_pinned_target_not_the_last_good_uses_update_service(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("release-in-flight")
    dry = _inv(world, tmp_path, "rollback.api", "--dry-run")  # pinned 8; the last good is :9
    assert "note: the target sandbox-broker:8 is not the last good revision: rolling back with update_service" \
        in dry.stdout
    assert "aws ecs update-service" in dry.stdout and "stop-service-deployment" not in dry.stdout


def test_same_image_counts_the_primary_not_tasks_still_draining(world_factory: Any, tmp_path: Path) -> None:
    """The bad release (PRIMARY) runs the moved :latest digest while the good tasks still drain: the
    target would redeploy what the PRIMARY runs, so it is refused (counting all tasks it would not be)."""
    world = world_factory("latest-tag-moved", rollout_seconds=6)
    good = f"{world.account_id}.dkr.ecr.{world.region}.amazonaws.com/sandbox-broker-api@{world.digest_of(8)}"
    assert _inv(world, tmp_path, "rollback.image", "--yes", "--image", good).code == 0
    ecs_env = world_env(world, tmp_path)
    client(world, "ecs").update_service(cluster=CLUSTER, service=API, taskDefinition=f"{API_FAMILY}:9")
    result = run_inv(["rollback.api", "--dry-run", "--revision", "7"], ecs_env, tmp_path)
    state = world.service_state(API)
    assert len(state["deployments"]) == 2, state  # the good tasks were still draining during the check
    assert result.code == 1, result.stdout + result.stderr
    assert "would redeploy the same code" in result.stderr


def test_drill_next_release_failing_with_auto_rolls_back_to_9(tmp_path: Path) -> None:
    result = run_inv(["drill", "--scenario", "next-release-failing", "--known-good", "auto", "--rollout-seconds", "1"],
                     base_env(tmp_path), tmp_path)
    assert result.code == 0, result.stdout[-3000:] + result.stderr
    assert "primary sandbox-broker:9 COMPLETED" in result.stdout and result.stdout.rstrip().endswith(
        "VERIFIED: the rollback worked")


def test_drill_release_in_flight_rolls_back_natively(tmp_path: Path) -> None:
    result = run_inv(["drill", "--scenario", "release-in-flight", "--known-good", "auto", "--rollout-seconds", "1"],
                     base_env(tmp_path), tmp_path)
    assert result.code == 0, result.stdout[-3000:] + result.stderr
    assert "done: stop_service_deployment (sandbox-broker): sandbox-broker:10 -> sandbox-broker:9" in result.stdout
    assert result.stdout.rstrip().endswith("VERIFIED: the rollback worked")


def test_a_target_older_than_the_worker_warns_that_jobs_may_run_twice(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("api-bad-release")
    old = _inv(world, tmp_path, "rollback.api", "--dry-run", "--revision", "4").stdout
    warning = [line for line in old.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "sandbox-broker:4 was registered before sandbox-broker-worker existed" in warning[0]
    assert "jobs may run twice" in warning[0] and "Option 4 (`inv rollback.full`) stops the worker first" in warning[0]
    assert "warning:" not in _inv(world, tmp_path, "rollback.api", "--dry-run", "--revision", "8").stdout
    assert "registered before" not in _inv(world, tmp_path, "rollback.full", "--dry-run", "--revision", "4").stdout


def test_a_target_whose_image_is_gone_from_ecr_is_refused_before_anything_changes(world_factory: Any,
                                                                                  tmp_path: Path) -> None:
    world = world_factory("target-image-expired")
    result = _inv(world, tmp_path, "rollback.api", "--yes")
    assert result.code == 2, result.stdout + result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "sandbox-broker:8's image is gone from ECR" in error and "Nothing was changed" in error
    assert "inv rollback.image" in result.stderr and "Traceback" not in result.stderr
    assert audit_lines(tmp_path) == [] and primary_revision(world) == "sandbox-broker:9"


def test_revision_auto_and_an_arn_name_the_target(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("next-release-failing")
    auto = _inv(world, tmp_path, "rollback.api", "--dry-run", "--revision", "auto")
    assert "plan: Option 1: roll back sandbox-broker to sandbox-broker:9" in auto.stdout and "warning:" not in auto.stdout
    arn = f"arn:aws:ecs:{world.region}:{world.account_id}:task-definition/sandbox-broker:7"
    assert "roll back sandbox-broker to sandbox-broker:7" in _inv(world, tmp_path, "rollback.api", "--dry-run",
                                                                  "--revision", arn).stdout
