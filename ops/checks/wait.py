"""The runbook's "Monitor rollback" step, done by code instead of ``watch``.

One ``describe_services`` call per poll for all watched services; the poll interval starts short
and grows. A wait ends early when a rollout FAILED or failed tasks keep growing, and at its
timeout, each time with the state it stopped in.
"""
from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Sequence, TextIO

from ops.aws.ecs import Service, describe_services, short_td
from ops.errors import WaitFailed
from ops.runtime import Runtime

BREAKER_EVENT = re.compile(r"deployment failed|circuit breaker", re.IGNORECASE)
FAILED_TASKS_LIMIT = 3  # new failed tasks during one wait that end it early


@dataclass(frozen=True)
class Goal:
    """What "done" means for one service, beyond a steady state."""

    service: str
    task_definition: str | None = None  # full ARN or family:revision the PRIMARY must run
    desired: int | None = None  # the desired count it must have
    replacing: str | None = None  # a native rollback: this release may stay PRIMARY while ECS starts the rollback
    at_least: bool = False  # ``desired`` or more (auto scaling, resumed, may raise the count further)

    def failed_tasks(self, service: Service) -> int:
        """Failed tasks that count against this goal: those of its revision's deployments when it names one
        (a release being rolled back keeps crashing until ECS has replaced it)."""
        if self.task_definition is None:
            return service.failed_tasks
        wanted = short_td(self.task_definition)
        return sum(d.failed for d in service.deployments if short_td(d.task_definition) == wanted)


@dataclass
class WaitResult:
    seconds: dict[str, float] = field(default_factory=dict)
    final: dict[str, Service] = field(default_factory=dict)


def progress_line(service: Service) -> str:
    primary = service.primary
    td = short_td(primary.task_definition) if primary else "-"
    return (
        f"{service.name}: running {service.running}/{service.desired} pending {service.pending}, "
        f"{len(service.deployments)} deployment(s), primary {td} {service.rollout_state or '-'}, "
        f"failed tasks {service.failed_tasks}"
    )


def _matches(goal: Goal, service: Service) -> bool:
    primary = service.primary
    if goal.desired is not None and goal.task_definition is None:
        return _count_reached(service, goal.desired, goal.at_least)
    if goal.task_definition and (not primary or short_td(primary.task_definition) != short_td(goal.task_definition)):
        return False
    return service.is_steady


def _count_reached(service: Service, desired: int, at_least: bool = False) -> bool:
    """A desired-count change is done when the counts are there, whatever an older rollout's state
    (a deployment the circuit breaker marked FAILED keeps that state after a scale to 0). With
    ``at_least``, auto scaling may have raised the count further: all that runs is wanted."""
    wanted = max(desired, service.desired) if at_least else desired
    if service.desired != wanted or service.running != wanted or service.pending != 0:
        return False
    primary = service.primary
    return wanted == 0 or (len(service.deployments) == 1 and primary is not None and primary.running == wanted)


def _failure(goal: Goal, service: Service, failed_at_start: int, since: datetime | None = None) -> str | None:
    primary = service.primary
    count_only = goal.desired is not None and goal.task_definition is None
    if primary and primary.rollout_state == "FAILED" and not count_only:
        return f"{service.name}: rollout FAILED: {primary.rollout_reason or 'no reason given'}"
    if goal.task_definition and primary and short_td(primary.task_definition) != short_td(goal.task_definition):
        if goal.replacing and short_td(primary.task_definition) == short_td(goal.replacing):
            return None  # ECS has not started the rollback deployment yet
        return _replaced(service, primary.task_definition, goal.task_definition, since)
    failed = goal.failed_tasks(service) - failed_at_start
    if failed >= FAILED_TASKS_LIMIT:
        return f"{service.name}: {failed} tasks failed during the wait (crash loop?)"
    return None


def _replaced(service: Service, running: str, wanted: str, since: datetime | None) -> str:
    """The PRIMARY is not the goal's revision: the circuit breaker's own reason when it rolled back."""
    failed = next((d for d in service.deployments if short_td(d.task_definition) == short_td(wanted)
                   and d.rollout_state == "FAILED"), None)
    if failed is not None:
        return (f"{service.name}: rollout of {short_td(wanted)} FAILED ({failed.rollout_reason or 'no reason given'}) "
                f"and ECS rolled back to {short_td(running)}")
    said = next((e.message for e in service.events if BREAKER_EVENT.search(e.message) and _newer(e.created_at, since)),
                None)
    if said is not None:  # the failed deployment is gone already; ECS's event says what happened
        return f"{service.name}: ECS rolled back to {short_td(running)} instead of {short_td(wanted)}: {said}"
    return (f"{service.name}: the PRIMARY deployment runs {short_td(running)}, not {short_td(wanted)} "
            "(ECS's circuit breaker rolled it back, or someone else deployed)")


def _newer(when: datetime | None, since: datetime | None) -> bool:
    return since is None or (when is not None and when > since)


def _newest_event(service: Service) -> datetime | None:
    stamps = [e.created_at for e in service.events if e.created_at is not None]
    return max(stamps) if stamps else None


class _Printer:
    """A live line per service on a terminal, plain lines (on change) otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.last: dict[str, str] = {}

    def show(self, services: Sequence[Service], elapsed: float) -> None:
        states = [progress_line(s) for s in services]
        lines = [f"[{elapsed:5.0f}s] {state}" for state in states]
        if self.live:
            if self.last:
                self.stream.write(f"\x1b[{len(lines)}F")
            self.stream.write("".join(f"\x1b[2K{line}\n" for line in lines))
            self.last = {s.name: line for s, line in zip(services, lines, strict=True)}
        else:
            for service, state, line in zip(services, states, lines, strict=True):
                if self.last.get(service.name) != state:
                    self.stream.write(line + "\n")
                    self.last[service.name] = state
        self.stream.flush()


def wait_for(ecs: Any, cluster: str, goals: Sequence[Goal], timeout: float, poll: float, poll_max: float = 15.0,
             stream: TextIO | None = None) -> WaitResult:
    """Poll ECS (one ``describe_services`` for every watched service) until every goal holds."""
    names = [g.service for g in goals]
    return follow(lambda: describe_services(ecs, cluster, names), goals, timeout, Pace(poll, poll_max), stream)


def wait_services(rt: Runtime, timeout: float | None) -> WaitResult:
    """Monitor (``inv wait``): until both services have one PRIMARY deployment, running = desired, COMPLETED."""
    s = rt.settings
    goals = [Goal(s.api_service.service), Goal(s.worker_service.service)]
    return wait_for(rt.ecs, s.cluster, goals, timeout or s.wait.timeout, s.wait.poll, s.wait.poll_max)


@dataclass(frozen=True)
class Pace:
    """The poll interval: ``first``, growing by ``factor`` up to ``most``; ``clock`` and ``sleep`` are time's."""

    first: float
    most: float
    factor: float = 1.5
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def follow(describe: Callable[[], dict[str, Service]], goals: Sequence[Goal], timeout: float, pace: Pace,
           stream: TextIO | None = None) -> WaitResult:
    """Poll ``describe`` until every goal holds; WaitFailed early on failure, or at ``timeout``."""
    printer = _Printer(stream or sys.stdout)
    names = [g.service for g in goals]
    start, interval, result = pace.clock(), pace.first, WaitResult()
    failed_at_start: dict[str, int] | None = None
    events_before: dict[str, datetime | None] = {}
    while True:
        services = describe()
        elapsed = pace.clock() - start
        failed_at_start = failed_at_start or {g.service: g.failed_tasks(services[g.service]) for g in goals}
        events_before = events_before or {n: _newest_event(services[n]) for n in names}
        printer.show([services[n] for n in names], elapsed)
        result.final = services
        for goal in goals:
            if goal.service not in result.seconds and _matches(goal, services[goal.service]):
                result.seconds[goal.service] = elapsed
            problem = _failure(goal, services[goal.service], failed_at_start[goal.service], events_before[goal.service])
            if problem and goal.service not in result.seconds:
                raise WaitFailed(problem, _state_hint(services.values()))
        if len(result.seconds) == len(goals):
            for name in names:
                print(f"{name} reached a steady state in {result.seconds[name]:.0f}s", file=printer.stream)
            return result
        if elapsed + interval > timeout:
            remaining = max(0.0, timeout - elapsed)
            if remaining <= 0:
                raise WaitFailed(
                    f"timed out after {timeout:.0f}s waiting for {', '.join(n for n in names if n not in result.seconds)}",
                    _state_hint(services.values()),
                )
            interval = remaining
        pace.sleep(interval)
        interval = min(interval * pace.factor, pace.most)


def _state_hint(services: Any) -> str:
    state = "; ".join(progress_line(s) for s in services)
    return f"state when it stopped: {state}. See `inv status`; `inv wait` resumes watching"
