"""One mutating run, in the runbook's order: print the plan -> confirm -> take the lock -> capture ->
execute each step (audited) -> wait -> verify -> release the lock. A failure, Ctrl-C or SIGTERM
half-way says what changed and what to do next (``aftermath``), and the lock is released on every path.

The command modules (``api``, ``image``, ``worker``, ``full``) only build plans and hand them here;
``execute`` makes the calls.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from ops import signals
from ops.change import lock
from ops.change.aftermath import aftermath, stopped
from ops.change.audit import AUDIT_FILE, Audit
from ops.change.execute import Executed, execute
from ops.change.steps import NEW_REVISION, Plan, Step
from ops.checks.capture import run_capture
from ops.checks.verify import VerifyResult, render_table, run_checks
from ops.checks.wait import Goal, wait_for
from ops.config import token_from_env
from ops.errors import Interrupted, OperationFailed, ToolkitError, UsageError, VerificationFailed
from ops.notify import Change, Event, Notifier
from ops.runtime import Runtime, Say


@dataclass(frozen=True)
class Options:
    """The flags every task that changes AWS takes."""

    yes: bool = False
    dry_run: bool = False
    wait: bool = True
    timeout: float | None = None
    break_lock: bool = False  # remove a stale rollback lock (older than lock.stale_after) first


@dataclass
class Phase:
    """Steps that run together, then the goals to wait for before the next phase may start."""

    plan: Plan
    goals: Sequence[Goal] = ()


@dataclass
class Outcome:
    executed: Executed = field(default_factory=Executed)
    capture: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # per service: time to a steady state
    verified: bool | None = None
    verification: VerifyResult | None = None
    stages: dict[str, float] = field(default_factory=dict)  # capture, change, wait, verify: measured seconds

    def timed(self, stage: str, started: float) -> None:
        self.stages[stage] = self.stages.get(stage, 0.0) + time.monotonic() - started

    def describe(self) -> str:
        """One phrase for the task's return value."""
        if self.executed.done and self.verified:
            return "rolled back and verified"
        return "changed" if self.executed.done else "nothing changed"


def describe(outcome: Outcome | None) -> str:
    return "nothing changed" if outcome is None else outcome.describe()


def combined(title: str, phases: Sequence[Phase]) -> Plan:
    return Plan(title=title, steps=[s for p in phases for s in p.plan.steps], notes=[n for p in phases for n in p.plan.notes])


def confirm(plan: Plan, yes: bool, where: str = "", ask: Callable[[str], str] = input, stdin: Any = None) -> None:
    """Ask on a terminal (naming ``where``: account, region, cluster); without a terminal, only ``--yes``
    lets a change through (exit 2)."""
    if yes:
        return
    stream = stdin if stdin is not None else sys.stdin
    if stream is None or not stream.isatty():
        raise UsageError(
            "this would change AWS and standard input is not a terminal: nothing was changed",
            "pass --yes to run it without a prompt (or --dry-run to only print the plan)",
        )
    try:
        answer = ask(f"Proceed with {plan.title}{where}? Type 'yes' to continue: ").strip().lower()
    except EOFError:  # Ctrl-D at the prompt: a "no"
        answer = ""
    if answer not in ("y", "yes"):
        raise OperationFailed("not confirmed: nothing was changed")


def run(rt: Runtime, task_name: str, title: str, phases: Sequence[Phase], options: Options,
        verify: bool = True, say: Say = print) -> Outcome:
    """Print the whole plan, then (unless --dry-run) confirm, take the lock, capture, and run each phase."""
    settings = rt.settings
    plan = combined(title, phases)
    say(plan.render(settings.aws.region, settings.aws.profile, full=options.dry_run))
    if options.dry_run:
        held = lock.note_if_held(rt)
        if held:
            say(f"note: {held}")
        say("dry run: nothing was changed (no lock taken, no capture written)")
        return Outcome()
    identity = rt.identity()
    confirm(plan, options.yes, f" in AWS account {identity.account}, region {settings.aws.region}, "
                               f"cluster {settings.cluster}")
    audit = Audit(Path(settings.capture.dir) / AUDIT_FILE, identity.arn, task_name)
    notifier = Notifier.for_run(settings, task_name, identity.arn)
    outcome = Outcome()
    holder = lock.acquire(rt, task_name, plan, audit, options.break_lock, say)
    try:
        _capture_and_change(rt, plan, phases, options, verify, audit, outcome, say,
                            lambda: notifier.send("started", changes(plan.steps), _path(outcome)))
        notifier.send("succeeded", changes(outcome.executed.done, outcome.executed.registered_arn), _path(outcome),
                      "verified" if outcome.verified else "")
    except KeyboardInterrupt:  # landed outside the change itself (e.g. while telling the channel)
        signals.hold()
        notifier.send("interrupted", changes(outcome.executed.done, outcome.executed.registered_arn), _path(outcome))
        raise Interrupted(*aftermath(rt, plan, outcome.executed, "interrupted")) from None
    except BaseException as exc:
        event: Event = "interrupted" if isinstance(exc, Interrupted) else "failed"
        detail = exc.message if isinstance(exc, ToolkitError) else type(exc).__name__
        notifier.send(event, changes(outcome.executed.done, outcome.executed.registered_arn), _path(outcome), detail)
        raise
    finally:
        lock.release(rt, holder, audit, say)
        notifier.flush()  # the last event is delivered (or warned about) before the task ends
    if not options.wait:
        say("not waiting (--no-wait): follow it with `inv wait`, then `inv verify`")
    return outcome


def changes(steps: Sequence[Step], registered_arn: str | None = None) -> list[Change]:
    """What the channel is told changed: each service's deployment or count (not tags or the lock)."""
    name = registered_arn.rsplit("/", 1)[-1] if registered_arn else None
    return [Change(s.service, s.before, name if name and NEW_REVISION in s.after else s.after)
            for s in steps if s.operation in ("update_service", "stop_service_deployment")]


def _path(outcome: Outcome) -> str | None:
    return str(outcome.capture) if outcome.capture else None


def _capture_and_change(rt: Runtime, plan: Plan, phases: Sequence[Phase], options: Options, verify: bool,
                        audit: Audit, outcome: Outcome, say: Say, captured: Callable[[], None]) -> None:
    """Capture (a failure stops everything), the phases, the verification; a stop says what changed.
    ``captured`` runs between the capture and the first change (the channel hears ``started``)."""
    settings = rt.settings
    try:
        started = time.monotonic()
        outcome.capture = run_capture(rt, settings.capture.since, settings.capture.since_seconds, progress=say).path
        outcome.timed("capture", started)
        say(f"capture complete: {outcome.capture}")
        captured()
        _run_phases(rt, phases, options, audit, outcome, say)
        if options.wait and verify:
            started = time.monotonic()
            outcome.verification = verify_now(rt, say)
            outcome.verified = True
            outcome.timed("verify", started)
    except KeyboardInterrupt:
        signals.hold()  # a second Ctrl-C must not cut short what follows: the aftermath, the lock, the channel
        raise Interrupted(*aftermath(rt, plan, outcome.executed, "interrupted", read_state=True)) from None
    except (ToolkitError, BotoCoreError, ClientError) as exc:
        raise stopped(rt, plan, outcome.executed, exc) from None


def _run_phases(rt: Runtime, phases: Sequence[Phase], options: Options, audit: Audit, outcome: Outcome,
                say: Say) -> None:
    settings = rt.settings
    for number, phase in enumerate(phases, 1):
        started = time.monotonic()
        execute(phase.plan, rt.aws.client, audit, say, outcome.executed)
        outcome.timed("change", started)
        # between phases the wait is not optional: never both services changing at once
        if phase.goals and (options.wait or number < len(phases)):
            started = time.monotonic()
            timeout = options.timeout or settings.wait.timeout
            waited = wait_for(rt.ecs, settings.cluster, phase.goals, timeout, settings.wait.poll, settings.wait.poll_max)
            outcome.seconds.update(waited.seconds)
            outcome.timed("wait", started)


def verify_now(rt: Runtime, say: Say) -> VerifyResult:
    """The Post-Rollback Verification; without a token the allocation test is skipped, and said.
    A failing check raises VerificationFailed carrying the result."""
    token = token_from_env(rt.settings)
    if token is None:
        say(f"note: {rt.settings.api.token_env} is not set: the allocation test is skipped")
    result = run_checks(rt.settings, rt.ecs, token, allocate=token is not None)
    say(render_table(result))
    if not result.ok:
        failed = [c.name for c in result.checks if not c.ok]
        raise VerificationFailed(
            f"verification failed: {', '.join(failed)}",
            "the change was made; see `inv status` and `inv triage` for what to do next",
            result=result,
        )
    return result


