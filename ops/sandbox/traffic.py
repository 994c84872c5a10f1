"""CloudWatch Logs traffic: what the API and worker containers print, by behaviour."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from moto.logs.models import LogsBackend

from .scenarios import API_CONTAINER, Behaviour

EMIT_INTERVAL = 0.5  # seconds between two lines of one task

_API_OK = (
    "INFO GET /healthz 200 2ms",
    "INFO POST /v1/allocate 200 41ms sandbox allocated",
    "INFO GET /metrics 200 5ms",
    "INFO pool refill check: pool healthy",
)
_API_ERRORS = (
    "ERROR POST /v1/allocate 500 12ms KeyError: 'pool_id' in allocate_sandbox",
    "ERROR GET /healthz 503 3ms dependency check failed: rate limiter cache unavailable",
    "ERROR unhandled exception in request handler: AttributeError: 'NoneType' object has no attribute 'lease'",
    "WARN GET /metrics 200 2104ms metrics cache miss",
)
_API_CRASH = (
    "INFO starting sandbox-broker-api",
    "ERROR fatal: settings: required key 'POOL_LEASE_TTL' missing (KeyError)",
    "ERROR sandbox-broker-api exited with status 1",
)
_WORKER_OK = (
    "INFO job refill_pool done in 812ms",
    "INFO job reap_expired_sandboxes done: 2 reaped",
    "INFO heartbeat ok",
)
_WORKER_CRASH = (
    "INFO starting worker",
    "ERROR fatal: cannot acquire job lock: redis.exceptions.ConnectionError",
    "ERROR worker exited with status 1",
)


def stream_name(container: str, task_id: str) -> str:
    """The awslogs stream of a task: ``ecs/<container>/<task-id>``."""
    return f"ecs/{container}/{task_id}"


def log_line(container: str, behaviour: Behaviour, rng: random.Random) -> str:
    """One line a container of this behaviour prints."""
    if container == API_CONTAINER:
        lines = {"errors": _API_ERRORS, "crash-loop": _API_CRASH}.get(behaviour, _API_OK)
        return rng.choice(lines)
    if behaviour in ("crash-loop", "errors"):
        return rng.choice(_WORKER_CRASH)
    return rng.choice(_WORKER_OK)


@dataclass(frozen=True)
class Speaker:
    """A task that is printing: its log group, container, id and behaviour."""

    group: str
    container: str
    task_id: str
    behaviour: Behaviour


@dataclass
class LogTraffic:
    """Writes log events straight into moto's Logs backend."""

    logs: LogsBackend
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    _streams: set[tuple[str, str]] = field(default_factory=set)
    _last_emit: float = 0.0

    def write(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        """Append ``(epoch_ms, message)`` events (in time order) to a stream, creating it."""
        if (group, stream) not in self._streams:
            if stream not in self.logs.groups[group].streams:
                self.logs.create_log_stream(group, stream)
            self._streams.add((group, stream))
        self.logs.put_log_events(group, stream, [{"timestamp": t, "message": m} for t, m in events])

    def history(self, speaker: Speaker, start_ms: int, end_ms: int, every_ms: int = 30_000) -> None:
        """Backfill a task's lines between two times."""
        times = range(start_ms, end_ms, every_ms)
        lines = [(t, log_line(speaker.container, speaker.behaviour, self.rng)) for t in times]
        if lines:
            self.write(speaker.group, stream_name(speaker.container, speaker.task_id), lines)

    def tick(self, now: float, now_ms: int, speakers: Iterable[Speaker]) -> None:
        """Every ``EMIT_INTERVAL`` seconds, one line per speaking task."""
        if now - self._last_emit < EMIT_INTERVAL:
            return
        self._last_emit = now
        for speaker in speakers:
            if speaker.behaviour == "stuck":
                continue
            line = log_line(speaker.container, speaker.behaviour, self.rng)
            self.write(speaker.group, stream_name(speaker.container, speaker.task_id), [(now_ms, line)])
