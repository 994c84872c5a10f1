"""Shared fixtures: a real moto server over HTTP, a seeded production-like account, `inv` runs.

Every test gets real parts: boto3 and the AWS CLI talk HTTP to moto on 127.0.0.1, the broker API
is a real HTTP server on 127.0.0.1, and end-to-end paths run `inv` as a subprocess.
"""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from tests.helpers import API, API_LOGS, CLUSTER, REGION, WORKER, WORKER_LOGS, base_env

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_OFF_LOOPBACK: list[object] = []  # addresses this process tried to reach elsewhere


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> Iterator[None]:
    """Tests talk to 127.0.0.1 only: a TCP connect (``connect`` / ``connect_ex``) from this process to any other
    address is refused, and the test that made it fails (an in-process botocore without keys would otherwise ask the instance metadata
    service, 169.254.169.254). ``inv`` subprocesses get keys and AWS_EC2_METADATA_DISABLED from their env."""
    real, real_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse(address: Any) -> None:
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            _OFF_LOOPBACK.append(address)
            raise ConnectionRefusedError(f"tests connect only to 127.0.0.1, not {address}")

    def connect(self: socket.socket, address: Any) -> None:
        refuse(address)
        return real(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        refuse(address)
        return real_ex(self, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect, socket.socket.connect_ex = real, real_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def no_traffic_off_loopback(loopback_only: None) -> Iterator[None]:
    before = len(_OFF_LOOPBACK)
    yield
    assert _OFF_LOOPBACK[before:] == [], "the test tried to reach an address other than 127.0.0.1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_env(moto_endpoint: str, tmp_path: Path) -> dict[str, str]:
    """Environment for `inv` against the moto server, boto3's default chain (no profile)."""
    env = base_env(tmp_path)
    env.update(
        {
            "AWS_ENDPOINT_URL": moto_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "INVOKE_AWS_PROFILE": "",
        }
    )
    return env


@pytest.fixture
def aws_clients(moto_endpoint: str) -> dict[str, Any]:
    kwargs = {
        "endpoint_url": moto_endpoint,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    return {name: boto3.client(name, **kwargs) for name in ("ecs", "logs", "ecr", "sts")}


def _container(name: str, image: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "memory": 256,
        "environment": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "DATABASE_PASSWORD", "value": "hunter2-db"},
            {"name": "API_TOKEN_SECRET", "value": "tok-very-secret"},
            {"name": "DATABASE_URL", "value": "postgres://app:pg-pass-123@db:5432/app"},
        ],
    }


@pytest.fixture
def seeded(moto_endpoint: str, aws_clients: dict[str, Any]) -> dict[str, Any]:
    """A fresh account: cluster, task definitions, both services, both log groups (moto, static ECS)."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    ecs, logs = aws_clients["ecs"], aws_clients["logs"]
    ecs.create_cluster(clusterName=CLUSTER)
    for revision in range(1, 10):
        ecs.register_task_definition(family=API, containerDefinitions=[_container("sandbox-broker-api", f"repo/api:v{revision}")])
    ecs.register_task_definition(family=WORKER, containerDefinitions=[_container("sandbox-broker-worker", "repo/api:v9")])
    ecs.create_service(cluster=CLUSTER, serviceName=API, taskDefinition=f"{API}:9", desiredCount=2)
    ecs.create_service(cluster=CLUSTER, serviceName=WORKER, taskDefinition=f"{WORKER}:1", desiredCount=1)
    for group in (API_LOGS, WORKER_LOGS):
        logs.create_log_group(logGroupName=group)
    return aws_clients


# ------------------------------------------------------------------ the rehearsal world
# A World resets moto's process-global state when it starts: a test uses either `seeded`
# (the plain moto server above) or a World, never both at once.


@pytest.fixture
def world_factory() -> Iterator[Any]:
    """Start a sandbox World (fast rollouts); stopped after the test."""
    from ops.sandbox import World

    started: list[Any] = []

    def make(scenario: str = "api-bad-release", rollout_seconds: float = 1.0, **kwargs: Any) -> Any:
        world = World(scenario=scenario, rollout_seconds=rollout_seconds, **kwargs)
        world.start()
        started.append(world)
        return world

    yield make
    for world in started:
        world.stop()


@pytest.fixture
def world(world_factory: Any) -> Any:
    return world_factory()

