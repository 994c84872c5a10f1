"""One mutating run, in the runbook's order: print the plan -> confirm -> capture -> execute each step
(audited) -> wait -> verify. A failure or Ctrl-C half-way says what changed and what to do next.

This is the only code that executes a ``Step``; the command modules (``api``, ``image``, ``worker``,
``full``) only build plans and hand them here.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from ops.aws.ecs import describe_services
from ops.aws.session import translate
from ops.change.audit import AUDIT_FILE, Audit
from ops.change.steps import NEW_REVISION, Plan, Step
from ops.checks.capture import run_capture
from ops.checks.verify import render_table, run_checks, token_from_env
from ops.checks.wait import Goal, progress_line, wait_for
from ops.errors import Interrupted, OperationFailed, ToolkitError, UsageError, VerificationFailed
from ops.runtime import Runtime, Say


@dataclass(frozen=True)
class Options:
    """The flags every task that changes AWS takes."""

    yes: bool = False
    dry_run: bool = False
    wait: bool = True
    timeout: float | None = None


@dataclass
class Phase:
    """Steps that run together, then the goals to wait for before the next phase may start."""

    plan: Plan
    goals: Sequence[Goal] = ()


@dataclass
class Executed:
    """What a plan execution did so far (for the report, and for Ctrl-C / failure messages)."""

    done: list[Step] = field(default_factory=list)
    registered_arn: str | None = None


@dataclass
class Outcome:
    executed: Executed = field(default_factory=Executed)
    capture: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # per service: time to a steady state
    verified: bool | None = None
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


def confirm(plan: Plan, yes: bool, ask: Callable[[str], str] = input, stdin: Any = None) -> None:
    """Ask on a terminal; without a terminal, only ``--yes`` lets a change through (exit 2)."""
    if yes:
        return
    stream = stdin if stdin is not None else sys.stdin
    if stream is None or not stream.isatty():
        raise UsageError(
            "this would change AWS and standard input is not a terminal: nothing was changed",
            "pass --yes to run it without a prompt (or --dry-run to only print the plan)",
        )
    try:
        answer = ask(f"Proceed with {plan.title}? Type 'yes' to continue: ").strip().lower()
    except EOFError:  # Ctrl-D at the prompt: a "no"
        answer = ""
    if answer not in ("y", "yes"):
        raise OperationFailed("not confirmed: nothing was changed")


def execute(plan: Plan, client_for: Callable[[str], Any], audit: Audit, progress: Say = print,
            executed: Executed | None = None) -> Executed:
    """Run each step in order, auditing each; stop at the first failure (re-raised)."""
    state = executed if executed is not None else Executed()
    for step in plan.steps:
        params = step.resolved_params(state.registered_arn)
        try:
            answer = getattr(client_for(step.client), step.operation)(**params)
        except Exception as exc:  # audited, then re-raised as the task's failure
            audit.write(step, "failed", str(exc))
            raise
        if step.registers:
            state.registered_arn = answer["taskDefinition"]["taskDefinitionArn"]
        audit.write(_as_done(step, state.registered_arn), "ok", state.registered_arn or "" if step.registers else "")
        state.done.append(step)
        progress(f"  done: {step.summary()}")
    return state


def _as_done(step: Step, registered_arn: str | None) -> Step:
    """The step as it happened: the new revision's name instead of the placeholder."""
    if not registered_arn or NEW_REVISION not in step.after:
        return step
    name = registered_arn.rsplit("/", 1)[-1]
    return replace(step, after=name, task_definition=name)


def run(rt: Runtime, task_name: str, title: str, phases: Sequence[Phase], options: Options,
        verify: bool = True, say: Say = print) -> Outcome:
    """Print the whole plan, then (unless --dry-run) confirm, capture, and run each phase."""
    settings = rt.settings
    plan = combined(title, phases)
    say(plan.render(settings.aws.region, settings.aws.profile))
    if options.dry_run:
        say("dry run: nothing was changed")
        return Outcome()
    confirm(plan, options.yes)
    outcome = Outcome()
    started = time.monotonic()
    outcome.capture = run_capture(rt, settings.capture.since, settings.capture.since_seconds, progress=say).path
    outcome.timed("capture", started)
    say(f"capture complete: {outcome.capture}")
    audit = Audit(Path(settings.capture.dir) / AUDIT_FILE, rt.identity().arn, task_name)
    try:
        _run_phases(rt, phases, options, audit, outcome, say)
        if options.wait and verify:
            started = time.monotonic()
            outcome.verified = verify_now(rt, say)
            outcome.timed("verify", started)
    except KeyboardInterrupt:
        raise Interrupted(*aftermath(rt, plan, outcome.executed, "interrupted")) from None
    except (ToolkitError, BotoCoreError, ClientError) as exc:
        raise _stopped(rt, plan, outcome.executed, exc) from None
    if not options.wait:
        say("not waiting (--no-wait): follow it with `inv wait`, then `inv verify`")
    return outcome


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


def _stopped(rt: Runtime, plan: Plan, executed: Executed, exc: BaseException) -> ToolkitError:
    """The error to raise after a failure half-way: its message followed by what changed and what to do."""
    error = translate(exc, rt.settings.aws.profile)
    if isinstance(error, VerificationFailed):
        return error
    message, hint = aftermath(rt, plan, executed, error.message)
    error.message, error.hint = message, hint
    error.exit_code = 1 if executed.done else error.exit_code
    return error


def verify_now(rt: Runtime, say: Say) -> bool:
    """The Post-Rollback Verification; without a token the allocation test is skipped, and said."""
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
        )
    return True


def aftermath(rt: Runtime, plan: Plan, executed: Executed, reason: str) -> tuple[str, str]:
    """The message and hint after a run stopped: what changed, the state now, finish/undo commands."""
    done = executed.done
    lines = [f"{reason}"]
    if not done:
        lines.append("nothing was changed in AWS")
    else:
        lines.append("changed so far:")
        lines += [f"  - {s.summary()}" for s in done]
    remaining = [s for s in plan.steps if s not in done]
    if remaining:
        lines.append("not done:")
        lines += [f"  - {s.summary()}" for s in remaining]
    lines += _state_lines(rt)
    return "\n".join(lines), _next_steps(rt, done, remaining)


def _state_lines(rt: Runtime) -> list[str]:
    try:
        services = describe_services(rt.ecs, rt.settings.cluster, [s.service for s in rt.settings.services])
    except (ToolkitError, BotoCoreError, ClientError):
        return ["(could not read the services' state)"]
    return ["state now:"] + [f"  {progress_line(s)}" for s in services.values()]


def _next_steps(rt: Runtime, done: list[Step], remaining: list[Step]) -> str:
    region, profile = rt.settings.aws.region, rt.settings.aws.profile
    parts = []
    if remaining:
        parts.append("to finish, run the rest: " + " ; ".join(s.cli(region, profile) for s in remaining))
    if done:
        parts.append("to watch it settle: inv wait, then inv verify")
        undo = [s.undo for s in reversed(done) if s.undo]
        if undo:
            parts.append("to undo: " + " ; ".join(dict.fromkeys(undo)))
    return "\n  -> ".join(parts) if parts else "nothing to finish or undo"
