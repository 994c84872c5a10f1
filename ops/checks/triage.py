"""``inv triage``: the live signals the decision tree needs, the tree's answer, and the command to run next.

Signals: the health check (verify's own), each service's state (failed tasks, rollout state,
running vs desired), error lines in each service's recent logs (only the current deployment's
tasks count), and the metrics endpoint's answer and latency. ``ops.checks.decision`` decides.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError

from ops import metrics
from ops.aws.ecs import Service, deployment_task_ids, describe_services, short_td
from ops.aws.history import History, revision_number
from ops.aws.logs import Pace, Window, iter_events
from ops.change import moved_tag
from ops.change.target import Choice, choose, goes_native, read_history, resolve_target
from ops.checks.decision import Health, Recommendation, ServiceSignal, Signals, check_symptom, decide
from ops.checks.verify import check_healthz
from ops.config import Settings
from ops.errors import ToolkitError
from ops.http import make_session
from ops.report import table
from ops.runtime import Runtime

ERROR_LINE = re.compile(r"\b(ERROR|FATAL|CRITICAL|Traceback|Exception|panic)\b")
SLOW_METRICS_SECONDS = 2.0


@dataclass
class Triage:
    recommendation: Recommendation
    reasons: list[str]
    signals: Signals
    command: str
    pinned: tuple[moved_tag.PinnedImage, ...] = ()  # Option 2's images, when Option 1 would redeploy the same code

    def to_json(self) -> dict[str, Any]:
        return {"recommendation": str(self.recommendation), "reasons": self.reasons,
                "signals": self.signals.to_json(), "command": self.command}


def health_signal(session: requests.Session, settings: Settings) -> Health:
    """The verify task's own health check (one definition of "healthy"), timed."""
    started = time.monotonic()
    healthy, detail = check_healthz(session, settings.api.url, settings.api.timeout)
    return Health(healthy, detail, round(time.monotonic() - started, 3))


def metrics_signal(session: requests.Session, settings: Settings) -> dict[str, Any]:
    """The metrics endpoint's status and latency, with the pool, error and failure totals it reports."""
    started = time.monotonic()
    try:
        response = session.get(f"{settings.api.url}/metrics", timeout=settings.api.timeout)
        status: int | None = response.status_code
        text = response.text if response.status_code == 200 else ""
    except requests.RequestException:
        status, text = None, ""
    seconds = time.monotonic() - started
    totals = metrics.totals(metrics.parse(text))
    wanted = {k: v for k, v in totals.items() if k.startswith("pool_") or "error" in k or "failed" in k}
    return {"ok": status == 200, "http_status": status, "seconds": round(seconds, 3),
            "slow": seconds > SLOW_METRICS_SECONDS, "samples": wanted}


def log_errors(logs: Any, group: str, window: Window, pace: Pace, task_ids: set[str] | None = None) -> int | str:
    """Error lines in the window (counted here: moto and AWS differ on filter patterns), each request
    paced within FilterLogEvents' quota (``pace``: the run's, shared with capture).

    With ``task_ids``, only streams of those tasks (``ecs/<container>/<task id>``) count, so the
    errors of tasks an earlier rollback already replaced do not count against the service now.
    """
    def counts(event: dict[str, Any]) -> bool:
        if task_ids is not None and str(event.get("logStreamName", "")).rsplit("/", 1)[-1] not in task_ids:
            return False
        return bool(ERROR_LINE.search(str(event.get("message", ""))))

    try:
        return sum(1 for e in iter_events(logs, group, window, pace) if counts(e))
    except (BotoCoreError, ClientError) as exc:  # a signal we could not read is reported, not fatal
        return f"unreadable: {type(exc).__name__}"


def current_task_ids(rt: Runtime, service: Service) -> set[str] | None:
    """Tasks of the service's PRIMARY deployment (None: unknown, count every stream)."""
    primary = service.primary
    if primary is None:
        return None
    try:
        return deployment_task_ids(rt.ecs, rt.settings.cluster, service.name, primary.id)
    except (BotoCoreError, ClientError):
        return None


def service_signal(service: Service, log_error_count: int | str) -> ServiceSignal:
    primary = service.primary
    return ServiceSignal(
        desired=service.desired, running=service.running, failed_tasks=service.failed_tasks,
        rollout_state=service.rollout_state, deployments=len(service.deployments),
        task_definition=short_td(primary.task_definition if primary else service.task_definition),
        log_errors=log_error_count,
    )


def _service_signal(rt: Runtime, service: Service, log_group: str, window: Window) -> ServiceSignal:
    return service_signal(service, log_errors(rt.logs, log_group, window, rt.log_pace, current_task_ids(rt, service)))


def gather(rt: Runtime, window_seconds: int, session: requests.Session | None = None) -> tuple[Signals, dict[str, Service]]:
    s = rt.settings
    http = session or make_session()
    services = describe_services(rt.ecs, s.cluster, [x.service for x in s.services])
    window = Window.last(window_seconds)
    signals = Signals(
        healthz=health_signal(http, s),
        metrics=metrics_signal(http, s),
        api=_service_signal(rt, services[s.api_service.service], s.api_service.log_group, window),
        worker=_service_signal(rt, services[s.worker_service.service], s.worker_service.log_group, window),
        window_seconds=window_seconds,
    )
    return signals, services


def next_command(rt: Runtime, recommendation: Recommendation, api: Service, reasons: list[str]
                 ) -> tuple[Recommendation, str, tuple[moved_tag.PinnedImage, ...]]:
    """The exact command to run next; Option 1 turns into Option 2 when it would redeploy the same image."""
    simple = {
        Recommendation.OPTION3: "inv worker.stop",
        Recommendation.RESTART_WORKER: "inv worker.start",
        Recommendation.NONE: "inv verify",
    }
    if recommendation in simple:
        return recommendation, simple[recommendation], ()
    history, unreadable = read_history(rt, api.name)
    choice = choose(rt.settings, short_td(api.task_definition), history, unreadable)
    task = "rollback.api" if recommendation == Recommendation.OPTION1 else "rollback.full"
    if choice.target is None:
        reasons.append(f"no rollback target: {choice.note or 'the deployment history has no last good revision'}; "
                       "pick one with `inv revisions`")
        return recommendation, f"inv {task} --revision N", ()
    if choice.warning:
        reasons.append(choice.warning)
    refusal = _same_image_refusal(rt, api, choice, history)
    if refusal is not None and refusal.pinned:
        pinned, by_digest = tuple(refusal.pinned), " ; ".join(refusal.commands)
        if recommendation == Recommendation.OPTION1:
            reasons.append(f"but {choice.target} would redeploy the running image digest (moved tag): "
                           "roll back by digest instead (Option 2)")
            return Recommendation.OPTION2, by_digest, pinned
        reasons.append(f"note: {choice.target} would redeploy the running digest; stop the worker, then {by_digest}")
        return recommendation, f"inv worker.stop --yes && {by_digest}", pinned
    return recommendation, f"inv {task} --revision {revision_number(choice.target)}", ()


def _same_image_refusal(rt: Runtime, api: Service, choice: Choice, history: History | None
                        ) -> moved_tag.SameImageRefused | None:
    """The refusal Option 1 would meet (the moved-tag trap), with its pinned images; None if none."""
    s = rt.settings
    if choice.target is None or short_td(api.task_definition) == choice.target:
        return None  # already on the target: no moved tag to route around (and "the digest before" is the bad one)
    if goes_native(api, history, choice):
        return None  # rollback.api rolls a release in flight back natively: recorded digests, no moved tag
    try:
        target = resolve_target(rt.ecs, api, s.api_service.family or "", revision_number(choice.target))
        running = moved_tag.primary_digests(rt, api, history)
        moved_tag.guard_same_image(rt, api, target, lambda _: None, running, choice.last_good)
    except moved_tag.SameImageRefused as refusal:
        return refusal
    except (ToolkitError, BotoCoreError, ClientError):  # triage answers even when this extra look fails
        return None
    return None


def triage(rt: Runtime, symptom: str | None, window_seconds: int, session: requests.Session | None = None) -> Triage:
    check_symptom(symptom)
    signals, services = gather(rt, window_seconds, session)
    recommendation, reasons = decide(signals, symptom)
    recommendation, command, pinned = next_command(rt, recommendation, services[rt.settings.api_service.service], reasons)
    return Triage(recommendation, reasons, signals, command, pinned)


def render(result: Triage) -> str:
    """The recommendation, each signal that led there, and the command to run next."""
    sig = result.signals
    rows = [
        ("healthz", "healthy" if sig.healthz.healthy else "UNHEALTHY", f"{sig.healthz.detail} in {sig.healthz.seconds}s"),
        ("metrics", "ok" if sig.metrics["ok"] and not sig.metrics["slow"] else "SLOW/FAILING",
         f"HTTP {sig.metrics['http_status']} in {sig.metrics['seconds']}s"),
    ]
    for role, x in (("api", sig.api), ("worker", sig.worker)):
        rows.append((f"{role} service", "failing" if x.failing() else "ok",
                     f"{x.task_definition} running {x.running}/{x.desired}, failed tasks {x.failed_tasks}, "
                     f"{x.rollout_state or '-'}, log errors {x.log_errors} (current deployment's tasks, last {sig.window_seconds}s)"))
    lines = [table(rows, ["signal", "state", "detail"]), "", f"recommendation: {result.recommendation}"]
    lines += [f"  - {reason}" for reason in result.reasons]
    lines.append(f"next: {result.command}")
    return "\n".join(lines)
