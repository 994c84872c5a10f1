"""Fixtures shared by the world's own tests: the bad-release world and an ECS client on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.client import BaseClient

from ops.sandbox.world import World
from tests.world.helpers import ROLLOUT, client


@pytest.fixture
def world() -> Iterator[World]:
    """The api-bad-release world (overrides the suite-wide one; a test file may override it again)."""
    with World(scenario="api-bad-release", rollout_seconds=ROLLOUT) as w:
        yield w


@pytest.fixture
def ecs(world: World) -> BaseClient:
    return client(world, "ecs")
