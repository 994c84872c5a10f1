"""The sandbox-broker emergency rollback runbook as Invoke tasks.

Tasks are thin: read config, call plain functions in ``ops/``, print. ``inv --list`` lists them;
the README maps each one to its runbook block.
"""
from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Collection, task

from ops import config as config_mod
from ops.errors import OperationFailed, UsageError, VerificationFailed
from ops.edge import edge, fail

if TYPE_CHECKING:
    from ops.flow import Options
    from ops.runtime import Runtime

# The rest of ops/ (and requests, tabulate, boto3 behind it) is imported inside the task that
# needs it, so `inv --list` and `inv TASK --help` start without it (bench/README.md, "Start-up").


def runtime(config: Any) -> "Runtime":
    """``ops.runtime.runtime``, imported on first use."""
    from ops.runtime import runtime as make_runtime

    return make_runtime(config)


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
def status(c: Any, json: bool = False, events: str = "5") -> dict[str, Any]:
    """Quick Status Check: both services, their deployments (with image digests) and recent events."""
    from ops import report
    from ops import status as status_mod

    count = _whole("--events", events) or 0
    snapshot = status_mod.gather(runtime(c.config))
    for note in snapshot.notes:
        print(f"note: {note}", file=sys.stderr, flush=True)
    document = snapshot.to_json()
    if json:
        report.emit_json(document)
    else:
        print(status_mod.render(snapshot, count))
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
    from ops.capture import run_capture

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


@task(
    pre=[whoami],
    help={
        "json": "print one JSON document on stdout (the contract's shape) and nothing else there",
        "allocate": "--no-allocate skips the allocation test (POST /v1/allocate); it is reported as SKIP",
        "junit": "also write a JUnit XML report of the checks to FILE (mode 0600, folders created)",
    },
)
@edge
def verify(c: Any, json: bool = False, allocate: bool = True, junit: str | None = None) -> dict[str, Any]:
    """Post-Rollback Verification: health, both services, allocation, metrics."""
    from ops import report
    from ops.junit import write_junit
    from ops.verify import render_table, run_checks, token_from_env

    rt = runtime(c.config)
    token = token_from_env(rt.settings) if allocate else None
    result = run_checks(rt.settings, rt.ecs, token, allocate=allocate)
    document = result.to_json()
    if json:
        report.emit_json(document)
    else:
        print(render_table(result), flush=True)
    if junit:
        try:
            write_junit(result, junit)
        except OSError as exc:
            raise OperationFailed(f"cannot write the JUnit report {junit}: {exc.strerror or exc}") from None
        print(f"JUnit report written to {junit}", file=sys.stderr, flush=True)
    if not result.ok:
        raise VerificationFailed(f"verification failed: {result.summary().removeprefix('FAILED: ')}")
    return document


@task(pre=[whoami], help={
    "symptom": "what users see that the tool cannot: api-errors, jobs-not-running, rate-limiting, cors, metrics-slow",
    "json": "print one JSON document on stdout (the contract's shape) and nothing else there",
    "since": "how far back to count log errors (default 5m)",
})
@edge
def triage(c: Any, symptom: str | None = None, json: bool = False, since: str = "5m") -> dict[str, Any]:
    """Rollback Decision Tree: recommend an option from live signals, with the command to run."""
    from ops import report
    from ops import triage as triage_mod

    rt = runtime(c.config)
    _, seconds = _since(since, rt.settings.capture)
    result = triage_mod.triage(rt, symptom, seconds)
    if json:
        report.emit_json(result.to_json())
    else:
        print(triage_mod.render(result))
    return result.to_json()


MUTATION_HELP = {
    "yes": "do not ask for confirmation (needed when standard input is not a terminal)",
    "dry_run": "print the exact calls and the equivalent aws CLI commands; change nothing",
    "wait": "wait for a steady state and verify (default); --no-wait returns after the change",
    "timeout": "seconds to wait for a steady state (default: wait.timeout)",
}
REVISION_HELP = {
    "revision": "target revision, N or family:N (default: ecs.api.known_good_revision)",
    "allow_same_image": "go ahead even if the target would redeploy the image digest already running",
    "force": "act even if already on the target or the other service is rolling out",
}


def _seconds(timeout: str | float | None, flag: str = "--timeout") -> float | None:
    """A positive number of seconds (``--timeout``, ``--rollout-seconds``), or None when not given."""
    if timeout is None:
        return None
    try:
        value = float(timeout)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise UsageError(f"{flag} {timeout!r} is not a positive number of seconds", f"e.g. {flag} 30")
    return value


def _whole(flag: str, value: str | int | None) -> int | None:
    """An optional whole-number flag (``--count``, ``--from-revision``)."""
    if value is None:
        return None
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]{1,6}", text):
        raise UsageError(f"{flag} {value!r} is not a whole number (0 to 999999)", f"e.g. {flag} 2")
    return int(text)


def _options(yes: bool, dry_run: bool, wait: bool, timeout: str | float | None) -> Options:
    from ops.flow import Options

    return Options(yes=yes, dry_run=dry_run, wait=wait, timeout=_seconds(timeout))


@task(pre=[whoami], auto_shortflags=False, help={**MUTATION_HELP, **REVISION_HELP})
@edge
def rollback_api(c: Any, revision: str | None = None, yes: bool = False, dry_run: bool = False, wait: bool = True,
                 timeout: str | None = None, allow_same_image: bool = False, force: bool = False) -> str:
    """Option 1: roll the API service back to a known-good task definition revision."""
    from ops import operations
    outcome = operations.rollback_api(runtime(c.config), revision, force, allow_same_image,
                                      _options(yes, dry_run, wait, timeout))
    return operations.describe_outcome(outcome)


@task(pre=[whoami], auto_shortflags=False, help={
    **MUTATION_HELP,
    "image": "image to roll back to: REPOSITORY:TAG or REPOSITORY@sha256:DIGEST (required)",
    "container": "container whose image to replace (needed when there is more than one)",
    "from_revision": "copy this revision instead of the service's current one",
    "force": "act even while the worker is rolling out",
})
@edge
def rollback_image(c: Any, image: str | None = None, container: str | None = None, from_revision: str | None = None,
                   yes: bool = False, dry_run: bool = False, wait: bool = True, timeout: str | None = None,
                   force: bool = False) -> str:
    """Option 2: register a copy of the API task definition with another image, and deploy it."""
    from ops import operations
    outcome = operations.rollback_image(runtime(c.config), image, container, _whole("--from-revision", from_revision), force,
                                        _options(yes, dry_run, wait, timeout))
    return operations.describe_outcome(outcome)


@task(pre=[whoami], auto_shortflags=False, help={**MUTATION_HELP, **REVISION_HELP})
@edge
def rollback_full(c: Any, revision: str | None = None, yes: bool = False, dry_run: bool = False, wait: bool = True,
                  timeout: str | None = None, allow_same_image: bool = False, force: bool = False) -> str:
    """Option 4: stop the worker, wait for 0, roll back the API, wait, verify."""
    from ops import operations
    outcome = operations.rollback_full(runtime(c.config), revision, force, allow_same_image,
                                       _options(yes, dry_run, wait, timeout))
    return operations.describe_outcome(outcome)


@task(pre=[whoami], auto_shortflags=False, help=MUTATION_HELP)
@edge
def worker_stop(c: Any, yes: bool = False, dry_run: bool = False, wait: bool = True,
                timeout: str | None = None) -> str:
    """Option 3: scale the worker service to 0 (never delete it) and wait for [0, 0]."""
    from ops import operations
    outcome = operations.worker_stop(runtime(c.config), _options(yes, dry_run, wait, timeout))
    return operations.describe_outcome(outcome)


@task(pre=[whoami], auto_shortflags=False, help={
    **MUTATION_HELP,
    "count": "tasks to run (default: the count worker.stop remembered, else ecs.worker.restore_count)",
    "force": "start even while the API service is rolling out",
})
@edge
def worker_start(c: Any, count: str | None = None, yes: bool = False, dry_run: bool = False, wait: bool = True,
                 timeout: str | None = None, force: bool = False) -> str:
    """Restart the worker service (the decision tree's "restart worker")."""
    from ops import operations
    outcome = operations.worker_start(runtime(c.config), _whole("--count", count), force, _options(yes, dry_run, wait, timeout))
    return operations.describe_outcome(outcome)


@task(name="wait", pre=[whoami], auto_shortflags=False, help={"timeout": "seconds before giving up (default: wait.timeout)"})
@edge
def wait_task(c: Any, timeout: str | None = None) -> dict[str, float]:
    """Monitor rollback: wait until both services are steady (one PRIMARY, running = desired)."""
    from ops import operations
    return operations.wait(runtime(c.config), _seconds(timeout)).seconds


@task(help={
    "scenario": "which world: api-bad-release (default), worker-failing, both-failing, worker-stopped, latest-tag-moved",
    "aws_port": "port of the AWS endpoint on 127.0.0.1 (0 or absent: a free port)",
    "api_port": "port of the broker API on 127.0.0.1 (0 or absent: a free port)",
    "rollout_seconds": "how long a healthy rollout takes in the world (default 10)",
})
@edge
def sandbox(c: Any, scenario: str = "api-bad-release", aws_port: str = "0", api_port: str = "0",
            rollout_seconds: str = "10") -> None:
    """Run the local rehearsal world (ECS, ECR, logs, broker API on 127.0.0.1) until Ctrl-C."""
    from ops.sandbox import SCENARIOS, serve

    _check_scenario(scenario, SCENARIOS)
    ports = [_whole(flag, value) or 0 for flag, value in (("--aws-port", aws_port), ("--api-port", api_port))]
    if any(port > 65535 for port in ports):
        raise UsageError("a port must be 0..65535", "pass 0 (or leave it out) for a free port")
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the world as cleanly as Ctrl-C
    try:
        serve(scenario, aws_port=ports[0], api_port=ports[1],
              rollout_seconds=_seconds(rollout_seconds, "--rollout-seconds") or 10.0,
              out=lambda line: print(line, flush=True))
    except OSError as exc:
        raise UsageError(f"cannot start the sandbox: {exc.strerror or exc}", "pick free ports, or 0 for any free port") from None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@task(help={
    "scenario": "which world to rehearse (default api-bad-release); see inv sandbox --help",
    "keep": "keep the world (and the drill's diagnostics) up after the drill, until Ctrl-C",
    "rollout_seconds": "how long a healthy rollout takes in the world (default 3)",
})
@edge
def drill(c: Any, scenario: str = "api-bad-release", keep: bool = False, rollout_seconds: str = "3") -> bool:
    """Full rehearsal in one command: world, triage, the recommended option, wait, verify, report."""
    from ops.drill import drill as run_drill
    from ops.sandbox import SCENARIOS

    _check_scenario(scenario, SCENARIOS)
    result = run_drill(scenario, rollout_seconds=_seconds(rollout_seconds, "--rollout-seconds") or 3.0, keep=keep)
    print()
    print(result.render())
    if not result.verified:
        raise VerificationFailed(f"drill {scenario}: the rollback did not verify")
    return result.verified


def _check_scenario(scenario: str, known: tuple[str, ...]) -> None:
    if scenario not in known:
        raise UsageError(f"--scenario {scenario!r} is not known", f"use one of: {', '.join(known)}")


rollback = Collection("rollback")
rollback.add_task(rollback_api, name="api")
rollback.add_task(rollback_image, name="image")
rollback.add_task(rollback_full, name="full")
worker = Collection("worker")
worker.add_task(worker_stop, name="stop")
worker.add_task(worker_start, name="start")

ns = Collection(whoami, status, capture, verify, triage, wait_task, sandbox, drill, rollback, worker)
ns.configure(config_mod.DEFAULTS)
