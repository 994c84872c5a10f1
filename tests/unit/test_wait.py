"""The monitor loop with a fake clock: when it stops, why, and how often it asks ECS."""
from __future__ import annotations

import io
from dataclasses import replace
from typing import Iterator

import pytest

from ops.aws.ecs import Service
from ops.checks.wait import Goal, Pace, follow
from ops.errors import WaitFailed
from tests.helpers import API, WORKER
from tests.unit.shapes import deployment, service


class Clock:
    """Fake time: ``sleep`` moves it; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(*rounds: dict[str, Service]) -> "Iterator[dict[str, Service]]":
    yield from rounds
    while True:
        yield rounds[-1]


ROLLING = service(API, "sandbox-broker:8", [deployment("sandbox-broker:8", running=1, rollout="IN_PROGRESS"),
                                            deployment("sandbox-broker:9", status="ACTIVE", id="ecs-svc/2", running=1)])
DONE = service(API, "sandbox-broker:8")
FAILED = service(API, "sandbox-broker:8", [deployment("sandbox-broker:8", running=0, failed=3, rollout="FAILED",
                                                      reason="circuit breaker: tasks failed to start")])
WORKER_UP = service(WORKER, "sandbox-broker-worker:1", [deployment("sandbox-broker-worker:1", desired=1)])
WORKER_ZERO = service(WORKER, "sandbox-broker-worker:1", [deployment("sandbox-broker-worker:1", desired=0)], desired=0)


def run(rounds: "Iterator[dict[str, Service]]", goals: list[Goal], timeout: float = 60, first: float = 1.0,
        most: float = 4.0) -> tuple[Clock, dict[str, float], list[int]]:
    clock, calls = Clock(), []

    def describe() -> dict[str, Service]:
        calls.append(1)
        return next(rounds)

    result = follow(describe, goals, timeout, Pace(first, most, clock=clock.time, sleep=clock.sleep), io.StringIO())
    return clock, result.seconds, calls


def test_stops_when_the_goal_holds_with_a_growing_capped_interval() -> None:
    rounds = scripted(*([{API: ROLLING}] * 6), {API: DONE})
    clock, seconds, calls = run(rounds, [Goal(API, task_definition="sandbox-broker:8")])
    assert len(calls) == 7 and seconds[API] == clock.now
    assert clock.sleeps == [1.0, 1.5, 2.25, 3.375, 4.0, 4.0]


def test_a_failed_rollout_ends_the_wait_at_once_with_the_reason() -> None:
    with pytest.raises(WaitFailed, match="rollout FAILED: circuit breaker"):
        run(scripted({API: ROLLING}, {API: FAILED}), [Goal(API, task_definition="sandbox-broker:8")])


def test_a_rollback_by_someone_else_is_said() -> None:
    back = service(API, "sandbox-broker:9")
    with pytest.raises(WaitFailed, match="runs sandbox-broker:9, not sandbox-broker:8"):
        run(scripted({API: back}), [Goal(API, task_definition="sandbox-broker:8")])


def test_a_circuit_breaker_rollback_gives_the_breakers_reason() -> None:
    rolled_back = service(API, "sandbox-broker:9", [
        deployment("sandbox-broker:9", rollout="IN_PROGRESS"),
        deployment("sandbox-broker:8", status="ACTIVE", id="ecs-svc/2", running=0, failed=3, rollout="FAILED",
                   reason="ECS deployment circuit breaker: tasks failed to start.")])
    with pytest.raises(WaitFailed, match=r"rollout of sandbox-broker:8 FAILED \(ECS deployment circuit breaker: tasks "
                                         r"failed to start.\) and ECS rolled back to sandbox-broker:9"):
        run(scripted({API: ROLLING}, {API: rolled_back}), [Goal(API, task_definition="sandbox-broker:8")])


def test_a_rollback_whose_failed_deployment_is_gone_quotes_the_new_breaker_event() -> None:
    from datetime import datetime, timezone

    from ops.aws.ecs import Event

    old = Event(datetime(2026, 1, 1, tzinfo=timezone.utc), "(service a) (deployment x) deployment failed: old news")
    new = Event(datetime(2026, 1, 2, tzinfo=timezone.utc), "(service a) (deployment y) deployment failed: tasks failed")
    before = replace(ROLLING, events=(old,))
    after = replace(service(API, "sandbox-broker:9"), events=(new, old))
    with pytest.raises(WaitFailed, match="rolled back to sandbox-broker:9 instead of sandbox-broker:8: .*tasks failed$"):
        run(scripted({API: before}, {API: after}), [Goal(API, task_definition="sandbox-broker:8")])
    with pytest.raises(WaitFailed, match="or someone else deployed"):  # an old event is not this wait's news
        run(scripted({API: before}, {API: replace(after, events=(old,))}), [Goal(API, task_definition="sandbox-broker:8")])


def test_growing_failed_tasks_end_the_wait() -> None:
    crashing = [service(API, "sandbox-broker:8", [deployment("sandbox-broker:8", running=0, failed=n,
                                                             rollout="IN_PROGRESS")]) for n in (1, 2, 3, 4)]
    with pytest.raises(WaitFailed, match="3 tasks failed during the wait"):
        run(scripted(*({API: s} for s in crashing)), [Goal(API, task_definition="sandbox-broker:8")])


def test_timeout_says_what_it_waited_for_and_the_state() -> None:
    with pytest.raises(WaitFailed) as caught:
        run(scripted({API: ROLLING, WORKER: WORKER_UP}), [Goal(API), Goal(WORKER)], timeout=10)
    assert "timed out after 10s waiting for sandbox-broker" in caught.value.message
    assert "state when it stopped" in (caught.value.hint or "") and "inv wait" in (caught.value.hint or "")


def test_the_last_sleep_never_passes_the_timeout() -> None:
    clock = run(scripted({API: ROLLING}, {API: ROLLING}, {API: DONE}), [Goal(API)], timeout=2.0, first=1.5)[0]
    assert clock.sleeps == [1.5, 0.5]


def test_a_scale_to_zero_is_done_by_the_counts_and_each_service_is_timed() -> None:
    rounds = scripted({API: ROLLING, WORKER: WORKER_UP}, {API: DONE, WORKER: WORKER_ZERO})
    _, seconds, calls = run(rounds, [Goal(API), Goal(WORKER, desired=0)])
    assert set(seconds) == {API, WORKER} and len(calls) == 2


def test_at_least_a_count_when_resumed_auto_scaling_adds_tasks() -> None:
    raised = service(WORKER, "sandbox-broker-worker:1", [deployment("sandbox-broker-worker:1", desired=2)])
    _, seconds, _ = run(scripted({WORKER: raised}), [Goal(WORKER, desired=1, at_least=True)])
    assert WORKER in seconds
    with pytest.raises(WaitFailed, match="timed out"):
        run(scripted({WORKER: raised}), [Goal(WORKER, desired=1)], timeout=3)
