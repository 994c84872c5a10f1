"""The sandbox-broker emergency rollback runbook as Invoke tasks.

Tasks are thin: read config, parse flags (``ops.cli``), call one plain function in ``ops/``, print,
return data. ``inv --list`` lists them; the README maps each one to its runbook block.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Invoke turns bytecode caching off for the whole process (so that tasks.py leaves no tasks.pyc beside it unless
# --write-pyc); that also kept Python from caching the ops package, so every `inv` run compiled all of it again
# (~20 ms). tasks.py itself is compiled by now, still uncached: from here on the interpreter's own setting applies
# (PYTHONDONTWRITEBYTECODE or -B still turn caching off; ops/__pycache__ is ignored by git).
sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)

from invoke import Collection, Context, task

from ops import cli, collector, overrides, signals
from ops import config as config_mod
from ops.errors import OperationFailed, UsageError, VerificationFailed

if TYPE_CHECKING:
    from ops.change.runner import Options
    from ops.runtime import Runtime

collector.quick_exit()

# The rest of ops/ (and requests, tabulate, boto3 behind it) is imported inside the task that
# needs it, so `inv --list` and `inv TASK --help` start without it (bench/README.md, "Start-up").


def runtime(c: Context) -> "Runtime":
    """``ops.runtime.runtime`` for the task's config, imported on first use."""
    from ops.runtime import runtime as make_runtime

    return make_runtime(c.config, WORDS)


try:  # what Invoke would crash on a moment later (with a traceback) is one line and exit 2 now
    _FILES, _RUNTIME = overrides.config_files(sys.argv, os.environ, Path(__file__).resolve().parent)
    WORDS = overrides.take_word_overrides(os.environ, _RUNTIME)  # e.g. INVOKE_ECS_API_KNOWN_GOOD_REVISION=auto
    overrides.check_env_overrides(os.environ, _FILES)
except UsageError as _error:
    sys.exit(cli.fail(_error).code)


@task
@cli.edge
def whoami(c: Context) -> None:
    """Check the AWS caller (sts get-caller-identity): account, ARN, region, cluster."""
    runtime(c).identity()  # the caller line (who, account, region, cluster) on stderr


JSON_HELP = "print one JSON document on stdout (the contract's shape) and nothing else there"


@task(help={"json": JSON_HELP, "events": "how many recent service events to show per service (default 5)"})
@cli.edge
def status(c: Context, json: bool = False, events: str = "5") -> dict[str, Any]:
    """Quick Status Check: both services, their deployments (with image digests) and recent events."""
    from ops import report
    from ops.checks import status as status_mod

    count = cli.whole("--events", events) or 0
    rt = runtime(c)
    rt.announce_beside()  # the caller check overlaps the ECS calls (not when aws.account_id is set)
    snapshot = status_mod.gather(rt)
    rt.identity()
    for note in snapshot.notes:
        print(f"note: {note}", file=sys.stderr, flush=True)
    document = snapshot.to_json()
    if json:
        report.emit_json(document)
    else:
        print(status_mod.render(snapshot, count))
    return document


@task(pre=[whoami], help={
    "since": "how far back to read logs: 10m, 1h, 90s (default: capture.since)",
    "out": "put the <time>/ folder inside DIR instead of capture.dir",
})
@cli.edge
def capture(c: Context, since: str | None = None, out: str | None = None) -> str:
    """Pre-Rollback Checklist: save task definition, services, tasks and logs to a new folder."""
    from ops.checks.capture import run_capture

    rt = runtime(c)
    since_text, since_seconds = cli.since(since, rt.settings.capture)
    result = run_capture(rt, since_text, since_seconds, Path(out) if out else None)
    print(f"capture complete: {result.path.resolve()}")
    return str(result.path)


@task(pre=[whoami], help={
    "json": JSON_HELP,
    "allocate": "--no-allocate skips the allocation test (POST /v1/allocate); it is reported as SKIP",
    "junit": "also write a JUnit XML report of the checks to FILE (mode 0600, folders created)",
})
@cli.edge
def verify(c: Context, json: bool = False, allocate: bool = True, junit: str | None = None) -> dict[str, Any]:
    """Post-Rollback Verification: health, both services, allocation, metrics."""
    from ops import report
    from ops.checks.junit import build, write_report
    from ops.checks.verify import render_table, run_checks
    from ops.config import token_from_env

    junit = cli.junit_path(junit)
    rt = runtime(c)
    token = token_from_env(rt.settings) if allocate else None
    result = run_checks(rt.settings, rt.ecs, token, allocate=allocate)
    document = result.to_json()
    if json:
        report.emit_json(document)
    else:
        print(render_table(result), flush=True)
    if junit:
        write_report(build(result), junit)
        print(f"JUnit report written to {junit}", file=sys.stderr, flush=True)
    if not result.ok:
        raise VerificationFailed(f"verification failed: {result.summary().removeprefix('FAILED: ')}")
    return document


@task(pre=[whoami], help={
    "symptom": "what users see that the tool cannot: api-errors, jobs-not-running, rate-limiting, cors, metrics-slow",
    "json": JSON_HELP,
    "since": "how far back to count log errors (default 5m)",
})
@cli.edge
def triage(c: Context, symptom: str | None = None, json: bool = False, since: str = "5m") -> dict[str, Any]:
    """Rollback Decision Tree: recommend an option from live signals, with the command to run."""
    from ops import report
    from ops.checks import triage as triage_mod

    rt = runtime(c)
    _, seconds = cli.since(since, rt.settings.capture)
    result = triage_mod.triage(rt, symptom, seconds)
    if json:
        report.emit_json(result.to_json())
    else:
        print(triage_mod.render(result))
    return result.to_json()


@task(pre=[whoami], help={
    "json": JSON_HELP,
    "limit": "how many deployments to show, newest first (default 10)",
})
@cli.edge
def revisions(c: Context, json: bool = False, limit: str = "10") -> dict[str, Any]:
    """The API service's deployments from ECS's history, and the target rollback.api would pick."""
    from ops import report
    from ops.checks import revisions as revisions_mod

    count = cli.whole("--limit", limit, minimum=1, hint="e.g. --limit 20")
    found = revisions_mod.gather(runtime(c), count)
    document = found.to_json()
    if json:
        report.emit_json(document)
    else:
        print(revisions_mod.render(found))
    return document


@task(help={"json": JSON_HELP, "junit": "also write a JUnit XML report (one test case per check) to FILE"})
@cli.edge
def preflight(c: Context, json: bool = False, junit: str | None = None) -> dict[str, Any]:
    """Is the rollback plan still valid right now? Permissions, target, images, lock... (read-only)."""
    from ops import report
    from ops.checks import preflight as preflight_mod
    from ops.checks.junit import write_report

    junit = cli.junit_path(junit)
    found = preflight_mod.run(runtime(c))  # the caller first: its line, or the failed `caller` check
    document = found.to_json()
    if json:
        report.emit_json(document)
    else:
        print(preflight_mod.render(found), flush=True)
    if junit:
        write_report(preflight_mod.junit(found), junit)
        print(f"JUnit report written to {junit}", file=sys.stderr, flush=True)
    if found.wrong_account is not None:  # exit 2, as every AWS task does for the wrong account
        raise found.wrong_account
    if not found.ok:
        raise OperationFailed(f"preflight: {found.summary()}")
    return document


@task(pre=[whoami])
@cli.edge
def iam_policy(c: Context) -> dict[str, Any]:
    """Print the least-privilege IAM policy (JSON) for every action the toolkit calls, scoped to this cluster."""
    from ops import report
    from ops.aws.policy import document
    from ops.checks.permissions import api_where

    policy = document(api_where(runtime(c)))
    report.emit_json(policy)
    return policy


MUTATION_HELP = {
    "yes": "do not ask for confirmation (needed when standard input is not a terminal)",
    "dry_run": "print the exact calls and the equivalent aws CLI commands; change nothing",
    "wait": "wait for a steady state and verify (default); --no-wait returns after the change",
    "timeout": "seconds to wait for a steady state (default: wait.timeout)",
    "break_lock": "remove a stale rollback lock first (older than lock.stale_after; a younger one is refused)",
}
REVISION_HELP = {
    "revision": "target revision: N, family:N, a task definition ARN, or auto (the last good revision from ECS's "
                "deployment history); default: ecs.api.known_good_revision",
    "allow_same_image": "go ahead even if the target would redeploy the image digest already running",
    "force": "act even if already on the target or the other service is rolling out",
}


def _options(yes: bool, dry_run: bool, wait: bool, timeout: str | None, break_lock: bool) -> "Options":
    from ops.change.runner import Options

    return Options(yes=yes, dry_run=dry_run, wait=wait, timeout=cli.seconds(timeout), break_lock=break_lock)


@task(pre=[whoami], auto_shortflags=False, help={
    **MUTATION_HELP, **REVISION_HELP,
    "native": "--no-native: roll back with update_service even while the release is still rolling out "
              "(default: ECS's native rollback, stop_service_deployment ROLLBACK)",
})
@cli.edge
@signals.sigterm_as_ctrl_c
def rollback_api(c: Context, revision: str | None = None, yes: bool = False, dry_run: bool = False, wait: bool = True,
                 timeout: str | None = None, allow_same_image: bool = False, force: bool = False,
                 break_lock: bool = False, native: bool = True) -> str:
    """Option 1: roll the API service back to a known-good task definition revision."""
    from ops.change.api import RevisionRequest
    from ops.change.api import rollback_api as run
    from ops.change.runner import describe

    request = RevisionRequest(revision, force=force, allow_same_image=allow_same_image, native=native)
    return describe(run(runtime(c), request, _options(yes, dry_run, wait, timeout, break_lock)))


@task(pre=[whoami], auto_shortflags=False, help={
    **MUTATION_HELP,
    "image": "image to roll back to: REPOSITORY:TAG or REPOSITORY@sha256:DIGEST (required)",
    "container": "container whose image to replace (needed when there is more than one)",
    "from_revision": "copy this revision instead of the service's current one",
    "force": "act even while the worker is rolling out",
})
@cli.edge
@signals.sigterm_as_ctrl_c
def rollback_image(c: Context, image: str | None = None, container: str | None = None, from_revision: str | None = None,
                   yes: bool = False, dry_run: bool = False, wait: bool = True, timeout: str | None = None,
                   force: bool = False, break_lock: bool = False) -> str:
    """Option 2: register a copy of the API task definition with another image, and deploy it."""
    from ops.change.image import ImageRequest
    from ops.change.image import rollback_image as run
    from ops.change.runner import describe

    copied = cli.whole("--from-revision", from_revision, minimum=1, message="--from-revision 0 is not a revision",
                       hint="pass a revision number >= 1, or leave it out")
    request = ImageRequest(image, container, copied, force)
    return describe(run(runtime(c), request, _options(yes, dry_run, wait, timeout, break_lock)))


@task(pre=[whoami], auto_shortflags=False, help={**MUTATION_HELP, **REVISION_HELP})
@cli.edge
@signals.sigterm_as_ctrl_c
def rollback_full(c: Context, revision: str | None = None, yes: bool = False, dry_run: bool = False, wait: bool = True,
                  timeout: str | None = None, allow_same_image: bool = False, force: bool = False,
                  break_lock: bool = False) -> str:
    """Option 4: stop the worker, wait for 0, roll back the API, wait, verify."""
    from ops.change.api import RevisionRequest
    from ops.change.full import rollback_full as run
    from ops.change.runner import describe

    request = RevisionRequest(revision, force=force, allow_same_image=allow_same_image)
    return describe(run(runtime(c), request, _options(yes, dry_run, wait, timeout, break_lock)))


@task(pre=[whoami], auto_shortflags=False, help=MUTATION_HELP)
@cli.edge
@signals.sigterm_as_ctrl_c
def worker_stop(c: Context, yes: bool = False, dry_run: bool = False, wait: bool = True,
                timeout: str | None = None, break_lock: bool = False) -> str:
    """Option 3: scale the worker service to 0 (never delete it) and wait for [0, 0]."""
    from ops.change.runner import describe
    from ops.change.worker import worker_stop as run

    return describe(run(runtime(c), _options(yes, dry_run, wait, timeout, break_lock)))


@task(pre=[whoami], auto_shortflags=False, help={
    **MUTATION_HELP,
    "count": "tasks to run (default: the count worker.stop remembered, else ecs.worker.restore_count)",
    "force": "start even while the API service is rolling out",
})
@cli.edge
@signals.sigterm_as_ctrl_c
def worker_start(c: Context, count: str | None = None, yes: bool = False, dry_run: bool = False, wait: bool = True,
                 timeout: str | None = None, force: bool = False, break_lock: bool = False) -> str:
    """Restart the worker service (the decision tree's "restart worker")."""
    from ops.change.runner import describe
    from ops.change.worker import StartRequest
    from ops.change.worker import worker_start as run

    request = StartRequest(cli.whole("--count", count), force)
    return describe(run(runtime(c), request, _options(yes, dry_run, wait, timeout, break_lock)))


@task(pre=[whoami], auto_shortflags=False, help={
    "timeout": "seconds to follow the deployments before calling the release failed (default: wait.timeout)",
    "rollback": "--no-rollback only reports: a failed release is not rolled back",
    "json": JSON_HELP,
    "junit": "also write a JUnit XML report (the release as one test case, then the checks) to FILE",
    "break_lock": MUTATION_HELP["break_lock"],
})
@cli.edge
@signals.sigterm_as_ctrl_c
def guard(c: Context, timeout: str | None = None, rollback: bool = True, json: bool = False, junit: str | None = None,
          break_lock: bool = False) -> dict[str, Any]:
    """CI step after a deploy: follow it, verify, roll a failed release back by itself (never prompts)."""
    import contextlib

    from ops import report
    from ops.change import guard as guard_mod
    from ops.checks.junit import write_report

    junit = cli.junit_path(junit)
    rt = runtime(c)
    quiet = contextlib.redirect_stdout(sys.stderr) if json else contextlib.nullcontext()
    with quiet:  # with --json, progress goes to stderr: stdout holds the one JSON document
        found = guard_mod.guard(rt, cli.seconds(timeout), rollback, break_lock=break_lock)
        print(f"guard: {found.summary()}", flush=True)
    document = found.to_json()
    if json:
        report.emit_json(document)
    if junit:
        write_report(guard_mod.junit(found), junit)
        print(f"JUnit report written to {junit}", file=sys.stderr, flush=True)
    if not found.ok:
        raise OperationFailed(f"guard: {found.summary()}")
    return document


@task(name="wait", pre=[whoami], auto_shortflags=False, help={"timeout": "seconds before giving up (default: wait.timeout)"})
@cli.edge
def wait_task(c: Context, timeout: str | None = None) -> dict[str, float]:
    """Monitor rollback: wait until both services are steady (one PRIMARY, running = desired)."""
    from ops.checks.wait import wait_services

    return wait_services(runtime(c), cli.seconds(timeout)).seconds


@task(help={
    "scenario": "which world: api-bad-release (default), worker-failing, both-failing, worker-stopped, latest-tag-moved, "
                "next-release-failing, release-in-flight, target-image-expired, missing-permission, worker-autoscaled",
    "aws_port": "port of the AWS endpoint on 127.0.0.1 (0 or absent: a free port)",
    "api_port": "port of the broker API on 127.0.0.1 (0 or absent: a free port)",
    "rollout_seconds": "how long a healthy rollout takes in the world (default 10)",
})
@cli.edge
def sandbox(c: Context, scenario: str = "api-bad-release", aws_port: str = "0", api_port: str = "0",
            rollout_seconds: str = "10") -> None:
    """Run the local rehearsal world (ECS, ECR, logs, broker API on 127.0.0.1) until Ctrl-C."""
    cli.one_of("--scenario", scenario, cli.sandbox_scenarios())
    from ops.sandbox import serve

    ports = cli.port("--aws-port", aws_port), cli.port("--api-port", api_port)
    try:
        with signals.ctrl_c_on_sigterm():  # `kill` stops the world as cleanly as Ctrl-C
            serve(scenario, aws_port=ports[0], api_port=ports[1],
                  rollout_seconds=cli.seconds(rollout_seconds, "--rollout-seconds") or 10.0,
                  out=lambda line: print(line, flush=True))
    except OSError as exc:
        raise UsageError(f"cannot start the sandbox: {exc.strerror or exc}", "pick free ports, or 0 for any free port") from None


@task(help={
    "scenario": "which world to rehearse (default api-bad-release); see inv sandbox --help",
    "keep": "keep the world (and the drill's diagnostics) up after the drill, until Ctrl-C",
    "rollout_seconds": "how long a healthy rollout takes in the world (default 3)",
    "known_good": "the rollback target rule to rehearse: N or auto (default: ecs.api.known_good_revision)",
    "guard": "rehearse the pipeline instead: inv guard after the deploy, rolling back by itself",
})
@cli.edge
def drill(c: Context, scenario: str = "api-bad-release", keep: bool = False, rollout_seconds: str = "3",
          known_good: str | None = None, guard: bool = False) -> bool:
    """Full rehearsal in one command: world, preflight, triage, the recommended option, wait, verify, report."""
    cli.one_of("--scenario", scenario, cli.sandbox_scenarios())
    from ops.drill import drill as run_drill

    pin = config_mod.load(c.config, WORDS).api_service.known_good_revision if known_good is None else \
        cli.revision_rule("--known-good", known_good)
    result = run_drill(scenario, rollout_seconds=cli.seconds(rollout_seconds, "--rollout-seconds") or 3.0, keep=keep,
                       known_good=pin, guard=guard)
    print()
    print(result.render())
    if not result.verified:
        raise VerificationFailed(f"drill {scenario}: the rollback did not verify")
    return result.verified


rollback = Collection("rollback")
rollback.add_task(rollback_api, name="api")
rollback.add_task(rollback_image, name="image")
rollback.add_task(rollback_full, name="full")
worker = Collection("worker")
worker.add_task(worker_stop, name="stop")
worker.add_task(worker_start, name="start")

ns = Collection(whoami, status, capture, verify, triage, revisions, preflight, iam_policy, guard, wait_task, sandbox,
                drill, rollback, worker)
# The runbook says "Option 1" .. "Option 4": at 3 a.m. nobody should have to translate.
for _number, _task in enumerate((rollback_api, rollback_image, worker_stop, rollback_full), 1):
    ns.add_task(_task, name=f"option{_number}")
ns.configure(config_mod.DEFAULTS)
