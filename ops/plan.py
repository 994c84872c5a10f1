"""Mutations as plans: built as data, printed (``--dry-run``), confirmed, executed, audited.

A ``Step`` is one AWS call with its exact parameters; the same object renders the equivalent
``aws`` CLI command, is executed with boto3 and is written to ``audit.jsonl``. Only the calls in
``ALLOWED`` can be executed at all: the runbook's "What NOT to Do" list (never delete the worker
service, never touch Terraform state, never change code) is a property of this allowlist.
"""
from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ops.capture import REDACTED, redact_containers
from ops.errors import OperationFailed, UsageError
from ops.files import open_private, private_dir

# (client, operation) pairs a plan may contain. Everything else (delete_service, deregistering
# task definitions, anything outside ECS / Application Auto Scaling) is refused before it runs.
ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("ecs", "update_service"),
        ("ecs", "register_task_definition"),
        ("ecs", "tag_resource"),
        ("ecs", "untag_resource"),
        ("application-autoscaling", "register_scalable_target"),
    }
)

REGISTERED = "<the revision registered by the previous step>"


class ForbiddenStep(UsageError):
    """A plan asked for a call the runbook forbids during a rollback."""


@dataclass(frozen=True)
class Step:
    """One AWS call: what it does, to which service, and the state before and after."""

    service: str
    action: str
    client: str
    operation: str
    params: dict[str, Any]
    before: str
    after: str
    undo: str = ""  # the command that reverses this step, shown when a run stops half-way

    def __post_init__(self) -> None:
        if (self.client, self.operation) not in ALLOWED:
            raise ForbiddenStep(
                f"refusing {self.client} {self.operation} on {self.service}: not a rollback operation",
                "the runbook allows only scaling, task definition and service updates (never delete the worker service)",
            )

    def cli(self, region: str, profile: str | None) -> str:
        """The equivalent ``aws`` CLI command, ready to copy."""
        words = ["aws", self.client, self.operation.replace("_", "-")]
        if self.operation == "register_task_definition":
            words += ["--cli-input-json", json.dumps(self.shown_params(), default=str, separators=(",", ":"))]
        else:
            for key, value in self.params.items():
                words += _cli_option(key, value)
        words += ["--region", region] + (["--profile", profile] if profile else [])
        return " ".join(shlex.quote(w) if w != REGISTERED else w for w in words)

    def shown_params(self) -> dict[str, Any]:
        """The parameters as printed: secret-looking environment values replaced by a marker."""
        if self.operation != "register_task_definition":
            return dict(self.params)
        return dict(self.params, containerDefinitions=redact_containers(self.params.get("containerDefinitions", [])))

    def call(self) -> str:
        """The exact boto3 call, e.g. ``ecs.update_service(cluster='c', service='s', desiredCount=0)``."""
        if self.operation == "register_task_definition":
            return f"{self.client}.{self.operation}(**<the --cli-input-json document below>)"
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.shown_params().items())
        return f"{self.client}.{self.operation}({arguments})"

    def resolved_params(self, registered_arn: str | None) -> dict[str, Any]:
        return {k: (registered_arn if v == REGISTERED else v) for k, v in self.params.items()}


def _kebab(key: str) -> str:
    out = "".join("-" + ch.lower() if ch.isupper() else ch for ch in key)
    return "--" + out.lstrip("-")


def _cli_option(key: str, value: Any) -> list[str]:
    if value is True:
        return [_kebab(key)]
    if value is False:
        return ["--no-" + _kebab(key)[2:]]
    if isinstance(value, (dict, list)):
        return [_kebab(key), json.dumps(value, separators=(",", ":"))]
    return [_kebab(key), str(value)]


@dataclass
class Plan:
    """The steps of one operation, in order."""

    title: str
    steps: list[Step] = field(default_factory=list)

    def render(self, region: str, profile: str | None) -> str:
        lines = [f"plan: {self.title}"]
        if any(s.operation == "register_task_definition" for s in self.steps):
            lines.append(f"  (secret-looking environment values are shown as {REDACTED}; the call sends the real ones)")
        for number, step in enumerate(self.steps, 1):
            lines.append(f"  {number}. {step.action} ({step.service}): {step.before} -> {step.after}")
            lines.append(f"     call: {step.call()}")
            lines.append(f"     $ {step.cli(region, profile)}")
        return "\n".join(lines)


@dataclass
class Audit:
    """Appends one JSON line per executed call to ``<capture.dir>/audit.jsonl`` (0600, folder 0700)."""

    path: Path
    caller_arn: str
    task: str

    def write(self, step: Step, outcome: str, detail: str = "") -> None:
        record = {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "caller": self.caller_arn,
            "task": self.task,
            "action": step.action,
            "operation": step.operation,
            "service": step.service,
            "before": step.before,
            "after": step.after,
            "outcome": outcome,
        }
        if detail:
            record["detail"] = detail
        try:
            private_dir(self.path.parent)
            with open_private(self.path, append=True) as handle:
                handle.write(json.dumps(record, default=str) + "\n")
        except OSError as exc:  # the change happened: say the audit line is missing, do not hide the change
            print(f"warning: cannot append to {self.path} ({exc.strerror or exc}): {json.dumps(record)}",
                  file=sys.stderr, flush=True)


@dataclass
class Executed:
    """What a plan execution did so far (for the report, and for Ctrl-C / failure messages)."""

    done: list[Step] = field(default_factory=list)
    registered_arn: str | None = None


def execute(plan: Plan, client_for: Callable[[str], Any], audit: Audit, progress: Callable[[str], None] = print,
            executed: Executed | None = None) -> Executed:
    """Run each step in order, auditing each; stop at the first failure (OperationFailed)."""
    state = executed if executed is not None else Executed()
    for step in plan.steps:
        params = step.resolved_params(state.registered_arn)
        try:
            answer = getattr(client_for(step.client), step.operation)(**params)
        except Exception as exc:  # audited, then re-raised as the task's failure
            audit.write(step, "failed", str(exc))
            raise
        if step.operation == "register_task_definition":
            state.registered_arn = answer["taskDefinition"]["taskDefinitionArn"]
        audited = step
        if state.registered_arn and "<new revision>" in step.after:
            audited = replace(step, after=state.registered_arn.rsplit("/", 1)[-1])
        detail = state.registered_arn or "" if step.operation == "register_task_definition" else ""
        audit.write(audited, "ok", detail)
        state.done.append(step)
        progress(f"  done: {step.action} ({step.service}): {step.before} -> {step.after}")
    return state


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
