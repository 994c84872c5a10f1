"""The runbook's own `aws` commands, as written, run by the real AWS CLI v1 against the world.

`watch -n 5 '...'` becomes polling the quoted command; `aws logs tail` (CLI v2 only) becomes
`aws logs filter-log-events --log-group-name G --start-time MS`; curl becomes requests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ops.sandbox import World
from ops.sandbox.runbook import (
    AUTOSCALING_MIN_ZERO,
    AUTOSCALING_SUSPEND,
    CHECKLIST_LOGS,
    CHECKLIST_SERVICES,
    CHECKLIST_TASKDEF,
    OPTION1_DESCRIBE,
    OPTION1_MONITOR,
    OPTION1_UPDATE,
    OPTION2_IMAGE,
    OPTION3_STOP,
    OPTION3_VERIFY,
    OPTION4_MONITOR,
    OPTION4_TARGET,
    QUICK_STATUS,
    VERIFY_DEPLOYMENTS,
    one_primary_settled,
)
from tests.world.helpers import ROLLOUT, Cli, stays

WHERE = "--region eu-central-1 --profile okta-sso"


@pytest.fixture
def world() -> Iterator[World]:
    with World(scenario="both-failing", rollout_seconds=ROLLOUT) as w:
        yield w


@pytest.fixture
def cli(world: World, tmp_path: Path) -> Cli:
    return Cli(world, tmp_path)



def test_option1_rollback_api(world: World, cli: Cli) -> None:
    before = cli.json(OPTION1_DESCRIBE)
    assert before == f"arn:aws:ecs:eu-central-1:{world.account_id}:task-definition/sandbox-broker:9"
    updated = cli.json(OPTION1_UPDATE)["service"]
    assert updated["taskDefinition"].endswith("task-definition/sandbox-broker:8")
    # the rollout as update-service answered it (a 1 s rollout may be over by the next command)
    rollout = [(d["status"], d["taskDefinition"].rsplit(":", 1)[1]) for d in updated["deployments"]]
    assert rollout == [("PRIMARY", "8"), ("ACTIVE", "9")]
    deadline = time.monotonic() + 15
    while not one_primary_settled(deployments := cli.json(OPTION1_MONITOR)):
        assert time.monotonic() < deadline, deployments
        time.sleep(0.3)  # `watch -n 5`, faster
    assert deployments[0]["taskDefinition"].endswith(":8")
    assert requests.get(f"{world.api_url}/healthz", timeout=5).json()["status"] == "healthy"


def test_option2_get_current_image(world: World, cli: Cli) -> None:
    """Option 2's only command: the image a revision names (the runbook then says "SIMPLER: Option 1")."""
    image = cli.json(OPTION2_IMAGE)
    assert image == f"{world.account_id}.dkr.ecr.eu-central-1.amazonaws.com/sandbox-broker-api:v8"


def test_option3_as_written_converges_and_stays(world: World, cli: Cli) -> None:
    """No scaling policy acts on the worker (as in AWS, MinCapacity 1 alone raises nothing)."""
    assert cli.json(OPTION3_STOP)["service"]["desiredCount"] == 0
    cli.poll(OPTION3_VERIFY, [0, 0])
    policies = f"aws application-autoscaling describe-scaling-policies --service-namespace ecs {WHERE}"
    assert cli.json(policies)["ScalingPolicies"] == []
    stays(lambda: cli.json(OPTION3_VERIFY), [0, 0], 3 * ROLLOUT, every=0.2)


@pytest.fixture
def autoscaled(tmp_path: Path) -> Iterator[tuple[World, Cli]]:
    with World(scenario="worker-autoscaled", rollout_seconds=ROLLOUT) as w:
        yield w, Cli(w, tmp_path)


def test_option3_as_written_is_undone_by_autoscaling(autoscaled: tuple[World, Cli]) -> None:
    _, cli = autoscaled
    assert cli.json(OPTION3_STOP)["service"]["desiredCount"] == 0
    cli.poll(OPTION3_VERIFY, [0, 1], timeout=10)  # the backlog alarm scaled it out; it still crash-loops


def test_option3_with_min_capacity_zero_is_still_undone(autoscaled: tuple[World, Cli]) -> None:
    _, cli = autoscaled
    cli.text(AUTOSCALING_MIN_ZERO)
    cli.text(OPTION3_STOP)
    cli.poll(OPTION3_VERIFY, [0, 1], timeout=10)  # a scale-out alarm adds capacity above MinCapacity 0


def test_option3_stop_worker_with_scaling_suspended(autoscaled: tuple[World, Cli]) -> None:
    _, cli = autoscaled
    cli.text(AUTOSCALING_SUSPEND)
    cli.text(OPTION3_STOP)
    cli.poll(OPTION3_VERIFY, [0, 0])
    alarms = ("aws cloudwatch describe-alarms --alarm-names sandbox-broker-worker-job-backlog-high "
              f"--query MetricAlarms[0].StateValue {WHERE}")
    cli.poll(alarms, "ALARM", timeout=10)  # the alarm fires, the suspended policy does not act
    stays(lambda: cli.json(OPTION3_VERIFY), [0, 0], 3 * ROLLOUT, every=0.2)


def test_option4_full_rollback(world: World, cli: Cli) -> None:
    cli.text(AUTOSCALING_MIN_ZERO)
    cli.text(OPTION3_STOP)
    cli.text(OPTION1_UPDATE)
    cli.poll(OPTION4_MONITOR, OPTION4_TARGET)
    assert world.settle(timeout=10)
    assert one_primary_settled(cli.json(VERIFY_DEPLOYMENTS))
    assert world.api_healthy()


def test_quick_status_check_table(cli: Cli) -> None:
    table = cli.text(QUICK_STATUS)
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in table.splitlines() if line.startswith("|") and "DescribeServices" not in line]
    assert rows[0] == ["Desired", "Health", "Name", "Running"]
    assert ["2", "60", "sandbox-broker", "2"] in rows
    assert ["1", "60", "sandbox-broker-worker", "0"] in rows


def test_pre_rollback_checklist(world: World, cli: Cli, tmp_path: Path) -> None:
    start_ms = int((time.time() - 600) * 1000)
    files = {
        "api-taskdef-before-rollback.json": CHECKLIST_TASKDEF,
        "services-before-rollback.json": CHECKLIST_SERVICES,
        "api-logs-before-rollback.txt": CHECKLIST_LOGS.format(group="/ecs/sandbox-broker-api", start_ms=start_ms),
        "worker-logs-before-rollback.txt": CHECKLIST_LOGS.format(group="/ecs/sandbox-broker-worker", start_ms=start_ms),
    }
    for name, command in files.items():
        (tmp_path / name).write_text(cli.text(command))
    taskdef = json.loads((tmp_path / "api-taskdef-before-rollback.json").read_text())["taskDefinition"]
    assert taskdef["revision"] == 9
    env = {e["name"]: e["value"] for e in taskdef["containerDefinitions"][0]["environment"]}
    assert "DATABASE_PASSWORD" in env  # the runbook's capture keeps secrets in clear
    services = json.loads((tmp_path / "services-before-rollback.json").read_text())["services"]
    assert [s["serviceName"] for s in services] == ["sandbox-broker", "sandbox-broker-worker"]
    for name in ("api-logs-before-rollback.txt", "worker-logs-before-rollback.txt"):
        events = json.loads((tmp_path / name).read_text())["events"]
        assert events and all(e["timestamp"] >= start_ms for e in events)
        assert any("ERROR" in e["message"] for e in events)


def test_post_rollback_verification(world: World, cli: Cli) -> None:
    cli.text(OPTION1_UPDATE)
    assert world.settle(timeout=10)
    health = requests.get(f"{world.api_url}/healthz", timeout=5)
    health.raise_for_status()  # curl -f
    assert health.json()["status"] == "healthy" and isinstance(health.json()["timestamp"], int)
    assert one_primary_settled(cli.json(VERIFY_DEPLOYMENTS))
    allocation = requests.post(f"{world.api_url}/v1/allocate", timeout=5, headers={
        "Authorization": f"Bearer {world.token}", "X-Instruqt-Sandbox-ID": "rollback-test-123",
        "Content-Type": "application/json"})
    assert allocation.status_code == 200
    metrics = requests.get(f"{world.api_url}/metrics", timeout=5).text
    assert [line for line in metrics.splitlines() if line.startswith("pool_total ")] == ["pool_total 50"]
