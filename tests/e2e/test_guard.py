"""`inv guard` (the CI step after a deploy) and the webhook notifications, end to end on the rehearsal
world: a healthy release, a failed one rolled back, one in flight rolled back natively, --no-rollback,
a timeout, Ctrl-C during guard's rollback; the world's webhook receiver answering, failing and hanging."""
from __future__ import annotations

import json
import signal
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.helpers import (
    API,
    CLUSTER,
    audit_lines,
    base_env,
    primary_revision,
    run_inv,
    service_changes,
    spawn_until,
    world_env,
)
from tests.world.helpers import client, wait_for


def _guard(world: Any, tmp_path: Path, *flags: str) -> tuple[Any, dict[str, Any]]:
    result = run_inv(["guard", "--json", *flags], world_env(world, tmp_path), tmp_path)
    return result, json.loads(result.stdout)


def _events(world: Any) -> list[dict[str, Any]]:
    return [d.json for d in world.webhook.received()]


def test_a_healthy_release_passes_and_nothing_changes(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("worker-stopped")  # API healthy; the worker at 0 is a steady, verified state
    result, document = _guard(world, tmp_path, "--junit", str(tmp_path / "guard.xml"))
    assert result.code == 0, result.stderr
    assert set(document) >= {"ok", "outcome", "release", "rolledBackTo", "checks"}
    assert (document["ok"], document["outcome"], document["release"], document["rolledBackTo"]) == (
        True, "healthy", "sandbox-broker:9", None)
    assert [c["name"] for c in document["checks"]] == ["healthz", "api-service", "worker-service", "allocate", "metrics"]
    suite = ET.fromstring((tmp_path / "guard.xml").read_text())
    assert suite.get("name") == "guard" and suite.get("failures") == "0"
    assert suite[0].get("name") == "release sandbox-broker:9"
    assert audit_lines(tmp_path) == [] and _events(world) == []


def test_a_failed_release_is_rolled_back_verified_and_exits_1(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("next-release-failing")  # the pin says 8; guard always takes the history's last good
    result, document = _guard(world, tmp_path, "--junit", str(tmp_path / "guard.xml"))
    assert result.code == 1, result.stderr
    assert (document["ok"], document["outcome"], document["release"], document["rolledBackTo"]) == (
        False, "rolled-back", "sandbox-broker:10", "sandbox-broker:9")
    assert all(c["ok"] for c in document["checks"])  # verified after the rollback
    assert any(not c["ok"] for c in document["releaseChecks"])  # what failed the release
    assert primary_revision(world) == "sandbox-broker:9" and world.api_healthy()
    [change] = service_changes(tmp_path)
    assert (change["task"], change["operation"], change["after"]) == ("guard", "update_service", "sandbox-broker:9")
    release = ET.fromstring((tmp_path / "guard.xml").read_text())[0]
    assert release.get("name") == "release sandbox-broker:10"
    failure = release.find("failure")
    assert failure is not None and "rolled back to sandbox-broker:9 and verified" in failure.get("message", "")
    assert [e["event"] for e in _events(world)] == ["started", "succeeded"]
    assert all(e["task"] == "guard" for e in _events(world))


def test_a_release_in_flight_is_rolled_back_natively(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("release-in-flight")
    result, document = _guard(world, tmp_path, "--timeout", "3")
    assert result.code == 1, result.stderr
    assert (document["outcome"], document["rolledBackTo"]) == ("rolled-back", "sandbox-broker:9")
    assert "timed out" in document["deployment"] or "failed" in document["deployment"]
    [change] = service_changes(tmp_path)
    assert change["action"] == "stop_service_deployment"


def test_no_rollback_only_reports(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("next-release-failing")
    result, document = _guard(world, tmp_path, "--no-rollback")
    assert result.code == 1
    assert (document["outcome"], document["rolledBackTo"]) == ("failed", None)
    assert "not rolled back (--no-rollback)" in document["reasons"]
    assert audit_lines(tmp_path) == [] and primary_revision(world) == "sandbox-broker:10"
    [event] = _events(world)
    assert event["event"] == "failed" and "sandbox-broker:10 FAILED" in event["text"]


def test_a_deployment_still_not_steady_at_the_timeout_is_a_failed_release(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("next-release-failing")
    world.set_behaviour(API, 10, "stuck")
    client(world, "ecs").update_service(cluster=CLUSTER, service=API, forceNewDeployment=True)
    result, document = _guard(world, tmp_path, "--timeout", "2")
    assert result.code == 1
    assert "timed out after 2s" in document["deployment"]  # guard's own timeout ended the wait
    assert document["outcome"] == "rolled-back" and document["rolledBackTo"] == "sandbox-broker:9"


def test_ctrl_c_during_guards_rollback(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("next-release-failing")
    world.set_behaviour(API, 9, "stuck")  # the rollback's wait goes on until interrupted
    proc = spawn_until(["guard"], world_env(world, tmp_path), tmp_path, "done: roll back the API service")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "changed so far:" in err and "Traceback" not in err
    assert "released the rollback lock" in out
    assert [e["event"] for e in _events(world)] == ["started", "interrupted"]


def test_notifications_carry_the_contract_fields_and_no_secret(world: Any, tmp_path: Path) -> None:
    result = run_inv(["rollback.api", "--yes"], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stderr
    received = world.webhook.received()
    assert [d.json["event"] for d in received] == ["started", "succeeded"]
    started, succeeded = (d.json for d in received)
    assert set(started) == {"text", "event", "task", "caller", "changes", "capture", "seconds"}
    assert started["capture"] and started["capture"] == succeeded["capture"]  # sent after the capture
    assert started["text"] == f"sandbox-broker rollback started by {world.caller_arn}: sandbox-broker:9 -> sandbox-broker:8"
    assert started["changes"] == [{"service": API, "from": "sandbox-broker:9", "to": "sandbox-broker:8"}]
    assert succeeded["capture"] and succeeded["capture"].split("/")[-1] in {p.name for p in (tmp_path / "diagnostics").iterdir()}
    assert all(d.headers.get("Content-Type") == "application/json" for d in received)
    everything = b"".join(d.raw for d in received).decode() + result.stdout + result.stderr
    for secret in (world.token, world.webhook_url, "sandbox-fake"):
        assert secret not in everything


def test_a_failing_or_hanging_webhook_is_one_warning_and_changes_nothing(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("worker-failing")  # the API is healthy: stopping the worker verifies
    world.webhook.fail(500, times=2)
    failing = run_inv(["worker.stop", "--yes"], world_env(world, tmp_path), tmp_path)
    assert failing.code == 0, failing.stderr
    warnings = [line for line in failing.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: 2 of 2 notifications not delivered to the webhook ('started': HTTP 500; "
                        "'succeeded': HTTP 500); the task went on"]  # one line, not one per event
    assert world.webhook_url not in failing.stderr
    world.set_behaviour("sandbox-broker-worker", 1, "healthy")  # fixed meanwhile: the restart verifies
    world.webhook.hang(8, times=1)
    hanging = run_inv(["worker.start", "--yes"], world_env(world, tmp_path / "h"), tmp_path)
    assert hanging.code == 0, hanging.stderr
    assert [line for line in hanging.stderr.splitlines() if line.startswith("warning:")] == [
        "warning: 1 of 2 notifications not delivered to the webhook ('started': no answer within 5s); the task went on"]
    assert world.service_state("sandbox-broker-worker")["desired"] >= 1


def test_drill_guard_rehearses_the_pipeline(tmp_path: Path) -> None:
    result = run_inv(["drill", "--scenario", "next-release-failing", "--guard", "--rollout-seconds", "1"],
                     base_env(tmp_path), tmp_path)
    assert result.code == 0, result.stdout[-3000:] + result.stderr
    assert "drill report: scenario next-release-failing, guard" in result.stdout
    assert "guard: outcome rolled-back" in result.stdout and "(the CI job exits 1)" in result.stdout
    assert "  started: sandbox-broker rollback started by" in result.stdout
    assert "  succeeded: " in result.stdout and result.stdout.rstrip().endswith("VERIFIED: the rollback worked")


def test_a_release_ecs_already_rolled_back_is_a_failed_release(world_factory: Any, tmp_path: Path) -> None:
    """The circuit breaker was quicker than the job: the service is back on :8, but the release :9 failed."""
    world = world_factory("api-bad-release", circuit_breaker_rollback=True, circuit_breaker_failures=2)
    ecs = client(world, "ecs")
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")  # a good :8 first
    assert world.settle(30)
    world.set_behaviour(API, 9, "crash-loop")
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:9")  # the release
    wait_for(lambda: world.service_deployments(API)[0]["status"] == "ROLLBACK_SUCCESSFUL", 30)
    result, document = _guard(world, tmp_path)
    assert result.code == 1, result.stderr
    assert document["release"] == "sandbox-broker:9" and "ROLLBACK_SUCCESSFUL" in document["deployment"]
    assert document["outcome"] == "rolled-back" and document["rolledBackTo"] == "sandbox-broker:8"


def test_guard_by_digest_names_the_revision_it_deployed(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("latest-tag-moved")
    result, document = _guard(world, tmp_path)
    assert result.code == 1 and document["outcome"] == "rolled-back", result.stderr
    assert document["rolledBackTo"] == "sandbox-broker:10" == primary_revision(world)  # the copy with the old digest
