"""Where two commands must agree or one fact is read once: guard's history read, Option 4's title when only
the worker changes, preflight's same-image check on a release in flight (rollback.api goes native there),
and the note status and a dry run give when the lock cannot be read (a fault at the world's HTTP layer:
the world cannot refuse GetParameter by itself)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import run_inv, world_env


def test_guard_reads_the_deployment_history_once_before_following_and_once_before_rolling_back(
        world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("next-release-failing")
    result = run_inv(["guard", "--json"], world_env(world, tmp_path), tmp_path)
    assert result.code == 1 and json.loads(result.stdout)["outcome"] == "rolled-back", result.stderr
    reads = [c for c in result.calls if c[:2] == ("ecs", "list_service_deployments")]
    assert len(reads) == 2, result.calls  # Option 1's phase reuses the read guard made just before it


def test_option4_title_when_the_api_already_runs_the_target(world: Any, tmp_path: Path) -> None:
    result = run_inv(["rollback.full", "--dry-run", "--revision", "9"], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stderr
    assert "Option 4: full rollback (worker to 0, the API already runs sandbox-broker:9)" in result.stdout
    assert "then the API to desired" not in result.stdout


def test_preflight_says_a_release_in_flight_rolls_back_natively(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("release-in-flight")
    env = dict(world_env(world, tmp_path), INVOKE_ECS_API_KNOWN_GOOD_REVISION="auto")  # target: the last good, :9
    result = run_inv(["preflight", "--json"], env, tmp_path)
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["same-image"]["status"] == "PASS", checks["same-image"]
    assert "sandbox-broker:10 is still rolling out: rollback.api stops it natively, back to sandbox-broker:9" \
        in checks["same-image"]["detail"]
    dry = run_inv(["rollback.api", "--dry-run"], env, tmp_path)
    assert "stop_service_deployment" in dry.stdout, dry.stdout  # what preflight said is what rollback.api plans


def test_an_unreadable_lock_is_a_note_in_status_and_in_a_dry_run(world: Any, tmp_path: Path) -> None:
    world.inject_fault(action="GetParameter", code="AccessDeniedException")
    env = world_env(world, tmp_path)
    status = run_inv(["status", "--json"], env, tmp_path)
    assert status.code == 0, status.stderr
    assert json.loads(status.stdout)["lock"] is None
    assert "note: cannot read the rollback lock /rollback-toolkit/sandbox-broker-cluster/sandbox-broker (AccessDeniedException)" \
        in status.stderr
    dry = run_inv(["rollback.api", "--dry-run"], env, tmp_path)
    assert dry.code == 0, dry.stderr
    assert "note: cannot read the rollback lock /rollback-toolkit/sandbox-broker-cluster/sandbox-broker (AccessDeniedException)" in dry.stdout
