"""Post-Rollback Verification: the runbook's four checks as plain functions.

``run_checks`` runs, in this order, ``healthz``, ``api-service``, ``worker-service``,
``allocate`` and ``metrics`` and returns a ``VerifyResult``. A failing check is a result with
``ok=False`` and the reason in ``detail``, never an exception. Both services come from one
``describe_services`` call. HTTP requests use ``api.timeout`` and retry connection errors only
(the request never reached the server, so even the POST is safe to retry); a read error or an
error status is never retried, so one verification allocates at most one sandbox.

The bearer token is read only from the environment variable ``api.token_env`` names
(``token_from_env``) and is scrubbed from every detail, so it cannot reach the table, the JSON
document or the JUnit file.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import requests
from botocore.exceptions import BotoCoreError, ClientError

from ops import metrics
from ops.aws.ecs import Deployment, Service, describe_services, short_td
from ops.aws.session import translate
from ops.config import ServiceSettings, Settings
from ops.errors import OperationFailed
from ops.http import excerpt, make_session, request_error, status_detail
from ops.redact import scrub
from ops.report import table

CHECK_NAMES: tuple[str, ...] = ("healthz", "api-service", "worker-service", "allocate", "metrics")
SKIPPED_DETAIL = "skipped (--no-allocate)"



@dataclass(frozen=True)
class Check:
    """One check's outcome; ``skipped`` checks are ``ok`` (they do not fail the run)."""

    name: str
    ok: bool
    detail: str
    seconds: float = 0.0
    skipped: bool = False

    @property
    def verdict(self) -> str:
        """``PASS``, ``FAIL`` or ``SKIP`` (the table's second column)."""
        if self.skipped:
            return "SKIP"
        return "PASS" if self.ok else "FAIL"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class VerifyResult:
    """All checks in the contract's order; ``ok`` when none failed."""

    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def summary(self) -> str:
        """The last line of the table: OK, or how many (and which) checks failed."""
        if self.ok:
            skipped = sum(c.skipped for c in self.checks)
            note = f" ({skipped} skipped)" if skipped else ""
            return f"OK: {len(self.checks) - skipped} of {len(self.checks)} checks passed{note}"
        names = ", ".join(c.name for c in self.failed)
        return f"FAILED: {len(self.failed)} of {len(self.checks)} checks failed ({names})"

    def to_json(self) -> dict[str, Any]:
        """The contract's shape: ``{"ok": bool, "checks": [{"name", "ok", "detail"}]}``."""
        return {"ok": self.ok, "checks": [c.to_json() for c in self.checks]}


# --- helpers -------------------------------------------------------------------------------


def _timed(name: str, body: Callable[[], tuple[bool, str]]) -> Check:
    """Run ``body`` and time it into a Check."""
    started = time.monotonic()
    ok, detail = body()
    return Check(name=name, ok=ok, detail=detail, seconds=time.monotonic() - started)


def sandbox_id() -> str:
    """A unique ``rollback-test-...`` sandbox ID (UTC time and a random suffix)."""
    return f"rollback-test-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


# --- HTTP checks ---------------------------------------------------------------------------


def check_healthz(session: requests.Session, url: str, timeout: float) -> tuple[bool, str]:
    """GET /healthz: 200 with JSON ``status`` = ``healthy`` and a ``timestamp``."""
    try:
        response = session.get(f"{url}/healthz", timeout=timeout, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        return False, request_error(exc)
    if response.status_code != 200:
        return False, status_detail(response)
    try:
        body = response.json()
    except ValueError:
        return False, f"HTTP 200 but not JSON: {excerpt(response.text)}"
    if not isinstance(body, dict):
        return False, f"HTTP 200 but not a JSON object: {excerpt(response.text)}"
    if body.get("status") != "healthy":
        return False, f"status is {body.get('status')!r}, not 'healthy': {excerpt(response.text)}"
    if body.get("timestamp") in (None, ""):
        return False, f"no timestamp in the answer: {excerpt(response.text)}"
    return True, f"HTTP 200 healthy, timestamp {excerpt(str(body['timestamp']), 40)}"


def check_allocate(session: requests.Session, url: str, timeout: float, token: str | None, token_env: str) -> tuple[bool, str]:
    """POST /v1/allocate with the bearer token and a unique rollback-test sandbox ID: 2xx."""
    if not token:
        return False, f"no API token: set the environment variable {token_env} (named by api.token_env)"
    sandbox = sandbox_id()
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Instruqt-Sandbox-ID": sandbox,
        "Content-Type": "application/json",
    }
    try:
        response = session.post(f"{url}/v1/allocate", headers=headers, timeout=timeout, allow_redirects=False)
    except requests.exceptions.InvalidHeader:
        return False, f"the token in {token_env} has characters not allowed in an HTTP header"
    except requests.RequestException as exc:
        return False, f"{request_error(exc)} (sandbox {sandbox})"
    if not 200 <= response.status_code < 300:
        return False, f"{status_detail(response)} (sandbox {sandbox})"
    return True, f"HTTP {response.status_code}, sandbox {sandbox}"


def pool_total_samples(text: str) -> list[str]:
    """The values (as written) of every ``pool_total`` sample, namespaced ones included."""
    return [s.text for s in metrics.parse(text) if s.named("pool_total")]


def check_metrics(session: requests.Session, url: str, timeout: float) -> tuple[bool, str]:
    """GET /metrics: 200 with at least one ``pool_total`` sample."""
    try:
        response = session.get(f"{url}/metrics", timeout=timeout)
    except requests.RequestException as exc:
        return False, request_error(exc)
    if response.status_code != 200:
        return False, status_detail(response)
    samples = pool_total_samples(response.text)
    if not samples:
        lines = len(response.text.splitlines())
        return False, f"HTTP 200 but no pool_total sample in {lines} line{'s' if lines != 1 else ''}"
    more = f" (+{len(samples) - 1} more samples)" if len(samples) > 1 else ""
    return True, f"HTTP 200, pool_total {samples[0]}{more}"


# --- ECS checks ----------------------------------------------------------------------------


def _deployments_text(deployments: tuple[Deployment, ...]) -> str:
    return ", ".join(f"{d.status} {short_td(d.task_definition)} {d.running}/{d.desired}" for d in deployments)


def check_service(service: Service, allow_zero: bool) -> tuple[bool, str]:
    """Exactly one deployment, PRIMARY, running = desired (and > 0 unless ``allow_zero``)."""
    deployments = service.deployments
    if len(deployments) != 1:
        return False, f"{len(deployments)} deployments, want 1: {_deployments_text(deployments) or 'none'}"
    only = deployments[0]
    described = f"{only.status} {short_td(only.task_definition)}, running {only.running} of {only.desired} desired"
    if not only.is_primary:
        return False, f"the only deployment is not PRIMARY: {described}"
    if only.running != only.desired:
        return False, f"running != desired: {described}"
    if only.desired == 0 and not allow_zero:
        return False, f"desired count is 0: {described}"
    return True, described


def _service_checks(settings: Settings, ecs_client: Any) -> tuple[Check, Check]:
    """``api-service`` and ``worker-service`` from one describe_services call.

    Bad config or credentials (NotFound, CredentialsError, AccessDenied: exit 2) propagate;
    any other failure to read the services (AWS unreachable, throttled) fails both checks.
    """
    api, worker = settings.api_service, settings.worker_service
    started = time.monotonic()
    try:
        services = describe_services(ecs_client, settings.cluster, [api.service, worker.service])
    except (BotoCoreError, ClientError) as exc:
        error = translate(exc, settings.aws.profile)
        if not isinstance(error, OperationFailed):
            raise error from None
        detail = f"cannot describe services: {excerpt(error.message)}"
        return (Check("api-service", False, detail, time.monotonic() - started), Check("worker-service", False, detail))
    seconds = time.monotonic() - started
    return (
        _service_check("api-service", services, api, False, seconds),
        _service_check("worker-service", services, worker, True, 0.0),
    )


def _service_check(name: str, services: dict[str, Service], config: ServiceSettings, allow_zero: bool, seconds: float) -> Check:
    """One service's check; ``seconds`` is its share of the describe call."""
    started = time.monotonic()
    ok, detail = check_service(services[config.service], allow_zero)
    return Check(name, ok, f"{config.service}: {detail}", seconds + time.monotonic() - started)


# --- the run -------------------------------------------------------------------------------


def _skipped_allocate() -> Check:
    return Check("allocate", True, SKIPPED_DETAIL, 0.0, skipped=True)


def run_checks(
    settings: Settings,
    ecs_client: Any,
    token: str | None,
    allocate: bool = True,
    session: requests.Session | None = None,
) -> VerifyResult:
    """Run the five checks in the contract's order; failures are results, not exceptions."""
    own_session = session is None
    http = make_session() if session is None else session
    url, timeout = settings.api.url, settings.api.timeout
    try:
        checks: list[Check] = [_timed("healthz", lambda: check_healthz(http, url, timeout))]
        checks.extend(_service_checks(settings, ecs_client))
        if allocate:
            checks.append(_timed("allocate", lambda: check_allocate(http, url, timeout, token, settings.api.token_env)))
        else:
            checks.append(_skipped_allocate())
        checks.append(_timed("metrics", lambda: check_metrics(http, url, timeout)))
    finally:
        if own_session:
            http.close()
    return VerifyResult(tuple(_scrubbed(c, token) for c in checks))


def _scrubbed(check: Check, token: str | None) -> Check:
    """``check`` with the token removed from its detail (a server may echo it back)."""
    detail = scrub(check.detail, token)
    if detail == check.detail:
        return check
    return Check(check.name, check.ok, detail, check.seconds, check.skipped)


def render_table(result: VerifyResult) -> str:
    """The PASS/FAIL/SKIP table with its one-line summary under it."""
    rows = ((check.name, check.verdict, check.detail) for check in result.checks)
    return f"{table(rows, ['check', 'result', 'detail'])}\n{result.summary()}"
