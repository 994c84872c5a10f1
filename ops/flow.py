"""One mutating run, in the runbook's order: plan -> print -> confirm -> capture -> execute
(audited) -> wait -> verify. Ctrl-C or a failure half-way says what changed and what to do next.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from ops.aws import translate
from ops.capture import run_capture
from ops.ecs import describe_services
from ops.errors import Interrupted, ToolkitError, VerificationFailed
from ops.plan import Audit, Executed, Plan, Step, confirm, execute
from ops.runtime import Runtime
from ops.verify import render_table, run_checks, token_from_env
from ops.wait import Goal, progress_line, wait_for

Say = Callable[[str], None]


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
class Outcome:
    executed: Executed = field(default_factory=Executed)
    capture: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # per service: time to a steady state
    verified: bool | None = None
    stages: dict[str, float] = field(default_factory=dict)  # capture, change, wait, verify: measured seconds

    def timed(self, stage: str, started: float) -> None:
        self.stages[stage] = self.stages.get(stage, 0.0) + time.monotonic() - started


def combined(title: str, phases: Sequence[Phase]) -> Plan:
    return Plan(title=title, steps=[s for p in phases for s in p.plan.steps])


def run(
    rt: Runtime,
    task_name: str,
    title: str,
    phases: Sequence[Phase],
    options: Options,
    verify: bool = True,
    say: Say = print,
) -> Outcome:
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
    audit = Audit(Path(settings.capture.dir) / "audit.jsonl", rt.identity().arn, task_name)
    try:
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
        if options.wait and verify:
            started = time.monotonic()
            outcome.verified = verify_now(rt, say)
            outcome.timed("verify", started)
    except KeyboardInterrupt:
        raise Interrupted(*_aftermath(rt, plan, outcome.executed, "interrupted")) from None
    except (ToolkitError, BotoCoreError, ClientError) as exc:
        error = translate(exc, settings.aws.profile)
        if isinstance(error, VerificationFailed):
            raise
        message, hint = _aftermath(rt, plan, outcome.executed, error.message)
        error.message, error.hint = message, hint
        error.exit_code = 1 if outcome.executed.done else error.exit_code
        raise error from None
    if not options.wait:
        say("not waiting (--no-wait): follow it with `inv wait`, then `inv verify`")
    return outcome


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


def _aftermath(rt: Runtime, plan: Plan, executed: Executed, reason: str) -> tuple[str, str]:
    """The message and hint after a run stopped: what changed, the state now, finish/undo commands."""
    done = executed.done
    lines = [f"{reason}"]
    if not done:
        lines.append("nothing was changed in AWS")
    else:
        lines.append("changed so far:")
        lines += [f"  - {s.action} ({s.service}): {s.before} -> {s.after}" for s in done]
    remaining = [s for s in plan.steps if s not in done]
    if remaining:
        lines.append("not done:")
        lines += [f"  - {s.action} ({s.service}): {s.before} -> {s.after}" for s in remaining]
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
