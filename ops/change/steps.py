"""Mutations as data: a ``Step`` is one AWS call with its exact parameters, a ``Plan`` the steps of one command.

The same ``Step`` renders the equivalent ``aws`` CLI command, is executed with boto3 and is written
to ``audit.jsonl`` (``ops.change.runner``). Only the calls in ``ALLOWED`` (``ops.aws.actions``) can
exist at all: the runbook's "What NOT to Do" list (never delete the worker service, never touch
Terraform state, never change code) is a property of that allowlist.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from ops.aws.actions import ALLOWED
from ops.errors import UsageError
from ops.redact import REDACTED, redact_containers

REGISTERED = "<the revision registered by the previous step>"
NEW_REVISION = "<new revision>"


class ForbiddenStep(UsageError):
    """A plan asked for a call the runbook forbids during a rollback."""


@dataclass(frozen=True)
class ContainerImage:
    """What one container of a step's target runs: its image and, when known, the digest."""

    container: str
    image: str
    digest: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"container": self.container, "image": self.image, "digest": self.digest}


@dataclass(frozen=True)
class Step:
    """One AWS call: what it does, to which service, and the state before and after.

    ``task_definition`` and ``images`` are the structured facts of the target (written to the
    audit log as fields, so nothing has to re-parse ``action``'s text later).
    """

    service: str
    action: str
    client: str
    operation: str
    params: dict[str, Any]
    before: str
    after: str
    undo: str = ""  # the command that reverses this step, shown when a run stops half-way
    task_definition: str | None = None
    images: tuple[ContainerImage, ...] = field(default_factory=tuple)
    note: str = ""  # shown under the step in the plan (not audited)

    def __post_init__(self) -> None:
        if (self.client, self.operation) not in ALLOWED:
            raise ForbiddenStep(
                f"refusing {self.client} {self.operation} on {self.service}: not a rollback operation",
                "the runbook allows only scaling, task definition and service updates (never delete the worker service)",
            )

    @property
    def registers(self) -> bool:
        return self.operation == "register_task_definition"

    def cli(self, region: str, profile: str | None) -> str:
        """The equivalent ``aws`` CLI command, ready to copy."""
        words = ["aws", self.client, self.operation.replace("_", "-")]
        if self.registers:
            words += ["--cli-input-json", json.dumps(self.shown_params(), default=str, separators=(",", ":"))]
        else:
            for key, value in self.params.items():
                words += _cli_option(key, value)
        words += ["--region", region] + (["--profile", profile] if profile else [])
        return " ".join(shlex.quote(w) if w != REGISTERED else w for w in words)

    def short_cli(self, region: str, profile: str | None) -> str:
        """A registration's command without its (long) JSON document: ``--dry-run`` prints it whole."""
        where = f" --region {region}" + (f" --profile {profile}" if profile else "")
        return f"aws ecs register-task-definition --cli-input-json '<{self.action.removeprefix('register ')}>'{where}"

    def shown_params(self) -> dict[str, Any]:
        """The parameters as printed: secret-looking environment values replaced by a marker."""
        if not self.registers:
            return dict(self.params)
        return dict(self.params, containerDefinitions=redact_containers(self.params.get("containerDefinitions", [])))

    def call(self) -> str:
        """The exact boto3 call, e.g. ``ecs.update_service(cluster='c', service='s', desiredCount=0)``."""
        if self.registers:
            return f"{self.client}.{self.operation}(**<the --cli-input-json document below>)"
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.shown_params().items())
        return f"{self.client}.{self.operation}({arguments})"

    def resolved_params(self, registered_arn: str | None) -> dict[str, Any]:
        return {k: (registered_arn if v == REGISTERED else v) for k, v in self.params.items()}

    def summary(self) -> str:
        return f"{self.action} ({self.service}): {self.before} -> {self.after}"


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
    """The steps of one operation, in order; ``notes`` (the ``diff:`` block, warnings) print after them."""

    title: str
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self, region: str, profile: str | None, full: bool = False) -> str:
        """One screen: each step with its ``aws`` equivalent, then the notes (diff, warnings). ``full``
        (``--dry-run``) adds the exact boto3 call and the whole registration document."""
        lines = [f"plan: {self.title}"]
        if full and any(s.registers for s in self.steps):
            lines.append(f"  (secret-looking environment values are shown as {REDACTED}; the call sends the real ones)")
        for number, step in enumerate(self.steps, 1):
            lines.append(f"  {number}. {step.summary()}")
            if step.note:
                lines.append(f"     ({step.note})")
            if full:
                lines.append(f"     call: {step.call()}")
            lines.append(f"     $ {step.cli(region, profile) if full or not step.registers else step.short_cli(region, profile)}")
        return "\n".join(lines + self.notes)
