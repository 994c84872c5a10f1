"""Shared helpers of the world's tests: boto3 clients over HTTP, polling on state, the AWS CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.model import Shape

from ops.sandbox import World
from ops.sandbox.runbook import aws_argv, cli_env
from tests.helpers import API, CLUSTER, WORKER

__all__ = ["API", "AWS", "CLUSTER", "ROLLOUT", "WORKER", "WORKER_TARGET", "Cli", "client", "describe",
           "describe_when", "oncall", "raw_answer", "running_digests", "shape_errors", "stays", "wait_for"]
WORKER_TARGET = f"service/{CLUSTER}/{WORKER}"
ROLLOUT = 1.0
AWS = str(Path(sys.executable).with_name("aws"))


def client(world: World, name: str, validate: bool = True) -> BaseClient:
    """A boto3 client talking HTTP to the world's AWS endpoint (``validate=False``: no client-side
    parameter validation, so the world's own answer to a bad request is seen)."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                            region_name=world.region)
    return session.client(name, endpoint_url=world.aws_endpoint,
                          config=Config(parameter_validation=validate, retries={"max_attempts": 1}))


def oncall(world: World, name: str) -> BaseClient:
    """A client signed with the on-call role session World.env() hands out."""
    env = world.env()
    session = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=env["AWS_SESSION_TOKEN"], region_name=world.region)
    return session.client(name, endpoint_url=world.aws_endpoint)


def stays(read: Callable[[], Any], expected: Any, seconds: float, every: float = 0.1) -> None:
    """Every ``read()`` for ``seconds`` gives ``expected`` (nothing in the world changes it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert read() == expected
        time.sleep(every)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until ``predicate()`` is truthy; return its value or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"condition not met within {timeout}s")


def describe(ecs: BaseClient, service: str) -> dict[str, Any]:
    return ecs.describe_services(cluster=CLUSTER, services=[service])["services"][0]


def describe_when(ecs: BaseClient, service: str, condition: Callable[[dict[str, Any]], bool],
                  timeout: float = 10.0) -> dict[str, Any]:
    """Poll one describe per round until ``condition(service)`` holds; return that same snapshot."""
    def check() -> dict[str, Any] | None:
        snapshot = describe(ecs, service)
        return snapshot if condition(snapshot) else None

    return wait_for(check, timeout)


def running_digests(ecs: BaseClient, service: str) -> list[str]:
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName=service)["taskArns"]
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []
    return sorted(c["imageDigest"] for t in tasks if t["lastStatus"] == "RUNNING" for c in t["containers"])


def raw_answer(ecs: BaseClient, operation: str, **params: Any) -> dict[str, Any]:
    """Call ``operation`` and return the JSON document the world sent (before botocore parses it)."""
    captured: dict[str, Any] = {}

    def keep(http_response: Any, **_: Any) -> None:
        captured["body"] = json.loads(http_response.content)

    event = f"after-call.ecs.{operation}"
    ecs.meta.events.register(event, keep)
    try:
        getattr(ecs, _snake(operation))(**params)
    finally:
        ecs.meta.events.unregister(event, keep)
    return captured["body"]


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def shape_errors(value: Any, shape: Shape, path: str = "$") -> list[str]:
    """Where a raw JSON answer disagrees with botocore's ECS model: unknown members, wrong types,
    values outside an enum, missing required members."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        errors = [f"{path}.{key}: not in {shape.name}" for key in value if key not in shape.members]
        errors += [f"{path}.{key}: required by {shape.name}" for key in shape.required_members if key not in value]
        for key, member in shape.members.items():
            if key in value:
                errors += shape_errors(value[key], member, f"{path}.{key}")
        return errors
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [e for i, item in enumerate(value) for e in shape_errors(item, shape.member, f"{path}[{i}]")]
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str) and (not shape.enum or v in shape.enum),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "timestamp": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "double": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    }
    check = checks.get(kind)
    return [] if check is None or check(value) else [f"{path}: {value!r} is not a valid {kind} ({shape.name})"]


class Cli:
    """Runs command text with the real AWS CLI v1, profile okta-sso, against a world."""

    def __init__(self, world: World, home: Path) -> None:
        self.env = cli_env(world, home)

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        """Run one command (its `aws` word becomes the venv's CLI)."""
        return subprocess.run(aws_argv(command, AWS), env=self.env, capture_output=True, text=True, timeout=60)

    def text(self, command: str) -> str:
        """Run one command that must succeed; return stdout."""
        proc = self.run(command)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def json(self, command: str) -> Any:
        return json.loads(self.text(command))

    def poll(self, command: str, expected: Any, timeout: float = 15) -> Any:
        """`watch`: rerun until the output equals ``expected``."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.json(command)
            if value == expected:
                return value
            time.sleep(0.3)
        pytest.fail(f"never saw {expected!r}; last {value!r}")
