"""The rollback lock's value, read without changing anything: who holds it (the SSM parameter's JSON)."""
from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ops.aws.session import error_code

if TYPE_CHECKING:
    from ops.runtime import Runtime

LOCK = "rollback lock"


@dataclass(frozen=True)
class Holder:
    """Who holds the lock: the parameter's JSON value."""

    caller: str
    task: str
    host: str
    pid: int
    started_at: datetime
    token: str  # this run's random id: release deletes only a lock that is still ours
    plan: tuple[str, ...] = ()

    def value(self) -> str:
        return json.dumps({"caller": self.caller, "task": self.task, "host": self.host, "pid": self.pid,
                           "startedAt": self.started_at.isoformat(timespec="seconds"), "token": self.token,
                           "plan": list(self.plan)})

    @classmethod
    def parse(cls, text: str) -> "Holder":
        """The holder a parameter value names (an unreadable value is a holder of unknown age)."""
        try:
            data = json.loads(text)
            started = datetime.fromisoformat(str(data["startedAt"]))
            return cls(str(data.get("caller", "?")), str(data.get("task", "?")), str(data.get("host", "?")),
                       int(data.get("pid", 0)), started if started.tzinfo else started.replace(tzinfo=timezone.utc),
                       str(data.get("token", "")), tuple(str(s) for s in data.get("plan", [])))
        except (ValueError, KeyError, TypeError):
            return cls("?", "?", "?", 0, datetime.fromtimestamp(0, timezone.utc), "", ())

    def age(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(timezone.utc)) - self.started_at).total_seconds()

    def gone(self) -> bool:
        """The holder ran on this host and its process no longer exists (it cannot release the lock any more)."""
        if self.host != socket.gethostname() or self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def describe(self) -> str:
        return (f"{self.caller} ({self.task} on {self.host}, pid {self.pid}) since "
                f"{self.started_at:%Y-%m-%d %H:%M:%S} UTC, {_duration(self.age())} ago")


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def read_holder(rt: "Runtime") -> Holder | None:
    """The current holder, or None when the lock is free."""
    ssm = rt.client("ssm")
    try:
        answer = ssm.get_parameter(Name=rt.settings.lock.parameter)
    except ssm.exceptions.ParameterNotFound:
        return None
    return Holder.parse(str(answer.get("Parameter", {}).get("Value", "")))


def read_holder_or_note(rt: "Runtime") -> tuple[Holder | None, str | None]:
    """The holder (None: free), or None and a note saying why the lock could not be read (status, dry runs)."""
    try:
        return read_holder(rt), None
    except (ClientError, BotoCoreError) as exc:
        return None, f"cannot read the {LOCK} {rt.settings.lock.parameter} ({error_code(exc)})"


def holder_json(holder: Holder | None) -> dict[str, Any] | None:
    """``inv status --json``'s ``lock`` key."""
    if holder is None:
        return None
    return {"caller": holder.caller, "task": holder.task, "host": holder.host, "pid": holder.pid,
            "startedAt": holder.started_at.isoformat(timespec="seconds"), "ageSeconds": int(holder.age())}
