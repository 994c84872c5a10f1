"""The runbook's Rollback Decision Tree as a pure function: signals (+ a symptom) -> a recommendation.

``Recommendation`` is the one list of recommendation codes (triage, the drill and the runbook's
"Rollback Time Estimates" table all use it). Nothing here reads AWS or the network.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ops.errors import UsageError

SYMPTOMS = ("api-errors", "jobs-not-running", "rate-limiting", "cors", "metrics-slow")
API_CODE_SYMPTOMS = {
    "rate-limiting": "rate limiter changes are in the API code",
    "cors": "CORS config is in the API code",
    "metrics-slow": "metrics caching is in the API code",
}
LOG_ERRORS_LIMIT = 5  # error lines in the window that make a service "failing"


@dataclass(frozen=True)
class Estimate:
    """A row of the runbook's "Rollback Time Estimates" (seconds)."""

    title: str
    execute: int
    verify: int
    total: int


class Recommendation(StrEnum):
    """What to do next; the values are the contract's ``recommendation`` codes."""

    NONE = "none"
    OPTION1 = "option1"
    OPTION2 = "option2"
    OPTION3 = "option3"
    OPTION4 = "option4"
    RESTART_WORKER = "restart-worker"

    @property
    def estimate(self) -> Estimate:
        return ESTIMATES[self]


ESTIMATES: dict[Recommendation, Estimate] = {
    Recommendation.OPTION1: Estimate("Option 1: API only", 120, 180, 300),
    Recommendation.OPTION2: Estimate("Option 2: Specific image", 120, 180, 300),
    Recommendation.OPTION3: Estimate("Option 3: Stop worker", 30, 60, 120),
    Recommendation.OPTION4: Estimate("Option 4: Full rollback", 180, 300, 480),
    Recommendation.RESTART_WORKER: Estimate("Restart worker (not in the runbook's table)", 0, 0, 0),
    Recommendation.NONE: Estimate("-", 0, 0, 0),
}


@dataclass(frozen=True)
class ServiceSignal:
    """What one service looks like now (the ``signals.api`` / ``signals.worker`` objects)."""

    desired: int
    running: int
    failed_tasks: int
    rollout_state: str
    deployments: int
    task_definition: str
    log_errors: int | str  # a count, or why the logs could not be read

    @property
    def stopped(self) -> bool:
        return self.desired == 0 and self.running == 0

    def failing(self) -> list[str]:
        """Why the service looks broken (empty: it looks fine)."""
        why = []
        if self.rollout_state == "FAILED":
            why.append("its rollout FAILED")
        if self.failed_tasks > 0:
            why.append(f"{self.failed_tasks} failed tasks")
        if self.desired > 0 and self.running < self.desired:
            why.append(f"running {self.running} of {self.desired}")
        if isinstance(self.log_errors, int) and self.log_errors >= LOG_ERRORS_LIMIT:
            why.append(f"{self.log_errors} error lines in its recent logs")
        return why

    def to_json(self) -> dict[str, Any]:
        return {"desired": self.desired, "running": self.running, "failedTasks": self.failed_tasks,
                "rolloutState": self.rollout_state, "deployments": self.deployments,
                "taskDefinition": self.task_definition, "logErrors": self.log_errors}


@dataclass(frozen=True)
class Health:
    """The API's health check as verify defines it, timed."""

    healthy: bool
    detail: str
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "detail": self.detail, "seconds": self.seconds}


@dataclass(frozen=True)
class Signals:
    """Everything the tree looks at; ``metrics`` is reported, not decided on."""

    healthz: Health
    api: ServiceSignal
    worker: ServiceSignal
    window_seconds: int
    metrics: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"healthz": self.healthz.to_json(), "metrics": self.metrics, "api": self.api.to_json(),
                "worker": self.worker.to_json(), "windowSeconds": self.window_seconds}


def check_symptom(symptom: str | None) -> None:
    """A ``--symptom`` the tree knows, or UsageError listing the known ones."""
    if symptom is not None and symptom not in SYMPTOMS:
        raise UsageError(f"--symptom {symptom!r} is not known", f"use one of: {', '.join(SYMPTOMS)}")


def decide(signals: Signals, symptom: str | None = None) -> tuple[Recommendation, list[str]]:
    """The decision tree itself: signals (+ symptom) -> recommendation and reasons."""
    check_symptom(symptom)
    if symptom in API_CODE_SYMPTOMS:
        return Recommendation.OPTION1, [
            f"symptom {symptom}: {API_CODE_SYMPTOMS[symptom]} (runbook: Option 1, roll back the API)"]
    api_why = signals.api.failing()
    if not signals.healthz.healthy:
        api_why.insert(0, f"/healthz is not healthy ({signals.healthz.detail})")
    worker_why = signals.worker.failing()
    if symptom == "jobs-not-running":
        return _jobs_branch(signals.worker.stopped, worker_why)
    if api_why and worker_why:
        return Recommendation.OPTION4, [f"API failing: {', '.join(api_why)}", f"worker failing: {', '.join(worker_why)}",
                                        "runbook: both failing -> Option 4 (full rollback)"]
    if worker_why:
        return Recommendation.OPTION3, [f"worker failing: {', '.join(worker_why)}",
                                        "runbook: check worker first; worker failing -> Option 3"]
    if api_why:
        return Recommendation.OPTION1, [f"API failing: {', '.join(api_why)}", "runbook: API code issues -> Option 1"]
    if signals.worker.stopped:
        return Recommendation.RESTART_WORKER, [
            "the API is healthy and the worker is stopped (desired 0): background jobs do not run",
            "runbook: worker stopped -> restart worker"]
    return Recommendation.NONE, ["health check passes and both services are steady with no recent errors"]


def _jobs_branch(worker_stopped: bool, worker_why: list[str]) -> tuple[Recommendation, list[str]]:
    if worker_stopped:
        return Recommendation.RESTART_WORKER, ["symptom jobs-not-running: the worker is stopped (desired 0)",
                                               "runbook: restart worker"]
    if worker_why:
        return Recommendation.OPTION3, [f"symptom jobs-not-running: worker failing: {', '.join(worker_why)}",
                                        "runbook: worker failing -> check logs, may need Option 3"]
    return Recommendation.NONE, ["symptom jobs-not-running, but the worker runs and is steady: check its logs (inv capture)"]
