"""The runbook's Rollback Decision Tree, computed from live signals instead of by eye.

Signals: the health check, each service's state (failed tasks, rollout state, running vs
desired), error lines in each service's recent logs (the capture's log reader), and the metrics
endpoint's answer and latency. What cannot be observed (CORS, rate limiting, slow metrics as a
user sees them) comes in as ``--symptom`` and maps as the runbook says.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError

from ops import rollback as rb
from ops.config import Settings
from ops.ecs import Service, deployment_task_ids, describe_services, short_td
from ops.errors import ToolkitError, UsageError
from ops.logs import Window, iter_events
from ops.verify import check_healthz, make_session

SYMPTOMS = ("api-errors", "jobs-not-running", "rate-limiting", "cors", "metrics-slow")
API_CODE_SYMPTOMS = {
    "rate-limiting": "rate limiter changes are in the API code",
    "cors": "CORS config is in the API code",
    "metrics-slow": "metrics caching is in the API code",
}
ERROR_LINE = re.compile(r"\b(ERROR|FATAL|CRITICAL|Traceback|Exception|panic)\b")
LOG_ERRORS_LIMIT = 5  # error lines in the window that make a service "failing"
SLOW_METRICS_SECONDS = 2.0


@dataclass
class Triage:
    recommendation: str
    reasons: list[str]
    signals: dict[str, Any]
    command: str
    pinned: tuple[rb.PinnedImage, ...] = ()  # Option 2's images, when Option 1 would redeploy the same code

    def to_json(self) -> dict[str, Any]:
        return {"recommendation": self.recommendation, "reasons": self.reasons, "signals": self.signals,
                "command": self.command}


@dataclass
class _Probe:
    ok: bool
    status: int | None
    seconds: float
    text: str = ""


def _get(session: requests.Session, url: str, timeout: float) -> _Probe:
    started = time.monotonic()
    try:
        response = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        return _Probe(False, None, time.monotonic() - started, type(exc).__name__)
    return _Probe(response.status_code == 200, response.status_code, time.monotonic() - started, response.text)


def health_signal(session: requests.Session, settings: Settings) -> dict[str, Any]:
    """The verify task's own health check (one definition of "healthy"), timed."""
    started = time.monotonic()
    healthy, detail = check_healthz(session, settings.api.url, settings.api.timeout)
    return {"healthy": healthy, "detail": detail, "seconds": round(time.monotonic() - started, 3)}


def metrics_signal(session: requests.Session, settings: Settings) -> dict[str, Any]:
    probe = _get(session, f"{settings.api.url}/metrics", settings.api.timeout)
    samples: dict[str, float] = {}
    for line in probe.text.splitlines() if probe.ok else []:
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.partition(" ")
        try:
            samples[name.split("{", 1)[0]] = samples.get(name.split("{", 1)[0], 0.0) + float(value.split()[0])
        except (ValueError, IndexError):
            continue
    wanted = {k: v for k, v in samples.items() if k.startswith("pool_") or "error" in k or "failed" in k}
    return {"ok": probe.ok, "http_status": probe.status, "seconds": round(probe.seconds, 3),
            "slow": probe.seconds > SLOW_METRICS_SECONDS, "samples": wanted}


def log_errors(logs: Any, group: str, window: Window, task_ids: set[str] | None = None) -> int | str:
    """Error lines in the window (counted here: moto and AWS differ on filter patterns).

    With ``task_ids``, only streams of those tasks (``ecs/<container>/<task id>``) count, so the
    errors of tasks an earlier rollback already replaced do not count against the service now.
    """
    def counts(event: dict[str, Any]) -> bool:
        if task_ids is not None and str(event.get("logStreamName", "")).rsplit("/", 1)[-1] not in task_ids:
            return False
        return bool(ERROR_LINE.search(str(event.get("message", ""))))

    try:
        return sum(1 for e in iter_events(logs, group, window) if counts(e))
    except (BotoCoreError, ClientError) as exc:  # a signal we could not read is reported, not fatal
        return f"unreadable: {type(exc).__name__}"


def current_task_ids(rt: Any, service: Service) -> set[str] | None:
    """Tasks of the service's PRIMARY deployment (None: unknown, count every stream)."""
    primary = service.primary
    if primary is None:
        return None
    try:
        return deployment_task_ids(rt.ecs, rt.settings.cluster, service.name, primary.id)
    except (BotoCoreError, ClientError):
        return None


def _service_signal(rt: Any, service: Service, log_group: str, window: Window) -> dict[str, Any]:
    return service_signal(service, log_errors(rt.logs, log_group, window, current_task_ids(rt, service)))


def service_signal(service: Service, log_error_count: int | str) -> dict[str, Any]:
    primary = service.primary
    return {
        "desired": service.desired,
        "running": service.running,
        "failedTasks": service.failed_tasks,
        "rolloutState": service.rollout_state,
        "deployments": len(service.deployments),
        "taskDefinition": short_td(primary.task_definition if primary else service.task_definition),
        "logErrors": log_error_count,
    }


def _failing(signal: dict[str, Any]) -> list[str]:
    """Why a service looks broken (empty: it looks fine)."""
    why = []
    if signal["rolloutState"] == "FAILED":
        why.append("its rollout FAILED")
    if signal["failedTasks"] > 0:
        why.append(f"{signal['failedTasks']} failed tasks")
    if signal["desired"] > 0 and signal["running"] < signal["desired"]:
        why.append(f"running {signal['running']} of {signal['desired']}")
    if isinstance(signal["logErrors"], int) and signal["logErrors"] >= LOG_ERRORS_LIMIT:
        why.append(f"{signal['logErrors']} error lines in its recent logs")
    return why


def gather(rt: Any, window_seconds: int, session: requests.Session | None = None) -> tuple[dict[str, Any], dict[str, Service]]:
    s = rt.settings
    http = session or make_session()
    services = describe_services(rt.ecs, s.cluster, [x.service for x in s.services])
    window = Window.last(window_seconds)
    signals: dict[str, Any] = {
        "healthz": health_signal(http, s),
        "metrics": metrics_signal(http, s),
        "api": _service_signal(rt, services[s.api_service.service], s.api_service.log_group, window),
        "worker": _service_signal(rt, services[s.worker_service.service], s.worker_service.log_group, window),
        "windowSeconds": window_seconds,
    }
    return signals, services


def decide(settings: Settings, signals: dict[str, Any], symptom: str | None) -> tuple[str, list[str]]:
    """The decision tree itself: signals (+ symptom) -> recommendation and reasons."""
    if symptom is not None and symptom not in SYMPTOMS:
        raise UsageError(f"--symptom {symptom!r} is not known", f"use one of: {', '.join(SYMPTOMS)}")
    if symptom in API_CODE_SYMPTOMS:
        return "option1", [f"symptom {symptom}: {API_CODE_SYMPTOMS[symptom]} (runbook: Option 1, roll back the API)"]
    api, worker = signals["api"], signals["worker"]
    api_why = _failing(api)
    if not signals["healthz"]["healthy"]:
        api_why.insert(0, f"/healthz is not healthy ({signals['healthz']['detail']})")
    worker_why = _failing(worker)
    worker_stopped = worker["desired"] == 0 and worker["running"] == 0
    if symptom == "jobs-not-running":
        return _jobs_branch(worker_stopped, worker_why)
    if api_why and worker_why:
        return "option4", [f"API failing: {', '.join(api_why)}", f"worker failing: {', '.join(worker_why)}",
                           "runbook: both failing -> Option 4 (full rollback)"]
    if worker_why:
        return "option3", [f"worker failing: {', '.join(worker_why)}", "runbook: check worker first; worker failing -> Option 3"]
    if api_why:
        return "option1", [f"API failing: {', '.join(api_why)}", "runbook: API code issues -> Option 1"]
    if worker_stopped:
        return "restart-worker", ["the API is healthy and the worker is stopped (desired 0): background jobs do not run",
                                  "runbook: worker stopped -> restart worker"]
    return "none", ["health check passes and both services are steady with no recent errors"]


def _jobs_branch(worker_stopped: bool, worker_why: list[str]) -> tuple[str, list[str]]:
    if worker_stopped:
        return "restart-worker", ["symptom jobs-not-running: the worker is stopped (desired 0)", "runbook: restart worker"]
    if worker_why:
        return "option3", [f"symptom jobs-not-running: worker failing: {', '.join(worker_why)}",
                           "runbook: worker failing -> check logs, may need Option 3"]
    return "none", ["symptom jobs-not-running, but the worker runs and is steady: check its logs (inv capture)"]


def next_command(rt: Any, recommendation: str, services: dict[str, Service], reasons: list[str]
                 ) -> tuple[str, str, tuple[rb.PinnedImage, ...]]:
    """The exact command to run next; Option 1 turns into Option 2 when it would redeploy the same image."""
    s = rt.settings
    revision = s.api_service.known_good_revision
    refusal = _same_image_refusal(rt, services[s.api_service.service]) if recommendation in ("option1", "option4") else None
    if refusal is not None and refusal.pinned:
        pinned, by_digest = tuple(refusal.pinned), " ; ".join(refusal.commands)
        if recommendation == "option1":
            reasons.append(f"but {s.api_service.family}:{revision} would redeploy the running image digest (moved tag): "
                           "roll back by digest instead (Option 2)")
            return "option2", by_digest, pinned
        reasons.append(f"note: {s.api_service.family}:{revision} would redeploy the running digest; "
                       f"stop the worker, then {by_digest}")
        return recommendation, f"inv worker.stop --yes && {by_digest}", pinned
    commands = {
        "option1": f"inv rollback.api --revision {revision}",
        "option4": f"inv rollback.full --revision {revision}",
        "option3": "inv worker.stop",
        "restart-worker": "inv worker.start",
        "none": "inv verify",
    }
    return recommendation, commands[recommendation], ()


def _same_image_refusal(rt: Any, api: Service) -> rb.SameImageRefused | None:
    """The refusal Option 1 would meet (the moved-tag trap), with its pinned images; None if none."""
    s = rt.settings
    if short_td(api.task_definition) == f"{s.api_service.family}:{s.api_service.known_good_revision}":
        return None  # already on the target: no moved tag to route around (and "the digest before" is the bad one)
    try:
        target = rb.resolve_target(rt.ecs, api, s.api_service.family or "", s.api_service.known_good_revision or 1)
        rb.guard_same_image(rt.ecs, rt.aws.client("ecr"), rt.identity().account, s, api, target, lambda _: None)
    except rb.SameImageRefused as refusal:
        return refusal
    except (ToolkitError, BotoCoreError, ClientError):  # triage answers even when this extra look fails
        return None
    return None


def triage(rt: Any, symptom: str | None, window_seconds: int, session: requests.Session | None = None) -> Triage:
    if symptom is not None and symptom not in SYMPTOMS:
        raise UsageError(f"--symptom {symptom!r} is not known", f"use one of: {', '.join(SYMPTOMS)}")
    signals, services = gather(rt, window_seconds, session)
    recommendation, reasons = decide(rt.settings, signals, symptom)
    recommendation, command, pinned = next_command(rt, recommendation, services, reasons)
    return Triage(recommendation, reasons, signals, command, pinned)


def render(result: Triage) -> str:
    """The recommendation, each signal that led there, and the command to run next."""
    from ops.report import table

    sig = result.signals
    rows = [
        ("healthz", "healthy" if sig["healthz"]["healthy"] else "UNHEALTHY",
         f"{sig['healthz']['detail']} in {sig['healthz']['seconds']}s"),
        ("metrics", "ok" if sig["metrics"]["ok"] and not sig["metrics"]["slow"] else "SLOW/FAILING",
         f"HTTP {sig['metrics']['http_status']} in {sig['metrics']['seconds']}s"),
    ]
    for role in ("api", "worker"):
        x = sig[role]
        rows.append((f"{role} service", "failing" if _failing(x) else "ok",
                     f"{x['taskDefinition']} running {x['running']}/{x['desired']}, failed tasks {x['failedTasks']}, "
                     f"{x['rolloutState'] or '-'}, log errors {x['logErrors']} (current deployment's tasks, last {sig['windowSeconds']}s)"))
    lines = [table(rows, ["signal", "state", "detail"]), "", f"recommendation: {result.recommendation}"]
    lines += [f"  - {reason}" for reason in result.reasons]
    lines.append(f"next: {result.command}")
    return "\n".join(lines)
