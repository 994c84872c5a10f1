"""``<capture.dir>/audit.jsonl``: one JSON line per AWS call that changed something (0600, folder 0700)."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ops.change.steps import Step
from ops.files import open_private, private_dir

AUDIT_FILE = "audit.jsonl"


@dataclass
class Audit:
    """Appends the audit line of each executed step; a line that cannot be written is printed instead."""

    path: Path
    caller_arn: str
    task: str

    def write(self, step: Step, outcome: str, detail: str = "") -> None:
        record = self.record(step, outcome, detail)
        try:
            private_dir(self.path.parent)
            with open_private(self.path, append=True) as handle:
                handle.write(json.dumps(record, default=str) + "\n")
        except OSError as exc:  # the change happened: say the audit line is missing, do not hide the change
            print(f"warning: cannot append to {self.path} ({exc.strerror or exc}): {json.dumps(record)}",
                  file=sys.stderr, flush=True)

    def record(self, step: Step, outcome: str, detail: str = "") -> dict[str, Any]:
        """time, caller, task, action, operation, service, before, after, outcome (+ the target's facts)."""
        record: dict[str, Any] = {
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
        if step.task_definition:
            record["taskDefinition"] = step.task_definition
        if step.images:
            record["images"] = [image.to_json() for image in step.images]
        if detail:
            record["detail"] = detail
        return record


def records(path: Path) -> Iterator[dict[str, Any]]:
    """The audit log's records, newest first (unreadable lines skipped; no file: none)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record
