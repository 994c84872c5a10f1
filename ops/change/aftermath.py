"""What a run that stopped half-way tells the operator: what changed, what did not, the state now, and the
exact commands to finish or undo (a second Ctrl-C while it reads the state still gets the message)."""
from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from ops.aws.ecs import describe_services
from ops.aws.session import login_hint, translate
from ops.change.execute import Executed
from ops.change.steps import Plan, Step
from ops.checks.wait import progress_line
from ops.errors import CredentialsError, ToolkitError, VerificationFailed
from ops.runtime import Runtime


def stopped(rt: Runtime, plan: Plan, executed: Executed, exc: BaseException) -> ToolkitError:
    """The error to raise after a failure half-way: its message followed by what changed and what to do."""
    error = translate(exc, rt.settings.aws.profile)
    if isinstance(error, VerificationFailed):
        return error
    expired = isinstance(error, CredentialsError) and bool(executed.done)
    message, hint = aftermath(rt, plan, executed, error.message, read_state=not expired)
    if expired:  # the change was made; only this tool lost its session
        message += ("\nyour AWS credentials stopped working after the change was made: ECS carries on with the "
                    "rollout on its own")
        hint = f"{login_hint(rt.settings.aws.profile).removesuffix(', then try again')}, then `inv wait` and " \
               f"`inv verify` to follow it\n  -> {hint}"
    error.message, error.hint = message, hint
    error.exit_code = 1 if executed.done else error.exit_code
    return error


def aftermath(rt: Runtime, plan: Plan, executed: Executed, reason: str, read_state: bool = True) -> tuple[str, str]:
    """The message and hint after a run stopped: what changed, the state now, finish/undo commands.
    A second Ctrl-C while the state is read gives the same message without the state."""
    try:
        return _aftermath(rt, plan, executed, reason, read_state=read_state)
    except KeyboardInterrupt:
        return _aftermath(rt, plan, executed, reason, read_state=False)


def _aftermath(rt: Runtime, plan: Plan, executed: Executed, reason: str, read_state: bool) -> tuple[str, str]:
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
    lines += _state_lines(rt) if read_state else ["(the services' state was not read; see `inv status`)"]
    return "\n".join(lines), _next_steps(rt, done, remaining)


def _state_lines(rt: Runtime) -> list[str]:
    try:
        services = describe_services(rt.ecs, rt.settings.cluster, [s.service for s in rt.settings.services])
    except (ToolkitError, BotoCoreError, ClientError):
        return ["(could not read the services' state)"]
    return ["state now:"] + [f"  {progress_line(s)}" for s in services.values()]


def _next_steps(rt: Runtime, done: list[Step], remaining: list[Step]) -> str:
    """Finish (only once something changed: before that, the task itself is the way to go on), watch, undo."""
    region, profile = rt.settings.aws.region, rt.settings.aws.profile
    if not done:
        return "nothing to finish or undo: fix the cause, then run the task again (it captures first)"
    parts = []
    if remaining and any(s.registers for s in remaining):
        parts.append("to finish, run the task again (its --dry-run prints the whole registration)")
    elif remaining:
        parts.append("to finish, run the rest: " + " ; ".join(s.cli(region, profile) for s in remaining))
    parts.append("to watch it settle: inv wait, then inv verify")
    undo = [s.undo for s in reversed(done) if s.undo]
    if undo:
        parts.append("to undo: " + " ; ".join(dict.fromkeys(undo)))
    return "\n  -> ".join(parts)
