"""The one place a Step's AWS call is made: each step in order, each audited, stopping at the first failure."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ops.change.audit import Audit
from ops.change.steps import NEW_REVISION, Plan, Step
from ops.runtime import Say


@dataclass
class Executed:
    """What a plan execution did so far (for the report, and for Ctrl-C / failure messages)."""

    done: list[Step] = field(default_factory=list)
    registered_arn: str | None = None


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
