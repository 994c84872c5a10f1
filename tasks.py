"""The sandbox-broker emergency rollback runbook as Invoke tasks.

Tasks are thin: read config, call plain functions in ``ops/``, print. ``inv --list`` lists them;
the README maps each one to its runbook block.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from invoke import Collection, task

from ops import config as config_mod
from ops import report
from ops.capture import run_capture
from ops.errors import UsageError
from ops.ecs import describe_services
from ops.edge import edge, fail
from ops.runtime import runtime


try:
    config_mod.check_env_overrides(os.environ)
except UsageError as _error:  # Invoke would crash with a traceback on it a moment later
    sys.exit(fail(_error).code)


@task
@edge
def whoami(c: Any) -> None:
    """Check the AWS caller (sts get-caller-identity): account, ARN, region, cluster."""
    runtime(c.config).announce()


@task(
    pre=[whoami],
    help={
        "json": "print one JSON document on stdout (the contract's shape) and nothing else there",
        "events": "how many recent service events to show per service (default 5)",
    },
)
@edge
def status(c: Any, json: bool = False, events: int = 5) -> dict[str, Any]:
    """Quick Status Check: both services, their deployments and recent events."""
    rt = runtime(c.config)
    names = [s.service for s in rt.settings.services]
    services = describe_services(rt.ecs, rt.settings.cluster, names)
    document = {"services": [services[n].to_json() for n in names]}
    if json:
        report.emit_json(document)
        return document
    print(report.services_table(services.values()))
    for service in services.values():
        if len(service.deployments) > 1:
            print(f"\n{service.name}: {len(service.deployments)} deployments")
            print(report.deployments_table(service))
    for service in services.values():
        lines = report.events_lines(service, max(events, 0))
        if lines:
            print(f"\nlast events of {service.name}:")
            print("\n".join(lines))
    return document


@task(
    pre=[whoami],
    help={
        "since": "how far back to read logs: 10m, 1h, 90s (default: capture.since)",
        "out": "put the <time>/ folder inside DIR instead of capture.dir",
    },
)
@edge
def capture(c: Any, since: str | None = None, out: str | None = None) -> str:
    """Pre-Rollback Checklist: save task definition, services, tasks and logs to a new folder."""
    rt = runtime(c.config)
    since_text, since_seconds = _since(since, rt.settings.capture)
    result = run_capture(rt, since_text, since_seconds, Path(out) if out else None)
    print(f"capture complete: {result.path.resolve()}")
    return str(result.path)


def _since(flag: str | None, capture_settings: config_mod.CaptureSettings) -> tuple[str, int]:
    if flag is None:
        return capture_settings.since, capture_settings.since_seconds
    try:
        return flag, config_mod.parse_duration(flag)
    except ValueError:
        raise UsageError(f"--since {flag!r} is not a duration", "use a duration like 10m, 1h or 90s") from None


ns = Collection(whoami, status, capture)
ns.configure(config_mod.DEFAULTS)
