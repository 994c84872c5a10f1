"""What the broker API reports, following the simulated world: health, pool gauges, error counters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

POOL_TOTAL = 50
POOL_ALLOCATED = 12
DRAIN_PER_SECOND = 5.0  # sandboxes the pool loses a second while no healthy worker refills it
ERRORS_PER_BAD_TASK_SECOND = 3.0
JOB_FAILURES_PER_SECOND = 1.0


@dataclass(frozen=True)
class Observation:
    """What the broker can tell about the world at one moment."""

    api_running: int  # RUNNING API tasks
    api_bad: int  # RUNNING API tasks whose release misbehaves
    worker_ok: int  # RUNNING worker tasks that behave
    worker_failing: bool  # some worker task crash-loops or serves errors

    @property
    def healthy(self) -> bool:
        """The API answers healthz healthy: it runs, and only good releases."""
        return self.api_running > 0 and self.api_bad == 0


@dataclass
class BrokerModel:
    """Pool gauges and error counters, moved by ``tick`` and ``allocate``."""

    observe: Callable[[], Observation]
    available: float = float(POOL_TOTAL - POOL_ALLOCATED)
    allocated: int = POOL_ALLOCATED
    http_errors: float = 0.0
    jobs_failed: float = 0.0

    def tick(self, seconds: float) -> None:
        """Let ``seconds`` pass: the pool refills or drains, error counters grow."""
        seen = self.observe()
        target = float(POOL_TOTAL - self.allocated) if seen.worker_ok > 0 else 0.0
        step = DRAIN_PER_SECOND * seconds
        if self.available > target:
            self.available = max(target, self.available - step)
        else:
            self.available = min(target, self.available + step)
        self.http_errors += seen.api_bad * ERRORS_PER_BAD_TASK_SECOND * seconds
        if seen.worker_failing:
            self.jobs_failed += JOB_FAILURES_PER_SECOND * seconds

    def allocate(self) -> None:
        """Hand out one sandbox (the pool may be empty: the broker then queues it)."""
        self.allocated = min(POOL_TOTAL, self.allocated + 1)
        self.available = max(0.0, self.available - 1)

    def metrics(self) -> str:
        """Prometheus text exposition."""
        samples = (
            ("pool_total", "gauge", "Sandboxes in the pool.", POOL_TOTAL),
            ("pool_available", "gauge", "Sandboxes ready to allocate.", int(self.available)),
            ("pool_allocated", "gauge", "Sandboxes allocated.", self.allocated),
            ("http_requests_errors_total", "counter", "HTTP requests answered 5xx.",
             int(self.http_errors)),
            ("worker_jobs_failed_total", "counter", "Background jobs that failed.",
             int(self.jobs_failed)),
        )
        lines = []
        for name, kind, text, value in samples:
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(lines) + "\n"
