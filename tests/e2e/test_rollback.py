"""Options 1-4, `wait`, and the runbook's "What NOT to Do" rules, end to end on the rehearsal world.

Every test runs `inv` as a subprocess (no terminal on stdin) against a sandbox World in this
process: moto over HTTP with the rollout simulator, and the broker API on 127.0.0.1.
"""
from __future__ import annotations

import json
import re
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    API,
    CLUSTER,
    WORKER,
    capture_folders,
    primary_revision,
    run_inv,
    service_changes,
    spawn_until,
    world_env,
)
from tests.world.helpers import client, wait_for


def _state(world: Any, name: str) -> dict[str, Any]:
    return world.service_state(name)


# ------------------------------------------------------------------ Option 1


def test_rollback_api_end_to_end(world: Any, tmp_path: Path) -> None:
    assert not world.api_healthy()
    result = run_inv(["rollback.api", "--yes"], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    state = _state(world, API)
    assert len(state["deployments"]) == 1 and primary_revision(world, API) == "sandbox-broker:8"
    assert state["running"] == state["desired"] == 2
    assert world.api_healthy()
    # the plan, with the exact CLI equivalent, came first; then capture; then change, wait, verify
    out = result.stdout
    assert "aws ecs update-service --cluster sandbox-broker-cluster --service sandbox-broker " \
           "--task-definition sandbox-broker:8 --force-new-deployment --region eu-central-1" in out
    assert out.index("plan:") < out.index("capture complete:") < out.index("done: roll back") \
        < out.index("reached a steady state") < out.index("OK: 5 of 5 checks passed")
    [capture] = capture_folders(tmp_path)
    assert (capture / "manifest.json").exists()
    [record] = service_changes(tmp_path)
    assert record["task"] == "rollback.api" and record["service"] == API
    assert (record["before"], record["after"], record["outcome"]) == ("sandbox-broker:9", "sandbox-broker:8", "ok")
    assert record["caller"].startswith("arn:aws:sts::")
    assert oct((tmp_path / "diagnostics" / "audit.jsonl").stat().st_mode & 0o777) == "0o600"
    # already there: nothing to do, exit 0, nothing changed
    again = run_inv(["rollback.api", "--yes"], world_env(world, tmp_path), tmp_path)
    assert again.code == 0 and "nothing to do" in again.stdout
    assert len(service_changes(tmp_path)) == 1


def test_dry_run_changes_nothing(world: Any, tmp_path: Path) -> None:
    result = run_inv(["rollback.full", "--dry-run"], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stderr
    assert "aws ecs update-service --cluster sandbox-broker-cluster --service sandbox-broker-worker --desired-count 0" in result.stdout
    assert "--task-definition sandbox-broker:8 --force-new-deployment" in result.stdout
    assert "dry run: nothing was changed" in result.stdout
    assert "call: ecs.update_service(cluster='sandbox-broker-cluster', service='sandbox-broker-worker', desiredCount=0)" \
        in result.stdout
    assert result.changing_calls() == []  # only reads were made: no lock, no change
    assert primary_revision(world, API) == "sandbox-broker:9" and _state(world, WORKER)["desired"] == 1
    assert capture_folders(tmp_path) == [] and service_changes(tmp_path) == []


def test_no_yes_without_terminal_is_exit_2(world: Any, tmp_path: Path) -> None:
    result = run_inv(["rollback.api"], world_env(world, tmp_path), tmp_path)
    assert result.code == 2
    assert "standard input is not a terminal: nothing was changed" in result.stderr and "--yes" in result.stderr
    assert "Traceback" not in result.stderr
    assert primary_revision(world, API) == "sandbox-broker:9"
    assert capture_folders(tmp_path) == [] and service_changes(tmp_path) == []


@pytest.mark.parametrize(
    "revision, message",
    [
        ("42", "task definition sandbox-broker:42 does not exist"),
        ("sandbox-broker-worker:1", "is not in the family of service sandbox-broker"),
        ("1", "task definition sandbox-broker:1 is INACTIVE, not ACTIVE"),
        ("eight", "--revision 'eight' is not a revision number"),
        ("\u00b2", "is not a revision number"),
    ],
)
def test_bad_revision_is_exit_2_and_changes_nothing(world: Any, tmp_path: Path, revision: str, message: str) -> None:
    result = run_inv(["rollback.api", "--yes", "--revision", revision], world_env(world, tmp_path), tmp_path)
    assert result.code == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert primary_revision(world, API) == "sandbox-broker:9"
    assert capture_folders(tmp_path) == [] and service_changes(tmp_path) == []


def test_crash_looping_target_fails_and_says_how_to_undo(world: Any, tmp_path: Path) -> None:
    world.set_behaviour(API, 8, "crash-loop")
    result = run_inv(["rollback.api", "--yes"], world_env(world, tmp_path), tmp_path)
    assert result.code == 1, result.stdout + result.stderr
    err = result.stderr
    assert "rollout FAILED" in err or "tasks failed during the wait" in err
    assert "changed so far:" in err and "sandbox-broker:9 -> sandbox-broker:8" in err
    assert "state now:" in err and "to undo: inv rollback.api --revision 9" in err
    assert "OK: 5 of 5" not in result.stdout  # never verified as a success


def test_circuit_breaker_rollback_is_a_failure(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory(circuit_breaker_rollback=True, circuit_breaker_failures=2)
    world.set_behaviour(API, 8, "crash-loop")
    result = run_inv(["rollback.api", "--yes"], world_env(world, tmp_path), tmp_path)
    assert result.code == 1, result.stdout + result.stderr
    # the breaker's own words, not a guess at what happened: the failed deployment's reason while ECS still
    # lists it, else ECS's service event of this wait
    from_deployment = ("rollout of sandbox-broker:8 FAILED (ECS deployment circuit breaker: tasks failed to start.) "
                       "and ECS rolled back to sandbox-broker:9") in result.stderr
    from_event = re.search(r"ECS rolled back to sandbox-broker:9 instead of sandbox-broker:8: \(service sandbox-broker\) "
                           r"\(deployment ecs-svc/\d+\) deployment failed: tasks failed to start\.", result.stderr)
    assert from_deployment or from_event, result.stderr


def test_timeout_shows_the_state_it_stopped_in(world: Any, tmp_path: Path) -> None:
    world.set_behaviour(API, 8, "stuck")
    result = run_inv(["rollback.api", "--yes", "--timeout", "3"], world_env(world, tmp_path), tmp_path)
    assert result.code == 1, result.stdout + result.stderr
    assert "timed out after 3s waiting for sandbox-broker" in result.stderr
    assert "state now:" in result.stderr and "primary sandbox-broker:8 IN_PROGRESS" in result.stderr


def test_no_wait_returns_after_the_change_and_wait_task_finishes(world: Any, tmp_path: Path) -> None:
    env = world_env(world, tmp_path)
    result = run_inv(["rollback.api", "--yes", "--no-wait"], env, tmp_path)
    assert result.code == 0, result.stderr
    assert "not waiting (--no-wait)" in result.stdout and "checks passed" not in result.stdout
    waited = run_inv(["wait"], env, tmp_path)
    assert waited.code == 0, waited.stderr
    assert "sandbox-broker reached a steady state" in waited.stdout
    assert "sandbox-broker-worker reached a steady state" in waited.stdout
    assert _state(world, API)["deployments"][0]["rolloutState"] == "COMPLETED"


def test_wait_times_out_with_exit_1(world: Any, tmp_path: Path) -> None:
    world.set_behaviour(API, 8, "stuck")
    env = world_env(world, tmp_path)
    assert run_inv(["rollback.api", "--yes", "--no-wait"], env, tmp_path).code == 0
    result = run_inv(["wait", "--timeout", "2"], env, tmp_path)
    assert result.code == 1
    assert "timed out after 2s" in result.stderr and "state when it stopped" in result.stderr


def test_capture_failure_stops_everything(world: Any, tmp_path: Path) -> None:
    world.inject_fault(action="FilterLogEvents", code="InvalidParameterException", status=400)
    result = run_inv(["rollback.api", "--yes"], world_env(world, tmp_path), tmp_path)
    assert result.code == 1, result.stdout + result.stderr
    assert "capture failed" in result.stderr and "nothing was changed" in result.stderr
    assert primary_revision(world, API) == "sandbox-broker:9"
    assert service_changes(tmp_path) == []
    assert not [p for p in (tmp_path / "diagnostics").iterdir() if p.is_dir() and p.name[0].isdigit()
                and not p.name.endswith(".incomplete")]


def test_ctrl_c_during_the_wait_says_what_changed(world: Any, tmp_path: Path) -> None:
    world.set_behaviour(API, 8, "stuck")
    proc = spawn_until(["rollback.api", "--yes"], world_env(world, tmp_path), tmp_path,
                       "done: roll back the API service")
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted" in err and "changed so far:" in err
    assert "to undo: inv rollback.api --revision 9" in err and "inv wait" in err


# ------------------------------------------------------------------ Option 2


@pytest.mark.parametrize("form", ["tag", "digest"])
def test_rollback_image_registers_a_copy_and_deploys_it(world: Any, tmp_path: Path, form: str) -> None:
    repo = f"{world.account_id}.dkr.ecr.{world.region}.amazonaws.com/sandbox-broker-api"
    image = f"{repo}:v8" if form == "tag" else f"{repo}@{world.digest_of(8)}"
    dry = run_inv(["rollback.image", "--dry-run", "--image", image], world_env(world, tmp_path), tmp_path)
    assert "aws ecs register-task-definition --cli-input-json '{" in dry.stdout  # the whole document: --dry-run
    assert "sandbox-fake-db-password" not in dry.stdout + dry.stderr and "***REDACTED***" in dry.stdout
    result = run_inv(["rollback.image", "--yes", "--image", image], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    assert "aws ecs register-task-definition --cli-input-json" in result.stdout
    assert "call: " not in result.stdout  # the plan before a change fits a screen: boto3 calls are --dry-run's
    assert "sandbox-fake-db-password" not in result.stdout + result.stderr
    assert primary_revision(world, API) == "sandbox-broker:10"
    ecs = client(world, "ecs")
    new = ecs.describe_task_definition(taskDefinition="sandbox-broker:10", include=["TAGS"])
    old = ecs.describe_task_definition(taskDefinition="sandbox-broker:9", include=["TAGS"])
    assert new["taskDefinition"]["containerDefinitions"][0]["image"] == image
    for key in ("environment", "command", "portMappings"):
        assert new["taskDefinition"]["containerDefinitions"][0].get(key) == old["taskDefinition"]["containerDefinitions"][0].get(key)
    assert new.get("tags") == old.get("tags")
    assert set(_state(world, API)["running_digests"]) == {world.digest_of(8)}
    assert world.api_healthy()
    actions = [(r["operation"], r["after"]) for r in service_changes(tmp_path)]
    assert actions == [("register_task_definition", "sandbox-broker:10"), ("update_service", "sandbox-broker:10")]


@pytest.mark.parametrize(
    "image, message",
    [
        ("{repo}:v99", "does not exist"),
        ("{repo}@sha256:" + "0" * 64, "does not exist"),
        ("not an image", "is not an image URI with a tag or digest"),
        ("{repo}", "is not an image URI with a tag or digest"),
    ],
)
def test_rollback_image_bad_image_changes_nothing(world: Any, tmp_path: Path, image: str, message: str) -> None:
    repo = f"{world.account_id}.dkr.ecr.{world.region}.amazonaws.com/sandbox-broker-api"
    result = run_inv(["rollback.image", "--yes", "--image", image.format(repo=repo)], world_env(world, tmp_path), tmp_path)
    assert result.code == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    revisions = client(world, "ecs").list_task_definitions(familyPrefix="sandbox-broker")["taskDefinitionArns"]
    assert not any(arn.endswith(":10") for arn in revisions)
    assert service_changes(tmp_path) == []


def test_rollback_image_requires_image(world: Any, tmp_path: Path) -> None:
    result = run_inv(["rollback.image", "--yes"], world_env(world, tmp_path), tmp_path)
    assert result.code == 2 and "--image is required" in result.stderr


# ------------------------------------------------------------------ Option 3 and restart


def test_worker_stop_and_start_round_trip(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("worker-autoscaled")  # a backlog alarm scales the worker out unless scaling is suspended
    env = world_env(world, tmp_path)
    stopped = run_inv(["worker.stop", "--yes"], env, tmp_path)
    assert stopped.code == 0, stopped.stdout + stopped.stderr
    state = _state(world, WORKER)
    assert (state["running"], state["desired"]) == (0, 0)  # the runbook's [0, 0]
    assert state["status"] == "ACTIVE"  # scaled, never deleted
    scaling = client(world, "application-autoscaling")
    [target] = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["MinCapacity"] == 0 and all(target["SuspendedState"].values())
    cloudwatch = client(world, "cloudwatch")
    # the world moves the alarm and runs its policy in one tick, under the lock that serves this call: once
    # the alarm reads ALARM, the policy has had its turn, and the suspended scaling did not act on it
    wait_for(lambda: any(a["StateValue"] == "ALARM" for a in cloudwatch.describe_alarms()["MetricAlarms"]), 30)
    assert _state(world, WORKER)["desired"] == 0
    assert not [e for e in _state(world, WORKER)["events"] if "Application Auto Scaling" in e]
    tags = {t["key"]: t["value"] for t in client(world, "ecs").list_tags_for_resource(
        resourceArn=f"arn:aws:ecs:{world.region}:{world.account_id}:service/{CLUSTER}/{WORKER}")["tags"]}
    assert tags["rollback-toolkit:previous-desired-count"] == "1"
    assert [r["operation"] for r in service_changes(tmp_path)] == ["tag_resource", "register_scalable_target", "update_service"]

    again = run_inv(["worker.stop", "--yes"], env, tmp_path)
    assert again.code == 0 and "already stopped" in again.stdout

    world.set_behaviour(WORKER, 1, "healthy")  # the worker's fault was fixed meanwhile
    started = run_inv(["worker.start", "--yes"], env, tmp_path)
    assert started.code == 0, started.stdout + started.stderr
    state = _state(world, WORKER)
    assert state["running"] == state["desired"] >= 1  # restored (and the resumed scaling may add more)
    [target] = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["MinCapacity"] == 1 and not any(target["SuspendedState"].values())
    tags = {t["key"] for t in client(world, "ecs").list_tags_for_resource(
        resourceArn=f"arn:aws:ecs:{world.region}:{world.account_id}:service/{CLUSTER}/{WORKER}")["tags"]}
    assert "rollback-toolkit:previous-desired-count" not in tags


def test_worker_start_count_flag_and_validation(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("worker-stopped")
    env = world_env(world, tmp_path)
    bad = run_inv(["worker.start", "--yes", "--count", "0"], env, tmp_path)
    assert bad.code == 2 and "--count 0 must be 1 or more" in bad.stderr
    bad = run_inv(["worker.start", "--yes", "--count", "two"], env, tmp_path)
    assert bad.code == 2 and "--count 'two' is not a whole number" in bad.stderr
    assert _state(world, WORKER)["desired"] == 0
    result = run_inv(["worker.start", "--yes", "--count", "2"], env, tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    assert (_state(world, WORKER)["running"], _state(world, WORKER)["desired"]) == (2, 2)


# ------------------------------------------------------------------ Option 4 and ordering


def test_rollback_full_stops_worker_before_touching_the_api(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("both-failing")
    result = run_inv(["rollback.full", "--yes"], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.index("done: stop the worker") < out.index("sandbox-broker-worker reached a steady state") \
        < out.index("done: roll back the API service") < out.index("sandbox-broker reached a steady state") \
        < out.index("checks passed")
    assert primary_revision(world, API) == "sandbox-broker:8" and world.api_healthy()
    assert (_state(world, WORKER)["running"], _state(world, WORKER)["desired"]) == (0, 0)
    operations = [(r["service"], r["operation"]) for r in service_changes(tmp_path)]
    assert operations[-1] == (API, "update_service") and (WORKER, "update_service") in operations[:-1]
    assert len(capture_folders(tmp_path)) == 1  # one capture, before anything changed


def test_rollback_full_failure_midway_prints_finish_and_undo(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("both-failing")
    world.set_behaviour(API, 8, "stuck")
    result = run_inv(["rollback.full", "--yes", "--timeout", "4"], world_env(world, tmp_path), tmp_path)
    assert result.code == 1
    err = result.stderr
    assert "stop the worker (sandbox-broker-worker): desired 1 -> desired 0" in err
    assert "roll back the API service (sandbox-broker): sandbox-broker:9 -> sandbox-broker:8" in err
    assert "to undo:" in err and "inv worker.start" in err


# ------------------------------------------------------------------ "What NOT to Do", enforced


def test_never_both_services_at_once(world: Any, tmp_path: Path) -> None:
    """DO NOT restart both services simultaneously: each side refuses while the other rolls out."""
    world.set_behaviour(API, 8, "stuck")
    env = world_env(world, tmp_path)
    assert run_inv(["rollback.api", "--yes", "--no-wait"], env, tmp_path).code == 0
    refused = run_inv(["worker.start", "--yes", "--count", "2"], env, tmp_path)
    assert refused.code == 1
    assert "refusing to start sandbox-broker-worker while sandbox-broker is still rolling out" in refused.stderr
    assert _state(world, WORKER)["desired"] == 1
    forced = run_inv(["worker.start", "--yes", "--count", "2", "--force", "--no-wait"], env, tmp_path)
    assert forced.code == 0, forced.stderr
    assert _state(world, WORKER)["desired"] == 2


def test_api_rollback_refused_while_worker_rolls_out(world: Any, tmp_path: Path) -> None:
    env = world_env(world, tmp_path)
    world.set_behaviour(WORKER, 1, "stuck")
    assert run_inv(["worker.start", "--yes", "--count", "2", "--no-wait"], env, tmp_path).code == 0
    refused = run_inv(["rollback.api", "--yes"], env, tmp_path)
    assert refused.code == 1
    assert "refusing to roll back sandbox-broker while sandbox-broker-worker is still rolling out" in refused.stderr
    assert primary_revision(world, API) == "sandbox-broker:9"


def test_capture_always_precedes_changes(world_factory: Any, tmp_path: Path) -> None:
    """DO NOT forget to capture logs before rollback: every change has a capture just before it."""
    world = world_factory("worker-failing")
    env = world_env(world, tmp_path)
    assert run_inv(["worker.stop", "--yes"], env, tmp_path).code == 0
    assert run_inv(["rollback.api", "--yes"], env, tmp_path).code == 0
    captures = capture_folders(tmp_path)
    assert len(captures) == 2
    for capture in captures:
        lines = (capture / "api-logs-before-rollback.txt").read_text().splitlines()
        assert lines and all(line[:4].isdigit() for line in lines)
    # each task's capture was complete no later than that task's first change (the manifest's capturedAt, written
    # last; not the folder's name: a capture starting in the same second as the one before takes the next second)
    first_change = {}
    for record in service_changes(tmp_path):
        first_change.setdefault(record["task"], record["time"])
    stamps = [datetime.fromisoformat(json.loads((c / "manifest.json").read_text())["capturedAt"]) for c in captures]
    for stamp, task in zip(stamps, ["worker.stop", "rollback.api"], strict=True):
        assert stamp <= datetime.fromisoformat(first_change[task])
    assert stamps[0] <= datetime.fromisoformat(first_change["worker.stop"]) <= stamps[1]


def test_failing_worker_is_not_a_rollout(world_factory: Any, tmp_path: Path) -> None:
    """A crash-looping worker is broken, not rolling out: Option 1 goes ahead (and says why)."""
    world = world_factory("worker-failing")
    result = run_inv(["rollback.api", "--yes", "--no-wait"], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    assert "sandbox-broker-worker is failing" in result.stdout and "not rolling out: going ahead" in result.stdout
    assert primary_revision(world, API) == "sandbox-broker:8"


def test_rollback_full_no_wait_still_waits_for_the_worker(world_factory: Any, tmp_path: Path) -> None:
    """--no-wait skips the final wait and verify, never the wait between the worker and the API."""
    world = world_factory("both-failing")
    result = run_inv(["rollback.full", "--yes", "--no-wait"], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.index("sandbox-broker-worker reached a steady state") < out.index("done: roll back the API service")
    assert "sandbox-broker reached a steady state" not in out and "checks passed" not in out
    assert "not waiting (--no-wait)" in out


def test_verify_follows_a_live_rollout(world: Any, tmp_path: Path) -> None:
    """`inv verify` on live deployments: mid-rollout the API has two deployments (a FAIL), and
    after `inv wait` every check passes."""
    world.set_behaviour(API, 8, "stuck")
    env = world_env(world, tmp_path)
    assert run_inv(["rollback.api", "--yes", "--no-wait"], env, tmp_path).code == 0
    during = run_inv(["verify", "--json"], env, tmp_path)
    assert during.code == 1
    checks = {c["name"]: c for c in json.loads(during.stdout)["checks"]}
    assert not checks["api-service"]["ok"] and "2 deployments" in checks["api-service"]["detail"]
    assert checks["worker-service"]["ok"]
    world.set_behaviour(API, 8, "healthy")
    assert run_inv(["wait", "--timeout", "30"], env, tmp_path).code == 0
    after = run_inv(["verify", "--json"], env, tmp_path)
    assert after.code == 0, after.stdout
    assert all(c["ok"] for c in json.loads(after.stdout)["checks"])
