"""The rehearsal world, through its real interfaces: boto3 over HTTP and requests to the API."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from ops.sandbox import SCENARIOS, World
from tests.world.helpers import (
    API,
    CLUSTER,
    ROLLOUT,
    WORKER,
    WORKER_TARGET,
    client,
    describe,
    describe_when,
    running_digests,
    stays,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]


def test_scenarios_are_named() -> None:
    assert set(SCENARIOS) == {"api-bad-release", "worker-failing", "both-failing", "worker-stopped",
                              "latest-tag-moved", "missing-permission", "next-release-failing", "release-in-flight",
                              "target-image-expired", "worker-autoscaled"}


def test_seeded_production_matches_the_runbook(world: World, ecs: BaseClient) -> None:
    api, worker = ecs.describe_services(cluster=CLUSTER, services=[API, WORKER])["services"]
    assert api["taskDefinition"].endswith("task-definition/sandbox-broker:9")
    assert (api["desiredCount"], api["runningCount"], len(api["deployments"])) == (2, 2, 1)
    assert worker["taskDefinition"].endswith("task-definition/sandbox-broker-worker:1")
    assert (worker["desiredCount"], worker["runningCount"]) == (1, 1)
    assert api["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": False}
    taskdef = ecs.describe_task_definition(taskDefinition="sandbox-broker:8")["taskDefinition"]
    container = taskdef["containerDefinitions"][0]
    assert container["name"] == "sandbox-broker-api"
    assert container["image"].endswith("/sandbox-broker-api:v8")
    assert {"DATABASE_PASSWORD", "API_TOKEN_SECRET"} <= {e["name"] for e in container["environment"]}
    images = client(world, "ecr").describe_images(repositoryName="sandbox-broker-api")["imageDetails"]
    assert len({i["imageDigest"] for i in images}) == 9
    assert running_digests(ecs, API) == [world.digest_of(9)] * 2
    assert not world.api_healthy()


def test_rollout_to_8_converges(world: World, ecs: BaseClient) -> None:
    assert requests.get(f"{world.api_url}/healthz", timeout=5).status_code == 503
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8",
                       forceNewDeployment=True)
    during = describe(ecs, API)
    assert [d["status"] for d in during["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert during["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert during["deployments"][0]["id"].startswith("ecs-svc/")
    assert world.settle(timeout=10)
    after = describe(ecs, API)
    (primary,) = after["deployments"]
    assert primary["status"] == "PRIMARY" and primary["rolloutState"] == "COMPLETED"
    assert primary["taskDefinition"] == after["taskDefinition"]
    assert after["taskDefinition"] == (
        f"arn:aws:ecs:{world.region}:{world.account_id}:task-definition/sandbox-broker:8")
    assert after["runningCount"] == after["desiredCount"] == primary["runningCount"] == 2
    assert after["events"][0]["message"] == f"(service {API}) has reached a steady state."
    assert running_digests(ecs, API) == [world.digest_of(8)] * 2
    health = requests.get(f"{world.api_url}/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "healthy"


def test_counts_move_over_time_not_at_once(world: World, ecs: BaseClient) -> None:
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")
    seen = set()
    deadline = time.monotonic() + 3 * ROLLOUT
    while time.monotonic() < deadline:
        service = describe(ecs, API)
        seen.add(tuple((d["status"], d["runningCount"]) for d in service["deployments"]))
        assert service["runningCount"] == sum(d["runningCount"] for d in service["deployments"])
        assert service["pendingCount"] == sum(d["pendingCount"] for d in service["deployments"])
        time.sleep(0.05)
    assert (("PRIMARY", 0), ("ACTIVE", 2)) in seen
    assert (("PRIMARY", 2),) in seen


def test_crash_loop_trips_the_circuit_breaker(world: World, ecs: BaseClient) -> None:
    world.set_behaviour("sandbox-broker", 8, "crash-loop")
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")
    failed = describe_when(ecs, API, lambda s: s["deployments"][0]["rolloutState"] == "FAILED")
    primary, old = failed["deployments"]
    assert primary["failedTasks"] >= 3 and primary["runningCount"] == 0
    assert "circuit breaker" in primary["rolloutStateReason"]
    assert (old["status"], old["runningCount"]) == ("ACTIVE", 2)
    assert failed["runningCount"] == 2
    assert any("deployment failed" in e["message"] for e in failed["events"])
    stopped = ecs.list_tasks(cluster=CLUSTER, serviceName=API, desiredStatus="STOPPED")["taskArns"]
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=stopped)["tasks"]
    assert any(t["stopCode"] == "EssentialContainerExited" for t in tasks)


def test_circuit_breaker_rollback_redeploys_last_completed() -> None:
    with World(rollout_seconds=ROLLOUT, circuit_breaker_rollback=True) as world:
        ecs = client(world, "ecs")
        world.set_behaviour("sandbox-broker", 7, "crash-loop")
        ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:7")
        rolled = describe_when(ecs, API, lambda s: len(s["deployments"]) == 3)
        primary, failed, _ = rolled["deployments"]
        assert primary["taskDefinition"].endswith(":9") and primary["rolloutState"] == "IN_PROGRESS"
        assert failed["taskDefinition"].endswith(":7") and failed["rolloutState"] == "FAILED"
        assert rolled["taskDefinition"].endswith(":9")
        assert world.settle(timeout=10)
        (final,) = describe(ecs, API)["deployments"]
        assert final["taskDefinition"].endswith(":9") and final["rolloutState"] == "COMPLETED"


def test_breaker_rollback_can_be_enabled_on_the_service(world: World, ecs: BaseClient) -> None:
    ecs.update_service(cluster=CLUSTER, service=API, deploymentConfiguration={
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200, "minimumHealthyPercent": 100})
    world.set_behaviour("sandbox-broker", 8, "crash-loop")
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")
    rolled = describe_when(ecs, API, lambda s: len(s["deployments"]) == 3)
    assert rolled["deployments"][0]["taskDefinition"].endswith(":9")
    assert rolled["deployments"][1]["rolloutState"] == "FAILED"


def test_stuck_rollout_never_completes(world: World, ecs: BaseClient) -> None:
    world.set_behaviour("sandbox-broker", 8, "stuck")
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")
    assert not world.settle(timeout=3 * ROLLOUT)
    primary, old = describe(ecs, API)["deployments"]
    assert (primary["rolloutState"], primary["pendingCount"], primary["runningCount"]) == ("IN_PROGRESS", 2, 0)
    assert (old["status"], old["runningCount"]) == ("ACTIVE", 2)


def test_desired_zero_converges_and_list_tasks_filters(world: World, ecs: BaseClient) -> None:
    ecs.update_service(cluster=CLUSTER, service=API, desiredCount=0)
    assert len(describe(ecs, API)["deployments"]) == 1
    assert world.settle(timeout=10)
    service = describe(ecs, API)
    assert (service["desiredCount"], service["runningCount"], service["pendingCount"]) == (0, 0, 0)
    assert ecs.list_tasks(cluster=CLUSTER, serviceName=API)["taskArns"] == []
    assert len(ecs.list_tasks(cluster=CLUSTER, serviceName=API, desiredStatus="STOPPED")["taskArns"]) == 2
    assert len(ecs.list_tasks(cluster=CLUSTER, serviceName=WORKER)["taskArns"]) == 1
    assert requests.get(f"{world.api_url}/healthz", timeout=5).status_code == 503


def test_list_tasks_filters_by_service(world: World, ecs: BaseClient) -> None:
    api = ecs.list_tasks(cluster=CLUSTER, serviceName=API)["taskArns"]
    worker = ecs.list_tasks(cluster=CLUSTER, serviceName=WORKER)["taskArns"]
    assert len(api) == 2 and len(worker) == 1 and not set(api) & set(worker)
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=api + worker)["tasks"]
    groups = {t["taskArn"]: t["group"] for t in tasks}
    assert {groups[a] for a in api} == {f"service:{API}"}
    assert {groups[a] for a in worker} == {f"service:{WORKER}"}
    deployment_id = describe(ecs, API)["deployments"][0]["id"]
    assert {t["startedBy"] for t in tasks if t["taskArn"] in api} == {deployment_id}


def test_worker_stopped_scenario_stays_stopped() -> None:
    with World(scenario="worker-stopped", rollout_seconds=ROLLOUT) as world:
        ecs = client(world, "ecs")
        def counts() -> tuple[int, int]:
            worker = describe(ecs, WORKER)
            return worker["desiredCount"], worker["runningCount"]

        stays(counts, (0, 0), 1.5)
        assert world.api_healthy()
        target = client(world, "application-autoscaling").describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[WORKER_TARGET])["ScalableTargets"][0]
        assert target["MinCapacity"] == 0


def test_latest_tag_moved_keeps_the_bad_digest() -> None:
    with World(scenario="latest-tag-moved", rollout_seconds=ROLLOUT) as world:
        ecs, ecr = client(world, "ecs"), client(world, "ecr")
        image = ecs.describe_task_definition(taskDefinition="sandbox-broker:8")["taskDefinition"][
            "containerDefinitions"][0]["image"]
        assert image == f"{world.account_id}.dkr.ecr.eu-central-1.amazonaws.com/sandbox-broker-api:latest"
        details = {i["imageDigest"]: i for i in ecr.describe_images(repositoryName="sandbox-broker-api")["imageDetails"]}
        assert details[world.digest_of(9)]["imageTags"] == ["latest"]
        assert not details[world.digest_of(8)].get("imageTags")
        assert details[world.digest_of(8)]["imagePushedAt"] < details[world.digest_of(9)]["imagePushedAt"]
        ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8",
                           forceNewDeployment=True)
        assert world.settle(timeout=10)
        assert describe(ecs, API)["taskDefinition"].endswith(":8")
        assert running_digests(ecs, API) == [world.digest_of(9)] * 2
        assert requests.get(f"{world.api_url}/healthz", timeout=5).status_code == 503


def test_pinned_digest_image_rolls_back_in_latest_tag_moved() -> None:
    with World(scenario="latest-tag-moved", rollout_seconds=ROLLOUT) as world:
        ecs = client(world, "ecs")
        taskdef = ecs.describe_task_definition(taskDefinition="sandbox-broker:8")["taskDefinition"]
        container = dict(taskdef["containerDefinitions"][0])
        container["image"] = container["image"].rsplit(":", 1)[0] + "@" + world.digest_of(8)
        new = ecs.register_task_definition(family="sandbox-broker", containerDefinitions=[container],
                                           cpu="256", memory="512")["taskDefinition"]
        ecs.update_service(cluster=CLUSTER, service=API, taskDefinition=new["taskDefinitionArn"])
        assert world.settle(timeout=10)
        assert running_digests(ecs, API) == [world.digest_of(8)] * 2
        assert world.api_healthy()


@pytest.mark.parametrize(("revision", "code"), [("sandbox-broker:99", "ClientException"),
                                                ("sandbox-broker:1", "InvalidParameterException"),
                                                ("no-such-family", "ClientException")])
def test_update_to_unknown_or_inactive_revision_fails(world: World, ecs: BaseClient, revision: str,
                                                      code: str) -> None:
    with pytest.raises(ClientError) as raised:
        ecs.update_service(cluster=CLUSTER, service=API, taskDefinition=revision)
    assert raised.value.response["Error"]["Code"] == code
    service = describe(ecs, API)
    assert service["taskDefinition"].endswith(":9") and len(service["deployments"]) == 1


def test_family_only_deploys_latest_active_revision(world: World, ecs: BaseClient) -> None:
    service = ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker")["service"]
    assert service["taskDefinition"].endswith(":9")
    assert len(service["deployments"]) == 1  # same task definition, no force: nothing to do


def test_fault_injection_json_and_query_protocols(world: World) -> None:
    logs, sts = client(world, "logs"), client(world, "sts")
    world.inject_fault(action="FilterLogEvents", code="AccessDeniedException", message="no logs for you",
                       status=400, times=1)
    with pytest.raises(ClientError) as raised:
        logs.filter_log_events(logGroupName="/ecs/sandbox-broker-api")
    assert raised.value.response["Error"] == {"Code": "AccessDeniedException", "Message": "no logs for you"}
    assert logs.filter_log_events(logGroupName="/ecs/sandbox-broker-api")["events"]
    world.inject_fault(action="GetCallerIdentity", code="ExpiredToken", status=403)
    for _ in range(2):
        with pytest.raises(ClientError) as raised:
            sts.get_caller_identity()
        assert raised.value.response["Error"]["Code"] == "ExpiredToken"
    world.clear_faults()
    assert sts.get_caller_identity()["Account"] == world.account_id


def test_a_fault_can_start_after_another_call(world: World) -> None:
    """Credentials that expire after the first UpdateService: any call fails once that one went through."""
    ecs, sts = client(world, "ecs"), client(world, "sts")
    world.inject_fault(action="*", code="ExpiredTokenException", message="expired", after="UpdateService")
    assert sts.get_caller_identity()["Account"] == world.account_id  # not yet
    ecs.update_service(cluster=CLUSTER, service=WORKER, desiredCount=1)
    for call in (sts.get_caller_identity, lambda: ecs.describe_services(cluster=CLUSTER, services=[API])):
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == "ExpiredTokenException"
    world.clear_faults()
    assert sts.get_caller_identity()["Account"] == world.account_id


def test_logs_have_history_and_live_traffic(world: World) -> None:
    logs = client(world, "logs")
    start = int((time.time() - 30 * 60) * 1000)
    history = logs.filter_log_events(logGroupName="/ecs/sandbox-broker-api", startTime=start)["events"]
    assert any("ERROR" in e["message"] for e in history)
    assert {e["logStreamName"].rsplit("/", 1)[0] for e in history} == {"ecs/sandbox-broker-api"}
    assert min(e["timestamp"] for e in history) < start + 5 * 60 * 1000
    now = int(time.time() * 1000)
    fresh = wait_for(lambda: logs.filter_log_events(logGroupName="/ecs/sandbox-broker-worker",
                                                    startTime=now)["events"], 3)
    assert all(e["message"].startswith("INFO") for e in fresh)


def test_worker_failing_crash_loops() -> None:
    with World(scenario="worker-failing", rollout_seconds=ROLLOUT) as world:
        ecs = client(world, "ecs")
        first = describe(ecs, WORKER)["deployments"][0]["failedTasks"]
        worker = describe_when(ecs, WORKER, lambda s: s["deployments"][0]["failedTasks"] > first)
        assert worker["runningCount"] < worker["desiredCount"] == 1
        errors = client(world, "logs").filter_log_events(
            logGroupName="/ecs/sandbox-broker-worker", filterPattern="ERROR")["events"]
        assert errors
        assert world.api_healthy()
        assert world.settle(timeout=5)  # nothing IN_PROGRESS, though the worker never recovers


def metric(world: World, name: str) -> float:
    text = requests.get(f"{world.api_url}/metrics", timeout=5).text
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " "))


def test_metrics_follow_the_worker() -> None:
    with World(scenario="worker-failing", rollout_seconds=ROLLOUT) as world:
        assert metric(world, "pool_total") == 50
        before = metric(world, "pool_available")
        wait_for(lambda: metric(world, "pool_available") < before, 5)
        wait_for(lambda: metric(world, "worker_jobs_failed_total") >= 1, 5)


def test_allocate_needs_token_and_sandbox_id() -> None:
    with World(scenario="worker-failing", rollout_seconds=ROLLOUT) as world:
        url = f"{world.api_url}/v1/allocate"
        auth = {"Authorization": f"Bearer {world.token}"}
        assert requests.post(url, headers={"X-Instruqt-Sandbox-ID": "t-1"}, timeout=5).status_code == 401
        assert requests.post(url, headers={"Authorization": "Bearer wrong", "X-Instruqt-Sandbox-ID": "t-1"},
                             timeout=5).status_code == 401
        assert requests.post(url, headers=auth, timeout=5).status_code == 400
        ok = requests.post(url, headers={**auth, "X-Instruqt-Sandbox-ID": "t-1"}, json={}, timeout=5)
        assert ok.status_code == 200 and ok.json()["sandbox_id"] == "t-1"


def test_allocate_answers_503_when_unhealthy(world: World) -> None:
    answer = requests.post(f"{world.api_url}/v1/allocate", timeout=5, headers={
        "Authorization": f"Bearer {world.token}", "X-Instruqt-Sandbox-ID": "t-2"})
    assert answer.status_code == 503


def test_one_world_at_a_time_and_ports_freed() -> None:
    with World(rollout_seconds=ROLLOUT) as world:
        with pytest.raises(RuntimeError, match="already active"):
            World().start()
        ports = [int(u.rsplit(":", 1)[1]) for u in (world.aws_endpoint, world.api_url)]
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0
    with World(scenario="both-failing", rollout_seconds=ROLLOUT) as again:  # the first one stopped: another may start
        assert not again.api_healthy()


def test_env_and_runtime_config(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "okta-sso")
    env = world.env()
    assert "AWS_PROFILE" not in env
    assert env["AWS_ENDPOINT_URL"] == world.aws_endpoint
    assert env["SANDBOX_BROKER_API_TOKEN"] == world.token
    assert env["AWS_DEFAULT_REGION"] == "eu-central-1"
    path = world.write_runtime_config(tmp_path / "runtime.yaml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == {
        "aws": {"profile": None, "region": "eu-central-1"}, "api": {"url": world.api_url}}


def test_serve_prints_the_contract_lines_and_stops_on_interrupt() -> None:
    code = "from ops.sandbox import serve; serve('api-bad-release', rollout_seconds=1.0)"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    try:
        lines = [proc.stdout.readline().strip() for _ in range(12)]
        config = Path(next(line.split()[-2] for line in lines if line.startswith("inv -f")))
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        api_url = lines[1].removeprefix("api.url=")
        assert requests.get(f"{api_url}/healthz", timeout=5).json()["status"] == "unhealthy"
    finally:
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=15)[0]
    assert proc.returncode == 0
    assert lines[0].startswith("AWS_ENDPOINT_URL=http://127.0.0.1:")
    assert lines[1].startswith("api.url=http://127.0.0.1:")
    assert "export AWS_ACCESS_KEY_ID=testing" in lines
    assert "stopping" in rest and not config.exists()


def test_revisions_are_registered_when_built_and_the_worker_came_with_5(world: World, ecs: BaseClient) -> None:
    registered = {r: ecs.describe_task_definition(taskDefinition=f"sandbox-broker:{r}")["taskDefinition"]["registeredAt"]
                  for r in (2, 4, 5, 9)}
    assert registered[2] < registered[4] < registered[5] < registered[9]
    [worker] = ecs.describe_services(cluster=CLUSTER, services=[WORKER])["services"]
    assert registered[4] < worker["createdAt"] < registered[5]
