"""What every test shares: the project's names (from the sandbox's scenarios), environments that point
`inv` at moto or a World, and the one way to run `inv` as a subprocess."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.aws.actions import ACTIONS, KNOWN
from ops.config import DEFAULTS
from ops.sandbox.runbook import isolated_env, toolkit_env
from ops.sandbox.scenarios import (
    API_FAMILY,
    API_LOG_GROUP,
    API_SERVICE,
    CLUSTER,
    REGION,
    WORKER_LOG_GROUP,
    WORKER_SERVICE,
)

ROOT = Path(__file__).resolve().parents[1]
INV = str(Path(sys.executable).with_name("inv"))
API, WORKER = API_SERVICE, WORKER_SERVICE
API_LOGS, WORKER_LOGS = API_LOG_GROUP, WORKER_LOG_GROUP
__all__ = ["API", "API_FAMILY", "API_LOGS", "CLUSTER", "INV", "REGION", "ROOT", "WORKER", "WORKER_LOGS",
           "CHANGING_OPERATIONS", "LOCK_OPERATIONS", "InvResult", "audit_lines", "base_env", "capture_folders",
           "config_with", "inv_command", "primary_revision", "run_inv", "service_changes", "spawn_inv", "spawn_until",
           "world_env"]
LOCK_OPERATIONS = ("put_parameter", "delete_parameter")  # the rollback lock's audited SSM calls
CHANGING_OPERATIONS = frozenset(a.operation for a in ACTIONS if a.changes)  # the operations that change AWS


@dataclass
class InvResult:
    code: int
    stdout: str
    stderr: str
    calls: list[tuple[str, ...]] = field(default_factory=list)  # the AWS calls it made, in order

    def changing_calls(self) -> list[tuple[str, ...]]:
        """The calls it made whose operation changes AWS (``ops.aws.actions``: ``changes=True``)."""
        return [c for c in self.calls if c[1] in CHANGING_OPERATIONS]


def inv_command(args: list[str], record: Path | None = None) -> list[str]:
    """``inv -r <project> ARGS``: the toolkit's tasks whatever the working directory; with ``record``,
    every AWS call the process makes is written there (``tests/record_calls.py``)."""
    if record is not None:
        return [sys.executable, str(ROOT / "tests" / "record_calls.py"), str(record), "-r", str(ROOT), *args]
    return [INV, "-r", str(ROOT), *args]


def run_inv(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> InvResult:
    """Run `inv -r <project> ARGS` as a subprocess without a terminal (stdin is /dev/null), and check that
    every AWS call it made is on the toolkit's action list (recorded at the botocore layer)."""
    with tempfile.NamedTemporaryFile("r", prefix="calls-", suffix=".txt") as record:
        proc = subprocess.run(inv_command(args, Path(record.name)), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
        recorded = record.read()
    assert_known_calls(recorded)
    calls = [tuple(line.split()) for line in recorded.splitlines() if line.strip()]
    return InvResult(proc.returncode, proc.stdout, proc.stderr, calls)


def assert_known_calls(recorded: str) -> None:
    """Every ``client operation`` line is in ``ops.aws.actions.KNOWN`` (one list feeds allowlist, preflight
    and iam-policy: a call that is not on it would be missing from the policy the toolkit prints)."""
    calls = {tuple(line.split()) for line in recorded.splitlines() if line.strip()}
    unknown = sorted(calls - KNOWN)
    assert not unknown, f"AWS calls missing from ops/aws/actions.py: {unknown}"
    CALLS_SEEN.update(calls)


CALLS_SEEN: set[tuple[str, ...]] = set()


def spawn_inv(args: list[str], env: dict[str, str], cwd: Path, **popen: Any) -> subprocess.Popen[Any]:
    """Start `inv -r <project> ARGS` in the background (signals, terminals, races); the caller waits."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(inv_command(args), cwd=cwd, env=env, **popen)


def spawn_until(args: list[str], env: dict[str, str], cwd: Path, seen: str) -> subprocess.Popen[str]:
    """Start `inv ARGS` (output piped, text) and return once a line of its stdout contains ``seen``
    (e.g. the change is done and the wait began: the moment to send it a signal)."""
    proc = spawn_inv(args, env, cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if seen in line:
            return proc
    raise AssertionError(f"`inv {' '.join(args)}` ended without printing {seen!r}: {proc.communicate()}")


def base_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: no real AWS config or credentials can leak into a test."""
    return dict(isolated_env(tmp_path), PYTHONDONTWRITEBYTECODE="1")


def world_env(world: Any, tmp_path: Path) -> dict[str, str]:
    """Environment for `inv` against a World: endpoint, keys, token, API URL, fast polling."""
    return dict(toolkit_env(world, tmp_path, poll=(0.2, 0.5), timeout=60), PYTHONDONTWRITEBYTECODE="1")


def config_with(**changes: Any) -> dict[str, Any]:
    """The default config with ``section__key=value`` changes (``ecs__api__known_good_revision=7``)."""
    config = copy.deepcopy(DEFAULTS)
    for dotted, value in changes.items():
        node = config
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return config


def audit_lines(home: Path) -> list[dict[str, Any]]:
    """Every line of ``<home>/diagnostics/audit.jsonl`` (none when it does not exist)."""
    path = home / "diagnostics" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def service_changes(home: Path) -> list[dict[str, Any]]:
    """The audit lines of changes to the services (not the rollback lock's own lines)."""
    return [r for r in audit_lines(home) if r["operation"] not in LOCK_OPERATIONS]


def capture_folders(home: Path) -> list[Path]:
    """The folders under ``<home>/diagnostics`` (one per capture), sorted (none when it does not exist)."""
    base = home / "diagnostics"
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.exists() else []


def primary_revision(world: Any, service: str = API) -> str:
    """``family:revision`` of the one PRIMARY deployment of ``service`` in a World."""
    [primary] = [d for d in world.service_state(service)["deployments"] if d["status"] == "PRIMARY"]
    return str(primary["taskDefinition"]).rsplit("/", 1)[-1]
