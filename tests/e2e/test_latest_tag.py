"""The moved ``:latest`` tag: Option 1/4 refuse to redeploy the same code; roll back by digest instead.

Against the sandbox World's ``latest-tag-moved`` scenario (every revision runs ``...:latest`` and
``:latest`` now points at the bad release), end to end through `inv` subprocesses.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ops.aws.ecr import short_digest
from ops.aws.ecs import describe_services
from ops.checks.status import images_per_deployment, running_tasks_or_note
from ops.sandbox.registry import repository_uri
from tests.helpers import API, CLUSTER, WORKER, InvResult, capture_folders, run_inv, service_changes, world_env
from tests.world.helpers import client

LATEST = "latest-tag-moved"
PINNED_COMMAND = re.compile(r"inv rollback\.image --image (\S+)")
CONTRACT_DEPLOYMENT_KEYS = {"id", "status", "taskDefinition", "desired", "running", "pending", "failed", "rolloutState"}


# ------------------------------------------------------------------ helpers


def _inv(world: Any, tmp_path: Path, *args: str) -> InvResult:
    return run_inv(list(args), world_env(world, tmp_path), tmp_path)


def _pinned(world: Any, revision: int) -> str:
    return f"{repository_uri(world.account_id)}@{world.digest_of(revision)}"


def _assert_untouched(world: Any, tmp_path: Path) -> None:
    """Still on the bad release: :9, both tasks on its digest, worker up, no audit line, no capture."""
    api, worker = world.service_state(API), world.service_state(WORKER)
    assert api["taskDefinition"].endswith("/sandbox-broker:9")
    assert len(api["deployments"]) == 1
    assert api["running_digests"] == [world.digest_of(9)] * 2
    assert (worker["desired"], worker["running"]) == (1, 1)
    assert service_changes(tmp_path) == []
    assert capture_folders(tmp_path) == []


def _write_capture(tmp_path: Path, name: str, digest: str, image: str) -> None:
    """A ``tasks-before-rollback.json`` as ``inv capture`` writes it (only the part that matters)."""
    folder = tmp_path / "diagnostics" / name
    folder.mkdir(parents=True)
    task = {"taskArn": "arn:task/1", "taskDefinition": "sandbox-broker:7", "lastStatus": "RUNNING",
            "startedBy": "ecs-svc/1", "containers": [{"name": "sandbox-broker-api", "image": image, "imageDigest": digest}]}
    document = {"services": [{"name": API, "tasks": [task]}, {"name": WORKER, "tasks": []}]}
    (folder / "tasks-before-rollback.json").write_text(json.dumps(document))


# ------------------------------------------------------------------ Option 1 and 4 refuse


def test_option1_refuses_to_redeploy_the_moved_latest_tag(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory(LATEST)
    result = _inv(world, tmp_path, "rollback.api", "--yes")
    assert result.code == 1, result.stderr
    assert "would redeploy the same code that runs now" in result.stderr
    assert "Nothing was changed" in result.stderr
    assert f"resolves to {world.digest_of(9)}" in result.stderr
    # the digest that ran before, where it was learnt, and the exact command naming it
    # (the contract: ECS's deployment history is the first source; ECR push order is a fallback, below)
    assert f"before the bad release sandbox-broker-api ran {world.digest_of(8)} (from ECS deployment history" \
        in result.stderr
    assert PINNED_COMMAND.search(result.stderr).group(1) == _pinned(world, 8)
    assert "--allow-same-image" in result.stderr
    # same digests, other configuration: the difference is shown, secrets are not
    assert "APP_VERSION]: 'v9' -> 'v8'" in result.stderr
    assert "DATABASE_PASSWORD]: (secret value changed, not shown)" in result.stderr
    assert "sandbox-fake-db-password" not in result.stdout + result.stderr
    _assert_untouched(world, tmp_path)


def test_the_pinned_command_really_rolls_back(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory(LATEST)
    refused = _inv(world, tmp_path, "rollback.api", "--yes")
    image = PINNED_COMMAND.search(refused.stderr).group(1)
    assert image == _pinned(world, 8)

    result = _inv(world, tmp_path, "rollback.image", "--image", image, "--yes")
    assert result.code == 0, result.stdout + result.stderr
    assert world.service_state(API)["running_digests"] == [world.digest_of(8)] * 2
    assert world.api_healthy()
    assert _inv(world, tmp_path, "verify").code == 0
    registered = [a for a in service_changes(tmp_path) if a["operation"] == "register_task_definition"]
    assert len(registered) == 1 and image in registered[0]["action"]

    status = json.loads(_inv(world, tmp_path, "status", "--json").stdout)
    [deployment] = status["services"][0]["deployments"]
    assert deployment["imageDigests"] == [world.digest_of(8)]
    assert deployment["images"] == [image] and deployment["mutableTag"] is False

    # Option 1 now would not be refused (the digests differ), but it would bring the bad code back: said
    again = _inv(world, tmp_path, "rollback.api", "--dry-run")
    assert again.code == 0, again.stderr
    assert (f"note: sandbox-broker:8 names the mutable tag {repository_uri(world.account_id)}:latest: "
            f"sandbox-broker-api will run {short_digest(world.digest_of(9))}") in again.stdout


def test_allow_same_image_goes_ahead_and_the_trap_is_real(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory(LATEST)
    result = _inv(world, tmp_path, "rollback.api", "--yes", "--allow-same-image")
    assert result.code == 1  # the change was made, and verification fails: same code, still broken
    assert "verification failed" in result.stderr
    api = world.service_state(API)
    assert api["taskDefinition"].endswith("/sandbox-broker:8")
    assert api["running_digests"] == [world.digest_of(9)] * 2
    assert not world.api_healthy()
    assert [a["after"] for a in service_changes(tmp_path)] == ["sandbox-broker:8"]


def test_option4_refuses_before_stopping_the_worker(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory(LATEST)
    result = _inv(world, tmp_path, "rollback.full", "--yes")
    assert result.code == 1, result.stderr
    assert "would redeploy the same code that runs now" in result.stderr
    assert PINNED_COMMAND.search(result.stderr).group(1) == _pinned(world, 8)
    assert "stop the worker" not in result.stdout  # no plan was even printed
    _assert_untouched(world, tmp_path)


def test_pinned_tags_go_through_untouched(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("api-bad-release")  # revisions pin :vN, so :8 really is the old code
    result = _inv(world, tmp_path, "rollback.api", "--yes")
    assert result.code == 0, result.stdout + result.stderr
    assert "refusing" not in result.stderr and "note:" not in result.stdout
    assert world.service_state(API)["running_digests"] == [world.digest_of(8)] * 2

    status = _inv(world, tmp_path, "status")
    assert status.code == 0, status.stderr
    assert short_digest(world.digest_of(8)) in status.stdout
    assert "MUTABLE TAG" not in status.stdout and "mutable tag" not in status.stdout
    document = json.loads(_inv(world, tmp_path, "status", "--json").stdout)
    assert all(d["mutableTag"] is False for s in document["services"] for d in s["deployments"])


def test_unresolvable_digest_is_said_and_the_rollback_goes_ahead(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory(LATEST)
    world.inject_fault(action="DescribeImages", code="AccessDeniedException")
    result = _inv(world, tmp_path, "rollback.api", "--yes", "--no-wait")
    assert result.code == 0, result.stdout + result.stderr
    assert "cannot resolve the digest of sandbox-broker-api's image" in result.stdout
    assert "AccessDeniedException" in result.stdout and "going ahead" in result.stdout
    assert [a["after"] for a in service_changes(tmp_path)] == ["sandbox-broker:8"]
    assert world.service_state(API)["taskDefinition"].endswith("/sandbox-broker:8")


# ------------------------------------------------------------------ where the old digest comes from


def test_previous_digest_from_the_audit_log_then_the_last_capture(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory(LATEST)
    world.deny("ecs:ListServiceDeployments")  # no history to read: the fallbacks, in their order
    by_ecr = _inv(world, tmp_path, "rollback.api", "--yes")
    assert by_ecr.code == 1 and "cannot read ECS's deployment history" in by_ecr.stdout + by_ecr.stderr
    assert f"ran {world.digest_of(8)} (from ECR push order" in by_ecr.stderr
    repository = repository_uri(world.account_id)
    audit = tmp_path / "diagnostics" / "audit.jsonl"
    audit.parent.mkdir(parents=True)
    record = {"time": "2025-10-01T10:00:00+00:00", "task": "rollback.image", "operation": "register_task_definition",
              "service": API, "outcome": "ok", "before": "sandbox-broker:6", "after": "sandbox-broker:<new revision>",
              "action": f"register a copy of sandbox-broker:6 with sandbox-broker-api on {_pinned(world, 6)}",
              "images": [{"container": "sandbox-broker-api", "image": _pinned(world, 6), "digest": world.digest_of(6)}]}
    audit.write_text(json.dumps(record) + "\n")

    by_audit = _inv(world, tmp_path, "rollback.api", "--yes")
    assert by_audit.code == 1
    assert PINNED_COMMAND.search(by_audit.stderr).group(1) == _pinned(world, 6)
    assert "(from audit log audit.jsonl" in by_audit.stderr

    _write_capture(tmp_path, "20250101T000000Z", world.digest_of(5), f"{repository}:latest")
    _write_capture(tmp_path, "20250102T000000Z", world.digest_of(7), f"{repository}:latest")
    _write_capture(tmp_path, "20250103T000000Z", world.digest_of(4), "elsewhere.example.com/other-repo:latest")
    by_capture = _inv(world, tmp_path, "rollback.api", "--yes")
    assert by_capture.code == 1
    assert PINNED_COMMAND.search(by_capture.stderr).group(1) == _pinned(world, 7)  # newest, same repository
    assert "(from capture 20250102T000000Z/tasks-before-rollback.json)" in by_capture.stderr
    assert world.service_state(API)["running_digests"] == [world.digest_of(9)] * 2


# ------------------------------------------------------------------ inv status


def test_status_shows_short_digests_and_flags_latest(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory(LATEST)
    result = _inv(world, tmp_path, "status")
    assert result.code == 0, result.stderr
    bad = short_digest(world.digest_of(9))
    assert re.search(rf"PRIMARY\s+ecs-svc/\S+\s+sandbox-broker:9\s+2/2/0\s+0\s+COMPLETED\s+{bad}\s+"
                     r"sandbox-broker-api:latest\s+MUTABLE TAG", result.stdout)
    assert "warning: sandbox-broker:9 uses a mutable tag (sandbox-broker-api:latest)" in result.stdout
    assert "pin images by digest" in result.stdout

    document = json.loads(_inv(world, tmp_path, "status", "--json").stdout)
    api = document["services"][0]
    assert api["name"] == API and api["taskDefinition"] == "sandbox-broker:9"
    [deployment] = api["deployments"]
    assert CONTRACT_DEPLOYMENT_KEYS <= set(deployment)  # the contract's keys stay; ours are added
    assert deployment["imageDigests"] == [world.digest_of(9)]
    assert deployment["images"] == [f"{repository_uri(world.account_id)}:latest"]
    assert deployment["mutableTag"] is True


def test_status_digests_per_deployment_with_few_calls(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory(LATEST, rollout_seconds=30)  # slow: both deployments stay up for a while
    pinned = _inv(world, tmp_path, "rollback.image", "--image", _pinned(world, 8), "--yes", "--no-wait")
    assert pinned.code == 0, pinned.stdout + pinned.stderr
    ecs = client(world, "ecs")
    calls: list[str] = []
    ecs.meta.events.register("before-call.ecs", lambda model, **_: calls.append(model.name))
    services = describe_services(ecs, CLUSTER, [API, WORKER])
    tasks, notes = running_tasks_or_note(ecs, CLUSTER, [API, WORKER])
    images, more_notes = images_per_deployment(ecs, services.values(), tasks)
    notes += more_notes

    assert notes == []
    deployments = {d.task_definition.rsplit("/", 1)[-1]: images[API][d.id] for d in services[API].deployments}
    assert set(deployments) == {"sandbox-broker:9", "sandbox-broker:10"}
    assert deployments["sandbox-broker:9"].digests == (world.digest_of(9),)
    assert deployments["sandbox-broker:9"].mutable is True
    assert deployments["sandbox-broker:10"].mutable is False
    assert set(deployments["sandbox-broker:10"].digests) <= {world.digest_of(8)}  # its tasks may still be starting
    assert calls.count("DescribeServices") == 1
    assert calls.count("ListTasks") == 2 and calls.count("DescribeTasks") == 1  # both services' tasks at once
    # a revision is read only when none of its tasks run (running tasks carry its image strings)
    without_tasks = [d for per_service in images.values() for d in per_service.values() if not d.digests]
    assert calls.count("DescribeTaskDefinition") == len(without_tasks)


def test_status_reads_digests_from_the_current_revisions_in_one_call(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory(LATEST, rollout_seconds=30)  # slow: both deployments stay up for a while
    assert _inv(world, tmp_path, "rollback.image", "--image", _pinned(world, 8), "--yes", "--no-wait").code == 0
    result = _inv(world, tmp_path, "status", "--json")
    assert result.code == 0, result.stderr
    api = json.loads(result.stdout)["services"][0]
    by_revision = {d["taskDefinition"]: d for d in api["deployments"]}
    assert by_revision["sandbox-broker:9"]["imageDigests"] == [world.digest_of(9)]
    assert by_revision["sandbox-broker:10"]["imageDigests"] == [world.digest_of(8)]  # recorded, even while starting
    assert by_revision["sandbox-broker:9"]["mutableTag"] is True and by_revision["sandbox-broker:10"]["mutableTag"] is False
    ecs_calls = [op for client, op in result.calls if client == "ecs"]
    assert ecs_calls == ["describe_services", "describe_service_revisions"]  # no ListTasks / DescribeTasks


def test_status_says_when_tasks_cannot_be_read(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory(LATEST)
    world.inject_fault(action="DescribeServiceRevisions", code="AccessDeniedException")  # then tasks tell...
    world.inject_fault(action="ListTasks", code="AccessDeniedException")  # ... and cannot be read either
    result = _inv(world, tmp_path, "status", "--json")
    assert result.code == 0, result.stderr
    assert "cannot list the running tasks (AccessDeniedException)" in result.stderr
    [deployment] = json.loads(result.stdout)["services"][0]["deployments"]
    assert deployment["imageDigests"] == [] and deployment["mutableTag"] is True
